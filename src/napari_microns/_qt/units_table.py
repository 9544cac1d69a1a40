"""The units table: the shown units as a Qt table, whose selected rows can be chosen."""

from __future__ import annotations

import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTableView, QVBoxLayout, QWidget

from ..scene import Scene
from .notify import notify_error
from .widgets import button


class DataFrameModel(QAbstractTableModel):
    """A read-only Qt view of a DataFrame (lazy: only visible cells are formatted)."""

    def __init__(self, df: pd.DataFrame, parent=None):
        super().__init__(parent)
        self.df = df

    def rowCount(self, parent=QModelIndex()):  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.df)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802
        return 0 if parent.isValid() else self.df.shape[1]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            value = self.df.iat[index.row(), index.column()]
            return f"{value:.1f}" if isinstance(value, float) else str(value)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return str(self.df.columns[section]) if orientation == Qt.Orientation.Horizontal else str(section)


class UnitsTable(QWidget):
    """The units passing the scene's filters, hidden until :meth:`show_table`; the root ids of
    the selected rows go out on :attr:`ids_picked` (the Neurons panel adds them)."""

    ids_picked = Signal(list)

    def __init__(self, scene: Scene, parent=None):
        super().__init__(parent)
        self.scene = scene
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.view = QTableView()
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setMinimumHeight(160)
        box.addWidget(self.view)
        self.add_button = button("Add table selection", self.add_selection)
        box.addWidget(self.add_button)
        self.setVisible(False)
        scene.events.filters_changed.connect(self._filters_changed)

    def show_table(self):
        shown = self.scene.shown_features()
        if shown is None:
            notify_error("load units first")
            return
        self.view.setModel(DataFrameModel(shown, self.view))
        self.setVisible(True)

    def add_selection(self):
        model = self.view.model()
        if model is None:
            return
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        if not rows:
            notify_error("select rows in the table first")
            return
        self.ids_picked.emit([int(r) for r in model.df["pt_root_id"].to_numpy()[rows]])

    def _filters_changed(self, _shown: int):
        if self.isVisible():
            self.show_table()
