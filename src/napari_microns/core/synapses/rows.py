"""Rows in the store's shapes: per-synapse rows (positions in voxels and µm), per-pair
aggregates, and the stable synthetic ids of per-synapse rows imported without one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DataError
from ..ids import int64_ids
from ..transform import voxels_to_um
from .schema import CONNECTION_SCHEMA, POST, PRE, SYNAPSE_SCHEMA, UM, VX


def synapse_rows(raw: pd.DataFrame, sort: bool = True) -> pa.Table:
    """Per-synapse store rows from ``id, pre, post, size`` and voxel positions, sorted by id
    (or in their order, ``sort=False``)."""
    ids = int64_ids(raw["id"], "id")
    order = np.argsort(ids, kind="stable") if sort else slice(None)
    columns = {"id": ids, PRE: int64_ids(raw[PRE], PRE), POST: int64_ids(raw[POST], POST), "size": int_sizes(raw["size"])}
    vx = voxel_positions(raw)
    if vx is not None:
        um = voxels_to_um(vx)
        for i in range(3):
            columns[VX[i]], columns[UM[i]] = vx[:, i], um[:, i]
    # straight from numpy to Arrow: building a DataFrame column by column costs more than the query
    arrays = [pa.array(columns[f.name][order], type=f.type, from_pandas=True) if f.name in columns else pa.nulls(len(ids), f.type)
              for f in SYNAPSE_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SYNAPSE_SCHEMA)


def aggregate_rows(raw: pd.DataFrame) -> pa.Table:
    """One row per (pre, post) pair: ``n_synapses`` and the summed ``size``, sorted by pair."""
    if len(raw) == 0:
        return CONNECTION_SCHEMA.empty_table()
    pre, post, size = int64_ids(raw[PRE], PRE), int64_ids(raw[POST], POST), int_sizes(raw["size"])
    order = np.lexsort((post, pre))
    pre, post, size = pre[order], post[order], size[order]
    starts = np.flatnonzero(np.r_[True, (pre[1:] != pre[:-1]) | (post[1:] != post[:-1])])
    counts = np.diff(np.r_[starts, len(pre)])
    return pa.Table.from_arrays(
        [pa.array(pre[starts]), pa.array(post[starts]), pa.array(counts.astype(np.int64)),
         pa.array(np.add.reduceat(size, starts).astype(np.int64))],
        schema=CONNECTION_SCHEMA,
    )


def int_sizes(series: pd.Series) -> np.ndarray:
    """Synapse sizes as int64 (rounded when they came as floats); missing sizes are refused."""
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any():
        raise DataError("synapse sizes must be numbers (found missing or non-numeric values in 'size')")
    return np.rint(values.to_numpy(dtype=float)).astype(np.int64)


def voxel_positions(raw: pd.DataFrame) -> np.ndarray | None:
    """Voxel positions: ``ctr_pt_position_vx_*``, else ``ctr_pt_position_x/y/z`` (voxels, as the
    server and datacleaner give them), else a ``ctr_pt_position`` column of 3-vectors."""
    if all(c in raw.columns for c in VX):
        cols = VX
    elif all(c in raw.columns for c in UM):
        cols = UM
    elif "ctr_pt_position" in raw.columns:
        if len(raw) == 0:
            return np.empty((0, 3))
        return np.asarray(np.stack(raw["ctr_pt_position"].to_numpy()), dtype=float).reshape(-1, 3)
    else:
        return None
    try:
        if all(pd.api.types.is_numeric_dtype(raw[c].dtype) for c in cols):
            return np.column_stack([raw[c].to_numpy(dtype=float) for c in cols]).reshape(-1, 3)
        return raw[cols].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"synapse positions {cols} must be numbers ({exc})") from None


def synthetic_ids(df: pd.DataFrame) -> np.ndarray:
    """Stable negative ids for per-synapse rows that came without one (datacleaner CSVs):
    a hash of pre, post, size and position, so importing the same rows twice adds nothing."""
    cols = [PRE, POST, "size", *VX]
    h = pd.util.hash_pandas_object(df[cols], index=False).to_numpy().astype(np.uint64)
    return -((h & np.uint64(0x7FFF_FFFF_FFFF_FFFF)).astype(np.int64)) - 1
