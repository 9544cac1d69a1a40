"""Questions to the local store: synapses between root ids, which ids are fully covered,
and the connectivity matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError, NotFoundError
from ..ids import parse_id, parse_ids, side_ids
from .covers import whole_side_covered
from .rows import aggregate_rows
from .schema import POST, PRE
from .store import SynapseStore


def query_synapses(
    store: SynapseStore,
    pre_ids=None,
    post_ids=None,
    aggregate: bool = False,
    drop_autapses: bool = False,
) -> pd.DataFrame:
    """Synapses from the local store between ``pre_ids`` and ``post_ids`` (None = any).

    ``aggregate=False``: one row per synapse (``id, pre_pt_root_id,
    post_pt_root_id, size``, positions in µm and voxels). ``aggregate=True``:
    one row per (pre, post) pair with ``n_synapses`` and the summed ``size``.
    """
    pre = side_ids(pre_ids, "pre")
    post = side_ids(post_ids, "post")
    have_syn, have_conn = store.has("synapses"), store.has("connections")
    if not have_syn and not (aggregate and have_conn):
        if have_conn:
            raise DataError("the synapse store holds aggregated connections only; ask with aggregate=True, "
                            "or download with aggregate=False (CLI: --per-synapse) for single synapses")
        raise DataError(f"no synapses in {store.root}; run download_synapses() or import_synapses() first")
    parts = []
    if have_syn:
        syn = _select(store, "synapses", pre, post).to_pandas()
        if drop_autapses:
            syn = syn[syn[PRE] != syn[POST]]
        if not aggregate:
            return syn.sort_values("id", kind="stable", ignore_index=True)
        parts.append(aggregate_rows(syn).to_pandas())
    if have_conn:
        conn = _select(store, "connections", pre, post).to_pandas()
        if drop_autapses:
            conn = conn[conn[PRE] != conn[POST]]
        parts.append(conn)  # last: a pair found in both comes from the aggregated downloads
    out = pd.concat([p for p in parts], ignore_index=True)
    out = out.drop_duplicates([PRE, POST], keep="last").sort_values([PRE, POST], ignore_index=True)
    out["n_synapses"] = out["n_synapses"].astype("Int64")
    return out[[PRE, POST, "n_synapses", "size"]]


def _select(store: SynapseStore, kind: str, pre, post) -> pa.Table:
    if pre is None and post is None:
        return store.read_all(kind)
    if pre is not None and (post is None or len(pre) <= len(post)):
        table, other_col, other = store.lookup(kind, "pre", pre), POST, post
    else:
        table, other_col, other = store.lookup(kind, "post", post), PRE, pre
    if other is not None:
        table = table.filter(pc.is_in(table.column(other_col), value_set=pa.array(other)))
    return table


def synapse_row(store: SynapseStore, synapse_id) -> dict:
    """One synapse of the store by its id: ``id``, ``pre``/``post`` root ids and ``center``
    (pia-aligned µm); one-line errors when the store holds no single synapses or not this one."""
    sid = parse_id(synapse_id, "synapse id")
    if not store.has("synapses"):
        raise DataError(f"no single synapses in {store.root}; download_synapses(aggregate=False) or "
                        "import_synapses() first")
    table = store.read_all("synapses")
    hit = table.filter(pc.equal(table.column("id"), pa.scalar(sid, pa.int64())))
    if hit.num_rows == 0:
        raise NotFoundError(f"synapse id {sid} is not in the local synapse store ({store.root}); "
                            "download the synapses of its neurons first")
    row = {c: hit.column(c)[0].as_py() for c in hit.column_names}
    return {"id": sid, "pre": int(row[PRE]), "post": int(row[POST]),
            "center": tuple(float(row[f"ctr_pt_position_{a}"]) for a in "xyz")}


def coverage(store: SynapseStore, pre_ids=None, post_ids=None) -> dict:
    """Which ids have *all* their synapses on that side in the store.

    A pre id is covered when a finished chunk of a download asked for its outputs onto any neuron
    (``post_ids=None``), or an import declared them with ``covers={"pre": [...], "post": "all"}``;
    likewise for post ids and inputs (see :mod:`.covers`). Returns ``{"pre": {"covered": [...],
    "missing": [...]}, "post": {...}}`` for the sides given.
    """
    out = {}
    for side, ids in (("pre", pre_ids), ("post", post_ids)):
        ids = side_ids(ids, side)
        if ids is not None:
            have = whole_side_covered(store, ids, side)
            out[side] = {"covered": ids[have].tolist(), "missing": ids[~have].tolist()}
    return out


def connectivity_matrix(
    synapses: pd.DataFrame,
    root_ids=None,
    value: str = "size",
    group_by: str | None = None,
    units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pre x post matrix of summed ``size`` or synapse ``count``.

    ``synapses`` is per-synapse or aggregated (with ``n_synapses``). With
    ``root_ids`` the matrix is square over those ids in that order (zeros where
    there is no connection); otherwise rows are the pre ids and columns the post
    ids present. ``group_by`` names a column of ``units`` (e.g. ``cell_type``):
    ids are replaced by their group (first unit row per root id; ``"unknown"``
    for ids not in the units) and rows/columns are sorted group labels.
    """
    if value not in ("size", "count"):
        raise DataError(f"value must be 'size' or 'count' (got {value!r})")
    missing = [c for c in (PRE, POST, "size") if c not in synapses.columns]
    if missing:
        raise DataError(f"synapses lack column(s) {', '.join(missing)}")
    df = synapses
    ids = None
    if root_ids is not None:
        ids = parse_ids(root_ids, "root id", where="root_ids", unique=True, allow_empty=False)
        df = df[df[PRE].isin(ids) & df[POST].isin(ids)]
    if value == "count":
        if "n_synapses" in df.columns:
            if df["n_synapses"].isna().any():
                raise DataError("these connections have no synapse counts (imported without n_synapses); use value='size'")
            weights = df["n_synapses"].to_numpy(dtype=np.int64)
        else:
            weights = np.ones(len(df), dtype=np.int64)
    else:
        weights = df["size"].to_numpy(dtype=np.int64)
    pre_keys, post_keys = df[PRE].to_numpy(), df[POST].to_numpy()
    if group_by is not None:
        if units is None:
            raise DataError(f"group_by={group_by!r} needs the units table")
        if group_by not in units.columns or "pt_root_id" not in units.columns:
            raise DataError(f"units table has no column {group_by!r} (or no pt_root_id)")
        labels = units.drop_duplicates("pt_root_id").set_index("pt_root_id")[group_by].astype(object)
        pre_keys = pd.Series(pre_keys).map(labels).fillna("unknown").astype(str).to_numpy()
        post_keys = pd.Series(post_keys).map(labels).fillna("unknown").astype(str).to_numpy()
        if ids is not None:
            order = sorted(set(pd.Series(ids).map(labels).fillna("unknown").astype(str)))
            index = columns = order
        else:
            index, columns = sorted(set(pre_keys)), sorted(set(post_keys))
    elif ids is not None:
        index = columns = list(ids)
    else:
        index, columns = sorted(set(pre_keys.tolist())), sorted(set(post_keys.tolist()))
    summed = pd.DataFrame({"pre": pre_keys, "post": post_keys, "w": weights}).groupby(["pre", "post"])["w"].sum()
    matrix = summed.unstack(fill_value=0).reindex(index=index, columns=columns, fill_value=0)
    matrix = matrix.fillna(0).astype(np.int64)
    matrix.index.name, matrix.columns.name = "pre", "post"
    return matrix
