"""The merged local synapse store: Parquet files laid out for lookups by root id.

Layout under ``<datadir>/<version>/synapses/store/``::

    index.json                                  the store: its files with their SHA-256, its sources
    synapses/by_pre/part-NN-<sha>.parquet       per-synapse rows, bucket NN of the pre root id
    synapses/by_post/part-NN-<sha>.parquet      the same rows, bucketed and sorted by post root id
    synapses/runs/by_pre/run-<sha>.parquet      small merges: one sorted run per side, until compacted
    synapses/runs/by_post/run-<sha>.parquet
    connections/...                             aggregated (pre, post) rows, same layout
    .lock                                       the writers' inter-process lock

``index.json`` is the store: a file not named there is not part of it, and a
named file must have the recorded checksum. Data files are named by their
content and never change, so a merge (holding the lock) writes new files, then
replaces ``index.json`` in one atomic rename, then removes the files the new
index no longer names. A reader sees the store before or after a merge, never
half of one; a missing or corrupt file is an error that says to run
``napari-microns synapses --repair`` (every row is kept twice, so one damaged
side is rebuilt from the other; else from the downloads).

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import DataError
from .layout import (
    atomic_write_json,
    LOCK_NAME,
    file_sha256,
    read_json,
    remove_stale_temporaries,
    write_content_named,
    write_lock,
)

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
STORE_FORMAT = 2
INDEX_NAME = "index.json"
#: a second copy of the index, written after it: what the repair starts from when the index is damaged
INDEX_COPY = "index.copy.json"
MERGE_THREADS = min(4, os.cpu_count() or 1)
ROW_GROUP_ROWS = 8192
#: dictionary-encode only the root ids (they repeat): 4x faster writes than encoding every column
WRITE_OPTIONS = dict(row_group_size=ROW_GROUP_ROWS, compression="zstd", write_statistics=True,
                     use_dictionary=[PRE, POST], write_page_checksum=True)
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
    """A verified store file's row-group key ranges, so a lookup opens only what it needs."""

    stamp: tuple
    file: pq.ParquetFile
    mins: np.ndarray
    maxs: np.ndarray


class _Stale(Exception):
    """A file named by the index read a moment ago was replaced by a newer merge."""


REPAIR_HINT = "run `napari-microns synapses --repair` (or Dataset.repair_synapse_store())"


def _index_checksum(doc: dict) -> str:
    import hashlib
    import json

    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _empty_index(n_buckets: int = N_BUCKETS) -> dict:
    return {"format": STORE_FORMAT, "buckets": n_buckets, "files": {}, "sources": []}


class SynapseStore:
    """Read and merge the store in ``root`` (``<datadir>/<version>/synapses/store``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._open: dict[Path, _FileIndex] = {}
        self._lock = threading.Lock()
        self._doc: tuple | None = None  # (stamp of index.json, its content)

    # -- the index --------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / INDEX_NAME

    def index(self) -> dict:
        """The store's index (cached until ``index.json`` changes); empty for a new store."""
        path = self.index_path
        try:
            st = path.stat()
        except FileNotFoundError:
            if self._data_files():
                raise DataError(f"the synapse store {self.root} has data files but no {INDEX_NAME} (written by an "
                                f"older napari-microns, or damaged); {REPAIR_HINT}") from None
            return _empty_index()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._doc
        if cached is not None and cached[0] == stamp:
            return cached[1]
        doc = self._read_index(path)
        self._doc = (stamp, doc)
        return doc

    def _read_index(self, path: Path) -> dict:
        try:
            doc = read_json(path)
        except DataError:
            raise DataError(f"{path} is corrupt; {REPAIR_HINT}") from None
        if not isinstance(doc, dict) or doc.get("checksum") != _index_checksum(doc):
            if isinstance(doc, dict) and doc.get("format") not in (None, STORE_FORMAT):
                raise DataError(f"{self.root} was written by another napari-microns version; {REPAIR_HINT}")
            raise DataError(f"{path} is corrupt (its checksum does not match); {REPAIR_HINT}")
        return doc

    def _data_files(self) -> list[Path]:
        return [p for kind in _KINDS for p in (self.root / kind).rglob("*.parquet")] if self.root.exists() else []

    @property
    def n_buckets(self) -> int:
        """The bucket count the store was written with."""
        return int(self.index()["buckets"])

    def _files(self, kind: str, side: str, role: str, doc: dict | None = None) -> list[Path]:
        return sorted(self.root / rel for rel, meta in (doc or self.index())["files"].items()
                      if meta["kind"] == kind and meta["side"] == side and meta["role"] == role)

    def runs(self, kind: str, side: str = "pre", doc: dict | None = None) -> list[Path]:
        return self._files(kind, side, "run", doc)

    def parts(self, kind: str, side: str = "pre", doc: dict | None = None) -> list[Path]:
        return self._files(kind, side, "part", doc)

    def part_of(self, kind: str, side: str, bucket: int, doc: dict | None = None) -> Path | None:
        for rel, meta in (doc or self.index())["files"].items():
            if meta["kind"] == kind and meta["side"] == side and meta["role"] == "part" and meta["bucket"] == bucket:
                return self.root / rel
        return None

    def has(self, kind: str) -> bool:
        return any(meta["kind"] == kind for meta in self.index()["files"].values())

    def sources(self) -> list[dict]:
        return list(self.index()["sources"])

    # -- writing ----------------------------------------------------------------
    @contextmanager
    def writing(self):
        """Hold the store's write lock (reentrant); stale temporaries of dead writers are removed."""
        with write_lock(self.root / LOCK_NAME, f"the synapse store {self.root}"):
            for kind in _KINDS:
                for side in _SIDES:
                    for folder in (self.root / kind / f"by_{side}", self.root / kind / "runs" / f"by_{side}"):
                        if folder.exists():
                            remove_stale_temporaries(folder)
            if not self.index_path.exists() and not self._data_files():
                # a new store starts with an empty index, before any data file: from then on a
                # data file without an index means a damaged store, never a first merge cut short
                self._commit(_empty_index())
            yield

    def _commit(self, doc: dict) -> None:
        """Replace the index (the commit point) and its copy, then remove the files it no longer names."""
        doc = {**doc, "checksum": _index_checksum(doc)}
        atomic_write_json(self.index_path, doc)
        atomic_write_json(self.root / INDEX_COPY, doc)
        self._doc = None
        named = {self.root / rel for rel in doc["files"]}
        for path in self._data_files():
            if path not in named:
                path.unlink(missing_ok=True)
                with self._lock:
                    self._open.pop(path, None)

    def _working_index(self) -> dict:
        doc = self.index()
        return {**doc, "files": dict(doc["files"]), "sources": list(doc["sources"])}

    def restore_index_copy(self) -> bool:
        """Put the index's copy back in place when the index is damaged and the copy is whole
        (holding the lock). Returns whether it did."""
        with self.writing():
            try:
                doc = self._read_index(self.root / INDEX_COPY)
            except (FileNotFoundError, DataError):
                return False
            atomic_write_json(self.index_path, doc)
            self._doc = None
            return True

    def add_source(self, record: dict) -> None:
        """Record a merged download or import (replacing an earlier record of the same key)."""
        with self.writing():
            doc = self._working_index()
            doc["sources"] = [r for r in doc["sources"] if r.get("key") != record["key"]] + [record]
            self._commit(doc)

    def merge(self, table: pa.Table, kind: str, source: dict | None = None) -> None:
        """Union ``table`` (store schema) into the store, deduplicated, both copies; one commit.

        ``source``, when given, is recorded in the same commit (see :meth:`add_source`).
        """
        schema, key_cols = _KINDS[kind]
        if table.schema != schema:
            table = table.select(schema.names).cast(schema)
        with self.writing():
            doc = self._working_index()
            if table.num_rows:
                runs = self.runs(kind)
                if table.num_rows < RUN_MAX_ROWS and len(runs) < MAX_RUNS:
                    self._write_run(doc, table, kind, key_cols)
                else:
                    # compaction: the new rows and every run, into the bucket files; then the runs go
                    if runs:
                        table = pa.concat_tables([*(self._read_whole(p, kind) for p in runs), table])
                    self._merge_into_parts(doc, table, kind, key_cols)
                    for side in _SIDES:
                        for path in self.runs(kind, side):
                            doc["files"].pop(self._rel(path), None)
            if source is not None:
                doc["sources"] = [r for r in doc["sources"] if r.get("key") != source["key"]] + [source]
            self._commit(doc)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _write(self, doc: dict, table: pa.Table, kind: str, side: str, role: str, bucket: int | None = None) -> None:
        folder = self.root / kind / (f"by_{side}" if role == "part" else f"runs/by_{side}")
        stem = f"part-{bucket:02d}" if role == "part" else "run"
        path, digest = write_content_named(folder, stem, ".parquet",
                                           lambda tmp: pq.write_table(table, tmp, **WRITE_OPTIONS))
        entry = {"kind": kind, "side": side, "role": role, "rows": table.num_rows, "sha256": digest}
        if bucket is not None:
            entry["bucket"] = int(bucket)
        with self._lock:
            doc["files"][self._rel(path)] = entry

    def _write_run(self, doc: dict, table: pa.Table, kind: str, key_cols) -> None:
        """One sorted copy per side, named by content: writing the same rows again is a no-op."""
        def write(side: str) -> None:
            self._write(doc, dedup_sorted(table, key_cols, _SIDES[side]), kind, side, "run")

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(write, _SIDES))

    def _merge_into_parts(self, doc: dict, table: pa.Table, kind: str, key_cols) -> None:
        n_buckets = int(doc["buckets"])
        old = {(m["side"], m["bucket"]): self.root / rel for rel, m in doc["files"].items()
               if m["kind"] == kind and m["role"] == "part"}
        jobs = []
        for side, col in _SIDES.items():
            buckets = bucket_of(table.column(col).to_numpy(), n_buckets)
            order = np.argsort(buckets, kind="stable")
            cuts = np.searchsorted(buckets[order], np.arange(n_buckets + 1))
            for b in range(n_buckets):
                if cuts[b] < cuts[b + 1]:
                    jobs.append((side, b, order[cuts[b]:cuts[b + 1]], col))

        def run(job) -> None:
            side, b, rows, col = job
            parts = [table.take(pa.array(rows))]
            previous = old.get((side, b))
            if previous is not None:
                parts.insert(0, self._read_whole(previous, kind))
                with self._lock:
                    doc["files"].pop(self._rel(previous), None)
            merged = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            self._write(doc, dedup_sorted(merged, key_cols, col), kind, side, "part", b)

        # bucket files are independent, and Parquet encoding releases the GIL: write a few at once
        with ThreadPoolExecutor(max_workers=MERGE_THREADS) as pool:
            list(pool.map(run, jobs))

    def rebuild(self, kind: str, table: pa.Table | None, sources: list[dict]) -> None:
        """Replace everything of ``kind`` by ``table`` (compacted into bucket files) and the
        store's sources by ``sources``; used by the repair."""
        schema, key_cols = _KINDS[kind]
        with self.writing():
            doc = self._working_index() if self.index_path.exists() else _empty_index()
            doc["files"] = {rel: m for rel, m in doc["files"].items() if m["kind"] != kind}
            if table is not None and table.num_rows:
                if table.schema != schema:
                    table = table.select(schema.names).cast(schema)
                self._merge_into_parts(doc, table, kind, key_cols)
            doc["sources"] = sources
            self._commit(doc)

    # -- verifying ----------------------------------------------------------------
    def _meta(self, path: Path, doc: dict | None = None) -> dict:
        meta = (doc or self.index())["files"].get(self._rel(path))
        if meta is None:
            raise _Stale(path)
        return meta

    def _check(self, path: Path, meta: dict) -> None:
        """The file exists and has its recorded checksum; else a one-line error naming the repair."""
        if not path.exists():
            if self._rel(path) not in self._reload_files():
                raise _Stale(path)
            raise DataError(f"synapse store file {path} is missing; {REPAIR_HINT}")
        if file_sha256(path) != meta["sha256"]:
            raise DataError(f"synapse store file {path} is corrupt (its checksum does not match); {REPAIR_HINT}")

    def _reload_files(self) -> dict:
        self._doc = None
        try:
            return self.index()["files"]
        except DataError:
            return {}

    def verify(self) -> dict[str, list[str]]:
        """Check every file against the index: ``{"missing": [...], "corrupt": [...]}`` (relative paths)."""
        bad: dict[str, list[str]] = {"missing": [], "corrupt": []}
        for rel, meta in self.index()["files"].items():
            path = self.root / rel
            if not path.exists():
                bad["missing"].append(rel)
            elif file_sha256(path) != meta["sha256"]:
                bad["corrupt"].append(rel)
        return bad

    def _read_whole(self, path: Path, kind: str, doc: dict | None = None) -> pa.Table:
        self._check(path, self._meta(path, doc))
        try:
            return pq.read_table(path, schema=_KINDS[kind][0], page_checksum_verification=True)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); {REPAIR_HINT}") from None

    # -- reading --------------------------------------------------------------
    def _file_index(self, path: Path, doc: dict) -> _FileIndex:
        meta = self._meta(path, doc)
        try:
            st = path.stat()
        except FileNotFoundError:
            self._check(path, meta)  # raises: stale or missing
            raise
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            cached = self._open.get(path)
            if cached is not None and cached.stamp == stamp:
                return cached
        self._check(path, meta)  # once per file and process: files never change after they are named
        try:
            pf = pq.ParquetFile(path, memory_map=True, page_checksum_verification=True)
            meta_pq = pf.metadata
            sort_col = PRE if path.parent.name == "by_pre" else POST
            col_idx = pf.schema_arrow.get_field_index(sort_col)
            mins = np.empty(meta_pq.num_row_groups, dtype=np.int64)
            maxs = np.empty(meta_pq.num_row_groups, dtype=np.int64)
            for i in range(meta_pq.num_row_groups):
                stats = meta_pq.row_group(i).column(col_idx).statistics
                mins[i], maxs[i] = stats.min, stats.max
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); {REPAIR_HINT}") from None
        entry = _FileIndex(stamp, pf, mins, maxs)
        with self._lock:
            self._open[path] = entry
        return entry

    def _retrying(self, read):
        """Run ``read`` against the current index; if a merge replaced a file meanwhile, once more."""
        for attempt in range(5):
            try:
                return read()
            except _Stale:
                self._doc = None
        raise DataError(f"the synapse store {self.root} kept changing while it was read; try again")

    def lookup(self, kind: str, side: str, root_ids: Iterable[int]) -> pa.Table:
        """Every row of ``kind`` whose ``side`` (``pre``/``post``) root id is in ``root_ids``."""
        col = _SIDES[side]
        ids = np.unique(np.asarray(list(root_ids) if not isinstance(root_ids, np.ndarray) else root_ids, dtype=np.int64))
        if len(ids) == 0:
            return empty_table(kind)

        def read() -> pa.Table:
            doc = self.index()  # one snapshot: every file read below belongs to the same commit
            buckets = bucket_of(ids, int(doc["buckets"]))
            pieces = []
            for b in np.unique(buckets):
                path = self.part_of(kind, side, int(b), doc)
                piece = self._read_ids(path, col, ids[buckets == b], doc) if path is not None else None
                if piece is not None:
                    pieces.append(piece)
            runs = self.runs(kind, side, doc)
            for path in runs:
                piece = self._read_ids(path, col, ids, doc)
                if piece is not None:
                    pieces.append(piece)
            if not pieces:
                return empty_table(kind)
            table = pa.concat_tables(pieces).replace_schema_metadata(None)
            return dedup_sorted(table, _KINDS[kind][1], col) if runs else table

        return self._retrying(read)

    def _read_ids(self, path: Path, col: str, wanted: np.ndarray, doc: dict) -> pa.Table | None:
        """The rows of one sorted file whose ``col`` is in ``wanted``, reading only their row groups."""
        entry = self._file_index(path, doc)
        # row groups are sorted by the key: the ones whose [min, max] holds a wanted id
        first = np.searchsorted(entry.maxs, wanted, side="left")
        last = np.searchsorted(entry.mins, wanted, side="right")
        groups = sorted({g for f, l in zip(first, last) for g in range(f, l)})
        if not groups:
            return None
        try:
            piece = entry.file.read_row_groups(groups)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"synapse store file {path} is corrupt ({type(exc).__name__}); {REPAIR_HINT}") from None
        return piece.filter(pc.is_in(piece.column(col), value_set=pa.array(wanted)))

    def read_side(self, kind: str, side: str = "pre") -> pa.Table:
        """Every row of ``kind`` from one side's copy, deduplicated, sorted by that side's root id."""
        def read() -> pa.Table:
            doc = self.index()
            runs = self.runs(kind, side, doc)
            pieces = [self._read_whole(p, kind, doc) for p in [*self.parts(kind, side, doc), *runs]]
            if not pieces:
                return empty_table(kind)
            table = pa.concat_tables(pieces).replace_schema_metadata(None)
            return dedup_sorted(table, _KINDS[kind][1], _SIDES[side]) if runs else table

        return self._retrying(read)

    def read_all(self, kind: str) -> pa.Table:
        """The whole of ``kind`` (the by-pre copy), sorted by pre root id within buckets."""
        return self.read_side(kind, "pre")

    def count(self, kind: str) -> int:
        doc = self.index()
        if self.runs(kind, doc=doc):
            return self.read_all(kind).num_rows
        return sum(m["rows"] for m in doc["files"].values()
                   if m["kind"] == kind and m["side"] == "pre" and m["role"] == "part")
