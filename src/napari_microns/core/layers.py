"""Cortical layer boundaries in depth, derived from cell types.

``datacleaner`` reproduces microns_datacleaner 0.2.1.x
(``divide_volume_into_segments`` + ``merge_segments_by_layer`` +
``add_layer_info``) on the same cells, vectorized:

1. Split depth (y, µm) from the shallowest to the deepest cell into
   ``ceil(range / 10)`` equal bins (so each is at most 10 µm).
2. Count the cells of each layer's marker types in each bin.
3. Bins are L1 until the first bin with >= 300 L2/3 cells, which is L2/3;
   after it each bin takes the layer with most cells (first in layer order
   on ties), or Unknown when it has none.
4. Unknown and WM bins are absorbed into the run before them; consecutive
   bins of one layer merge into one region.

One fix, documented in docs/processing.md: datacleaner's bins are half-open
``[start, end)``, so the deepest cell falls in no bin and gets no layer. Here
the last bin (and the deepest region) includes its lower edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Marker cell types of each layer, per cell-type table (as microns_datacleaner
#: 0.2.1.8 config/celltypes.yaml, spelling included: v661 labels its glia
#: lowercase, so only OPC of the WM list matches, as in datacleaner).
LAYER_MARKERS: dict[str, dict[str, list[str]]] = {
    "aibs_metamodel_celltypes_v661": {
        "L1": ["NGC", "BPC", "MC", "BC"],
        "L2/3": ["23P"],
        "L4": ["4P"],
        "L5": ["5P-IT", "5P-ET", "5P-NP"],
        "L6": ["6P-IT", "6P-CT"],
        "WM": ["Oligo", "OPC", "Pericyte"],
    },
    "cell_type_multifeature_combo": {
        "L1": ["L1", "NGC", "MC"],
        "L2/3": ["L2IT", "L3IT"],
        "L4": ["L4IT"],
        "L5": ["L5IT", "L5ET", "L5NP"],
        "L6": ["L6IT", "L6CT"],
        "WM": [],
    },
}

LAYER_ORDER = ["L1", "L2/3", "L4", "L5", "L6", "WM"]
LAYER_COLUMNS = ["layer", "region_index", "y_start", "y_end", "height"]
METHODS = ("datacleaner",)


def segment_depth_bins(
    depth: np.ndarray,
    cell_type: np.ndarray,
    markers: dict[str, list[str]],
    bin_size: float = 10.0,
    threshold_l23: int = 300,
) -> pd.DataFrame:
    """Per-bin marker counts and dominant layer (datacleaner's segments table)."""
    depth = np.asarray(depth, dtype=float)
    ok = np.isfinite(depth)
    depth, cell_type = depth[ok], np.asarray(cell_type, dtype=object)[ok]
    if depth.size == 0:
        raise ValueError("no cells with a depth to derive layers from")
    y_min, y_max = depth.min(), depth.max()
    n_bins = max(int(np.ceil((y_max - y_min) / bin_size)), 1)
    edges = np.linspace(y_min, y_max, n_bins + 1)

    # Bin of each cell; the deepest cell joins the last bin (datacleaner drops it).
    which = np.clip(np.searchsorted(edges, depth, side="right") - 1, 0, n_bins - 1)
    layers = [layer for layer in LAYER_ORDER if layer in markers]
    layer_of_type = {t: i for i, layer in enumerate(layers) for t in markers[layer]}
    layer_idx = np.array([layer_of_type.get(t, -1) for t in cell_type], dtype=int)
    has = layer_idx >= 0
    counts = np.zeros((n_bins, len(layers)), dtype=int)
    np.add.at(counts, (which[has], layer_idx[has]), 1)

    l23 = layers.index("L2/3")
    dominant = np.empty(n_bins, dtype=object)
    first_l23 = np.flatnonzero(counts[:, l23] >= threshold_l23)
    start = first_l23[0] if first_l23.size else n_bins
    dominant[:start] = "L1"
    if start < n_bins:
        dominant[start] = "L2/3"
        rest = counts[start + 1 :]
        majority = np.array(layers, dtype=object)[rest.argmax(axis=1)] if len(rest) else np.array([], dtype=object)
        dominant[start + 1 :] = np.where(rest.sum(axis=1) > 0, majority, "Unknown")

    out = pd.DataFrame({"y_start": edges[:-1], "y_end": edges[1:]})
    out["y_center"] = (out["y_start"] + out["y_end"]) / 2
    for i, layer in enumerate(layers):
        out[f"{layer}_cells"] = counts[:, i]
    out["dominant_layer"] = dominant
    return out


def merge_bins(segments: pd.DataFrame) -> pd.DataFrame:
    """Runs of one dominant layer -> regions; Unknown/WM bins join the run before them."""
    regions: list[tuple[str, int, int]] = []  # (layer, first bin, last bin)
    for i, layer in enumerate(segments["dominant_layer"]):
        if layer in ("Unknown", "WM"):
            continue
        if regions and regions[-1][0] == layer:
            continue
        if regions:
            prev = regions[-1]
            regions[-1] = (prev[0], prev[1], i - 1)
        regions.append((layer, i, len(segments) - 1))
    seen: dict[str, int] = {}
    rows = []
    for layer, first, last in regions:
        y_start, y_end = float(segments["y_start"].iat[first]), float(segments["y_end"].iat[last])
        rows.append((layer, seen.get(layer, 0), y_start, y_end, y_end - y_start))
        seen[layer] = seen.get(layer, 0) + 1
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


def datacleaner_layers(units: pd.DataFrame, celltype_table: str, depth_column: str = "pt_position_y") -> pd.DataFrame:
    markers = LAYER_MARKERS.get(celltype_table)
    if markers is None:
        raise ValueError(f"no layer marker types known for cell type table {celltype_table!r}")
    segments = segment_depth_bins(units[depth_column].to_numpy(), units["cell_type"].to_numpy(), markers)
    return merge_bins(segments)


def compute_layers(units: pd.DataFrame, celltype_table: str, method: str = "datacleaner") -> pd.DataFrame:
    if method == "datacleaner":
        return datacleaner_layers(units, celltype_table)
    raise ValueError(f"unknown layer method {method!r}; choose one of: {', '.join(METHODS)}")


def assign_layers(depth: np.ndarray, layers: pd.DataFrame) -> np.ndarray:
    """The layer of each depth: ``y_start <= y < y_end``; the deepest region also takes its ``y_end``."""
    depth = np.asarray(depth, dtype=float)
    out = np.full(depth.shape, None, dtype=object)
    if layers.empty:
        return out
    deepest = layers["y_end"].max()
    for layer, y0, y1 in layers[["layer", "y_start", "y_end"]].itertuples(index=False):
        inside = (depth >= y0) & ((depth < y1) | ((y1 == deepest) & (depth == y1)))
        out[inside] = layer
    return out
