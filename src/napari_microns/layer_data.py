"""Pure functions: core data in, napari layer-data tuples out.

Every builder returns ``(data, kwargs, layer_type)``, the tuple napari's
readers and ``viewer._add_layer_from_data`` take, and imports neither napari
nor Qt, so it runs and is tested without a window.

One frame for everything: the units' pia-aligned micrometres ``(x, y, z)``
with ``y`` the depth below the pia. napari orders axes ``(plane, row,
column)`` and its default 3D camera draws rows downwards, so positions are
handed to napari as ``(z, y, x)``: depth runs down the screen and the pia is
at the top.

Two kinds of "layer" meet here: napari layers (what the builders return) and
the cortex's layers L1 ... L6 (the ``cortical_layers`` table of depth bounds,
``Dataset.layers()``). Names say which: ``cortical_layer_*`` for the latter.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import colour_data
from .core import palettes

LayerData = tuple  # (data, kwargs, layer_type)

#: Column order of the units' position, pia-aligned µm.
POSITION_COLUMNS = ["pt_position_x", "pt_position_y", "pt_position_z"]
#: Shown first when hovering a cell (napari lists features in column order).
HOVER_COLUMNS = ["pt_root_id", "nucleus_id", "cell_type", "layer", "brain_area"]
#: Categorical columns units can be coloured by, in menu order (numeric ones follow:
#: :func:`.colour_data.color_by_choices`).
COLOR_BY_CHOICES = colour_data.CATEGORY_CHOICES

#: Names of the napari layers of the base scene.
UNITS_LAYER = "units"
CORTICAL_PLANES_LAYER = "cortical layers"
CORTICAL_OUTLINES_LAYER = "layer boundaries"
CORTICAL_LABELS_LAYER = "layer labels"

#: The napari layer metadata key saying what a layer shows, and its values (one per
#: builder below). The values are stored with saved layers: keep them as they are.
KIND_KEY = "napari_microns"
KIND_UNITS = "units"
KIND_CORTICAL_PLANES = "layer_planes"
KIND_CORTICAL_OUTLINES = "layer_outlines"
KIND_CORTICAL_LABELS = "layer_labels"
KIND_SKELETON = "skeleton"
KIND_SOMATA = "somata"
KIND_MESH = "mesh"
KIND_SYNAPSES = "synapses"

#: Units' point diameter (µm): about a soma.
DEFAULT_UNIT_SIZE = 10.0
#: Face budget of a displayed mesh (decimated by the morphology API).
DISPLAY_MAX_FACES = 100_000


def layer_kind(layer) -> str | None:
    """What a napari layer made here shows (a ``KIND_*`` value), else None."""
    return layer.metadata.get(KIND_KEY)


def to_display(xyz) -> np.ndarray:
    """(N, 3) pia-aligned µm ``(x, y, z)`` -> napari's ``(z, y, x)``."""
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    return np.ascontiguousarray(xyz[:, ::-1])


def from_display(zyx) -> np.ndarray:
    """Inverse of :func:`to_display`."""
    return to_display(zyx)


# -- units ---------------------------------------------------------------------
def units_features(units: pd.DataFrame) -> pd.DataFrame:
    """The units table as a Points layer's ``features``.

    Hover columns first (napari's status bar lists features in order), a
    derived ``proofreading`` category, categoricals for the category columns
    (fast colour lookups), and a clean 0..N-1 index.
    """
    missing = [c for c in POSITION_COLUMNS if c not in units.columns]
    if missing:
        from .core.errors import DataError

        raise DataError(f"units table lacks position columns {missing}; is it a processed units.parquet?")
    feats = units.reset_index(drop=True).copy()
    if "proofreading" not in feats.columns:
        axon = feats["strategy_axon"] if "strategy_axon" in feats.columns else pd.Series("none", index=feats.index)
        dend = feats["strategy_dendrite"] if "strategy_dendrite" in feats.columns else pd.Series("none", index=feats.index)
        feats["proofreading"] = palettes.proofreading_status(axon, dend)
    for col in palettes.CATEGORY_COLUMNS:
        if col in feats.columns and not isinstance(feats[col].dtype, pd.CategoricalDtype):
            feats[col] = feats[col].astype("string").astype("category")
    first = [c for c in HOVER_COLUMNS if c in feats.columns]
    return feats[first + [c for c in feats.columns if c not in first]]


def units_colors(features: pd.DataFrame, color_by: str, limits: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 4) RGBA of each unit for the ``color_by`` column (numeric: a colour map between
    ``limits``, default the 2nd-98th percentiles; see :mod:`.colour_data`)."""
    colour_data.check_color_by(features, color_by)
    return colour_data.column_colors(features[color_by], color_by, limits=limits)


def units_layer_data(
    units: pd.DataFrame,
    color_by: str = "cell_type",
    size: float = DEFAULT_UNIT_SIZE,
    shown: np.ndarray | None = None,
    name: str = UNITS_LAYER,
) -> LayerData:
    """One Points layer of all units, ``features`` = the units table."""
    feats = units_features(units)
    data = to_display(feats[POSITION_COLUMNS].to_numpy())
    kwargs = {
        "name": name,
        "features": feats,
        "face_color": units_colors(feats, color_by),
        "border_width": 0.0,
        "size": float(size),
        "shading": "spherical",
        # Shaded spheres need no edge smoothing, and without it each point covers
        # far fewer pixels: a frame of 94k units costs about half on software GL.
        "antialiasing": 0.0,
        "units": "um",
        "metadata": {KIND_KEY: KIND_UNITS, "color_by": color_by},
    }
    if shown is not None:
        kwargs["shown"] = np.asarray(shown, dtype=bool)
    return (data, kwargs, "points")


def filter_mask(
    features: pd.DataFrame,
    classes: Iterable[str] | None = None,
    cell_types: Iterable[str] | None = None,
    cortical_layers: Iterable[str] | None = None,
    areas: Iterable[str] | None = None,
    proofread_only: bool = False,
) -> np.ndarray:
    """Boolean mask of the units passing every filter (None = no filter)."""
    mask = np.ones(len(features), dtype=bool)
    for column, wanted in (("classification_system", classes), ("cell_type", cell_types),
                           ("layer", cortical_layers), ("brain_area", areas)):
        if wanted is not None and column in features.columns:
            mask &= features[column].astype("string").isin(list(wanted)).fillna(False).to_numpy(dtype=bool)
    if proofread_only:
        status = features["proofreading"] if "proofreading" in features.columns else units_features(features)["proofreading"]
        mask &= (status.astype("string") != "not proofread").to_numpy(dtype=bool)
    return mask


def legend(features: pd.DataFrame, color_by: str, shown: np.ndarray | None = None, limits=None):
    """``[(category, rgba, count)]`` of the shown units, or a numeric column's colour bar."""
    return colour_data.legend(features, color_by, shown, limits)


def units_extent(units: pd.DataFrame, margin: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of the units in ``(x, y, z)`` µm, with a margin."""
    xyz = units[POSITION_COLUMNS].to_numpy(dtype=float)
    xyz = xyz[np.isfinite(xyz).all(axis=1)]
    if len(xyz) == 0:
        return np.zeros(3), np.ones(3)
    return xyz.min(axis=0) - margin, xyz.max(axis=0) + margin


# -- cortical layers -------------------------------------------------------------
def cortical_layer_boundaries(cortical_layers: pd.DataFrame) -> np.ndarray:
    """Sorted depths (µm) of every boundary: each cortical layer's top and the last bottom."""
    tops = cortical_layers["y_start"].to_numpy(dtype=float)
    bottoms = cortical_layers["y_end"].to_numpy(dtype=float)
    return np.unique(np.concatenate([tops, bottoms]))


def cortical_layer_planes_data(cortical_layers: pd.DataFrame, extent: tuple[np.ndarray, np.ndarray],
                               name: str = CORTICAL_PLANES_LAYER) -> LayerData:
    """Translucent horizontal planes (a Surface) at each cortical layer boundary depth.

    Each plane spans the units' x and z extent at one depth ``y``.
    """
    lo, hi = (np.asarray(a, dtype=float) for a in extent)
    depths = cortical_layer_boundaries(cortical_layers)
    corners = np.array([[lo[0], lo[2]], [hi[0], lo[2]], [hi[0], hi[2]], [lo[0], hi[2]]])  # (x, z)
    verts_xyz = np.array([[x, y, z] for y in depths for x, z in corners], dtype=float).reshape(-1, 3)
    base = 4 * np.arange(len(depths))[:, None]
    faces = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]).astype(np.int64)
    colors = np.tile(np.asarray(palettes.CORTICAL_LAYER_PLANE, dtype=np.float32), (len(verts_xyz), 1))
    kwargs = {
        "name": name,
        "vertex_colors": colors,
        "opacity": 1.0,
        "blending": "translucent_no_depth",
        "shading": "none",
        "units": "um",
        "metadata": {KIND_KEY: KIND_CORTICAL_PLANES, "depths_um": depths.tolist()},
    }
    return ((to_display(verts_xyz), faces), kwargs, "surface")


def cortical_layer_outlines_data(cortical_layers: pd.DataFrame, extent: tuple[np.ndarray, np.ndarray],
                                 name: str = CORTICAL_OUTLINES_LAYER, edge_width: float = 1.5) -> LayerData:
    """The edges of each boundary plane as lines (Vectors), so boundaries read
    clearly even when a plane is seen edge-on."""
    lo, hi = (np.asarray(a, dtype=float) for a in extent)
    depths = cortical_layer_boundaries(cortical_layers)
    corners = np.array([[lo[0], lo[2]], [hi[0], lo[2]], [hi[0], hi[2]], [lo[0], hi[2]]])  # (x, z)
    starts, ends = [], []
    for y in depths:
        for k in range(4):
            (x0, z0), (x1, z1) = corners[k], corners[(k + 1) % 4]
            starts.append([x0, y, z0])
            ends.append([x1, y, z1])
    start, end = to_display(np.array(starts)), to_display(np.array(ends))
    kwargs = {
        "name": name,
        "edge_color": np.tile(np.asarray(palettes.CORTICAL_LAYER_OUTLINE, dtype=np.float32), (len(start), 1)),
        "edge_width": float(edge_width),
        "vector_style": "line",
        "units": "um",
        "metadata": {KIND_KEY: KIND_CORTICAL_OUTLINES, "depths_um": depths.tolist()},
    }
    return (np.stack([start, end - start], axis=1), kwargs, "vectors")


def cortical_layer_labels_data(cortical_layers: pd.DataFrame, extent: tuple[np.ndarray, np.ndarray],
                               name: str = CORTICAL_LABELS_LAYER) -> LayerData:
    """Text labels L1, L2/3, ... at each cortical layer's mid-depth, beside the planes."""
    lo, hi = (np.asarray(a, dtype=float) for a in extent)
    mids = (cortical_layers["y_start"].to_numpy(dtype=float) + cortical_layers["y_end"].to_numpy(dtype=float)) / 2.0
    n = len(mids)
    # beside the front right edge of the planes (napari's default view looks along -z), set
    # off from the corner so no boundary line runs through a label's text
    pad = 0.04 * float(max(hi[0] - lo[0], hi[2] - lo[2], 250.0))
    xyz = np.column_stack([np.full(n, hi[0] + pad), mids, np.full(n, hi[2] + pad)])
    kwargs = {
        "name": name,
        "features": pd.DataFrame({"layer": cortical_layers["layer"].astype(str).to_numpy()}),
        "text": {"string": "{layer}", "color": "white", "size": 14, "anchor": "upper_left",
                 "translation": [0, 0, 10]},
        "size": 0.01,
        "blending": "translucent_no_depth",  # with depth, a glyph's clear quad cuts the next (L2/3's "2")
        "face_color": [0, 0, 0, 0],
        "border_color": [0, 0, 0, 0],
        "border_width": 0.0,
        "units": "um",
        "metadata": {KIND_KEY: KIND_CORTICAL_LABELS},
    }
    return (to_display(xyz), kwargs, "points")


# -- skeletons ---------------------------------------------------------------------
def skeleton_layer_data(
    vertices_um: np.ndarray,
    edges: np.ndarray,
    compartment: np.ndarray | None = None,
    name: str = "skeleton",
    edge_width: float = 1.0,
    root_id: int | None = None,
) -> LayerData:
    """Skeleton edges as one Vectors layer coloured by SWC compartment.

    napari hangs on thousands of 3D Shapes paths; a Vectors layer draws
    every edge as one line in a single visual.
    """
    vertices = np.asarray(vertices_um, dtype=float).reshape(-1, 3)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    start, end = to_display(vertices[edges[:, 0]]), to_display(vertices[edges[:, 1]])
    vectors = np.stack([start, end - start], axis=1)
    if compartment is None:
        compartment = np.full(len(vertices), 3)
    comp = np.asarray(compartment).astype(np.int64)
    # An edge takes the compartment of its child (first) vertex, except a soma
    # vertex hands its edge to the neurite leaving it.
    edge_comp = np.where(comp[edges[:, 0]] == 1, comp[edges[:, 1]], comp[edges[:, 0]])
    lut = np.array([palettes.COMPARTMENT.get(i, palettes.UNKNOWN) for i in range(6)], dtype=np.float32)
    colors = lut[np.clip(edge_comp, 0, 5)]
    kwargs = {
        "name": name,
        "edge_color": colors,
        "edge_width": float(edge_width),
        "vector_style": "line",
        "length": 1.0,
        "units": "um",
        "features": pd.DataFrame({"compartment": pd.Categorical(
            [palettes.COMPARTMENT_NAMES.get(int(c), "unknown") for c in edge_comp])}),
        "metadata": {KIND_KEY: KIND_SKELETON, "root_id": None if root_id is None else int(root_id)},
    }
    return (vectors, kwargs, "vectors")


def somata_layer_data(positions_um: np.ndarray, root_ids: Sequence[int], size: float = 14.0,
                      name: str = "somata") -> LayerData:
    """Soma markers of the chosen neurons (one Points layer)."""
    kwargs = {
        "name": name,
        "features": pd.DataFrame({"pt_root_id": np.asarray(root_ids, dtype=np.int64)}),
        "face_color": np.asarray(palettes.COMPARTMENT[1], dtype=np.float32),
        "border_color": "black",
        "border_width": 0.1,
        "size": float(size),
        "shading": "spherical",
        "units": "um",
        "metadata": {KIND_KEY: KIND_SOMATA},
    }
    return (to_display(positions_um), kwargs, "points")


# -- meshes ------------------------------------------------------------------------
def neuron_color(index: int) -> tuple:
    """The colour of the ``index``-th chosen neuron (cycled)."""
    return palettes.NEURON_CYCLE[index % len(palettes.NEURON_CYCLE)]


def mesh_layer_data(vertices_um: np.ndarray, faces: np.ndarray, color: Sequence[float],
                    opacity: float = 0.7, name: str = "mesh", root_id: int | None = None) -> LayerData:
    """One neuron's mesh as a Surface in one colour, translucent."""
    vertices = np.asarray(vertices_um, dtype=float).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    rgba = np.asarray(color, dtype=np.float32)[:4]
    kwargs = {
        "name": name,
        "vertex_colors": np.tile(rgba, (len(vertices), 1)),
        "opacity": float(opacity),
        "blending": "translucent",
        "shading": "smooth",
        "units": "um",
        "metadata": {KIND_KEY: KIND_MESH, "root_id": None if root_id is None else int(root_id),
                     "faces": int(len(faces))},
    }
    return ((to_display(vertices), faces), kwargs, "surface")


# -- synapses ----------------------------------------------------------------------
SYNAPSE_POSITION = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]


def synapse_direction(synapses: pd.DataFrame, root_ids: Iterable[int]) -> pd.Series:
    """'output' where a chosen neuron is presynaptic, else 'input'."""
    ids = np.asarray(list(root_ids), dtype=np.int64)
    is_out = np.isin(synapses["pre_pt_root_id"].to_numpy(dtype=np.int64), ids)
    return pd.Series(np.where(is_out, "output", "input"), index=synapses.index)


#: Synapse markers' opacity: below 1 so the skeleton under thousands of them stays readable.
SYNAPSE_OPACITY = 0.6


def synapse_sizes(size: np.ndarray, smallest: float = 0.5, largest: float = 2.0) -> np.ndarray:
    """Point diameters (µm) growing with the cube root of synapse size (a volume); at most
    about twice a skeleton line, so thousands of synapses do not hide the neurites."""
    size = np.asarray(size, dtype=float)
    if len(size) == 0:
        return size
    r = np.cbrt(np.clip(size, 0, None))
    lo, hi = np.nanpercentile(r, 2), np.nanpercentile(r, 98)
    t = np.clip((r - lo) / (hi - lo), 0, 1) if hi > lo else np.full_like(r, 0.5)
    return smallest + t * (largest - smallest)


def synapse_layer_data(
    synapses: pd.DataFrame,
    root_ids: Iterable[int],
    units: pd.DataFrame | None = None,
    color_by: str = "direction",
    name: str = "synapses",
    position_columns: Sequence[str] = SYNAPSE_POSITION,
) -> LayerData:
    """Synapses of the chosen neurons as Points, sized by synapse size.

    ``color_by="direction"`` colours inputs and outputs apart; any units
    column (e.g. ``"cell_type"``) colours each synapse by its partner's value.
    """
    missing = [c for c in [*position_columns, "pre_pt_root_id", "post_pt_root_id"] if c not in synapses.columns]
    if missing:
        from .core.errors import DataError

        raise DataError(f"synapse table lacks columns {missing}")
    syn = synapses.reset_index(drop=True)
    direction = synapse_direction(syn, root_ids)
    partner = np.where(direction == "output", syn["post_pt_root_id"], syn["pre_pt_root_id"]).astype(np.int64)
    feats = pd.DataFrame({
        "direction": pd.Categorical(direction, categories=["input", "output"]),
        "partner_root_id": partner,
        "pre_pt_root_id": syn["pre_pt_root_id"].to_numpy(dtype=np.int64),
        "post_pt_root_id": syn["post_pt_root_id"].to_numpy(dtype=np.int64),
        "size": syn["size"].to_numpy() if "size" in syn.columns else np.ones(len(syn)),
    })
    if color_by == "direction":
        colors = palettes.colors_for(feats["direction"].astype(str), "direction", palettes.SYNAPSE_DIRECTION)
    else:
        if units is None or color_by not in units.columns:
            from .core.errors import DataError

            raise DataError(f"cannot colour synapses by partner {color_by!r}: no units table with that column")
        lookup = units.drop_duplicates("pt_root_id").set_index("pt_root_id")[color_by]
        numeric = palettes.is_numeric_column(lookup, color_by)  # a colour map with the units' limits
        feats[f"partner_{color_by}"] = lookup.reindex(partner).astype(float if numeric else "string").to_numpy()
        colors = colour_data.column_colors(feats[f"partner_{color_by}"], color_by, reference=lookup)
    kwargs = {
        "name": name,
        "features": feats,
        "face_color": colors,
        "border_width": 0.0,
        "size": synapse_sizes(feats["size"].to_numpy()),
        "opacity": SYNAPSE_OPACITY,  # the skeleton shows through dense synapses
        "shading": "spherical",
        "antialiasing": 0.0,  # as the units: shaded spheres, half the pixels
        "units": "um",
        "metadata": {KIND_KEY: KIND_SYNAPSES, "color_by": color_by},
    }
    return (to_display(syn[list(position_columns)].to_numpy(dtype=float)), kwargs, "points")


# -- the whole base scene --------------------------------------------------------------
def scene_layer_data(units: pd.DataFrame, cortical_layers: pd.DataFrame | None, color_by: str = "cell_type",
                     source: dict | None = None) -> list[LayerData]:
    """Units Points plus (when the cortical layers are known) their planes, outlines and labels.

    ``source`` (e.g. ``{"datadir": ..., "version": ...}``) goes into the units
    layer's metadata, so the dock widget can adopt a layer a reader made.
    """
    out = [units_layer_data(units, color_by=color_by)]
    out[0][1]["metadata"].update(source or {})
    if cortical_layers is not None and len(cortical_layers):
        extent = units_extent(units)
        out += [cortical_layer_planes_data(cortical_layers, extent),
                cortical_layer_outlines_data(cortical_layers, extent),
                cortical_layer_labels_data(cortical_layers, extent)]
    return out
