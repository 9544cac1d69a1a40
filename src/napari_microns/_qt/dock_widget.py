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

from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..account import Account
from ..circuit_scene import CircuitScene
from ..core.errors import MicronsError
from ..em_scene import EmScene
from ..get_version import GetVersion
from ..neuroglancer_scene import NeuroglancerScene
from ..prefetch import Prefetch
from ..scene import Scene
from .connectivity_panel import ConnectivityPanel
from .data_panel import DataPanel
from .download_panel import DownloadPanel
from .em_panel import EmPanel
from .figure_panel import FigurePanel
from .neuroglancer_panel import NeuroglancerPanel
from .neurons_panel import NeuronsPanel
from .notify import notify_error
from .partners_panel import PartnersPanel
from .prefetch_panel import PrefetchPanel
from .signin_panel import SignInPanel
from .units_panel import UnitsPanel


def _page(*panels: QWidget) -> QWidget:
    """One tab: the panels stacked."""
    page = QWidget()
    layout = QVBoxLayout(page)
    for panel in panels:
        layout.addWidget(panel)
    layout.addStretch(1)
    return page


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
        self.circuit = CircuitScene(self.scene)
        self.partners_panel = PartnersPanel(self.circuit)
        self.connectivity_panel = ConnectivityPanel(self.circuit)
        self.em = EmScene(self.scene)
        self.em_panel = EmPanel(self.em)
        self.tabs = QTabWidget()
        self.tabs.addTab(_page(self.data_panel, self.units_panel, self.neurons_panel, self.figure_panel), "Scene")
        # Get data: sign in, download and process a version (after Scene, where units are loaded)
        self.account = Account()
        self.get_version = GetVersion(self.scene)
        self.signin_panel = SignInPanel(self.account)
        self.download_panel = DownloadPanel(self.get_version)
        self.prefetch = Prefetch(self.scene)  # synapses and morphology of a set of ids, for offline work
        self.prefetch_panel = PrefetchPanel(self.prefetch)
        self.tabs.addTab(_page(self.signin_panel, self.download_panel, self.prefetch_panel), "Get data")
        self.tabs.addTab(_page(self.partners_panel), "Partners")
        self.tabs.addTab(_page(self.connectivity_panel), "Connectivity")
        self.tabs.addTab(_page(self.em_panel), "EM")
        self.neuroglancer = NeuroglancerScene(self.scene)
        self.neuroglancer_panel = NeuroglancerPanel(self.neuroglancer)
        self.tabs.addTab(_page(self.neuroglancer_panel), "Neuroglancer")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        # the Neurons panel's synapse colour also recolours the synapses shown
        self.neurons_panel.synapse_color_combo.activated.connect(self._synapse_colour_chosen)
        # the Units panel's legend tells the truth while the Partners tab colours the units
        self.circuit.events.connection_colouring_changed.connect(self._connection_colouring_changed)

        napari_viewer.layers.events.inserted.connect(self._adopt_units_layer)
        self._adopt_units_layer()

    def _adopt_units_layer(self, event=None):
        """The scene takes over a units layer opened by the reader or File > Open Sample."""
        self.scene.adopt(self.scene.units_layer)

    def _connection_colouring_changed(self, value):
        partners = self.circuit.partners
        self.units_panel.show_connection_legend(self.circuit.connection_bar() if value is not None else None,
                                                None if partners is None else int(partners.root_id))

    def _synapse_colour_chosen(self, _index=None):
        try:
            self.circuit.colour_synapses(self.neurons_panel.synapse_color_combo.currentData())
        except MicronsError as exc:
            notify_error(str(exc))
