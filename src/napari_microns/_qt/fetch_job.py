"""A scene fetch in a napari thread worker, shared by the panels that fetch neurons (Neurons,
Partners): one fetch at a time, each finished piece added on the UI thread as it arrives (the
worker waits until it is drawn), a progress line and a bar in napari's Activity dock, cancel,
and one notification per failure."""

from __future__ import annotations

import threading
from typing import Callable

from qtpy.QtCore import QTimer

from ..core.errors import MicronsError
from ..fetching import fetch_total, ids_text, one_line
from .activity import track
from .notify import notify_error


def _pieces(fetch):
    """A generator function over a scene's fetch, for napari's thread worker."""
    yield from fetch


class FetchJob:
    """Runs ``scene.fetch`` in a worker; ``progress(text)`` gets a line per piece, ``busy(bool)``
    is called when the fetch starts and when it has finished."""

    def __init__(self, scene, progress: Callable[[str], None], busy: Callable[[bool], None]):
        self.scene = scene
        self.progress = progress
        self.busy = busy
        self.worker = None  # the running fetch, if any
        self.activity = None  # its bar in the Activity dock
        self.handed_over = threading.Event()  # set when the UI thread has taken a fetched piece

    def start(self, root_ids, kinds, **fetch_kwargs):
        """Start fetching ``kinds`` of ``root_ids``; the worker, or None (and a notification)."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            notify_error("a fetch is already running; cancel it first")
            return None
        self.handed_over = threading.Event()
        try:
            fetch = self.scene.fetch(root_ids, kinds, build=True, handed_over=self.handed_over, **fetch_kwargs)
        except MicronsError as exc:
            notify_error(one_line(exc))
            return None
        worker = create_worker(_pieces, fetch, _ignore_errors=True)
        worker.yielded.connect(self._piece_arrived)
        worker.errored.connect(lambda exc: notify_error(one_line(exc)))
        worker.finished.connect(self._finished)
        self.worker = worker
        total = fetch_total(len(root_ids), kinds)
        self.activity = track(worker, f"fetching {ids_text(root_ids)}", total, cancel=self.cancel)
        self.progress(f"fetching 0 of {total}…")
        self.busy(True)
        worker.start()
        return worker

    def _piece_arrived(self, piece):
        what = "failed" if piece.kind == "error" else piece.kind
        self.progress(f"fetching {piece.done} of {piece.total}… ({what} {ids_text(piece.root_ids)})")
        self.activity.report(piece.done, piece.total)
        try:
            if piece.kind == "error":
                notify_error(piece.message)
            else:
                self.scene.add_fetched(piece)
        except Exception as exc:  # noqa: BLE001 - a bad piece must not stop the others
            notify_error(one_line(exc))
        finally:
            QTimer.singleShot(0, self.handed_over.set)  # the worker goes on once this piece is drawn

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.handed_over.set()  # a worker waiting for the UI goes on to notice the cancel

    def _finished(self):
        self.worker = None
        self.busy(False)
