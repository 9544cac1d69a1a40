"""The merged local synapse store: Parquet files laid out for lookups by root id.

Layout under ``<datadir>/<version>/synapses/store/``::

    format.json                          layout version and bucket count
    synapses/by_pre/part-NN.parquet      per-synapse rows, bucket NN of the pre root id
    synapses/by_post/part-NN.parquet     the same rows, bucketed and sorted by post root id
    synapses/runs/by_pre/<digest>.parquet   small merges: one sorted run per side, until compacted
    synapses/runs/by_post/<digest>.parquet
    connections/...                      aggregated (pre, post) rows, same layout
    sources.json                         what was merged in: downloads and imports

Every row is kept twice, once per side, so a question about a neuron's
outputs and one about its inputs both read a few kilobytes: the root id picks
one bucket file (a hash of the id), the file is sorted by that id and written
in small row groups, and the row groups' min/max statistics (cached in memory)
say which of them hold the id. Merging is a union deduplicated by synapse id
(or by the (pre, post) pair for aggregated rows), so merging the same rows
twice changes nothing: an interrupted merge is finished by running it again.

Rewriting every bucket file for a small download would cost more than the
download's own writes, so a small merge is written as one sorted *run* per
side, named by its content; lookups read the runs too (and drop repeats).
Once there are ``MAX_RUNS`` runs, or a merge is large, everything is folded
into the bucket files and the runs are removed.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import DataError
from .layout import atomic_path, atomic_write_json, read_json

log = logging.getLogger(__name__)

PRE = "pre_pt_root_id"
POST = "post_pt_root_id"

#: per-synapse rows: positions in pia-aligned µm (as the units) and in 4x4x40 nm voxels
SYNAPSE_SCHEMA = pa.schema([
    ("id", pa.int64()),
    (PRE, pa.int64()),
    (POST, pa.int64()),
    ("size", pa.int64()),
    ("ctr_pt_position_x", pa.float64()),
    ("ctr_pt_position_y", pa.float64()),
    ("ctr_pt_position_z", pa.float64()),
    ("ctr_pt_position_vx_x", pa.float64()),
    ("ctr_pt_position_vx_y", pa.float64()),
    ("ctr_pt_position_vx_z", pa.float64()),
])

#: aggregated rows: one per (pre, post) pair; ``size`` is the summed size
#: (datacleaner's name), ``n_synapses`` is null when a source did not count them
CONNECTION_SCHEMA = pa.schema([
    (PRE, pa.int64()),
    (POST, pa.int64()),
    ("n_synapses", pa.int64()),
    ("size", pa.int64()),
])

N_BUCKETS = 16
#: merges smaller than this many rows become runs; larger ones (and too many runs) compact
RUN_MAX_ROWS = 1_000_000
MAX_RUNS = 8
STORE_FORMAT = 1
MERGE_THREADS = min(4, os.cpu_count() or 1)
ROW_GROUP_ROWS = 8192
#: dictionary-encode only the root ids (they repeat): 4x faster writes than encoding every column
WRITE_OPTIONS = dict(row_group_size=ROW_GROUP_ROWS, compression="zstd", write_statistics=True,
                     use_dictionary=[PRE, POST])
_KINDS = {"synapses": (SYNAPSE_SCHEMA, ("id",)), "connections": (CONNECTION_SCHEMA, (PRE, POST))}
_SIDES = {"pre": PRE, "post": POST}


def bucket_of(root_ids, n_buckets: int = N_BUCKETS) -> np.ndarray:
    """The bucket of each root id (a multiplicative hash: root ids share high bits)."""
    ids = np.asarray(root_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return ((ids * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(48)).astype(np.int64) % n_buckets


def empty_table(kind: str) -> pa.Table:
    return _KINDS[kind][0].empty_table()


def as_table(df: pd.DataFrame, kind: str) -> pa.Table:
    """``df`` with exactly the store's columns and types (positions may be absent: null)."""
    schema = _KINDS[kind][0]
    arrays = []
    for field in schema:
        if field.name in df.columns:
            arrays.append(pa.array(df[field.name].to_numpy(), type=field.type, from_pandas=True))
        else:
            arrays.append(pa.nulls(len(df), type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def dedup_sorted(table: pa.Table, key_cols, sort_col: str) -> pa.Table:
    """``table`` without repeated keys (the last copy wins), sorted by ``sort_col`` then the keys."""
    n = table.num_rows
    if n == 0:
        return table
    keys = [table.column(c).to_numpy() for c in key_cols]
    order = np.lexsort((np.arange(n), *reversed(keys)))  # by keys, then by position
    same_as_next = np.ones(n - 1, dtype=bool)
    for k in keys:
        ks = k[order]
        same_as_next &= ks[1:] == ks[:-1]
    kept = order[np.append(~same_as_next, True)]
    sort_keys = [table.column(sort_col).to_numpy()[kept], *(k[kept] for k in keys)]
    return table.take(pa.array(kept[np.lexsort(tuple(reversed(sort_keys)))])).combine_chunks().replace_schema_metadata(None)


def table_digest(table: pa.Table) -> str:
    """A short content hash of a table (its Arrow IPC bytes)."""
    import hashlib

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()[:16]


@dataclass
class _FileIndex:
    """A bucket file's row-group key ranges, so a lookup opens only what it needs."""

    stamp: tuple
    file: pq.ParquetFile
    mins: np.ndarray
    maxs: np.ndarray


class SynapseStore:
    """Read and merge the store in ``root`` (``<datadir>/<version>/synapses/store``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._index: dict[Path, _FileIndex] = {}
        self._lock = threading.Lock()

    @property
    def format_path(self) -> Path:
        return self.root / "format.json"

    @property
    def n_buckets(self) -> int:
        """The bucket count the store was written with (format.json), for stores made by other versions."""
        cached = getattr(self, "_n_buckets", None)
        if cached is not None:
            return cached
        try:
            fmt = read_json(self.format_path)
        except FileNotFoundError:
            if any(self.root.glob("*/by_*/part-*.parquet")):  # files without a format: not ours to guess
                raise DataError(f"{self.root} has no format.json; delete it and merge again") from None
            return N_BUCKETS
        if fmt.get("format") != STORE_FORMAT or not isinstance(fmt.get("buckets"), int):
            raise DataError(f"{self.root} was written by another napari-microns version; delete it and merge again")
        self._n_buckets = fmt["buckets"]
        return self._n_buckets

    # -- paths ----------------------------------------------------------------
    def part_path(self, kind: str, side: str, bucket: int) -> Path:
        return self.root / kind / f"by_{side}" / f"part-{bucket:02d}.parquet"

    @property
    def sources_path(self) -> Path:
        return self.root / "sources.json"

    def run_path(self, kind: str, side: str, name: str) -> Path:
        return self.root / kind / "runs" / f"by_{side}" / f"{name}.parquet"

    def runs(self, kind: str, side: str = "pre") -> list[Path]:
        return sorted((self.root / kind / "runs" / f"by_{side}").glob("*.parquet"))

    def parts(self, kind: str, side: str = "pre") -> list[Path]:
        return sorted((self.root / kind / f"by_{side}").glob("part-*.parquet"))

    def has(self, kind: str) -> bool:
        return bool(self.parts(kind) or self.runs(kind))

    def sources(self) -> list[dict]:
        try:
            return read_json(self.sources_path)
        except FileNotFoundError:
            return []

    def add_source(self, record: dict) -> None:
        """Record a merged download or import (replacing an earlier record of the same key)."""
        records = [r for r in self.sources() if r.get("key") != record["key"]]
        records.append(record)
        atomic_write_json(self.sources_path, records)

    # -- merging --------------------------------------------------------------
    def merge(self, table: pa.Table, kind: str) -> None:
        """Union ``table`` (store schema) into the store, deduplicated, both copies."""
        schema, key_cols = _KINDS[kind]
        if table.schema != schema:
            table = table.select(schema.names).cast(schema)
        if table.num_rows == 0:
            return
        for side in _SIDES:  # left by a killed merge; the store has one writer at a time
            for folder in (self.root / kind / f"by_{side}", self.root / kind / "runs" / f"by_{side}"):
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
        n_buckets = self.n_buckets
        if not self.format_path.exists():
            atomic_write_json(self.format_path, {"format": STORE_FORMAT, "buckets": n_buckets})
        runs = self.runs(kind)
        if table.num_rows < RUN_MAX_ROWS and len(runs) < MAX_RUNS:
            self._write_run(table, kind, key_cols)
            return
        # compaction: the new rows and every run, into the bucket files; then the runs go
        if runs:
            table = pa.concat_tables([*(self._read_whole(p, kind) for p in runs), table])
        self._merge_into_parts(table, kind, key_cols, n_buckets)
        for side in _SIDES:
            for path in self.runs(kind, side):
                path.unlink(missing_ok=True)
                with self._lock:
                    self._index.pop(path, None)

    def _write_run(self, table: pa.Table, kind: str, key_cols) -> None:
        """One sorted copy per side, named by content: writing the same rows again is a no-op."""
        name = table_digest(dedup_sorted(table, key_cols, PRE))

        def write(side: str) -> None:
            path = self.run_path(kind, side, name)
            if not path.exists():
                run = dedup_sorted(table, key_cols, _SIDES[side])
                with atomic_path(path) as tmp:
                    pq.write_table(run, tmp, **WRITE_OPTIONS)

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(write, _SIDES))

    def _merge_into_parts(self, table: pa.Table, kind: str, key_cols, n_buckets: int) -> None:
        jobs = []
        for side, col in _SIDES.items():
            buckets = bucket_of(table.column(col).to_numpy(), n_buckets)
            order = np.argsort(buckets, kind="stable")
            cuts = np.searchsorted(buckets[order], np.arange(n_buckets + 1))
            for b in range(n_buckets):
                if cuts[b] < cuts[b + 1]:
                    jobs.append((self.part_path(kind, side, b), order[cuts[b]:cuts[b + 1]], col))
        # bucket files are independent, and Parquet encoding releases the GIL: write a few at once
        with ThreadPoolExecutor(max_workers=MERGE_THREADS) as pool:
            list(pool.map(lambda job: self._merge_part(job[0], table.take(pa.array(job[1])), kind, job[2], key_cols), jobs))

    def _merge_part(self, path: Path, new: pa.Table, kind: str, sort_col: str, key_cols) -> None:
        parts = [new]
        if path.exists():
            parts.insert(0, self._read_whole(path, kind))
        merged = pa.concat_tables(parts) if len(parts) > 1 else new
        out = dedup_sorted(merged, key_cols, sort_col)
        with atomic_path(path) as tmp:
            pq.write_table(out, tmp, **WRITE_OPTIONS)
        with self._lock:
            self._index.pop(path, None)

    def _read_whole(self, path: Path, kind: str) -> pa.Table:
        try:
            return pq.read_table(path, schema=_KINDS[kind][0])
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); delete {self.root} and merge again") from None

    # -- reading --------------------------------------------------------------
    def _file_index(self, path: Path) -> _FileIndex | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            cached = self._index.get(path)
            if cached is not None and cached.stamp == stamp:
                return cached
        try:
            pf = pq.ParquetFile(path, memory_map=True)
            meta = pf.metadata
            sort_col = PRE if path.parent.name == "by_pre" else POST
            col_idx = pf.schema_arrow.get_field_index(sort_col)
            mins = np.empty(meta.num_row_groups, dtype=np.int64)
            maxs = np.empty(meta.num_row_groups, dtype=np.int64)
            for i in range(meta.num_row_groups):
                stats = meta.row_group(i).column(col_idx).statistics
                mins[i], maxs[i] = stats.min, stats.max
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); delete {self.root} and merge again") from None
        entry = _FileIndex(stamp, pf, mins, maxs)
        with self._lock:
            self._index[path] = entry
        return entry

    def lookup(self, kind: str, side: str, root_ids: Iterable[int]) -> pa.Table:
        """Every row of ``kind`` whose ``side`` (``pre``/``post``) root id is in ``root_ids``."""
        col = _SIDES[side]
        ids = np.unique(np.asarray(list(root_ids) if not isinstance(root_ids, np.ndarray) else root_ids, dtype=np.int64))
        if len(ids) == 0:
            return empty_table(kind)
        buckets = bucket_of(ids, self.n_buckets)
        pieces = []
        for b in np.unique(buckets):
            piece = self._read_ids(self.part_path(kind, side, int(b)), col, ids[buckets == b])
            if piece is not None:
                pieces.append(piece)
        runs = self.runs(kind, side)
        for path in runs:
            piece = self._read_ids(path, col, ids)
            if piece is not None:
                pieces.append(piece)
        if not pieces:
            return empty_table(kind)
        table = pa.concat_tables(pieces).replace_schema_metadata(None)
        return dedup_sorted(table, _KINDS[kind][1], col) if runs else table

    def _read_ids(self, path: Path, col: str, wanted: np.ndarray) -> pa.Table | None:
        """The rows of one sorted file whose ``col`` is in ``wanted``, reading only their row groups."""
        entry = self._file_index(path)
        if entry is None:
            return None
        # row groups are sorted by the key: the ones whose [min, max] holds a wanted id
        first = np.searchsorted(entry.maxs, wanted, side="left")
        last = np.searchsorted(entry.mins, wanted, side="right")
        groups = sorted({g for f, l in zip(first, last) for g in range(f, l)})
        if not groups:
            return None
        try:
            piece = entry.file.read_row_groups(groups)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); delete {self.root} and merge again") from None
        return piece.filter(pc.is_in(piece.column(col), value_set=pa.array(wanted)))

    def read_all(self, kind: str) -> pa.Table:
        """The whole of ``kind`` (the by-pre copy), sorted by pre root id within buckets."""
        runs = self.runs(kind)
        pieces = [self._read_whole(p, kind) for p in [*self.parts(kind), *runs]]
        if not pieces:
            return empty_table(kind)
        table = pa.concat_tables(pieces).replace_schema_metadata(None)
        return dedup_sorted(table, _KINDS[kind][1], PRE) if runs else table

    def count(self, kind: str) -> int:
        if self.runs(kind):
            return self.read_all(kind).num_rows
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.parts(kind))
