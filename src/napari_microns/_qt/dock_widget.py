"""The MICrONS dock widget: one panel per job over one :class:`~napari_microns.scene.Scene`.

It holds no data logic: reading tables, building layers and fetching
morphology and synapses happen in the core, :mod:`napari_microns.layer_data`
and :mod:`napari_microns.fetching`; slow work runs in napari thread workers so
the UI thread never waits on disk or network. The panels change the scene
through its methods and follow its events, so a scene changed by a script or
a command (``napari-microns view``) shows in the panels too. Failures become
one-line napari notifications.
"""

from __future__ import annotations

from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..scene import Scene
from .data_panel import DataPanel
from .figure_panel import FigurePanel
from .neurons_panel import NeuronsPanel
from .units_panel import UnitsPanel


class MicronsWidget(QWidget):
    """Load units, colour and filter them, pick neurons, fetch their morphology and synapses, make figures."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.scene = Scene(napari_viewer)
        self.data_panel = DataPanel(self.scene)
        self.units_panel = UnitsPanel(self.scene)
        self.neurons_panel = NeuronsPanel(self.scene)
        self.figure_panel = FigurePanel(self.scene)
        layout = QVBoxLayout(self)
        for panel in (self.data_panel, self.units_panel, self.neurons_panel, self.figure_panel):
            layout.addWidget(panel)
        layout.addStretch(1)

        napari_viewer.layers.events.inserted.connect(self._adopt_units_layer)
        self._adopt_units_layer()

    def _adopt_units_layer(self, event=None):
        """The scene takes over a units layer opened by the reader or File > Open Sample."""
        self.scene.adopt(self.scene.units_layer)
