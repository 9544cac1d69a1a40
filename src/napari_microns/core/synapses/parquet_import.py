"""A large Parquet synapse table imported by the engine alone, without a pass through pandas.

DuckDB reads the file on every core, checks it in one scan (ids, sizes, positions outside the
volume, repeated synapse ids), converts it to the store's rows in SQL (:data:`.schema.STORED`:
the voxel positions; the µm positions are computed as rows leave the store) and stages it by
bucket in one partitioned ``COPY``; the staged merge (:mod:`.staging`) then compacts it.
Python never holds the rows, so the import runs at the engine's speed within its memory limit.

Only clean files take this path: integer ids, numeric sizes and positions, and no value the
checks of :func:`~..ids.check_synapse_ids` would refuse. Anything else (and small files) goes
through :func:`.importing.import_synapses`' reader, which names the first bad row.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from ..transform import VOLUME_EXTENT_NM, VOXEL_RESOLUTION_NM
from . import engine
from .schema import POST, PRE, STORED, UM, VX
from .staging import StagedMerge

#: rows staged at once (one partitioned ``COPY`` each): a killed import resumes at the first
#: unrecorded chunk, and DuckDB's partitioned writer stays fast (measured on 100M rows: 6 s per
#: 20M-row chunk, 57 s for the whole file in one ``COPY``)
CHUNK_ROWS = 10_000_000
#: integer types read exactly as BIGINT (uint64 may exceed it: the reader names such rows)
_EXACT_INTS = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())


def _numeric(t: pa.DataType) -> bool:
    return t in _EXACT_INTS or pa.types.is_floating(t)


def plan(path, min_rows: int) -> dict | None:
    """What the engine needs to import ``path``: ``{rows, positions, float_size}``; None when the
    file is small or not of the engine's kind (the reader takes it)."""
    try:
        pf = pq.ParquetFile(path)
    except Exception:  # noqa: BLE001 - the reader gives the one-line error
        return None
    if pf.metadata.num_rows < min_rows:
        return None
    types = {f.name: f.type for f in pf.schema_arrow}
    if "n_synapses" in types or any(types.get(c) not in _EXACT_INTS for c in ("id", PRE, POST)):
        return None
    if "size" not in types or not _numeric(types["size"]):
        return None
    positions = next((cols for cols in (VX, UM) if all(c in types for c in cols)), None)
    if positions is None and "ctr_pt_position" in types:
        return None  # a column of 3-vectors: the reader unpacks it
    if positions is not None and not all(_numeric(types[c]) for c in positions):
        return None
    return {"rows": pf.metadata.num_rows, "positions": positions, "float_size": pa.types.is_floating(types["size"])}


def _outside_sql(xyz: list[str], scale) -> str:
    """SQL counting rows whose known position ``xyz * scale`` (nm) lies outside the volume."""
    lo, hi = VOLUME_EXTENT_NM
    known = " AND ".join(f"{c} IS NOT NULL AND NOT isnan({c}::DOUBLE)" for c in xyz)
    inside = " AND ".join(f"{c} * {float(s)!r} BETWEEN {float(a)!r} AND {float(b)!r}"
                          for c, s, a, b in zip(xyz, scale, lo, hi))
    return f"count(*) FILTER (WHERE {known} AND NOT ({inside}))"


def import_parquet(path, store, position_unit: str, job_key: str, source, memory=None) -> dict | None:
    """Import the Parquet file ``path`` through the engine; ``{kind, rows, conflicting_ids,
    outside_volume, positions, looks_nm}``, or None when it is not the engine's to import (the
    reader then does). ``source(rows)`` gives the import's source record; a killed import resumes
    under ``job_key`` (the staged chunks are kept)."""
    from .store import RUN_MAX_ROWS

    p = plan(path, RUN_MAX_ROWS)
    if p is None:
        return None
    src = f"read_parquet({engine.sql_string(str(path))}, file_row_number = true)"
    raw = [f'"{c}"' for c in p["positions"]] if p["positions"] else None
    res = [1.0, 1.0, 1.0] if position_unit == "voxel" else VOXEL_RESOLUTION_NM.tolist()
    chunk = int(CHUNK_ROWS)
    with StagedMerge(store, "synapses", f"{job_key}-c{chunk}", memory=memory) as job:
        con = job.engine()
        bad = (f'id IS NULL OR id < 0 OR "{PRE}" IS NULL OR "{PRE}" <= 0 OR "{POST}" IS NULL OR "{POST}" <= 0 '
               "OR size IS NULL" + (" OR isnan(size) OR isinf(size)" if p["float_size"] else ""))
        checks = [f"count(*) FILTER (WHERE {bad})", "count(DISTINCT id)"]
        if raw:
            nm = VOXEL_RESOLUTION_NM.tolist() if position_unit == "voxel" else [1.0, 1.0, 1.0]
            checks += [_outside_sql(raw, nm), _outside_sql(raw, [1.0, 1.0, 1.0])]
        row = con.sql(f"SELECT count(*), {', '.join(checks)} FROM {src}").fetchall()[0]
        n, n_bad, n_ids = int(row[0]), int(row[1]), int(row[2])
        if n_bad:
            return None  # the reader names the first bad row
        outside = int(row[3]) if raw else 0
        looks_nm = bool(raw) and position_unit == "voxel" and outside > 0 and int(row[4]) < outside
        if raw:
            vx = [f"({c}::DOUBLE / {r!r})" if r != 1.0 else f"{c}::DOUBLE" for c, r in zip(raw, res)]
        else:
            vx = ["NULL::DOUBLE"] * 3
        size = "round_even(size, 0)::BIGINT" if p["float_size"] else "size::BIGINT"
        exprs = {"id": "id::BIGINT", PRE: f'"{PRE}"::BIGINT', POST: f'"{POST}"::BIGINT', "size": size,
                 **dict(zip(VX, vx))}
        columns = [f'{exprs[c]} AS "{c}"' for c in STORED["synapses"].names]
        columns.append("file_row_number AS __row")
        select = f"SELECT {', '.join(columns)} FROM {src}"
        conflicting = 0
        if n_ids < n:  # repeated synapse ids: the last row of each wins, over the whole file (one batch)
            distinct = ", ".join([f'"{PRE}"', f'"{POST}"', "size", *(raw or [])])
            conflicting = int(con.sql(f"SELECT count(*) FROM (SELECT id FROM {src} GROUP BY id "
                                      f"HAVING count(DISTINCT ({distinct})) > 1)").fetchall()[0][0])
            batches = [(select + " QUALIFY row_number() OVER (PARTITION BY id ORDER BY file_row_number DESC) = 1",
                        n_ids)]
        else:  # every id once: staged chunk by chunk
            batches = [(f"{select} WHERE file_row_number >= {a} AND file_row_number < {a + chunk}", min(chunk, n - a))
                        for a in range(0, n, chunk)]
        done = job.done()
        for number, (query, rows) in enumerate(batches):
            if number not in done:  # the chunks' __row is the file's row number: one rank for all
                job.add_query(number, query, rows, ranked_with="file")
        job.finish(source(n_ids))
    return {"kind": "synapses", "rows": n_ids, "conflicting_ids": conflicting, "outside_volume": outside,
            "positions": n if raw else 0, "looks_nm": looks_nm}
