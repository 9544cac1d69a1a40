"""Large merges with bounded memory: rows staged on disk by bucket, compacted by the engine.

A large import, a whole-volume dump or a large download arrives in batches. Each batch is
split by the buckets of both sides and written by DuckDB (one partitioned ``COPY``, on every
core) to ``<store>/staging/<job>/rows/bp=B/bq=C/batch-KKKKKK_<i>.parquet`` (B the bucket of
the pre root id, C of the post root id: bucket B of the by-pre copy is ``bp=B/*``, bucket C of
the by-post copy ``*/bq=C``), with ``__row``, each row's rank in its batch (of two rows with
one key, the later wins, as everywhere in the store); then it is
recorded in ``batches/batch-KKKKKK.json`` (rows, the files' SHA-256; data before record),
so a killed job resumes at the first unrecorded batch. :meth:`StagedMerge.finish` then
rewrites each bucket file through DuckDB (:mod:`.engine`): the old bucket file, the store's
runs and the batches, one row per key (later inputs win), sorted, into a new content-named
file; memory stays within the engine's limit whatever the size. The new files, the runs'
removal and the job's source record go in one index commit, as every merge does; the
staging folder goes after it. A job cut off anywhere is finished by running it again.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import DataError
from ..layout import LOCK_NAME, _pid_alive, atomic_write_json, file_sha256, write_content_named, write_lock
from . import engine
from .schema import KINDS, POST, PRE, SIDES, STORED, dedup_last, to_stored

STAGING = "staging"
#: the staged files' layout (records of another layout are staged anew)
LAYOUT = 2
#: the partition folder of each side's buckets
PARTITION = {"pre": "bp", "post": "bq"}
#: bucket files written at once by a compaction
COMPACT_THREADS = 2


def grouped(tables, rows: int):
    """Consecutive tables concatenated into batches of at least ``rows`` rows (the last may be smaller)."""
    batch, n = [], 0
    for table in tables:
        batch.append(table)
        n += table.num_rows
        if n >= rows:
            yield pa.concat_tables(batch).combine_chunks()
            batch, n = [], 0
    if batch:
        yield pa.concat_tables(batch).combine_chunks()


def own_key() -> str:
    """The key of a job that is not resumed (a merge from memory): this process's own."""
    return f"merge-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def remove_dead_jobs(store_root: Path) -> None:
    """Remove the staging folders of merges from memory whose process is gone."""
    folder = Path(store_root) / STAGING
    if not folder.exists():
        return
    for job in folder.glob("merge-*-*"):
        pid = job.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(job, ignore_errors=True)


class StagedMerge:
    """One large merge of ``kind`` rows into ``store``, staged under ``staging/<key>``.

    Use as a context manager (it holds the job's lock): :meth:`add` batches (numbered from 0;
    :meth:`done` says which are recorded), then :meth:`finish`.
    """

    def __init__(self, store, kind: str, key: str, memory=None):
        self.store, self.kind, self.key, self.memory = store, kind, key, memory
        self.folder = store.root / STAGING / key
        self._lock = None

    def __enter__(self) -> StagedMerge:
        self._lock = write_lock(self.folder / LOCK_NAME, f"the staged merge {self.folder}")
        self._lock.__enter__()
        return self

    def engine(self):
        """The job's DuckDB connection, for staging (and :meth:`add_query`'s queries) and the
        merge (made once, closed on exit)."""
        if getattr(self, "_con", None) is None:
            self._con = engine.connect(self.folder / "spill", self.memory)
        return self._con

    def __exit__(self, *exc) -> None:
        con, self._con = getattr(self, "_con", None), None
        if con is not None:
            con.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.__exit__(*exc)
        if self.key.startswith("merge-") or (self.folder.exists() and not any(
                p.name != LOCK_NAME for p in self.folder.iterdir())):
            shutil.rmtree(self.folder, ignore_errors=True)  # a merge from memory is never resumed

    # -- batches ------------------------------------------------------------------
    def _record_path(self, number: int) -> Path:
        return self.folder / "batches" / f"batch-{number:06d}.json"

    def done(self) -> dict[int, dict]:
        """The recorded batches ``{number: record}`` whose files are all present."""
        out = {}
        folder = self.folder / "batches"
        if not folder.exists():
            return out
        for path in folder.glob("batch-*.json"):
            try:
                record = json.loads(path.read_text())
                number = int(record["number"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: the batch is staged again
            if record.get("layout") == LAYOUT and all((self.folder / rel).exists() for rel in record["files"]):
                out[number] = record
        return out

    def add(self, number: int, table: pa.Table, deduplicated: bool = False, **extra) -> dict:
        """Stage batch ``number`` (store schema; ``deduplicated``: one row per key already);
        ``extra`` goes into its record. Returns the record."""
        table = to_stored(table, self.kind)
        if not deduplicated:
            table = dedup_last(table, KINDS[self.kind][1])  # one row per key within the batch: the last wins
        con = self.engine()
        con.register("batch", table.append_column("__row", pa.array(np.arange(table.num_rows, dtype=np.int64))))
        try:
            return self.add_query(number, "SELECT * FROM batch", table.num_rows, **extra)
        finally:
            con.unregister("batch")

    def add_query(self, number: int, select: str, rows: int, **extra) -> dict:
        """Stage batch ``number`` from a query of the job's engine (:meth:`engine`) giving the
        stored columns (:data:`.schema.STORED`) and ``__row`` (of rows with one key, the highest
        wins); ``rows``: how many rows it gives. Returns the record. Consecutive batches with
        the same ``ranked_with`` (in ``extra``) rank their rows alike (chunks of one file, by
        its row number): they are merged as one input."""
        n_buckets = self.store.n_buckets
        stem = f"batch-{number:06d}_"
        self._record_path(number).unlink(missing_ok=True)
        for old in self.folder.glob(f"rows/*/*/{stem}*.parquet"):  # a killed earlier try of this batch
            old.unlink()
        con = self.engine()
        # one COPY on every core, a file per pair of buckets: rows/bp=B/bq=C/batch-KKKKKK_<i>.parquet
        con.execute(f"COPY (SELECT *, {engine.bucket_sql(PRE, n_buckets)} AS bp, {engine.bucket_sql(POST, n_buckets)} "
                    f"AS bq FROM ({select})) TO {engine.sql_string((self.folder / 'rows').as_posix())} "
                    f"(FORMAT parquet, PARTITION_BY (bp, bq), COMPRESSION lz4, OVERWRITE_OR_IGNORE, "
                    f"FILENAME_PATTERN '{stem}{{i}}')")
        # (written in place, not renamed: a file cut short has no record, and the record's
        # checksums are verified before the merge)
        files = {path.relative_to(self.folder).as_posix(): file_sha256(path)
                 for path in sorted(self.folder.glob(f"rows/*/*/{stem}*.parquet"))}
        record = {"number": int(number), "rows": int(rows), "layout": LAYOUT, "files": files, **extra}
        atomic_write_json(self._record_path(number), record)
        return record

    # -- the merge ------------------------------------------------------------------
    def _stage_runs(self, doc: dict) -> list[int]:
        """The store's runs (small merges) staged as batches before this job's own, in the
        order lookups give them precedence; returns their (negative) batch numbers."""
        numbers = []
        runs = self.store.runs(self.kind, "pre", doc)
        for i, path in enumerate(runs):
            number = i - len(runs)  # -len .. -1: before every batch of the job
            self.add(number, self.store._read_whole(path, self.kind, doc))
            numbers.append(number)
        return numbers

    def _verified(self, records: dict[int, dict]) -> None:
        for number, record in records.items():
            for rel, digest in record["files"].items():
                if file_sha256(self.folder / rel) != digest:
                    self._record_path(number).unlink(missing_ok=True)
                    raise DataError(f"staged file {self.folder / rel} is corrupt; run the same command again "
                                    "(that batch is staged anew)")

    def finish(self, source: dict | None = None, progress=None) -> int:
        """Compact the staged batches (and the store's runs) into the bucket files, with
        ``source`` recorded in the same commit; returns the rows staged. ``progress(done, total)``
        counts bucket files."""
        store, kind = self.store, self.kind
        schema, key_cols = STORED[kind], KINDS[kind][1]
        with store.writing():
            doc = store._working_index()
            records = self.done()
            staged_rows = sum(r["rows"] for r in records.values() if r["number"] >= 0)
            # (a job killed after its commit, before cleaning up, is merged again: the same rows,
            # the same files)
            for number in [n for n in records if n < 0]:  # runs staged by an earlier, interrupted finish
                self._record_path(number).unlink(missing_ok=True)
            records = {n: r for n, r in records.items() if n >= 0}
            for number in self._stage_runs(doc):
                records[number] = json.loads(self._record_path(number).read_text())
            self._verified(records)
            self._compact(doc, records, schema, key_cols, progress)
            for side in SIDES:
                for path in store.runs(kind, side, doc):
                    doc["files"].pop(store._rel(path), None)
            if source is not None:
                doc["sources"] = [r for r in doc["sources"] if r.get("key") != source["key"]] + [source]
            store._commit(doc)
        self.remove()
        return staged_rows

    def _compact(self, doc: dict, records: dict, schema: pa.Schema, key_cols, progress) -> None:
        store, kind = self.store, self.kind
        order = sorted(records)
        jobs = []
        for side, col in SIDES.items():
            for b in range(int(doc["buckets"])):
                inputs = []
                old = store.part_of(kind, side, b, doc)
                if old is not None:
                    store._check(old, store._meta(old, doc))
                    inputs.append([old])
                part = f"{PARTITION[side]}={b}"
                group = None
                for n in order:  # each batch's files of this bucket: rows/bp=B/bq=C/...
                    files = [self.folder / rel for rel in records[n]["files"] if part in rel.split("/")[1:3]]
                    if files and group is not None and records[n].get("ranked_with") == group:
                        inputs[-1] += files  # chunks of one source ranked alike: one input, one scan
                    elif files:
                        inputs.append(files)
                        group = records[n].get("ranked_with")
                if inputs and (old is None or len(inputs) > 1):
                    jobs.append((side, col, b, old, inputs))
        if progress is not None:
            progress(0, len(jobs))
        con = self.engine()  # one memory limit for all its cursors
        lock = threading.Lock()
        finished = [0]

        def run(job) -> None:
            side, col, b, old, inputs = job
            ranked = range(0 if old is None else 1, len(inputs))  # the staged batches rank their rows
            cursor = con.cursor()
            try:
                rows = []
                path, digest, blocks = write_content_named(
                    store.root / kind / f"by_{side}", f"part-{b:02d}", ".parquet",
                    lambda tmp: rows.append(engine.write_merged(cursor, inputs, schema, key_cols, col, tmp, ranked)))
            finally:
                cursor.close()
            with lock:
                if old is not None:
                    doc["files"].pop(store._rel(old), None)
                doc["files"][store._rel(path)] = {"kind": kind, "side": side, "role": "part", "rows": rows[0],
                                                  "sha256": digest, "bytes": path.stat().st_size,
                                                  "blocks": blocks, "bucket": b}
                finished[0] += 1
                if progress is not None:
                    progress(finished[0], len(jobs))

        # DuckDB sorts on every core; the Parquet encoding of a bucket file is one thread:
        # two bucket files at once keep the cores busy
        with ThreadPoolExecutor(max_workers=COMPACT_THREADS) as pool:
            list(pool.map(run, jobs))

    def remove(self) -> None:
        """Remove the staged files (the lock file stays until the job's lock is released)."""
        if self.folder.exists():
            for child in self.folder.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                elif child.name != LOCK_NAME:
                    child.unlink(missing_ok=True)
