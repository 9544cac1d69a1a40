"""Fetching chosen neurons for the scene: skeletons, meshes and synapses as layer data.

Data access that may touch disk or network lives here, in :func:`fetch_neurons`,
a generator meant to run in a worker thread: it yields ready-made layer-data
tuples (:class:`Fetched` pieces), and the UI thread only adds them
(:meth:`napari_microns.scene.Scene.add_fetched`). No Qt, no viewer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from . import layer_data as ld
from .core.errors import DataError, MicronsError
from .layer_data import DISPLAY_MAX_FACES

#: Face budget of a displayed mesh (decimated by the morphology API).
DEFAULT_MAX_FACES = DISPLAY_MAX_FACES
FETCH_KINDS = (ld.KIND_SKELETON, ld.KIND_MESH, ld.KIND_SYNAPSES)
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


def stale_root_ids(dataset, root_ids: Sequence[int], what: str = "chosen neurons") -> list[str]:
    """One line per stale id among ``root_ids`` (a root id at another processed version of the
    data folder, no longer at this one), naming the id to use (:func:`.core.roots.check_root_ids`);
    ``[]`` without a dataset. The fetch may go ahead: a segment without a soma is no unit."""
    return [] if dataset is None else dataset.warn_stale_ids(list(root_ids), what)


def fetch_kinds(kinds: Iterable[str]) -> list[str]:
    """``kinds`` in fetch order (skeleton, mesh, synapses), unknown ones left out."""
    wanted = set(kinds)
    return [k for k in FETCH_KINDS if k in wanted]


def fetch_total(n_neurons: int, kinds: Iterable[str]) -> int:
    """How many pieces a fetch of ``n_neurons`` yields: one per neuron and kind, one for all synapses."""
    kinds = fetch_kinds(kinds)
    return n_neurons * len([k for k in kinds if k != ld.KIND_SYNAPSES]) + (1 if ld.KIND_SYNAPSES in kinds else 0)


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
    kinds = fetch_kinds(kinds)
    colors = colors or {}
    per_neuron = [k for k in kinds if k != ld.KIND_SYNAPSES]
    total = fetch_total(len(ids), kinds)
    done = 0
    for i, root in enumerate(ids):
        color = colors.get(root, ld.neuron_color(i))
        for kind in per_neuron:
            done += 1
            try:
                if kind == ld.KIND_SKELETON:
                    v, e, comp, root_idx = skeleton_arrays(dataset.skeleton(root))
                    layers = [ld.skeleton_layer_data(v, e, comp, name=f"skeleton {root}", root_id=root)]
                    layers[0][1]["metadata"]["soma_um"] = v[root_idx].tolist()
                else:
                    v, f = mesh_arrays(dataset.mesh(root, max_faces=max_faces))
                    layers = [ld.mesh_layer_data(v, f, color, name=f"mesh {root}", root_id=root)]
                yield Fetched(kind, (root,), layers, done=done, total=total)
            except Exception as exc:  # noqa: BLE001 - one neuron's failure must not lose the others
                yield Fetched("error", (root,), message=f"{kind} of {root}: {one_line(exc)}", done=done, total=total)
    if ld.KIND_SYNAPSES in kinds and ids:
        done += 1
        try:
            syn = neuron_synapses(dataset, ids)
            if len(syn) == 0:
                yield Fetched("error", tuple(ids), message=f"no synapses stored for {ids_text(ids)}; "
                              "download them with `napari-microns synapses`", done=done, total=total)
            else:
                layer = ld.synapse_layer_data(syn, ids, units=units, color_by=synapse_color_by)
                yield Fetched(ld.KIND_SYNAPSES, tuple(ids), [layer], done=done, total=total)
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
        extra = somata_layers(piece.layers) if piece.kind == ld.KIND_SKELETON else []
        piece.built = [Layer.create(data, kw, kind) for data, kw, kind in piece.layers + extra]
        yield piece
        if handed_over is not None:
            # bounded: a UI thread that never answers (closed widget) only slows the fetch down
            handed_over.wait(timeout=HANDOVER_TIMEOUT_S)
            handed_over.clear()


def somata_layers(layer_tuples) -> list:
    """One soma-marker layer for the skeletons among ``layer_tuples`` (empty if none)."""
    roots, somata = [], []
    for _data, kwargs, _kind in layer_tuples:
        meta = kwargs.get("metadata", {})
        if meta.get(ld.KIND_KEY) == ld.KIND_SKELETON and "soma_um" in meta:
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
