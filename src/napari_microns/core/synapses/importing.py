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
from .parquet_import import import_parquet
from .rows import aggregate_rows, int_sizes, synapse_rows, synthetic_ids, voxel_positions
from .schema import KINDS, POST, PRE, VX, as_table, dedup_last, dedup_sorted, key_order, table_digest
from .staging import grouped
from . import store as store_module
from .store import SynapseStore, store_for

log = logging.getLogger(__name__)


#: rows read at once from a Parquet file; larger sources are merged by the engine, batch by batch
IMPORT_BATCH_ROWS = 2_000_000


def read_synapse_source(path_or_frame) -> tuple[pd.DataFrame, str]:
    """A frame from a DataFrame, a CSV/Parquet/Feather file, or a datacleaner folder, its
    root ids and synapse ids checked (:func:`~napari_microns.core.ids.check_synapse_ids`) file by file."""
    frames, origin = synapse_frames(path_or_frame)
    return pd.concat(list(frames), ignore_index=True), origin


def synapse_frames(path_or_frame, batch_rows: int | None = None):
    """``(frames, origin)``: the source as an iterator of checked frames (a folder file by file,
    a Parquet file ``batch_rows`` rows at a time), so a source of any size is read in bounded memory."""
    if isinstance(path_or_frame, pd.DataFrame):
        return iter([check_synapse_ids(path_or_frame, "DataFrame", use_index=True)]), "DataFrame"
    path = Path(path_or_frame).expanduser()
    if path.is_dir():
        files = sorted(path.glob("connections_table_*.csv"), key=_part_number)
        if not files and (path / "synapses").is_dir():  # datacleaner's raw/ folder
            files = sorted((path / "synapses").glob("connections_table_*.csv"), key=_part_number)
        if not files:
            raise DataError(f"no connections_table_*.csv files in {path}")
        return (_read_file(f) for f in files), str(path)
    if not path.exists():
        raise DataError(f"{path} not found")
    if path.suffix == ".parquet":
        return _parquet_frames(path, batch_rows or IMPORT_BATCH_ROWS), str(path)
    return iter([_read_file(path)]), str(path)


def _opened(path: Path, open_file):
    """``open_file()``, its failures as one line naming ``path``."""
    try:
        return open_file()
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


def _parquet_frames(path: Path, batch_rows: int):
    # pre_buffer would keep every row group it has read (RSS grows with the file): off
    pf = _opened(path, lambda: pq.ParquetFile(path, pre_buffer=False))
    first = 1
    # a pandas index written as a column (``__index_level_0__``) is no synapse column
    columns = [c for c in pf.schema_arrow.names if not c.startswith("__index_level_")]
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        yield check_synapse_ids(frame_exact(pa.Table.from_batches([batch])), str(path), first_row=first)
        first += batch.num_rows


def _part_number(path: Path):
    tail = path.stem.rsplit("_", 1)[-1]
    return (0, int(tail), "") if tail.isdigit() else (1, 0, path.name)


def _read_file(path: Path) -> pd.DataFrame:
    """One file, its id columns read exactly (never through float) and checked."""
    if path.suffix != ".feather":
        return check_synapse_ids(read_csv_exact(path), str(path), row_label="line", first_row=2)
    from pyarrow import feather

    return check_synapse_ids(frame_exact(_opened(path, lambda: feather.read_table(path))), str(path))


def count_conflicts(table: pa.Table, key_cols, sorted_keys: tuple | None = None) -> int:
    """How many keys (synapse ids, or pre/post pairs) appear in rows that differ elsewhere.

    Identical repeats (the same synapse in two files) are not conflicts. Only the rows
    whose key repeats are compared, so a table without repeats costs one sort (none when
    ``sorted_keys``, its :func:`~.schema.key_order`, is given).
    """
    if table.num_rows < 2:
        return 0
    order, same = sorted_keys if sorted_keys is not None else key_order(table, key_cols)
    if not same.any():
        return 0
    repeated = np.zeros(table.num_rows, dtype=bool)
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
        return "synapses", synapse_rows(raw, sort=False)  # sorted by the merge
    if df.duplicated([PRE, POST]).any():
        return "connections", aggregate_rows(df)  # single synapses without ids or positions: count them per pair
    # datacleaner's aggregated table: summed size, no count
    return "connections", as_table(pd.DataFrame({PRE: df[PRE].astype(np.int64), POST: df[POST].astype(np.int64),
                                                 "size": int_sizes(df["size"])}), "connections")


def _drain(head: list, rest):
    """The tables of ``head`` (popped, so none is kept once used), then those of ``rest``."""
    while head:
        yield head.pop(0)
    yield from rest


def _job_key(path_or_frame, position_unit: str) -> str | None:
    """A key for a resumable import of a file or folder (its path, size and time); None for a frame."""
    if isinstance(path_or_frame, pd.DataFrame):
        return None
    path = Path(path_or_frame).expanduser().resolve()
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return "import-" + hashlib.sha256(json.dumps([stamp, position_unit]).encode()).hexdigest()[:16]


def check_extent(df: pd.DataFrame, position_unit: str) -> tuple[int, int]:
    """``(outside, positions)``: how many positions fall outside the volume in ``position_unit``,
    and how many positions there are; ``outside`` is negative when they would fit as nanometres
    (read as voxels), for :func:`warn_extent`'s hint."""
    vx = None if "n_synapses" in df.columns else voxel_positions(df)
    if vx is None or len(vx) == 0:
        return 0, 0
    nm = vx * VOXEL_RESOLUTION_NM if position_unit == "voxel" else vx
    outside = outside_volume(nm)
    if outside and position_unit == "voxel" and outside_volume(vx) < outside:
        outside = -outside
    return outside, len(vx)


def warn_extent(origin: str, position_unit: str, outside: int, positions: int, looks_nm: bool) -> None:
    """One warning line for an import's positions outside the volume (with a hint when they
    look like nanometres read as voxels)."""
    if outside:
        hint = "; positions look like nanometres; pass --position-unit nm (position_unit='nm')" if looks_nm else ""
        log.warning("%s: %d of %d synapse positions fall outside the volume when read as %s%s",
                    origin, outside, positions, "4x4x40 nm voxels" if position_unit == "voxel" else "nm", hint)


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
    frames, origin = synapse_frames(path_or_frame)
    store = store or store_for(layout)
    result = {"kind": None, "rows": 0, "origin": origin, "conflicting_ids": 0, "outside_volume": 0}
    digests: list[str] = []
    extent = {"positions": 0, "looks_nm": False}
    # a file or folder is named by its path, size and time; a frame by its content
    job_key = _job_key(path_or_frame, position_unit)

    def converted():
        for df in frames:
            missing = [c for c in (PRE, POST, "size") if c not in df.columns]
            if missing:
                raise DataError(f"{origin}: missing column(s) {', '.join(missing)}; a synapse table needs "
                                "pre_pt_root_id, post_pt_root_id and size")
            # root ids and synapse ids were read as int64 and checked by synapse_frames
            outside, positions = check_extent(df, position_unit)
            result["outside_volume"] += abs(outside)
            extent["positions"] += positions
            extent["looks_nm"] |= outside < 0
            kind, table = _store_rows(df, position_unit)
            if result["kind"] not in (None, kind):
                raise DataError(f"{origin}: mixes per-synapse and aggregated rows; import them separately")
            result["kind"] = kind
            yield table

    def tables():
        """The store's rows in batches of about IMPORT_BATCH_ROWS (checked, counted)."""
        for table in grouped(converted(), IMPORT_BATCH_ROWS):
            # the same id with different rows: the last one is kept
            key_cols = KINDS[result["kind"]][1]
            sorted_keys = key_order(table, key_cols)  # one sort: the conflicts, then the last row of each key
            result["conflicting_ids"] += count_conflicts(table, key_cols, sorted_keys)
            table = dedup_last(table, key_cols, sorted_keys)
            if job_key is None:
                digests.append(table_digest(table))
            yield table

    def source(rows: int, kind: str | None = None) -> dict:
        if job_key is not None:
            content = job_key
        else:
            content = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        record = {"key": f"import:{content}", "kind": kind or result["kind"], "origin": origin, "rows": rows}
        if covers is not None:  # its own record: the same rows imported with other covers keep both
            record["covers"] = covers
            record["key"] += ":covers:" + hashlib.sha256(json.dumps(covers, sort_keys=True).encode()).hexdigest()[:16]
        return record

    engine_job = None
    if job_key is not None and Path(origin).suffix == ".parquet" and Path(origin).is_file():
        # (the engine imports per-synapse tables only)
        engine_job = import_parquet(Path(origin), store, position_unit, f"{job_key}-engine",
                                    lambda rows: source(rows, "synapses"))
    if engine_job is not None:  # a large, clean Parquet file: read, checked and merged by the engine alone
        for k in ("kind", "rows", "conflicting_ids", "outside_volume"):
            result[k] = engine_job[k]
        extent.update(positions=engine_job["positions"], looks_nm=engine_job["looks_nm"])
        return _finished(result, origin, position_unit, extent)
    batches = tables()
    first = next(batches, None)
    second = next(batches, None) if first is not None else None
    small = second is None and (first is None or first.num_rows < store_module.RUN_MAX_ROWS)
    if small:  # a small frame or file: deduplicated here, merged as a run
        table = first if first is not None else _store_rows(pd.DataFrame(columns=[PRE, POST, "size"]), position_unit)[1]
        kind = result["kind"] or "connections"
        deduped = dedup_sorted(table, KINDS[kind][1], PRE)
        result.update(kind=kind, rows=deduped.num_rows)
        store.merge(deduped, kind, source=source(deduped.num_rows))
    else:  # larger: batch by batch into the engine's staged merge (bounded memory)
        head = [t for t in (first, second) if t is not None]
        first = second = None  # held only by ``head`` until staged, so each batch is freed after it

        result["rows"] = store.merge_batches(_drain(head, batches), result["kind"], deduplicated=True,
                                             source=source, key=job_key)
    return _finished(result, origin, position_unit, extent)


def _finished(result: dict, origin: str, position_unit: str, extent: dict) -> dict:
    """``result`` of an import, its warning and log lines given."""
    warn_extent(origin, position_unit, result["outside_volume"], extent["positions"], extent["looks_nm"])
    if result["conflicting_ids"]:
        log.info("%s: %d %s had conflicting rows (different values for the same id); kept the last of each",
                 origin, result["conflicting_ids"], "synapse ids" if result["kind"] == "synapses" else "pre/post pairs")
    log.info("imported %d %s rows from %s", result["rows"], result["kind"], origin)
    return result
