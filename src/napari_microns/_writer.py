"""npe2 writers: a skeleton layer as SWC, a points layer (units, synapses, somata) as CSV or Parquet.

napari calls a single-layer writer as ``writer(path, data, meta)`` with the layer's data and
its keyword arguments (``meta["features"]``, ``meta["metadata"]``...). Positions are written in
napari-microns' pia-aligned µm frame as ``x, y, z`` (the display's ``z, y, x`` turned back);
``napari-microns morphology --import FILE.swc --root-id ID --units um`` reads an SWC back.
Files are written atomically (``core.layout.atomic_path``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .core import palettes
from .core.errors import DataError
from .core.layout import atomic_path
from .core.morphology.types import SWC_SOMA
from .layer_data import KIND_KEY, KIND_SKELETON, from_display

#: Tolerance (µm) for matching a vector's end to another vector's start (the same vertex).
MATCH_TOL_UM = 1e-6
_CODES = {name: code for code, name in palettes.COMPARTMENT_NAMES.items()}


def skeleton_from_vectors(data, features: pd.DataFrame | None = None):
    """(vertices µm (N, 3), edges child -> parent (M, 2), compartment (N,)) of a skeleton Vectors
    layer's data: one vector per edge, from the child vertex to its parent, in display order."""
    from scipy.spatial import cKDTree

    vec = np.asarray(data, dtype=np.float64).reshape(-1, 2, 3)
    if len(vec) == 0:
        raise DataError("the skeleton layer has no edges to write")
    child = from_display(vec[:, 0])
    parent = from_display(vec[:, 0] + vec[:, 1])
    dist, hit = cKDTree(child).query(parent, distance_upper_bound=MATCH_TOL_UM)
    found = np.isfinite(dist)
    # parents that are no edge's child are roots: one vertex each (merged when they coincide)
    loose = parent[~found]
    roots, root_of = (np.unique(np.round(loose, 9), axis=0, return_inverse=True) if len(loose)
                      else (np.empty((0, 3)), np.empty(0, np.int64)))
    vertices = np.vstack([child, roots])
    parent_idx = np.where(found, hit, 0).astype(np.int64)
    parent_idx[~found] = len(child) + np.asarray(root_of, np.int64).reshape(-1)
    edges = np.column_stack([np.arange(len(child)), parent_idx])
    comp = np.full(len(vertices), SWC_SOMA, dtype=np.int8)
    if features is not None and "compartment" in features:
        comp[: len(child)] = [_CODES.get(str(c), 0) for c in features["compartment"]]
    return vertices, edges, comp


def swc_table(vertices, edges, compartment, radius=None) -> np.ndarray:
    """SWC rows (id, type, x, y, z, radius, parent), parents listed before their children."""
    n = len(vertices)
    parent = np.full(n, -1, dtype=np.int64)
    parent[edges[:, 0]] = edges[:, 1]
    children: dict[int, list[int]] = {}
    for c, p in edges:
        children.setdefault(int(p), []).append(int(c))
    order, stack = [], [int(r) for r in np.flatnonzero(parent < 0)][::-1]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(children.get(v, [])[::-1])
    if len(order) != n:
        raise DataError("the skeleton has a cycle; it cannot be written as SWC")
    new_id = np.empty(n, dtype=np.int64)
    new_id[order] = np.arange(1, n + 1)
    order = np.asarray(order)
    radius = np.zeros(n) if radius is None else np.asarray(radius, dtype=np.float64)
    par = np.where(parent[order] < 0, -1, new_id[np.maximum(parent[order], 0)])
    return np.column_stack([np.arange(1, n + 1), compartment[order], vertices[order], radius[order], par])


def write_swc(path: str, data, meta: dict) -> list[str]:
    """Write a skeleton Vectors layer as SWC (pia-aligned µm, radii unknown: 0)."""
    path = _with_suffix(path, ".swc")
    metadata = meta.get("metadata") or {}
    if metadata.get(KIND_KEY) not in (None, KIND_SKELETON):
        raise DataError(f"the layer {meta.get('name')!r} is not a skeleton; only skeleton layers are saved as SWC")
    vertices, edges, comp = skeleton_from_vectors(data, meta.get("features"))
    rows = swc_table(vertices, edges, comp)
    root_id = metadata.get("root_id")
    header = (f"napari-microns skeleton{'' if root_id is None else f' of root id {int(root_id)}'} "
              f"({meta.get('name', 'skeleton')})\npositions in napari-microns' pia-aligned um frame "
              "(import with --units um); radius unknown (0)\nid type x y z radius parent")
    with atomic_path(path) as tmp:
        np.savetxt(tmp, rows, fmt=["%d", "%d", "%.9f", "%.9f", "%.9f", "%.3f", "%d"], header=header)
    return [str(path)]


def points_table(data, meta: dict) -> pd.DataFrame:
    """A points layer as a table: ``x_um, y_um, z_um`` then its features, root ids as int64."""
    xyz = from_display(np.asarray(data, dtype=np.float64).reshape(-1, 3)) if len(data) else np.empty((0, 3))
    table = pd.DataFrame({"x_um": xyz[:, 0], "y_um": xyz[:, 1], "z_um": xyz[:, 2]})
    features = meta.get("features")
    if isinstance(features, pd.DataFrame) and len(features.columns):
        features = features.reset_index(drop=True)
        for col in features.columns:
            if col.endswith("root_id") or col in ("id", "root_id"):
                features[col] = _int64_ids(features[col], col)
        table = pd.concat([table, features.drop(columns=[c for c in table.columns if c in features])], axis=1)
    kind = (meta.get("metadata") or {}).get(KIND_KEY)
    table.attrs["kind"] = kind
    return table


def _int64_ids(values: pd.Series, col: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64") if not values.isna().any() else values.astype("Int64")
    if values.isna().any():
        return values.astype("Int64")  # nullable ids stay whole numbers, never float
    return values.astype("int64")


def write_points_csv(path: str, data, meta: dict) -> list[str]:
    path = _with_suffix(path, ".csv")
    table = points_table(data, meta)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return [str(path)]


def write_points_parquet(path: str, data, meta: dict) -> list[str]:
    path = _with_suffix(path, ".parquet")
    table = points_table(data, meta)
    table.attrs = {}
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return [str(path)]


def _with_suffix(path, suffix: str) -> Path:
    path = Path(path)
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)
