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

Reading is :class:`.reader.StoreReader`; this module writes. Merging is a union
deduplicated by synapse id (or by the (pre, post) pair for aggregated rows), so
merging the same rows twice changes nothing: an interrupted merge is finished by
running it again.

Rewriting every bucket file for a small download would cost more than the
download's own writes, so a small merge is written as one sorted *run* per
side, named by its content; lookups read the runs too (and drop repeats).
Once there are ``MAX_RUNS`` runs, or a merge is large, everything is folded
into the bucket files and the runs are removed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..layout import LOCK_NAME, Layout, atomic_write_json, remove_stale_temporaries, write_content_named, write_lock
from ..errors import DataError
from .reader import INDEX_COPY, StoreReader, empty_index, index_checksum
from .schema import KINDS, SIDES, WRITE_OPTIONS, bucket_of, dedup_sorted, to_stored

#: merges smaller than this many rows become runs; larger ones (and too many runs) compact
RUN_MAX_ROWS = 1_000_000
MAX_RUNS = 8
#: rows per batch of a large merge, staged on disk for the engine (see :mod:`.staging`)
STAGE_BATCH_ROWS = 2_000_000
MERGE_THREADS = min(4, os.cpu_count() or 1)


def store_for(layout: Layout) -> SynapseStore:
    return SynapseStore(layout.synapses_dir / "store")


class SynapseStore(StoreReader):
    """Read and merge the store in ``root`` (``<datadir>/<version>/synapses/store``)."""

    @contextmanager
    def writing(self):
        """Hold the store's write lock (reentrant); stale temporaries of dead writers are removed."""
        with write_lock(self.root / LOCK_NAME, f"the synapse store {self.root}"):
            for kind in KINDS:
                for side in SIDES:
                    for folder in (self.root / kind / f"by_{side}", self.root / kind / "runs" / f"by_{side}"):
                        if folder.exists():
                            remove_stale_temporaries(folder)
            from .staging import remove_dead_jobs

            remove_dead_jobs(self.root)
            if not self.index_path.exists() and not self._data_files():
                # a new store starts with an empty index, before any data file: from then on a
                # data file without an index means a damaged store, never a first merge cut short
                self._commit(empty_index())
            yield

    def _commit(self, doc: dict) -> None:
        """Replace the index (the commit point) and its copy, then remove the files it no longer names."""
        doc = {**doc, "checksum": index_checksum(doc)}
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
        key_cols = KINDS[kind][1]
        table = to_stored(table, kind)
        with self.writing():
            doc = self._working_index()
            if table.num_rows:
                runs = self.runs(kind)
                if table.num_rows >= RUN_MAX_ROWS or len(runs) >= MAX_RUNS:
                    # compaction by the engine (bounded memory): the new rows and every run, into
                    # the bucket files, the runs removed and ``source`` recorded, in one commit
                    self.merge_batches([table], kind, source)
                    return
                self._write_run(doc, table, kind, key_cols)
            if source is not None:
                doc["sources"] = [r for r in doc["sources"] if r.get("key") != source["key"]] + [source]
            self._commit(doc)

    def merge_batches(self, batches, kind: str, source: dict | None = None, key: str | None = None,
                      memory=None, progress=None, deduplicated: bool = False) -> int:
        """Union an iterable of tables (later ones winning) into the bucket files through the
        engine (:class:`.staging.StagedMerge`), with ``source`` recorded in the same commit
        (``source`` may be a function of the rows staged, called once every batch is).

        ``key`` names a resumable job (its staged batches are kept until the commit, so a
        rerun with the same key and batches skips those already staged); without it the job
        is this call's own. ``deduplicated``: each batch already has one row per key. Returns
        the rows staged.
        """
        from .staging import StagedMerge, own_key

        def slices():  # a table larger than a batch (a large frame) is staged in slices
            for table in batches:
                for i in range(0, table.num_rows, STAGE_BATCH_ROWS):
                    yield table.slice(i, STAGE_BATCH_ROWS)

        with StagedMerge(self, kind, key or own_key(), memory=memory) as job:
            done = job.done()
            for number, table in enumerate(slices()):
                if number not in done:
                    job.add(number, table, deduplicated=deduplicated)
            if callable(source):  # a record that depends on every batch: made once they are staged
                source = source(sum(r["rows"] for r in job.done().values() if r["number"] >= 0))
            return job.finish(source, progress=progress)

    def verify_once(self, path: Path, doc: dict | None = None) -> None:
        """Check a whole file against its SHA-256, once per process (for readers outside this
        class: the engine, dask); a one-line error naming the repair when it does not match."""
        meta = self._meta(path, doc)
        verified = self.__dict__.setdefault("_whole_verified", set())  # (path, sha256) checked whole
        if (path, meta["sha256"]) not in verified:
            self._check(path, meta)
            verified.add((path, meta["sha256"]))

    def files(self, kind: str = "synapses", side: str = "pre") -> list[Path]:
        """The files holding every row of ``kind`` once, in one copy (``side``), each verified:
        what DuckDB, polars or dask read as the store. Needs a compacted store (no runs):
        ``SynapseStore.compact()`` folds the runs in."""
        doc = self.index()
        if self.runs(kind, side, doc):
            raise DataError(f"the synapse store {self.root} has small merges not yet compacted; run "
                            "`napari-microns synapses --compact` (or Dataset.synapse_files(), which compacts)")
        parts = self.parts(kind, side, doc)
        for path in parts:
            self.verify_once(path, doc)
        return parts

    def compact(self, memory=None, progress=None) -> bool:
        """Fold the runs (small merges) into the bucket files; returns whether there were any."""
        with self.writing():
            if not any(self.runs(kind, side) for kind in KINDS for side in SIDES):
                return False
            for kind in KINDS:
                if self.runs(kind):
                    self.merge_batches([], kind, memory=memory, progress=progress)
            return True

    def _write(self, doc: dict, table: pa.Table, kind: str, side: str, role: str, bucket: int | None = None,
               seq: int | None = None) -> None:
        folder = self.root / kind / (f"by_{side}" if role == "part" else f"runs/by_{side}")
        stem = f"part-{bucket:02d}" if role == "part" else "run"
        table = to_stored(table, kind)
        path, digest, blocks = write_content_named(folder, stem, ".parquet",
                                                   lambda tmp: pq.write_table(table, tmp, **WRITE_OPTIONS))
        entry = {"kind": kind, "side": side, "role": role, "rows": table.num_rows, "sha256": digest,
                 "bytes": path.stat().st_size, "blocks": blocks}
        if bucket is not None:
            entry["bucket"] = int(bucket)
        if seq is not None:
            entry["seq"] = int(seq)
        with self._lock:
            doc["files"][self._rel(path)] = entry

    def _write_run(self, doc: dict, table: pa.Table, kind: str, key_cols) -> None:
        """One sorted copy per side, named by content, numbered after the store's other runs:
        where runs disagree about a key, the latest run wins (in lookups and compactions)."""
        seq = int(doc.get("run_seq", 0)) + 1
        doc["run_seq"] = seq

        def write(side: str) -> None:
            self._write(doc, dedup_sorted(table, key_cols, SIDES[side]), kind, side, "run", seq=seq)

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(write, SIDES))

    def _merge_into_parts(self, doc: dict, table: pa.Table, kind: str, key_cols) -> None:
        n_buckets = int(doc["buckets"])
        old = {(m["side"], m["bucket"]): self.root / rel for rel, m in doc["files"].items()
               if m["kind"] == kind and m["role"] == "part"}
        jobs = []
        for side, col in SIDES.items():
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
        key_cols = KINDS[kind][1]
        with self.writing():
            doc = self._working_index() if self.index_path.exists() else empty_index()
            doc["files"] = {rel: m for rel, m in doc["files"].items() if m["kind"] != kind}
            if table is not None and table.num_rows:
                self._merge_into_parts(doc, to_stored(table, kind), kind, key_cols)
            doc["sources"] = sources
            self._commit(doc)
