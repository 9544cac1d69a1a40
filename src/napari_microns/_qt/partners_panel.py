"""The Partners panel: one chosen neuron's synaptic partners (inputs or outputs) as a sortable
table, bars by partner group and the depth of its synapses; a row picks a partner to highlight
in 3D and fetch, and the units can be coloured by their connection with the neuron."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QLabel,
    QTableView,
    QVBoxLayout,
)

from .. import circuit_figure as cf
from .. import layer_data as ld
from ..circuit_scene import CircuitScene
from ..core.errors import MicronsError
from ..core.synapses.circuit import LABEL_COLUMNS
from .fetch_job import FetchJob
from .notify import notify_error, notify_info
from .plots import BACKGROUND, Job, SortableFrameModel, figure_canvas, styled
from .units_panel import colour_bar_icon
from .widgets import button, compact, note, row

#: Colour-the-units choices: label -> :meth:`CircuitScene.colour_units_by_connection` value.
CONNECTION_COLOURS = {"as before": None, "by synapse count": "count", "by summed size": "size"}
#: The fetch of a partner: its shape (its synapses are mostly not in the store).
PARTNER_KINDS = (ld.KIND_SKELETON, ld.KIND_MESH)
#: Warning colour of an INCOMPLETE note (the figures' dark-theme warning).
WARN_STYLE = "color: rgb(255, 166, 51);"


class PartnersPanel(QGroupBox):
    """The partners of :attr:`CircuitScene.partners`, shown and chosen through the circuit scene."""

    def __init__(self, circuit: CircuitScene, parent=None):
        super().__init__("Partners", parent)
        self.circuit = circuit
        self.scene = circuit.scene
        self.job = Job(self._busy)
        box = QVBoxLayout(self)
        self.neuron_combo = QComboBox()
        self.neuron_combo.setToolTip("One of the chosen neurons (Neurons panel)")
        compact(self.neuron_combo, 19)  # a whole root id
        self.direction_combo = QComboBox()
        self.direction_combo.addItems(["inputs", "outputs"])
        self.direction_combo.activated.connect(self._follow)
        self.neuron_combo.activated.connect(self._follow)
        self.show_button = button("Show", self.show_clicked, "Read this neuron's partners from the synapse store")
        box.addLayout(row(QLabel("neuron"), self.neuron_combo))
        box.addLayout(row(self.direction_combo, self.show_button))
        self.note_label = note(wrap=True)
        box.addWidget(self.note_label)
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.setMinimumHeight(150)
        self.table.verticalHeader().setVisible(False)
        self.table.setModel(SortableFrameModel(_empty(), self.table))
        self.table.clicked.connect(self.row_clicked)
        box.addWidget(self.table)
        self.fetch_button = button("Fetch partner", self.fetch_clicked, "Fetch the selected partner's skeleton and mesh")
        self.cancel_button = button("Cancel", self.cancel, enabled=False)
        self.export_button = button("Export CSV…", self.export_clicked, "Write the partners table as CSV")
        box.addLayout(row(self.fetch_button, self.cancel_button, self.export_button))
        self.colour_combo = QComboBox()
        for label, value in CONNECTION_COLOURS.items():
            self.colour_combo.addItem(label, value)
        self.colour_combo.setToolTip("Colour the units by their synapses with the neuron: non-partners fade, "
                                     "the neuron is white")
        self.colour_combo.activated.connect(self.colour_chosen)
        self.group_combo = QComboBox()
        self.group_combo.addItems(list(LABEL_COLUMNS))
        self.group_combo.setToolTip("Group the bars by this units column")
        self.group_combo.activated.connect(lambda _=None: self.draw())
        box.addLayout(row(QLabel("colour units"), self.colour_combo))
        self.colour_bar = QLabel()  # the connection colouring's map and its limits, when on
        self.colour_note = note(visible=False)
        bar_row = row(self.colour_bar, self.colour_note)
        bar_row.addStretch(1)
        box.addLayout(bar_row)
        self.colour_bar.setVisible(False)
        box.addLayout(row(QLabel("bars by"), self.group_combo))
        self.canvas = figure_canvas(300)
        box.addWidget(self.canvas)
        self.progress = note(visible=False, wrap=True)
        self.fetcher = FetchJob(self.scene, self.progress.setText, self._busy)
        box.addWidget(self.progress)

        self.scene.events.neurons_changed.connect(self._neurons_changed)
        circuit.events.partners_changed.connect(self._partners_changed)
        circuit.events.connection_colouring_changed.connect(self._colouring_changed)
        self._neurons_changed(self.scene.chosen)
        self._partners_changed(circuit.partners)

    # -- the neuron ---------------------------------------------------------------------
    def _neurons_changed(self, root_ids: list):
        current = self.neuron_combo.currentText()
        self.neuron_combo.clear()
        self.neuron_combo.addItems([str(int(r)) for r in root_ids])  # text: exact ids, no QVariant numbers
        if current in [str(int(r)) for r in root_ids]:
            self.neuron_combo.setCurrentText(current)

    def show_clicked(self):
        """Read the neuron's partners in a worker; the table and figures follow when they arrive."""
        text = self.neuron_combo.currentText()
        if not text:
            notify_error("choose a neuron first (Neurons panel)")
            return None
        return self.job.start(self.circuit.partners_of, (int(text), self.direction_combo.currentText()),
                              self.circuit.set_partners, f"partners of {text}")

    def _follow(self, _index=None):
        """Another neuron or direction picked while partners are shown: show its partners."""
        if self.circuit.partners is not None:
            self.show_clicked()

    # -- what the circuit shows ---------------------------------------------------------
    def _partners_changed(self, partners):
        self.table.setModel(SortableFrameModel(_empty() if partners is None else partners.table.copy(), self.table))
        self.table.resizeColumnToContents(0)  # the whole root id
        if partners is None:
            self.note_label.setText("no partners shown: choose a neuron and press Show")
            self.note_label.setStyleSheet("")
        else:  # follow a script's choice too
            if self.neuron_combo.findText(str(int(partners.root_id))) < 0:
                self.neuron_combo.addItem(str(int(partners.root_id)))
            self.neuron_combo.setCurrentText(str(int(partners.root_id)))
            self.direction_combo.setCurrentText(partners.direction)
            self.note_label.setText(partners.note)
            self.note_label.setStyleSheet("" if partners.complete else WARN_STYLE)
        self._colouring_changed(self.circuit.connection_colouring)  # its limits follow the partners
        self.draw()

    def draw(self):
        """Bars by the chosen group and the depth of the neuron's synapses (circuit_figure)."""
        figure = self.canvas.figure
        figure.clear()
        partners = self.circuit.partners
        if partners is not None and len(partners.table):
            try:
                with styled():
                    bars, depth = figure.subplots(1, 2, width_ratios=[1.15, 1])
                    summary = self.circuit.partner_summary(self.group_combo.currentText())
                    cf.draw_partner_bars(bars, summary, background=BACKGROUND, direction=partners.direction)
                    cf.draw_depth_histogram(depth, partners.synapses, self.scene.cortical_layers,
                                            background=BACKGROUND, direction=partners.direction)
                    depth.set_xlabel(depth.get_xlabel().replace(" per ", "\nper "))  # a narrow axes
            except MicronsError as exc:
                figure.clear()
                notify_error(str(exc))
        self.canvas.draw_idle()

    def _colouring_changed(self, value):
        index = self.colour_combo.findData(value)
        self.colour_combo.setCurrentIndex(max(index, 0))
        bar = self.circuit.connection_bar()
        self.colour_bar.setVisible(bar is not None)
        if bar is not None:
            low, high = bar.labels
            self.colour_bar.setPixmap(colour_bar_icon(bar, 96, 10).pixmap(96, 10))
            self.colour_note.setText(f"{bar.column}: {low} – {high}")
            self.colour_note.setToolTip("non-partners faint, the neuron white")
        self.colour_note.setVisible(bar is not None)

    # -- acting on partners -------------------------------------------------------------
    def selected_partner(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.table.model().root_id(rows[0].row()) if rows else None

    def row_clicked(self, index):
        """A partner's row: highlight it in 3D (its unit selected and ringed)."""
        try:
            self.circuit.highlight(self.table.model().root_id(index.row()))
        except MicronsError as exc:
            notify_error(str(exc))

    def colour_chosen(self, _index=None):
        try:
            self.circuit.colour_units_by_connection(self.colour_combo.currentData())
        except MicronsError as exc:
            notify_error(str(exc))
            self._colouring_changed(self.circuit.connection_colouring)

    def export_clicked(self):
        if self.circuit.partners is None:
            notify_error("show a neuron's partners first")
            return
        p = self.circuit.partners
        path, _ = QFileDialog.getSaveFileName(self, "Export partners", f"partners_{p.direction}_{p.root_id}.csv",
                                              "CSV (*.csv)")
        if path:
            self.export(path)

    def export(self, path) -> bool:
        try:
            self.circuit.export_partners(path)
        except MicronsError as exc:
            notify_error(str(exc))
            return False
        notify_info(f"wrote {path}")
        return True

    # -- fetching a partner -------------------------------------------------------------
    def fetch_clicked(self):
        partner = self.selected_partner()
        if partner is None:
            notify_error("select a partner in the table first")
            return None
        return self.fetch_partner(partner)

    @property
    def fetch_worker(self):
        """The running partner fetch, if any."""
        return self.fetcher.worker

    def fetch_partner(self, partner: int):
        """Fetch a partner's skeleton and mesh in a worker (as the Neurons panel fetches)."""
        return self.fetcher.start([partner], PARTNER_KINDS)

    def cancel(self):
        self.fetcher.cancel()
        self.job.cancel()

    def _busy(self, busy: bool):
        busy = busy or self.fetch_worker is not None or self.job.worker is not None
        self.cancel_button.setEnabled(busy)
        self.show_button.setEnabled(not busy)
        self.fetch_button.setEnabled(not busy)
        if self.job.worker is not None:
            self.progress.setText("reading partners…")
        self.progress.setVisible(busy)


def _empty():
    import pandas as pd

    return pd.DataFrame({"partner_root_id": pd.Series(dtype="int64"), "n_synapses": pd.Series(dtype="int64")})
