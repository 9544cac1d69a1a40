"""Connectome-scale questions as engine queries: the store as one relation, summaries by
cell type (or any units label) over every synapse, with bounded memory.

One neuron's partners and the matrix among a few thousand neurons read only the row groups
that hold their ids (:mod:`.circuit`, milliseconds). Questions about the whole store — how
many synapses go from each cell type to each other, over 337M synapses — run in DuckDB
(:mod:`.engine`) over the store's Parquet files, joined with the units table for the
grouping; nothing is pulled into pandas but the summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import DataError
from . import engine
from .schema import KINDS, POST, PRE, STORED

NOT_IN_UNITS = "not in units"
SUMMARY_COLUMNS = ["pre_group", "post_group", "n_connections", "n_synapses", "size_sum"]


def store_relation(store, kind: str = "synapses", side: str = "pre") -> str | None:
    """SQL for every row of ``kind`` in the store (one copy, one row per key), or None when empty.

    After a compaction (no runs) it is ``read_parquet([...])`` of the bucket files; with runs,
    the runs' repeats are dropped as lookups drop them. Each file is verified against its
    SHA-256 once per process.
    """
    doc = store.index()
    parts, runs = store.parts(kind, side, doc), store.runs(kind, side, doc)
    for path in (*parts, *runs):
        store.verify_once(path, doc)
    if not parts and not runs:
        return None
    names, key_cols = STORED[kind].names, KINDS[kind][1]
    inputs = ([parts] if parts else []) + [[r] for r in runs]
    if len(inputs) == 1:
        return f"read_parquet({engine.sql_files(inputs[0])})"
    return "(" + engine.dedup_sql(inputs, names, key_cols) + ")"


def _ids_filter(column: str, ids) -> tuple[str, pa.Table | None]:
    if ids is None:
        return "", None
    arr = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64))
    return f" AND {column} IN (SELECT id FROM ids_{column})", pa.table({"id": arr})


def summary_by_type(store, units: pd.DataFrame | None, by: str = "cell_type", pre_ids=None, post_ids=None,
                    drop_autapses: bool = False, memory=None, spill_dir=None) -> pd.DataFrame:
    """Synapses between groups of ``by`` (a units column), over the whole store or the rows from
    ``pre_ids`` / to ``post_ids``: one row per (pre_group, post_group) with ``n_connections``
    (distinct pre/post pairs), ``n_synapses`` and ``size_sum``. Cells not in the units form the
    group ``"not in units"``. Uses per-synapse rows, else aggregated ones."""
    kind = "synapses" if store.has("synapses") else "connections"
    relation = store_relation(store, kind)
    if relation is None:
        raise DataError(f"no synapses in {store.root}; run download_synapses(), import_synapses() or "
                        "import_synapse_dump() first")
    if units is None or by not in units.columns:
        raise DataError(f"summaries by {by!r} need the processed units with a {by!r} column (run process first)")
    labels = units[["pt_root_id", by]].drop_duplicates("pt_root_id")
    groups = pa.table({"root_id": labels["pt_root_id"].to_numpy(dtype=np.int64),
                       "grp": labels[by].astype("string").fillna("unknown").to_numpy(dtype=object)})
    n_syn = "count(*)" if kind == "synapses" else "sum(coalesce(n_synapses, 1))"
    where = f" AND {PRE} <> {POST}" if drop_autapses else ""
    con = engine.connect(spill_dir or store.root / "staging" / "spill", memory)
    try:
        con.register("groups", groups)
        for column, ids in ((PRE, pre_ids), (POST, post_ids)):
            clause, table = _ids_filter(column, ids)
            if table is not None:
                con.register(f"ids_{column}", table)
                where += clause
        query = f"""
            WITH pairs AS (
                SELECT {PRE} AS pre, {POST} AS post, {n_syn} AS n, sum(size) AS size_sum
                FROM {relation} WHERE TRUE{where} GROUP BY ALL)
            SELECT coalesce(a.grp, '{NOT_IN_UNITS}') AS pre_group, coalesce(b.grp, '{NOT_IN_UNITS}') AS post_group,
                   count(*) AS n_connections, sum(n) AS n_synapses, sum(pairs.size_sum) AS size_sum
            FROM pairs LEFT JOIN groups a ON pairs.pre = a.root_id LEFT JOIN groups b ON pairs.post = b.root_id
            GROUP BY ALL ORDER BY pre_group, post_group"""
        out = con.execute(query).df()
    finally:
        con.close()
    return tidy_summary(out)


def tidy_summary(df: pd.DataFrame) -> pd.DataFrame:
    """The summary's columns in order with integer counts, sorted by group (shared with the dask path)."""
    df = df[SUMMARY_COLUMNS].copy()
    for col in ("n_connections", "n_synapses", "size_sum"):
        df[col] = df[col].fillna(0).astype(np.int64)
    df["pre_group"] = df["pre_group"].astype(str)
    df["post_group"] = df["post_group"].astype(str)
    return df.sort_values(["pre_group", "post_group"], ignore_index=True)


def summary_matrix(summary: pd.DataFrame, value: str = "n_synapses") -> pd.DataFrame:
    """The summary as a pre-group x post-group matrix of ``value`` (0 where no synapse)."""
    if value not in SUMMARY_COLUMNS[2:]:
        raise DataError(f"value must be one of {', '.join(SUMMARY_COLUMNS[2:])} (got {value!r})")
    return summary.pivot(index="pre_group", columns="post_group", values=value).fillna(0).astype(np.int64)
