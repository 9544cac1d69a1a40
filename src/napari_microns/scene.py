"""The napari scene of napari-microns, as a model with events.

:class:`Scene` owns what one napari viewer shows of MICrONS: the dataset, the
units (the units layer's features) and the cortical layers table, the
colour-by column, the filters, the chosen neurons and their fetched pieces
(skeleton, mesh, synapse and soma layers). It changes only through its
methods, and each change is announced on :attr:`Scene.events` (psygnal), so
the dock widget's panels, the ``demo``/``view``/``figure`` commands and
notebooks drive the same code, and views follow whoever made the change.

It talks to the napari viewer model only, never to Qt. Fetching (disk and
network, in a worker thread) lives in :mod:`.fetching`; the scene adds the
finished pieces on the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from psygnal import Signal, SignalGroup

from . import layer_data as ld
from .camera import set_camera
from .core.dataset import Dataset
from .core.errors import DataError
from .core.ids import parse_ids
from .core.morphology.files import import_file
from .core.units import ProcessedTables, load_processed
from .fetching import FETCH_KINDS, Fetched, fetch_layers, fetch_neurons, somata_layers
from .units_style import CONTEXT_STYLE, UnitsLook, UnitsStyle


class SceneEvents(SignalGroup):
    """What a :class:`Scene` announces (``scene.events.<name>.connect(callback)``).

    All are emitted on the thread that called the scene's method (the UI thread).
    """

    #: the dataset neurons are fetched from (a ``Dataset``, or None)
    dataset_changed = Signal(object)
    #: new units are shown (loaded or adopted): units, cortical layers, colour-by, filters
    #: and the units' style all start afresh (every unit shown, as loaded); emitted once,
    #: after the layers are in
    units_changed = Signal()
    #: the units are coloured by another column (the column)
    color_by_changed = Signal(str)
    #: the filters changed (how many units are shown now)
    filters_changed = Signal(int)
    #: the chosen neurons (their root ids, in order)
    neurons_changed = Signal(list)
    #: a fetched piece's layers are in the viewer (the :class:`~.fetching.Fetched` piece)
    piece_added = Signal(object)
    #: the units are drawn another way (the new :class:`UnitsStyle`), e.g. faded as the
    #: context of the neurons shown
    units_style_changed = Signal(object)


@dataclass(frozen=True)
class UnitFilters:
    """Which units are shown: None in a field means no filter on that column."""

    classes: tuple[str, ...] | None = None  # classification_system
    cell_types: tuple[str, ...] | None = None  # cell_type
    cortical_layers: tuple[str, ...] | None = None  # layer column
    areas: tuple[str, ...] | None = None  # brain_area
    proofread_only: bool = False


def build_units_layers(units: pd.DataFrame, cortical_layers: pd.DataFrame | None,
                       color_by: str = "cell_type") -> list:
    """napari layers (not yet in a viewer) for the units and the cortical layer planes; worker-safe."""
    from napari.layers import Layer

    return [Layer.create(*t) for t in ld.scene_layer_data(units, cortical_layers, color_by=color_by)]


@dataclass
class PreparedUnits:
    """A dataset's units and cortical layers, read and made into napari layers (not in a viewer)."""

    dataset: Dataset
    tables: ProcessedTables
    color_by: str
    built: list  # from build_units_layers
    chosen: tuple[int, ...] = ()  # neurons to choose with them (the sample's detailed ones)


def prepare_units(dataset: Dataset, color_by: str = "cell_type", tables: ProcessedTables | None = None,
                  chosen: Sequence[int] = ()) -> PreparedUnits:
    """Read a processed dataset (unless ``tables`` are given) and build its layers; worker-safe,
    nothing touches a viewer. :meth:`Scene.show_prepared` then only inserts them."""
    tables = load_processed(dataset.layout.units_path) if tables is None else tables
    built = build_units_layers(tables.units, tables.cortical_layers, color_by)
    return PreparedUnits(dataset, tables, color_by, built, tuple(int(r) for r in chosen))


def _values(values) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


# -- the viewer's layers -------------------------------------------------------------------
def _named(viewer, name: str):
    return viewer.layers[name] if name in viewer.layers else None


def _replace_layer(viewer, layer) -> None:
    """Add ``layer``, taking the place of a layer of the same name if there is one."""
    old = _named(viewer, layer.name)
    index = viewer.layers.index(old) if old is not None else None
    if old is not None:
        viewer.layers.remove(old)
    viewer.add_layer(layer)
    if index is not None:
        viewer.layers.move(viewer.layers.index(layer), index)


def _update_somata(viewer, prebuilt=None) -> None:
    """One soma marker per skeleton shown. The layer is added once (``prebuilt``
    when a worker made it) and then updated in place: a new napari layer costs
    the UI thread far more (visual, controls) than new data."""
    from napari.layers import Layer

    tuples = [(lyr.data, {"metadata": lyr.metadata}, None) for lyr in viewer.layers]
    for data, kwargs, kind in somata_layers(tuples):
        layer = _named(viewer, "somata")
        if layer is None:
            layer = prebuilt if prebuilt is not None else Layer.create(data, kwargs, kind)
            viewer.add_layer(layer)
        if layer.data.shape != data.shape or not np.allclose(layer.data, data):
            layer.data = data
            layer.features = kwargs["features"]


def _insert_piece(viewer, piece: Fetched) -> None:
    """Add (or replace) the layers of one fetched piece, and the soma markers of a skeleton."""
    from napari.layers import Layer

    somata = None
    if piece.built is not None:
        for layer in piece.built:
            if ld.layer_kind(layer) == ld.KIND_SOMATA:
                somata = layer
            else:
                _replace_layer(viewer, layer)
    else:
        for data, kwargs, kind in piece.layers:
            _replace_layer(viewer, Layer.create(data, kwargs, kind))
    if piece.kind == ld.KIND_SKELETON:
        _update_somata(viewer, somata)


def _selected_root_ids(layer, features: pd.DataFrame | None) -> list[int]:
    if layer is None or not layer.selected_data or features is None:
        return []
    return [int(r) for r in features["pt_root_id"].to_numpy()[sorted(layer.selected_data)]]


def _root_id_at(layer, features: pd.DataFrame | None, position, **ray) -> int | None:
    if layer is None or features is None or not layer.visible:
        return None
    index = layer.get_value(position, world=True, **ray)
    return None if index is None else int(features["pt_root_id"].iat[int(index)])


def _recolour(layer, colors: np.ndarray, column: str, limits) -> None:
    # napari re-uploads every point twice for one colour change: on the colour
    # manager's event and again on the layer's face_color event. The first is
    # all the canvas needs (tests/test_render.py checks the switch is drawn).
    with layer.events.face_color.blocker():
        layer.face_color = colors
    layer.metadata["color_by"] = column
    layer.metadata["color_limits"] = None if limits is None else tuple(float(x) for x in limits)


def fetch_source(dataset):
    """The dataset neurons come from, or a one-line error when none is loaded."""
    if dataset is None:
        raise DataError("no dataset loaded: load units from a data folder or open the sample first")
    return dataset


class Scene:
    """The plugin's layers in one napari viewer, and the state they show."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.events = SceneEvents()
        self._dataset: Dataset | None = None
        self._features: pd.DataFrame | None = None
        self._cortical_layers: pd.DataFrame | None = None
        self._color_by = "cell_type"
        self._filters = UnitFilters()
        self._shown: np.ndarray | None = None
        self._chosen: list[int] = []
        self._neuron_colors: dict[int, tuple] = {}
        self._look = UnitsLook()  # the units' style

    # -- state (read-only: change it through the methods below) ------------------------
    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    @property
    def features(self) -> pd.DataFrame | None:
        """The units shown, one row per point of the units layer (None before units are shown)."""
        return self._features

    @property
    def cortical_layers(self) -> pd.DataFrame | None:
        """The cortical layers table drawn as planes (None when there is none)."""
        return self._cortical_layers

    @property
    def color_by(self) -> str:
        return self._color_by

    @property
    def filters(self) -> UnitFilters:
        return self._filters

    @property
    def shown(self) -> np.ndarray | None:
        """Which units pass the filters (a boolean mask over :attr:`features`)."""
        return self._shown

    @property
    def chosen(self) -> list[int]:
        """The chosen neurons' root ids, in order."""
        return list(self._chosen)

    @property
    def units_layer(self):
        return _named(self.viewer, ld.UNITS_LAYER)

    # -- dataset and units --------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None) -> None:
        """The dataset chosen neurons are fetched from."""
        if dataset is not self._dataset:
            self._dataset = dataset
            self.events.dataset_changed.emit(dataset)

    def load(self, dataset: Dataset, color_by: str | None = None, camera: str | None = "pia_up",
             tables: ProcessedTables | None = None) -> None:
        """Show a processed dataset's units and cortical layer planes, coloured by ``color_by``
        (None: the scene's :attr:`color_by`).

        ``tables``: the dataset's tables when the caller has read them already
        (:func:`~napari_microns.core.units.load_processed`), so they are read once.
        """
        self.show_prepared(prepare_units(dataset, color_by or self._color_by, tables), camera=camera)

    def show_prepared(self, prepared: PreparedUnits, camera: str | None = "pia_up") -> None:
        """Show what :func:`prepare_units` read and built (in a worker thread): its dataset,
        units and planes, and its neurons chosen."""
        self.set_dataset(prepared.dataset)
        self.show_units(prepared.tables.units, prepared.tables.cortical_layers, color_by=prepared.color_by,
                        camera=camera, built=prepared.built)
        if prepared.chosen:
            self.choose(prepared.chosen)

    def show_units(self, units: pd.DataFrame, cortical_layers: pd.DataFrame | None = None,
                   color_by: str | None = None, camera: str | None = "pia_up", built: list | None = None) -> None:
        """Show units (and cortical layer planes), coloured by ``color_by`` (None: the scene's
        :attr:`color_by`). ``built``: the layers :func:`build_units_layers` made in a worker
        thread from the same tables and colour, so this thread only inserts them."""
        color_by = color_by or self._color_by
        if built is None:
            built = build_units_layers(units, cortical_layers, color_by)
        self._reset_units(built[0], cortical_layers, color_by)
        for layer in built:
            _replace_layer(self.viewer, layer)
        self.viewer.dims.ndisplay = 3
        self.viewer.tooltip.visible = True
        if camera:
            set_camera(self.viewer, camera)
        self.events.units_changed.emit()

    def adopt(self, layer) -> bool:
        """Take over a units layer made elsewhere (the reader, File > Open Sample) when the
        scene shows no units yet; its metadata names the data folder, if any. Returns
        whether the layer was adopted."""
        if layer is None or self._features is not None:
            return False
        meta = layer.metadata
        if meta.get(ld.KIND_KEY) != ld.KIND_UNITS or layer.name != ld.UNITS_LAYER:
            return False
        if "datadir" in meta:
            self.set_dataset(Dataset(meta["datadir"], version=meta["version"]))
        self._reset_units(layer, None, meta.get("color_by", self._color_by))
        self.events.units_changed.emit()
        return True

    def _reset_units(self, layer, cortical_layers: pd.DataFrame | None, color_by: str) -> None:
        features = self._features = layer.features
        self._look.reset(layer)
        self._cortical_layers = cortical_layers
        self._color_by = color_by
        self._filters = UnitFilters()
        self._shown = np.ones(len(features), dtype=bool)

    # -- colour and filters ---------------------------------------------------------------
    def _units_or_fail(self):
        layer = self.units_layer
        if layer is None or self._features is None:
            raise DataError("load units first")
        return layer

    def set_color_by(self, column: str, limits: tuple[float, float] | None = None) -> None:
        """Colour the units by ``column``: a categorical or numeric units column (a colour map
        between ``limits``, default the 2nd-98th percentiles; angles wrap). Before units are
        shown, the choice is kept for them."""
        if self._features is not None:
            _recolour(self._units_or_fail(), ld.units_colors(self._features, column, limits), column, limits)
        self._color_by = column
        self.events.color_by_changed.emit(column)

    def set_filters(self, classes=None, cell_types=None, cortical_layers=None, areas=None,
                    proofread_only=False) -> int:
        """Show only units passing the filters (None: no filter on that column; ``cortical_layers``:
        the units' layers, e.g. ``["L2/3", "L4"]``); returns how many are shown."""
        layer = self._units_or_fail()
        filters = UnitFilters(_values(classes), _values(cell_types), _values(cortical_layers), _values(areas),
                              bool(proofread_only))
        self._shown = ld.filter_mask(self._features, filters.classes, filters.cell_types, filters.cortical_layers,
                                     filters.areas, filters.proofread_only)
        self._filters = filters
        layer.shown = self._shown
        shown = int(self._shown.sum())
        self.events.filters_changed.emit(shown)
        return shown

    def shown_features(self) -> pd.DataFrame | None:
        """The rows of :attr:`features` that pass the filters."""
        if self._features is None:
            return None
        return self._features if self._shown is None else self._features[self._shown]

    def legend(self):
        """``[(category, rgba, count)]`` of the shown units, or a numeric column's
        :class:`~.colour_data.ColourBar`."""
        if self._features is None:
            return []
        limits = (self.units_layer.metadata if self.units_layer is not None else {}).get("color_limits")
        return ld.legend(self._features, self._color_by, self._shown, limits)

    # -- picking units ----------------------------------------------------------------------
    def selected_root_ids(self) -> list[int]:
        """Root ids of the units selected in the viewer (click or drag in select mode)."""
        return _selected_root_ids(self.units_layer, self._features)

    def root_id_at(self, position, view_direction=None, dims_displayed=None) -> int | None:
        """The root id of the shown unit under a world position (and view ray in 3D), or None."""
        return _root_id_at(self.units_layer, self._features, position, view_direction=view_direction,
                           dims_displayed=dims_displayed)

    # -- chosen neurons -------------------------------------------------------------------
    def choose(self, root_ids: Iterable[int]) -> list[int]:
        """Choose these neurons (in order, without repeats); returns their root ids."""
        ids = parse_ids(list(root_ids), "root id", where="root ids", unique=True).tolist()
        if ids != self._chosen:
            self._chosen = ids
            self.events.neurons_changed.emit(list(ids))
        return list(ids)

    def import_morphology(self, path, root_id, units: str = "nm") -> str:
        """Your own skeleton or mesh file into the cache of ``root_id``, which is then chosen."""
        kind = import_file(fetch_source(self._dataset).morphology, path, root_id, units=units)
        self.choose([*self._chosen, root_id])
        return kind

    def color_of(self, root_id: int) -> tuple:
        """The colour of a neuron's mesh: a new one per neuron, kept for the scene's life."""
        if root_id not in self._neuron_colors:
            self._neuron_colors[root_id] = ld.neuron_color(len(self._neuron_colors))
        return self._neuron_colors[root_id]

    def fetch(self, root_ids: Sequence[int], kinds: Iterable[str] = FETCH_KINDS, build: bool = False,
              **kwargs) -> Iterator[Fetched]:
        """The fetch of ``root_ids`` (not started): iterate it in a worker thread, each piece to
        :meth:`add_fetched` on the UI thread. ``build``: :func:`~.fetching.fetch_layers`, else
        :func:`~.fetching.fetch_neurons` (they take the other keywords)."""
        dataset = fetch_source(self._dataset)
        colors = {int(r): self.color_of(int(r)) for r in root_ids}
        fetcher = fetch_layers if build else fetch_neurons
        return fetcher(dataset, list(root_ids), kinds, units=self._features, colors=colors, **kwargs)

    def fetch_now(self, root_ids: Sequence[int], kinds: Iterable[str] = FETCH_KINDS, **kwargs) -> list[str]:
        """Fetch in this thread (scripts, figures); returns the error messages."""
        errors = []
        for piece in self.fetch(root_ids, kinds, **kwargs):
            if piece.kind == "error":
                errors.append(piece.message)
            else:
                self.add_fetched(piece)
        return errors

    def add_fetched(self, piece: Fetched) -> None:
        """Add (or replace) the layers of one fetched piece. The first neuron shown fades the
        units into context (:data:`CONTEXT_STYLE`), unless a style was chosen for them."""
        _insert_piece(self.viewer, piece)
        if self._look.fades_for(piece.kind) and self.units_layer is not None:
            self.set_context(CONTEXT_STYLE.opacity, CONTEXT_STYLE.size)
        self.events.piece_added.emit(piece)

    # -- the units' style -----------------------------------------------------------------
    @property
    def units_style(self) -> UnitsStyle:
        """How the units are drawn (opacity, point size): faded as context once neurons are shown."""
        return self._look.style

    def set_context(self, opacity: float | None = None, size: float | None = None) -> UnitsStyle:
        """Draw the units with this opacity (0-1) and point size in µm (None: as now), e.g.
        faded behind the neurons; announced once per change. Once chosen, the scene no longer
        fades the units itself when neurons arrive (new units start afresh)."""
        style = self._look.choose(self._units_or_fail(), opacity, size)
        if style is not None:
            self.events.units_style_changed.emit(style)
        return self._look.style

    def neuron_layers(self) -> list:
        return [lyr for lyr in self.viewer.layers
                if ld.layer_kind(lyr) in (ld.KIND_SKELETON, ld.KIND_MESH, ld.KIND_SYNAPSES, ld.KIND_SOMATA)]
