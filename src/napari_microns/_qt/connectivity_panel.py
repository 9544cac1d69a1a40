"""The Connectivity panel: the matrix among the chosen, shown or proofread neurons (computed in
a worker), drawn as a heatmap with cell-type strips and the pairs the store does not cover set
apart; a click on a cell shows that pair's synapses in 3D. Below, the connections' sizes."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QVBoxLayout

from .. import circuit_figure as cf
from ..circuit_scene import MATRIX_SOURCES, CircuitScene
from ..core.errors import MicronsError
from .notify import notify_error
from .plots import BACKGROUND, Job, figure_canvas, styled
from .widgets import button, note

#: Matrix value choices: label -> :meth:`CircuitScene.compute_connectivity` value.
VALUES = {"synapses": "count", "size": "size", "log size": "log_size"}


#: the heatmap's largest side in image pixels: more ids are max-pooled (circuit_heatmap.pool_matrix)
POOL_TO = 240


class ConnectivityPanel(QGroupBox):
    """The matrix of :attr:`CircuitScene.connectivity`, computed and explored through the circuit scene."""

    def __init__(self, circuit: CircuitScene, parent=None):
        super().__init__("Connectivity", parent)
        self.circuit = circuit
        self.scene = circuit.scene
        self.job = Job(self._busy)
        box = QVBoxLayout(self)
        self.source_combo = QComboBox()
        self.source_combo.addItems(list(MATRIX_SOURCES))
        self.source_combo.setToolTip("chosen: the Neurons panel's neurons; shown: the units passing the filters "
                                     "that the synapse store covers; proofread: proofread units")
        self.value_combo = QComboBox()
        for label, value in VALUES.items():
            self.value_combo.addItem(label, value)
        self.compute_button = button("Compute", self.compute_clicked, "The matrix among these neurons (a worker)")
        self.cancel_button = button("Cancel", self.job.cancel, enabled=False)
        grid = QGridLayout()
        for r, (label, combo, action) in enumerate((("neurons", self.source_combo, self.compute_button),
                                                     ("value", self.value_combo, self.cancel_button))):
            grid.addWidget(QLabel(label), r, 0)
            grid.addWidget(combo, r, 1)
            grid.addWidget(action, r, 2)
        grid.setColumnStretch(1, 1)
        box.addLayout(grid)
        self.note_label = note("no matrix yet: choose the neurons and press Compute", wrap=True)
        box.addWidget(self.note_label)
        self.heatmap = None  # what circuit_figure.draw_heatmap drew
        self.canvas = figure_canvas(430)
        self.canvas.setToolTip("Click a cell to show that pair's synapses in 3D")
        self.canvas.mpl_connect("button_press_event", self.canvas_clicked)
        box.addWidget(self.canvas)
        self.sizes_canvas = figure_canvas(200)
        box.addWidget(self.sizes_canvas)

        circuit.events.connectivity_changed.connect(self._connectivity_changed)
        circuit.events.matrix_ids_changed.connect(self._matrix_ids_changed)
        self._connectivity_changed(circuit.connectivity)

    def compute_clicked(self):
        """Take the ids from the source now (UI thread), compute the matrix in a worker."""
        try:
            ids = self.circuit.set_matrix_ids(self.source_combo.currentText())
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        return self.job.start(self.circuit.connectivity_of, (ids, self.value_combo.currentData()),
                              self.circuit.set_connectivity, f"connectivity of {len(ids):,} neurons")

    def _busy(self, busy: bool):
        self.compute_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.note_label.setText(f"computing the matrix of {len(self.circuit.matrix_ids):,} neurons…")

    def _matrix_ids_changed(self, _ids):
        if self.circuit.matrix_source is not None:  # follow a script's choice too
            self.source_combo.setCurrentText(self.circuit.matrix_source)

    def _connectivity_changed(self, conn):
        figure, sizes = self.canvas.figure, self.sizes_canvas.figure
        figure.clear()
        sizes.clear()
        self.heatmap = None
        if conn is None:
            self.note_label.setText("no matrix yet: choose the neurons and press Compute")
        else:
            self.value_combo.setCurrentIndex(max(self.value_combo.findData(conn.value), 0))
            n = conn.matrix.shape[0]
            covered = conn.covered
            connected = int((covered & (conn.matrix.to_numpy() > 0)).sum())
            self.note_label.setText(f"{n:,} neurons; {int(covered.sum()):,} of {n * n:,} pairs covered by the "
                                    f"store (hatched grey: not in the store), {connected:,} connected; click a cell for its synapses")
            try:
                with styled():
                    self.heatmap = cf.draw_heatmap(figure.add_subplot(), conn, background=BACKGROUND, legend=False,
                                                   max_id_labels=0, pool_to=POOL_TO)  # ids: click a cell; types: the strips
                    cf.draw_size_histogram(sizes.add_subplot(), conn.connection_sizes(), background=BACKGROUND)
            except MicronsError as exc:
                notify_error(str(exc))
        self.canvas.draw_idle()
        self.sizes_canvas.draw_idle()

    def canvas_clicked(self, event):
        """A click on a heatmap cell: that pair's synapses as a layer."""
        conn = self.circuit.connectivity
        if conn is None or self.heatmap is None or event.inaxes is not self.heatmap.image.axes:
            return None
        return self.show_cell(event.xdata, event.ydata)

    def show_cell(self, x, y):
        """Show the pair at heatmap data coordinates (column x, row y); returns the layer or None."""
        pair = cf.pick_pair(self.circuit.connectivity, x, y)
        if pair is None:
            return None
        try:
            return self.circuit.show_pair(*pair)
        except MicronsError as exc:
            matrix = self.circuit.connectivity.matrix
            uncovered = bool(np.isnan(matrix.at[pair[0], pair[1]]))
            notify_error(f"{exc} (the store does not cover this pair)" if uncovered else str(exc))
            return None
