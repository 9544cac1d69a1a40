"""Importing existing synapse tables (microns_datacleaner folders and CSVs, Parquet/Feather
files, DataFrames) into the store, their ids read exactly and checked."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..ids import check_synapse_ids, int64_ids
from ..layout import Layout, storage_error
from ..tables import frame_exact, read_csv_exact
from ..transform import VOXEL_RESOLUTION_NM, outside_volume
from .covers import check_covers
from .rows import aggregate_rows, int_sizes, synapse_rows, synthetic_ids, voxel_positions
from .schema import KINDS, POST, PRE, VX, as_table, dedup_sorted, table_digest
from .store import SynapseStore, store_for

log = logging.getLogger(__name__)


def read_synapse_source(path_or_frame) -> tuple[pd.DataFrame, str]:
    """A frame from a DataFrame, a CSV/Parquet/Feather file, or a datacleaner folder, its
    root ids and synapse ids checked (:func:`~napari_microns.core.ids.check_synapse_ids`) file by file."""
    if isinstance(path_or_frame, pd.DataFrame):
        return check_synapse_ids(path_or_frame, "DataFrame", use_index=True), "DataFrame"
    path = Path(path_or_frame).expanduser()
    if path.is_dir():
        files = sorted(path.glob("connections_table_*.csv"), key=_part_number)
        if not files and (path / "synapses").is_dir():  # datacleaner's raw/ folder
            files = sorted((path / "synapses").glob("connections_table_*.csv"), key=_part_number)
        if not files:
            raise DataError(f"no connections_table_*.csv files in {path}")
        return pd.concat([_read_file(f) for f in files], ignore_index=True), str(path)
    if not path.exists():
        raise DataError(f"{path} not found")
    return _read_file(path), str(path)


def _part_number(path: Path):
    tail = path.stem.rsplit("_", 1)[-1]
    return (0, int(tail), "") if tail.isdigit() else (1, 0, path.name)


def _read_file(path: Path) -> pd.DataFrame:
    """One file, its id columns read exactly (never through float) and checked."""
    if path.suffix not in (".parquet", ".feather"):
        return check_synapse_ids(read_csv_exact(path), str(path), row_label="line", first_row=2)
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            from pyarrow import feather

            table = feather.read_table(path)
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    return check_synapse_ids(frame_exact(table), str(path))


def count_conflicts(table: pa.Table, key_cols) -> int:
    """How many keys (synapse ids, or pre/post pairs) appear in rows that differ elsewhere.

    Identical repeats (the same synapse in two files) are not conflicts. Only the rows
    whose key repeats are compared, so a table without repeats costs one sort.
    """
    n = table.num_rows
    if n < 2:
        return 0
    keys = [table.column(c).to_numpy() for c in key_cols]
    order = np.lexsort(tuple(reversed(keys)))
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
        ks = k[order]
        same &= ks[1:] == ks[:-1]
    if not same.any():
        return 0
    repeated = np.zeros(n, dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    distinct = table.filter(pa.array(repeated)).to_pandas().drop_duplicates()  # identical repeats collapse
    keys_of_distinct = distinct[list(key_cols)]
    return int(keys_of_distinct[keys_of_distinct.duplicated()].drop_duplicates().shape[0])


def _store_rows(df: pd.DataFrame, position_unit: str) -> tuple[str, pa.Table]:
    """``(kind, rows)``: the store's rows of a checked synapse table (see :func:`import_synapses`)."""
    if "n_synapses" in df.columns:
        agg = pd.DataFrame({PRE: df[PRE].astype(np.int64), POST: df[POST].astype(np.int64),
                            "n_synapses": pd.to_numeric(df["n_synapses"], errors="coerce"),
                            "size": int_sizes(df["size"])})
        return "connections", as_table(agg, "connections")
    if "id" in df.columns or voxel_positions(df.iloc[:0]) is not None:
        vx = voxel_positions(df)
        if vx is not None and position_unit == "nm":
            vx = vx / VOXEL_RESOLUTION_NM
        raw = pd.DataFrame({PRE: df[PRE].to_numpy(dtype=np.int64), POST: df[POST].to_numpy(dtype=np.int64),
                            "size": int_sizes(df["size"])})
        if vx is not None:
            for i in range(3):
                raw[VX[i]] = vx[:, i]
        raw.insert(0, "id", int64_ids(df["id"], "id") if "id" in df.columns else synthetic_ids(raw))
        return "synapses", synapse_rows(raw)
    if df.duplicated([PRE, POST]).any():
        return "connections", aggregate_rows(df)  # single synapses without ids or positions: count them per pair
    # datacleaner's aggregated table: summed size, no count
    return "connections", as_table(pd.DataFrame({PRE: df[PRE].astype(np.int64), POST: df[POST].astype(np.int64),
                                                 "size": int_sizes(df["size"])}), "connections")


def check_extent(df: pd.DataFrame, position_unit: str, origin: str) -> int:
    """How many positions fall outside the volume in ``position_unit``; logs a one-line warning
    (with a hint when they look like nanometres read as voxels)."""
    vx = None if "n_synapses" in df.columns else voxel_positions(df)
    if vx is None or len(vx) == 0:
        return 0
    nm = vx * VOXEL_RESOLUTION_NM if position_unit == "voxel" else vx
    outside = outside_volume(nm)
    if outside:
        hint = ""
        if position_unit == "voxel" and outside_volume(vx) < outside:
            hint = "; positions look like nanometres; pass --position-unit nm (position_unit='nm')"
        log.warning("%s: %d of %d synapse positions fall outside the volume when read as %s%s",
                    origin, outside, len(vx), "4x4x40 nm voxels" if position_unit == "voxel" else "nm", hint)
    return outside


def import_synapses(path_or_frame, layout: Layout, store: SynapseStore | None = None,
                    position_unit: str = "voxel", covers: dict | None = None) -> dict:
    """Merge existing synapse tables into the store; returns ``{kind, rows, origin, conflicting_ids,
    outside_volume}`` (positions outside the volume in ``position_unit``, also logged as a warning).

    Accepted: microns_datacleaner's ``raw/synapses/connections_table_*.csv``
    folder (or its ``raw/`` folder), its merged CSV, a Parquet/Feather file, or
    a DataFrame, with at least ``pre_pt_root_id, post_pt_root_id, size``.

    * with ``id`` (the synapse id): per-synapse rows. Positions are read from
      ``ctr_pt_position_vx_x/_y/_z`` or else ``ctr_pt_position_x/_y/_z``, both in
      4x4x40 nm voxels (as CAVE and datacleaner give them); the pia-aligned µm
      columns are computed.
    * without ``id`` but with positions (datacleaner with
      ``drop_synapses_duplicates=False``): per-synapse rows with stable negative ids.
    * with ``n_synapses``, or without positions: aggregated rows per (pre, post)
      pair; ``size`` is then the summed size, ``n_synapses`` null when unknown.

    ``position_unit="nm"`` reads those position columns as nanometres instead
    (tables queried with ``desired_resolution=[1, 1, 1]``).

    ``covers={"pre": ids | "all", "post": ids | "all"}`` declares that the table holds *every*
    synapse from the pre ids to the post ids (e.g. ``{"pre": [X], "post": "all"}``: all outputs
    of X); it is recorded with the import and counted by the coverage (:mod:`.covers`).
    """
    if position_unit not in ("voxel", "nm"):
        raise DataError(f"position_unit must be 'voxel' or 'nm' (got {position_unit!r})")
    covers = check_covers(covers)
    df, origin = read_synapse_source(path_or_frame)
    missing = [c for c in (PRE, POST, "size") if c not in df.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}; a synapse table needs pre_pt_root_id, post_pt_root_id and size")
    # root ids and synapse ids were read as int64 and checked by read_synapse_source
    outside = check_extent(df, position_unit, origin)
    store = store or store_for(layout)
    kind, table = _store_rows(df, position_unit)
    key_cols = KINDS[kind][1]
    conflicts = count_conflicts(table, key_cols)  # the same id with different rows: the last one is kept
    if conflicts:
        log.info("%s: %d %s had conflicting rows (different values for the same id); kept the last of each",
                 origin, conflicts, "synapse ids" if kind == "synapses" else "pre/post pairs")
    deduped = dedup_sorted(table, key_cols, PRE)
    content = table_digest(deduped)
    source = {"key": f"import:{content}", "kind": kind, "origin": origin, "rows": deduped.num_rows}
    if covers is not None:  # its own record: the same rows imported with other covers keep both
        source["covers"] = covers
        source["key"] += ":covers:" + hashlib.sha256(json.dumps(covers, sort_keys=True).encode()).hexdigest()[:16]
    store.merge(deduped, kind, source=source)
    log.info("imported %d %s rows from %s", deduped.num_rows, kind, origin)
    return {"kind": kind, "rows": deduped.num_rows, "origin": origin, "conflicting_ids": conflicts,
            "outside_volume": outside}
