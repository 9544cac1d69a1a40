"""The napari scene of napari-microns: units, layer planes and chosen neurons.

:class:`Scene` owns the napari layers the plugin makes in one viewer and
keeps them consistent (one units layer, one set of layer planes, per-neuron
skeletons and meshes, one synapse layer). It talks to the napari viewer
model only, never to Qt, so the dock widget, the ``demo``/``view``/``figure``
commands and notebooks drive the same code.

Data access that may touch disk or network lives in :func:`fetch_neurons`, a
generator meant to run in a worker thread: it yields ready-made layer-data
tuples, and the UI thread only adds them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from . import layer_data as ld
from .core.errors import DataError, MicronsError
from .core.sample import DISPLAY_MAX_FACES

log = logging.getLogger(__name__)

#: Face budget of a displayed mesh (decimated by the morphology API).
DEFAULT_MAX_FACES = DISPLAY_MAX_FACES
FETCH_KINDS = ("skeleton", "mesh", "synapses")
#: Longest a fetch worker waits for the UI thread to take a piece (see fetch_layers).
HANDOVER_TIMEOUT_S = 30.0


@dataclass
class Fetched:
    """One piece of a fetch: layer data ready to add, or a failure to report."""

    kind: str  # 'skeleton' | 'mesh' | 'synapses' | 'error'
    root_ids: tuple[int, ...]
    layers: list = field(default_factory=list)  # layer-data tuples
    built: list | None = None  # napari layers made from them off the UI thread (see fetch_layers)
    message: str = ""
    done: int = 0
    total: int = 0


# -- adapters: core objects -> arrays --------------------------------------------------
def _getter(obj):
    """Attribute or key lookup, so core objects and plain mappings both work."""
    if isinstance(obj, dict):
        return lambda k, d=None: obj.get(k, d)
    return lambda k, d=None: getattr(obj, k, d)


def _first(get, *names):
    """The first of ``names`` that is present (µm vertices before generic ones)."""
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


def skeleton_arrays(skel) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """(vertices µm, edges, compartment, root index) of a core skeleton.

    Accepts the morphology API's skeletons (meshparty ``Skeleton`` in µm with
    a ``compartment`` vertex property) and plain mappings with the same names.
    """
    get = _getter(skel)
    vertices = _first(get, "vertices_um", "vertices")
    edges = get("edges")
    if vertices is None or edges is None:
        raise DataError(f"not a skeleton: {type(skel).__name__} has no vertices/edges")
    compartment = get("compartment")
    if compartment is None:
        props = get("vertex_properties") or {}
        compartment = props.get("compartment") if hasattr(props, "get") else None
    root = get("root")
    root = 0 if root is None else int(root)
    return (np.asarray(vertices, float), np.asarray(edges, np.int64),
            None if compartment is None else np.asarray(compartment), root)


def mesh_arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """(vertices µm, faces) of a core mesh (trimesh-like or a mapping)."""
    get = _getter(mesh)
    vertices = _first(get, "vertices_um", "vertices")
    faces = get("faces")
    if vertices is None or faces is None:
        raise DataError(f"not a mesh: {type(mesh).__name__} has no vertices/faces")
    return np.asarray(vertices, float), np.asarray(faces, np.int64)


# -- fetching (worker thread) --------------------------------------------------------
def neuron_synapses(dataset, root_ids: Sequence[int]) -> pd.DataFrame:
    """Every stored synapse where a chosen neuron is pre- or postsynaptic."""
    ids = [int(r) for r in root_ids]
    outputs = dataset.synapses(pre_ids=ids)
    inputs = dataset.synapses(post_ids=ids)
    both = pd.concat([outputs, inputs], ignore_index=True)
    if "id" in both.columns:
        both = both.drop_duplicates("id")
    return both.reset_index(drop=True)


def fetch_neurons(
    dataset,
    root_ids: Sequence[int],
    kinds: Iterable[str] = FETCH_KINDS,
    units: pd.DataFrame | None = None,
    colors: dict[int, tuple] | None = None,
    max_faces: int = DEFAULT_MAX_FACES,
    synapse_color_by: str = "direction",
) -> Iterator[Fetched]:
    """Fetch skeletons, meshes and synapses of ``root_ids`` and build their layers.

    A generator, run in a napari thread worker: each yield is one finished
    piece (the worker can be cancelled between pieces). A failure for one
    neuron yields an ``error`` piece with a one-line message and the fetch
    goes on with the others.
    """
    ids = [int(r) for r in root_ids]
    kinds = [k for k in FETCH_KINDS if k in set(kinds)]
    colors = colors or {}
    per_neuron = [k for k in kinds if k != "synapses"]
    total = len(ids) * len(per_neuron) + (1 if "synapses" in kinds else 0)
    done = 0
    for i, root in enumerate(ids):
        color = colors.get(root, ld.neuron_color(i))
        for kind in per_neuron:
            done += 1
            try:
                if kind == "skeleton":
                    v, e, comp, root_idx = skeleton_arrays(dataset.skeleton(root))
                    layers = [ld.skeleton_layer_data(v, e, comp, name=f"skeleton {root}", root_id=root)]
                    layers[0][1]["metadata"]["soma_um"] = v[root_idx].tolist()
                else:
                    v, f = mesh_arrays(dataset.mesh(root, max_faces=max_faces))
                    layers = [ld.mesh_layer_data(v, f, color, name=f"mesh {root}", root_id=root)]
                yield Fetched(kind, (root,), layers, done=done, total=total)
            except Exception as exc:  # noqa: BLE001 - one neuron's failure must not lose the others
                yield Fetched("error", (root,), message=f"{kind} of {root}: {one_line(exc)}", done=done, total=total)
    if "synapses" in kinds and ids:
        done += 1
        try:
            syn = neuron_synapses(dataset, ids)
            if len(syn) == 0:
                yield Fetched("error", tuple(ids), message=f"no synapses stored for {ids_text(ids)}; "
                              "download them with `napari-microns synapses`", done=done, total=total)
            else:
                layer = ld.synapse_layer_data(syn, ids, units=units, color_by=synapse_color_by)
                yield Fetched("synapses", tuple(ids), [layer], done=done, total=total)
        except Exception as exc:  # noqa: BLE001
            yield Fetched("error", tuple(ids), message=f"synapses: {one_line(exc)}", done=done, total=total)


def fetch_layers(*args, handed_over: threading.Event | None = None, **kwargs) -> Iterator[Fetched]:
    """:func:`fetch_neurons`, also making the napari layer objects (not yet in a viewer).

    Run in a worker thread: layer construction (colour, feature and thumbnail
    work) then stays off the UI thread, which only inserts the layers.

    ``handed_over``: set by the UI thread once it has inserted (and drawn) a piece. The
    worker waits for it before building the next one, so the two threads do
    not contend for the GIL while the UI thread is busy inserting (measured:
    that contention doubled the UI thread's stall).
    """
    from napari.layers import Layer

    for piece in fetch_neurons(*args, **kwargs):
        # a skeleton also brings its soma marker, ready in case the scene has no somata layer yet
        extra = somata_layers(piece.layers) if piece.kind == "skeleton" else []
        piece.built = [Layer.create(data, kw, kind) for data, kw, kind in piece.layers + extra]
        yield piece
        if handed_over is not None:
            # bounded: a UI thread that never answers (closed widget) only slows the fetch down
            handed_over.wait(timeout=HANDOVER_TIMEOUT_S)
            handed_over.clear()


def build_units_layers(units: pd.DataFrame, layers: pd.DataFrame | None, color_by: str = "cell_type") -> list:
    """napari layers (not yet in a viewer) for the units and the layer planes; worker-safe."""
    from napari.layers import Layer

    return [Layer.create(*t) for t in ld.scene_layer_data(units, layers, color_by=color_by)]


def somata_layers(layer_tuples) -> list:
    """One soma-marker layer for the skeletons among ``layer_tuples`` (empty if none)."""
    roots, somata = [], []
    for _data, kwargs, _kind in layer_tuples:
        meta = kwargs.get("metadata", {})
        if meta.get("napari_microns") == "skeleton" and "soma_um" in meta:
            roots.append(meta["root_id"])
            somata.append(meta["soma_um"])
    return [ld.somata_layer_data(np.array(somata), roots)] if somata else []


def one_line(exc: BaseException) -> str:
    """A message for a notification: our errors are one line already; others get their type."""
    if isinstance(exc, MicronsError):
        return str(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def ids_text(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids[:3])) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def parse_root_ids(text: str) -> list[int]:
    """Root ids from pasted text: commas, spaces, newlines or brackets between them, in order
    without repeats (read and checked by :func:`napari_microns.core.ids.parse_ids`)."""
    from .core.ids import parse_ids

    return [int(r) for r in parse_ids(text or "", "root id", where="root ids", unique=True)]


# -- the scene (UI thread) -------------------------------------------------------------
class Scene:
    """The plugin's layers in one napari viewer."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.dataset = None
        self.features: pd.DataFrame | None = None
        self.layers_table: pd.DataFrame | None = None
        self.color_by = "cell_type"
        self.shown: np.ndarray | None = None
        self.neuron_colors: dict[int, tuple] = {}

    # -- units and layers
    @property
    def units_layer(self):
        return self._layer(ld.UNITS_LAYER)

    def _layer(self, name: str):
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def load(self, dataset, color_by: str = "cell_type", camera: str = "pia_up") -> None:
        """Show a processed dataset's units and layer planes."""
        units = dataset.units()
        try:
            layers = dataset.layers()
        except DataError:
            layers = None
        self.dataset = dataset
        self.show_units(units, layers, color_by=color_by, camera=camera)

    def show_units(self, units: pd.DataFrame, layers: pd.DataFrame | None = None, color_by: str = "cell_type",
                   camera: str | None = "pia_up", built: list | None = None) -> None:
        """Show units (and layer planes). ``built``: the layers :func:`build_units_layers`
        made in a worker thread from the same tables, so this thread only inserts them."""
        if built is None:
            built = build_units_layers(units, layers, color_by)
        self.features = built[0].features
        self.color_by = color_by
        self.shown = np.ones(len(self.features), dtype=bool)
        self.layers_table = layers
        for layer in built:
            self._replace_layer(layer)
        self.viewer.dims.ndisplay = 3
        self.viewer.tooltip.visible = True
        if camera:
            from .figure import set_camera

            set_camera(self.viewer, camera)

    def _replace(self, name: str, layer_tuple) -> None:
        from napari.layers import Layer

        data, kwargs, kind = layer_tuple
        self._replace_layer(Layer.create(data, kwargs, kind))

    def _replace_layer(self, layer) -> None:
        """Add ``layer``, taking the place of a layer of the same name if there is one."""
        old = self._layer(layer.name)
        index = self.viewer.layers.index(old) if old is not None else None
        if old is not None:
            self.viewer.layers.remove(old)
        self.viewer.add_layer(layer)
        if index is not None:
            self.viewer.layers.move(self.viewer.layers.index(layer), index)

    def set_color_by(self, column: str) -> None:
        layer = self.units_layer
        if layer is None or self.features is None:
            raise DataError("load units first")
        colors = ld.units_colors(self.features, column)
        # napari re-uploads every point twice for one colour change: on the colour
        # manager's event and again on the layer's face_color event. The first is
        # all the canvas needs (tests/test_render.py checks the switch is drawn).
        with layer.events.face_color.blocker():
            layer.face_color = colors
        layer.metadata["color_by"] = column
        self.color_by = column

    def set_filters(self, classes=None, cell_types=None, layers=None, areas=None, proofread_only=False) -> int:
        """Show only units passing the filters; returns how many are shown."""
        layer = self.units_layer
        if layer is None or self.features is None:
            raise DataError("load units first")
        self.shown = ld.filter_mask(self.features, classes, cell_types, layers, areas, proofread_only)
        layer.shown = self.shown
        return int(self.shown.sum())

    def legend(self) -> list[tuple[str, tuple, int]]:
        if self.features is None:
            return []
        return ld.legend(self.features, self.color_by, self.shown)

    def selected_root_ids(self) -> list[int]:
        """Root ids of the units selected in the viewer (click or drag in select mode)."""
        layer = self.units_layer
        if layer is None or not layer.selected_data:
            return []
        idx = sorted(layer.selected_data)
        return [int(r) for r in self.features["pt_root_id"].to_numpy()[idx]]

    def unit_positions(self, root_ids: Sequence[int]) -> np.ndarray:
        """(N, 3) µm soma positions of root ids known to the units table."""
        if self.features is None:
            return np.empty((0, 3))
        f = self.features.drop_duplicates("pt_root_id").set_index("pt_root_id")
        known = [r for r in root_ids if r in f.index]
        return f.loc[known, ld.POSITION_COLUMNS].to_numpy(dtype=float)

    def color_of(self, root_id: int) -> tuple:
        if root_id not in self.neuron_colors:
            self.neuron_colors[root_id] = ld.neuron_color(len(self.neuron_colors))
        return self.neuron_colors[root_id]

    # -- chosen neurons
    def add_fetched(self, piece: Fetched) -> None:
        """Add (or replace) the layers of one fetched piece."""
        somata = None
        if piece.built is not None:
            for layer in piece.built:
                if layer.metadata.get("napari_microns") == "somata":
                    somata = layer
                else:
                    self._replace_layer(layer)
        else:
            for data, kwargs, kind in piece.layers:
                self._replace(kwargs["name"], (data, kwargs, kind))
        if piece.kind == "skeleton":
            self._update_somata(somata)

    def _update_somata(self, prebuilt=None) -> None:
        """One soma marker per skeleton shown. The layer is added once (``prebuilt``
        when a worker made it) and then updated in place: a new napari layer costs
        the UI thread far more (visual, controls) than new data."""
        from napari.layers import Layer

        tuples = [(lyr.data, {"metadata": lyr.metadata}, None) for lyr in self.viewer.layers]
        for data, kwargs, kind in somata_layers(tuples):
            layer = self._layer("somata")
            if layer is None:
                layer = prebuilt if prebuilt is not None else Layer.create(data, kwargs, kind)
                self.viewer.add_layer(layer)
            if layer.data.shape != data.shape or not np.allclose(layer.data, data):
                layer.data = data
                layer.features = kwargs["features"]

    def root_id_at(self, position, view_direction=None, dims_displayed=None) -> int | None:
        """The root id of the shown unit under a world position (and view ray in 3D), or None."""
        layer = self.units_layer
        if layer is None or self.features is None or not layer.visible:
            return None
        index = layer.get_value(position, view_direction=view_direction, dims_displayed=dims_displayed, world=True)
        if index is None:
            return None
        return int(self.features["pt_root_id"].iat[int(index)])

    def fetch_now(self, root_ids: Sequence[int], kinds: Iterable[str] = FETCH_KINDS, **kwargs) -> list[str]:
        """Fetch in this thread (scripts, figures); returns the error messages."""
        if self.dataset is None:
            raise DataError("no dataset loaded: open a data folder or the sample first")
        colors = {int(r): self.color_of(int(r)) for r in root_ids}
        errors = []
        for piece in fetch_neurons(self.dataset, root_ids, kinds, units=self.features, colors=colors, **kwargs):
            if piece.kind == "error":
                errors.append(piece.message)
            else:
                self.add_fetched(piece)
        return errors

    def dim_units(self, opacity: float = 0.35, size: float = 6.0) -> None:
        """Push the units into the background so chosen neurons stand out."""
        layer = self.units_layer
        if layer is not None:
            layer.opacity = opacity
            layer.size = size
            layer.blending = "translucent_no_depth"  # context must not hide the neurons

    def neuron_layers(self) -> list:
        return [lyr for lyr in self.viewer.layers
                if lyr.metadata.get("napari_microns") in ("skeleton", "mesh", "synapses", "somata")]
