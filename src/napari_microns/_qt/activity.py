"""Long jobs in napari's Activity dock: one :class:`Activity` per job, a ``napari.utils.progress``
bar made when the job starts, moved by reports from any thread, closed once when the job ends
(success, error or cancel). :func:`track` ties one to a napari thread worker; the panels keep
their one line of status beside it."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QObject, Signal


def _bar(description: str, total: int, cancel: Callable[[], None] | None):
    """A napari progress bar; with ``cancel``, the Activity dock shows a Cancel button that calls it."""
    from napari.utils.progress import cancelable_progress, progress

    if cancel is None:
        return progress(total=total, desc=description)

    class _Cancelable(cancelable_progress):
        def cancel(self) -> None:  # napari's only sets a flag its iterator reads; we have no iterator
            first = not self.is_canceled
            super().cancel()
            if first and self.cancel_callback is not None:
                from qtpy.QtCore import QTimer

                QTimer.singleShot(0, self.cancel_callback)  # after the dock's button has said "Canceled"

    return _Cancelable(total=total, desc=description, cancel_callback=cancel)


class Activity(QObject):
    """One job's bar in the Activity dock: ``total`` steps (0: no total known, a busy bar), an ETA
    from napari when a total is known. :meth:`report` may be called from any thread: the bar moves
    on the UI thread, and ``follow(done, total, text)`` (e.g. a panel's status line) is called
    there too; :meth:`close` may be called more than once."""

    _reported = Signal(object, object, object)  # done, total or None, description or None

    def __init__(self, description: str, total: int = 0, cancel: Callable[[], None] | None = None,
                 follow: Callable[[int, int | None, str | None], None] | None = None):
        super().__init__()
        self.description = description
        self.follow = follow
        self.bar = _bar(description, int(total or 0), cancel)
        self.closed = False
        self._latest = None  # the newest report not yet shown
        self._moving = False
        self._reported.connect(self._move)  # queued when reported from a worker's thread

    def report(self, done: int, total: int | None = None, text: str | None = None) -> None:
        """``done`` of ``total`` steps (None: unchanged); ``text`` replaces the bar's description."""
        self._reported.emit(int(done), None if total is None else int(total), text)

    def _move(self, done, total, text) -> None:
        if self.closed:
            return
        if self.follow is not None:
            self.follow(done, total, text)
        # napari's bar widgets process events while they redraw, so a newer report (or the job's
        # end) can arrive inside this call: the newest report wins, applied by the outer call
        self._latest = (done, total, text)
        if self._moving:
            return
        self._moving = True
        try:
            while self._latest is not None and not self.closed:
                (done, total, text), self._latest = self._latest, None
                bar = self.bar
                if total is not None and total != bar.total:
                    bar.total = total
                if text is not None and text != self.description:
                    self.description = text
                    bar.set_description(text)
                if done != bar.n:
                    bar.update(done - bar.n)
        finally:
            self._moving = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bar.close()


def track(worker, description: str, total: int = 0, cancel: Callable[[], None] | None = None,
          follow: Callable | None = None) -> Activity:
    """An :class:`Activity` for ``worker`` (call it just before ``worker.start()``), closed when the
    worker ends however it ends; ``cancel`` (e.g. ``worker.quit``) backs the dock's Cancel button."""
    activity = Activity(description, total, cancel, follow)
    worker.errored.connect(lambda _exc: activity.close())
    worker.finished.connect(activity.close)
    return activity
