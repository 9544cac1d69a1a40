"""What the circuit panels share: a matplotlib canvas in the dock, a sortable table of a
DataFrame (root ids as exact integers), and one job at a time in a napari thread worker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy

from .. import circuit_figure as cf
from ..fetching import one_line
from .activity import track
from .notify import notify_error
from .units_table import DataFrameModel

#: The canvases' page: the figures' dark theme (circuit_figure.THEMES), as napari's.
BACKGROUND = "black"
DPI = 100


def styled():
    """The figures' style (page, text and tick colours, font sizes) for axes made in the panels:
    make and draw them inside it."""
    return cf.style(BACKGROUND)


def figure_canvas(height_px: int, width_px: int = 360):
    """A matplotlib canvas (constrained layout, the figures' dark page) that fills the dock's width."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained",
                    facecolor=cf.theme(BACKGROUND)["face"])
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(height_px)
    canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return canvas


class SortableFrameModel(DataFrameModel):
    """A read-only DataFrame view whose columns sort on a header click; integers (root ids) are
    shown exactly, other numbers with 1 or 3 decimals."""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        value = self.df.iat[index.row(), index.column()]
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{value:.3f}" if abs(value) < 1 else f"{value:.1f}"
        return str(value)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        name = self.df.columns[column]
        self.df = self.df.sort_values(name, ascending=order == Qt.SortOrder.AscendingOrder, kind="stable",
                                      na_position="last", ignore_index=True)
        self.layoutChanged.emit()

    def root_id(self, row: int, column: str = "partner_root_id") -> int:
        """The root id in ``row`` (a Python int: exact above 2**53)."""
        return int(self.df[column].to_numpy(dtype=np.int64)[row])


class Job:
    """One function at a time in a napari thread worker: its result to ``done`` on the UI
    thread, a failure as one notification, a busy bar in napari's Activity dock while it runs.
    Cancel drops the result (the function is not cut short)."""

    def __init__(self, started: Callable[[bool], None]):
        self.worker = None
        self.activity = None  # the running job's bar in the Activity dock
        self._started = started  # told True when a job starts, False when it ends

    def start(self, function: Callable, args: tuple, done: Callable, description: str = "working") -> object | None:
        from napari.qt.threading import create_worker

        if self.worker is not None:
            notify_error("still working on the last request; cancel it first")
            return None
        worker = create_worker(function, *args, _ignore_errors=True)
        worker.returned.connect(lambda result: self._returned(worker, result, done))
        worker.errored.connect(lambda exc: self._failed(worker, exc))
        worker.finished.connect(lambda: self._finished(worker))
        self.worker = worker
        self.activity = track(worker, description, cancel=self.cancel)
        self._started(True)
        worker.start()
        return worker

    def cancel(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.quit()
            self.activity.close()
            self._started(False)

    def _returned(self, worker, result, done) -> None:
        if worker is self.worker:
            try:
                done(result)
            except Exception as exc:  # noqa: BLE001 - any failure is one notification
                notify_error(one_line(exc))

    def _failed(self, worker, exc) -> None:
        if worker is self.worker:
            notify_error(one_line(exc))

    def _finished(self, worker) -> None:
        if worker is self.worker:
            self.worker = None
            self._started(False)
