"""Reading the synapse store: its checksummed index, its verified files, lookups by root id.

``index.json`` is the store (see :mod:`.store` for the layout): a file not named there is not
part of it, and a named file must have the recorded checksum. Every row is kept twice, once
per side, so a question about a neuron's outputs and one about its inputs both read a few
kilobytes: the root id picks one bucket file (a hash of the id), the file is sorted by that id
and written in small row groups, and the row groups' min/max statistics (cached in memory) say
which of them hold the id. Runs (small merges not yet compacted) are read too, and repeats dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DataError
from ..layout import VerifiedBlocks, file_sha256, read_json
from .schema import KINDS, N_BUCKETS, POST, PRE, SIDES, STORED, bucket_of, dedup_sorted, empty_table, stored_columns, with_um

STORE_FORMAT = 2
INDEX_NAME = "index.json"
#: a second copy of the index, written after it: what the repair starts from when the index is damaged
INDEX_COPY = "index.copy.json"
#: a lookup of at least this many ids reads its files in READ_THREADS threads
PARALLEL_IDS = 256
READ_THREADS = min(4, os.cpu_count() or 1)
REPAIR_HINT = "run `napari-microns synapses --repair` (or Dataset.repair_synapse_store())"


def index_checksum(doc: dict) -> str:
    """The checksum an index records of itself (over everything but the checksum)."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def empty_index(n_buckets: int = N_BUCKETS) -> dict:
    return {"format": STORE_FORMAT, "buckets": n_buckets, "files": {}, "sources": []}


@dataclass
class _FileIndex:
    """A verified store file's row-group key ranges, so a lookup opens only what it needs."""

    stamp: tuple
    file: pq.ParquetFile
    mins: np.ndarray
    maxs: np.ndarray
    blocks: VerifiedBlocks | None  # None: a file from before block digests, verified whole
    verified: set = field(default_factory=set)  # row groups whose blocks were checked


def row_group_bytes(metadata: pq.FileMetaData, group: int) -> tuple[int, int]:
    """The byte range ``[start, stop)`` of one row group's column chunks (pages and headers)."""
    rg = metadata.row_group(group)
    starts, stops = [], []
    for c in range(rg.num_columns):
        col = rg.column(c)
        start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
        starts.append(start)
        stops.append(start + col.total_compressed_size)
    return min(starts), max(stops)


class _Stale(Exception):
    """A file named by the index read a moment ago was replaced by a newer merge."""


def _corrupt(path: Path, exc: Exception | None = None) -> DataError:
    """A store file that cannot be read (``exc``) or has not its recorded checksum, in one line."""
    why = type(exc).__name__ if exc is not None else "its checksum does not match"
    return DataError(f"synapse store file {path} is corrupt ({why}); {REPAIR_HINT}")


class StoreReader:
    """Read the store in ``root`` (``<datadir>/<version>/synapses/store``); see :class:`.SynapseStore`."""

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
            return empty_index()
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
        if not isinstance(doc, dict) or doc.get("checksum") != index_checksum(doc):
            if isinstance(doc, dict) and doc.get("format") not in (None, STORE_FORMAT):
                raise DataError(f"{self.root} was written by another napari-microns version; {REPAIR_HINT}")
            raise DataError(f"{path} is corrupt (its checksum does not match); {REPAIR_HINT}")
        return doc

    def _data_files(self) -> list[Path]:
        return [p for kind in KINDS for p in (self.root / kind).rglob("*.parquet")] if self.root.exists() else []

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @property
    def n_buckets(self) -> int:
        """The bucket count the store was written with."""
        return int(self.index()["buckets"])

    def _files(self, kind: str, side: str, role: str, doc: dict | None = None) -> list[Path]:  # runs: oldest first
        found = [(meta.get("seq", 0), self.root / rel) for rel, meta in (doc or self.index())["files"].items()
                 if meta["kind"] == kind and meta["side"] == side and meta["role"] == role]
        return [path for _, path in sorted(found)]

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
            raise _corrupt(path)

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
            schema = STORED[kind]  # (files written before the µm positions were dropped have them too)
            return pq.read_table(path, columns=schema.names, page_checksum_verification=True).cast(schema)
        except Exception as exc:  # noqa: BLE001
            raise _corrupt(path, exc) from None

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
        blocks = None
        if "blocks" in meta:  # the footer now, each row group's bytes when first read (see _read_ids)
            blocks = VerifiedBlocks(path, meta["blocks"], meta["bytes"])
            if st.st_size != meta["bytes"] or not blocks.check_parquet_footer():
                raise _corrupt(path)
        else:  # written before block digests: the whole file, once per process
            self._check(path, meta)
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
            raise _corrupt(path, exc) from None
        entry = _FileIndex(stamp, pf, mins, maxs, blocks)
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

    def lookup(self, kind: str, side: str, root_ids: Iterable[int], columns: list[str] | None = None) -> pa.Table:
        """Every row of ``kind`` whose ``side`` (``pre``/``post``) root id is in ``root_ids``;
        ``columns``: only these columns, read from the row groups that hold the ids (verified as ever)."""
        col = SIDES[side]
        ids = np.unique(np.asarray(list(root_ids) if not isinstance(root_ids, np.ndarray) else root_ids, dtype=np.int64))
        key_cols, schema, stored = KINDS[kind][1], STORED[kind], stored_columns(kind, columns)
        if len(ids) == 0:
            return empty_table(kind) if columns is None else empty_table(kind).select(columns)

        def read() -> pa.Table:
            doc = self.index()  # one snapshot: every file read below belongs to the same commit
            runs = self.runs(kind, side, doc)
            # the side's column to filter by, and the keys when runs' repeats are to be dropped
            needed = [c for c in schema.names if c in stored or c == col or (runs and c in key_cols)]
            buckets = bucket_of(ids, int(doc["buckets"]))
            jobs = [(path, ids[buckets == b]) for b in np.unique(buckets)
                    if (path := self.part_of(kind, side, int(b), doc)) is not None]
            jobs += [(path, ids) for path in runs]
            if len(ids) >= PARALLEL_IDS and len(jobs) > 1:  # many ids: read the files at once (I/O and
                with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:  # decoding release the GIL)
                    found = list(pool.map(lambda job: self._read_ids(job[0], col, job[1], doc, needed), jobs))
            else:
                found = [self._read_ids(path, col, wanted, doc, needed) for path, wanted in jobs]
            # files written by the engine mark columns without nulls "not null": one schema for all
            ref = pa.schema([schema.field(c) for c in needed])
            pieces = [piece if piece.schema == ref else piece.cast(ref) for piece in found if piece is not None]
            if not pieces:
                table = ref.empty_table()
            else:
                table = pa.concat_tables(pieces).replace_schema_metadata(None)
                table = dedup_sorted(table, key_cols, col) if runs else table
            return with_um(table, kind, columns)

        return self._retrying(read)

    def _read_ids(self, path: Path, col: str, wanted: np.ndarray, doc: dict,
                  columns: list[str] | None = None) -> pa.Table | None:
        """The rows of one sorted file whose ``col`` is in ``wanted``, reading only their row groups
        (and only ``columns``, when given)."""
        entry = self._file_index(path, doc)
        # row groups are sorted by the key: the ones whose [min, max] holds a wanted id
        first = np.searchsorted(entry.maxs, wanted, side="left")
        last = np.searchsorted(entry.mins, wanted, side="right")
        groups = sorted({g for f, l in zip(first, last) for g in range(f, l)})
        if not groups:
            return None
        if entry.blocks is not None:  # each row group's bytes, the first time this process reads it
            for g in groups:
                if g not in entry.verified:
                    if not entry.blocks.check(*row_group_bytes(entry.file.metadata, g)):
                        raise _corrupt(path)
                    entry.verified.add(g)
        try:
            piece = entry.file.read_row_groups(groups, columns=columns)
        except Exception as exc:  # noqa: BLE001
            raise _corrupt(path, exc) from None
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
            return with_um(dedup_sorted(table, KINDS[kind][1], SIDES[side]) if runs else table, kind)

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
