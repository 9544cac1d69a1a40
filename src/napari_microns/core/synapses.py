"""Synapses: a resumable concurrent download, the merged local store, and queries.

The download splits the requested root ids into chunks. Each chunk is one or
more queries of the synapse table (``synapses_pni_2``) through
:mod:`core.query` and so through the one retry policy of :mod:`core.session`.
A capped answer splits the chunk's id list in halves until every answer is
complete; a single id whose synapses still exceed the cap is paged by
synapse id ranges (:func:`core.query.query_all`).

Every download has its own folder named by a hash of its parameters::

    <datadir>/<version>/synapses/downloads/<hash>/manifest.json        parameters and chunk ids
    <datadir>/<version>/synapses/downloads/<hash>/chunks/chunk_NNNNN.parquet
    <datadir>/<version>/synapses/downloads/<hash>/chunks/chunk_NNNNN.json   state, rows, sha256

A chunk counts as done only when its record says so *and* its file still has
the recorded checksum; anything else is fetched again. Files are written
atomically (data first, record second), so killing the process at any moment
and rerunning ends with the same store as an uninterrupted run. A changed
request hashes to a new folder and never mixes with an old one.

Finished chunks are merged into the store of :mod:`core.synapses_store`,
which answers :func:`query_synapses` by pre or post root id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import AuthError, DataError, IncompleteError, NotFoundError, ServiceError, VersionError
from .ids import check_id_columns, id_column, parse_ids, what_of
from .layout import (
    LOCK_NAME,
    Layout,
    atomic_write_bytes,
    atomic_write_json,
    file_sha256,
    read_json,
    remove_stale_temporaries,
    write_lock,
)
from .query import query_all, query_page
from .session import DEFAULT_RETRY, RetryPolicy
from .synapses_store import (
    CONNECTION_SCHEMA,
    POST,
    PRE,
    SYNAPSE_SCHEMA,
    SynapseStore,
    as_table,
    dedup_sorted,
    empty_table,
    table_digest,
)
from .transform import VOXEL_RESOLUTION_NM, voxels_to_um

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100
#: rows read into memory at once when merging a download into the store
MERGE_BATCH_ROWS = 20_000_000
#: chunks fetched in this run up to this many rows are merged from memory, not read back
KEEP_IN_MEMORY_ROWS = 5_000_000
_SIDE_COLUMN = {"pre": PRE, "post": POST}
_VX = ["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]
_UM = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]
#: errors every other chunk would meet too: stop at once instead of failing each chunk
_FATAL = (AuthError, NotFoundError, VersionError)

ProgressFn = Callable[[int, int, int], None]


def store_for(layout: Layout) -> SynapseStore:
    return SynapseStore(layout.synapses_dir / "store")


def downloads_dir(layout: Layout) -> Path:
    return layout.synapses_dir / "downloads"


# -- root id arguments ---------------------------------------------------------


def normalize_ids(ids, side: str) -> np.ndarray | None:
    """None (any neuron) or the sorted unique root ids (read by :mod:`core.ids`: a string is
    one id or a text list of ids, never its characters); a one-line error for anything else."""
    if ids is None or (isinstance(ids, str) and ids.strip().lower() == "all"):
        return None
    out = parse_ids(ids, "root id", where=f"{side} ids", sort=True)
    if len(out) == 0:
        raise DataError(f"no {side} ids given; pass root ids, or None for any neuron")
    return out


# -- the report ----------------------------------------------------------------


@dataclass
class DownloadReport:
    """What a download did: chunks, rows, and which requested ids are covered."""

    key: str
    folder: Path
    aggregate: bool
    chunk_side: str
    chunks_total: int
    chunks_done: int = 0
    chunks_resumed: int = 0
    chunks_refetched_corrupt: int = 0
    rows: int = 0
    failed: list[dict] = field(default_factory=list)
    covered_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    missing_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    seconds: float = 0.0
    merge_seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.failed and self.chunks_done == self.chunks_total

    @property
    def chunks_failed(self) -> int:
        return len(self.failed)

    def as_dict(self) -> dict:
        return {
            "key": self.key, "folder": str(self.folder), "aggregate": self.aggregate,
            "chunk_side": self.chunk_side, "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done, "chunks_resumed": self.chunks_resumed,
            "chunks_refetched_corrupt": self.chunks_refetched_corrupt,
            "chunks_failed": self.chunks_failed, "rows": self.rows, "failed": self.failed,
            "complete": self.complete, "covered_ids": len(self.covered_ids),
            "missing_ids": len(self.missing_ids), "seconds": round(self.seconds, 3),
            "merge_seconds": round(self.merge_seconds, 3),
        }

    def summary(self) -> str:
        side = f"{self.chunk_side} ids"
        text = (f"{self.rows} {'connections' if self.aggregate else 'synapses'} in {self.chunks_done}/"
                f"{self.chunks_total} chunks ({self.chunks_resumed} resumed); {len(self.covered_ids)} {side} covered")
        if self.failed:
            text += f", {len(self.missing_ids)} missing"
        return text


# -- the manifest --------------------------------------------------------------


def plan(pre_ids, post_ids, *, aggregate: bool, chunk_size: int, table: str, version: int, datastack: str) -> dict:
    """The manifest of a download: its parameters, its hash, and the chunks' ids."""
    pre = normalize_ids(pre_ids, "pre")
    post = normalize_ids(post_ids, "post")
    if pre is None and post is None:
        raise DataError(
            "give pre ids or post ids (or both): downloading all 337 million synapses is not "
            "supported; use the units' root ids, e.g. --pre all --post <ids file>"
        )
    if int(chunk_size) < 1:
        raise DataError(f"chunk_size must be at least 1 (got {chunk_size})")
    # chunk the side that has ids; with both, chunk the longer list and send the shorter whole
    if pre is None:
        side = "post"
    elif post is None:
        side = "pre"
    else:
        side = "pre" if len(pre) > len(post) else "post"
    chunked = pre if side == "pre" else post
    other = post if side == "pre" else pre
    params = {
        "table": table, "version": int(version), "datastack": datastack,
        "aggregate": bool(aggregate), "chunk_size": int(chunk_size), "chunk_side": side,
        "pre_ids": None if pre is None else [int(i) for i in pre],
        "post_ids": None if post is None else [int(i) for i in post],
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    chunks = [
        [int(i) for i in chunked[start:start + int(chunk_size)]]
        for start in range(0, len(chunked), int(chunk_size))
    ]
    return {
        "format": 1, "key": key, "table": table, "version": int(version), "datastack": datastack,
        "aggregate": bool(aggregate), "chunk_size": int(chunk_size), "chunk_side": side,
        "other_side_ids": None if other is None else [int(i) for i in other],
        "requested": {"pre": "all" if pre is None else len(pre), "post": "all" if post is None else len(post)},
        "chunks": chunks,
    }


class Manifest:
    """One download's folder: ``manifest.json`` plus a data file and a record per chunk."""

    def __init__(self, folder: Path, spec: dict):
        self.folder = folder
        self.spec = spec

    @classmethod
    def open(cls, layout: Layout, spec: dict) -> "Manifest":
        """The download folder of ``spec`` (call it holding the folder's :func:`write_lock`).

        ``manifest.json`` is derived from the request alone, so one that differs from it
        (a flipped bit, a truncated write) is written again; the chunks keep their own checksums.
        """
        folder = downloads_dir(layout) / spec["key"]
        path = folder / "manifest.json"
        try:
            stored = read_json(path)
        except (FileNotFoundError, DataError):
            stored = None
        if stored != spec:
            if stored is not None:
                log.warning("%s did not match its request (damaged); writing it again", path)
            atomic_write_json(path, spec)
        if (folder / "chunks").exists():
            remove_stale_temporaries(folder / "chunks")
        return cls(folder, spec)

    def data_path(self, index: int) -> Path:
        return self.folder / "chunks" / f"chunk_{index:05d}.parquet"

    def record_path(self, index: int) -> Path:
        return self.folder / "chunks" / f"chunk_{index:05d}.json"

    def record(self, index: int) -> dict | None:
        try:
            return read_json(self.record_path(index))
        except (FileNotFoundError, DataError):  # a record is written atomically; unreadable = not done
            return None

    def is_done(self, index: int) -> tuple[bool, bool]:
        """``(done, corrupt)``: done when recorded so and the file has the recorded checksum."""
        rec = self.record(index)
        if not rec or rec.get("state") != "done":
            return False, False
        path = self.data_path(index)
        if not path.exists():
            return False, True
        if file_sha256(path) != rec.get("sha256"):
            log.warning("chunk %d of download %s: %s has the wrong checksum; fetching it again",
                        index, self.spec["key"], path)
            return False, True
        return True, False

    def write_chunk(self, index: int, table: pa.Table, queries: int) -> int:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", use_dictionary=[PRE, POST])
        data = sink.getvalue().to_pybytes()
        atomic_write_bytes(self.data_path(index), data)
        atomic_write_json(self.record_path(index), {
            "state": "done", "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest(), "queries": queries,
            "first_id": self.spec["chunks"][index][0], "last_id": self.spec["chunks"][index][-1],
        })
        return table.num_rows

    def write_failure(self, index: int, error: str) -> None:
        atomic_write_json(self.record_path(index), {
            "state": "failed", "error": error,
            "first_id": self.spec["chunks"][index][0], "last_id": self.spec["chunks"][index][-1],
        })

    def read_chunk(self, index: int) -> pa.Table:
        kind_schema = CONNECTION_SCHEMA if self.spec["aggregate"] else SYNAPSE_SCHEMA
        return pq.read_table(self.data_path(index), schema=kind_schema)


# -- fetching one chunk --------------------------------------------------------


class _ChunkFetcher:
    """Fetch every synapse of one chunk, splitting on capped answers."""

    def __init__(self, client, spec: dict, policy: RetryPolicy, page_limit: int | None):
        self.client = client
        self.spec = spec
        self.policy = policy
        self.page_limit = page_limit
        self.chunk_col = _SIDE_COLUMN[spec["chunk_side"]]
        self.other_col = _SIDE_COLUMN["post" if spec["chunk_side"] == "pre" else "pre"]
        self.columns = ["id", PRE, POST, "size"] + ([] if spec["aggregate"] else ["ctr_pt_position"])
        # ids per query that answered uncapped lately, shared by the workers: once a chunk has
        # shown how dense the ids are, later chunks start at that size instead of re-learning it
        # through capped answers (which cost a full answer each). Results do not depend on it.
        self.max_ids: int | None = None
        self._lock = threading.Lock()

    def filters(self, ids: list[int]) -> dict:
        filter_in = {self.chunk_col: ids}
        if self.spec["other_side_ids"] is not None:
            filter_in[self.other_col] = self.spec["other_side_ids"]
        return {"filter_in_dict": filter_in}

    def fetch(self, index: int, ids: list[int]) -> tuple[pa.Table, int]:
        pages: list[pd.DataFrame] = []
        queries = 0
        step = self.max_ids or len(ids)
        pending = [ids[start:start + step] for start in range(0, len(ids), step)][::-1]
        while pending:
            part = pending.pop()
            what = (f"synapses of {len(part)} {self.spec['chunk_side']} ids {part[0]}..{part[-1]} "
                    f"(chunk {index}, version {self.spec['version']})")
            if len(part) == 1:
                # one neuron with more synapses than an answer holds: page by synapse id
                page, capped = query_page(
                    self.client, self.spec["table"], version=self.spec["version"], filters=self.filters(part),
                    select_columns=self.columns, limit=self.page_limit, policy=self.policy, what=what)
                queries += 1
                if capped:
                    counter = {"n": 0}
                    page = query_all(
                        self.client, self.spec["table"], version=self.spec["version"], filters=self.filters(part),
                        select_columns=self.columns, limit=self.page_limit, policy=self.policy, what=what,
                        on_page=lambda n: counter.__setitem__("n", counter["n"] + 1))
                    queries += counter["n"]
                pages.append(page)
                continue
            page, capped = query_page(
                self.client, self.spec["table"], version=self.spec["version"], filters=self.filters(part),
                select_columns=self.columns, limit=self.page_limit, policy=self.policy, what=what)
            queries += 1
            if capped:
                half = len(part) // 2
                with self._lock:
                    self.max_ids = min(self.max_ids or len(part), max(1, half))
                log.info("%s: capped answer; splitting into %d + %d ids", what, half, len(part) - half)
                pending += [part[half:], part[:half]]
            else:
                pages.append(page)
        return self.to_rows(pages), queries

    def to_rows(self, pages: list[pd.DataFrame]) -> pa.Table:
        for page in pages:
            # caveclient keeps the query (with every filter id) in attrs, which pandas deep-copies
            # on each operation: slow with thousands of ids
            page.attrs = {}
        frames = [p for p in pages if len(p)]
        raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", PRE, POST, "size"])
        ids = raw["id"].to_numpy()
        if len(np.unique(ids)) != len(ids):  # sub-queries are disjoint; this only guards a wobbly server
            raw = raw.drop_duplicates("id")
        if self.spec["aggregate"]:
            return aggregate_rows(raw)
        return synapse_rows(raw)


# -- row shapes ----------------------------------------------------------------


def synapse_rows(raw: pd.DataFrame) -> pa.Table:
    """Per-synapse store rows from ``id, pre, post, size`` and voxel positions, sorted by id."""
    ids = _int_column(raw, "id")
    order = np.argsort(ids, kind="stable")
    columns = {"id": ids, PRE: _int_column(raw, PRE), POST: _int_column(raw, POST), "size": _int_sizes(raw["size"])}
    vx = _voxel_positions(raw)
    if vx is not None:
        um = voxels_to_um(vx)
        for i in range(3):
            columns[_VX[i]], columns[_UM[i]] = vx[:, i], um[:, i]
    # straight from numpy to Arrow: building a DataFrame column by column costs more than the query
    arrays = [pa.array(columns[f.name][order], type=f.type, from_pandas=True) if f.name in columns else pa.nulls(len(ids), f.type)
              for f in SYNAPSE_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SYNAPSE_SCHEMA)


def _int_column(raw: pd.DataFrame, col: str) -> np.ndarray:
    """An id column as int64: as it is when int64 already (the server's columns, synthetic
    negative ids), else read exactly by :func:`core.ids.id_column` (never through float)."""
    values = raw[col]
    if values.dtype == np.int64:
        return values.to_numpy()
    return id_column(values, what=what_of(col), column=col, allow_zero=col == "id").values


def aggregate_rows(raw: pd.DataFrame) -> pa.Table:
    """One row per (pre, post) pair: ``n_synapses`` and the summed ``size``, sorted by pair."""
    if len(raw) == 0:
        return CONNECTION_SCHEMA.empty_table()
    pre, post, size = _int_column(raw, PRE), _int_column(raw, POST), _int_sizes(raw["size"])
    order = np.lexsort((post, pre))
    pre, post, size = pre[order], post[order], size[order]
    starts = np.flatnonzero(np.r_[True, (pre[1:] != pre[:-1]) | (post[1:] != post[:-1])])
    counts = np.diff(np.r_[starts, len(pre)])
    return pa.Table.from_arrays(
        [pa.array(pre[starts]), pa.array(post[starts]), pa.array(counts.astype(np.int64)),
         pa.array(np.add.reduceat(size, starts).astype(np.int64))],
        schema=CONNECTION_SCHEMA,
    )


def _int_sizes(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any():
        raise DataError("synapse sizes must be numbers (found missing or non-numeric values in 'size')")
    return np.rint(values.to_numpy(dtype=float)).astype(np.int64)


def _voxel_positions(raw: pd.DataFrame) -> np.ndarray | None:
    """Voxel positions: ``ctr_pt_position_vx_*``, else ``ctr_pt_position_x/y/z`` (voxels, as the
    server and datacleaner give them), else a ``ctr_pt_position`` column of 3-vectors."""
    if all(c in raw.columns for c in _VX):
        cols = _VX
    elif all(c in raw.columns for c in _UM):
        cols = _UM
    elif "ctr_pt_position" in raw.columns:
        if len(raw) == 0:
            return np.empty((0, 3))
        return np.asarray(np.stack(raw["ctr_pt_position"].to_numpy()), dtype=float).reshape(-1, 3)
    else:
        return None
    try:
        if all(pd.api.types.is_numeric_dtype(raw[c].dtype) for c in cols):
            return np.column_stack([raw[c].to_numpy(dtype=float) for c in cols]).reshape(-1, 3)
        return raw[cols].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"synapse positions {cols} must be numbers ({exc})") from None


# -- the download --------------------------------------------------------------


def download_synapses(
    client,
    layout: Layout,
    *,
    table: str,
    datastack: str,
    pre_ids=None,
    post_ids=None,
    aggregate: bool = True,
    workers: int = 4,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressFn | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    page_limit: int | None = None,
    store: SynapseStore | None = None,
) -> DownloadReport:
    """Download (or resume) the synapses between ``pre_ids`` and ``post_ids`` and merge them.

    ``client`` may be a CAVEclient or a zero-argument callable returning one
    (called only when some chunk must be fetched, so a finished download
    reruns offline). ``progress(chunks_done, chunks_total, rows)`` is called
    once at the start and after every chunk. Raises :class:`IncompleteError`
    at the end if any chunk still failed after retries; every finished chunk
    is kept and merged first.
    """
    if int(workers) < 1:
        raise DataError(f"workers must be at least 1 (got {workers})")
    started = time.monotonic()
    spec = plan(pre_ids, post_ids, aggregate=aggregate, chunk_size=chunk_size,
                table=table, version=layout.version, datastack=datastack)
    folder = downloads_dir(layout) / spec["key"]
    with write_lock(folder / LOCK_NAME, f"the synapse download {folder}"):
        return _download_locked(client, layout, spec, started, workers=workers, progress=progress, policy=policy,
                                page_limit=page_limit, store=store or store_for(layout))


def _download_locked(client, layout: Layout, spec: dict, started: float, *, workers: int, progress,
                     policy: RetryPolicy, page_limit: int | None, store: SynapseStore) -> DownloadReport:
    """The body of :func:`download_synapses`, holding the download folder's lock."""
    aggregate = spec["aggregate"]
    manifest = Manifest.open(layout, spec)
    chunks = spec["chunks"]
    report = DownloadReport(key=spec["key"], folder=manifest.folder, aggregate=bool(aggregate),
                            chunk_side=spec["chunk_side"], chunks_total=len(chunks))
    done: set[int] = set()
    todo: list[int] = []
    for i in range(len(chunks)):
        ok, corrupt = manifest.is_done(i)
        if ok:
            done.add(i)
            report.rows += int(manifest.record(i)["rows"])
        else:
            todo.append(i)
            report.chunks_refetched_corrupt += int(corrupt)
    report.chunks_resumed = len(done)
    if done:
        log.info("download %s: resuming, %d of %d chunks already done", spec["key"], len(done), len(chunks))
    if progress:
        progress(len(done), len(chunks), report.rows)

    failures: dict[int, str] = {}
    kept: dict[int, pa.Table] = {}
    if todo:
        cave = client() if callable(client) and not hasattr(client, "materialize") else client
        if not aggregate:
            voxels_to_um(np.zeros((1, 3)))  # load the transform once, not in every worker at the same time
        fetcher = _ChunkFetcher(cave, spec, policy, page_limit)
        lock = threading.Lock()
        kept_rows = [0]

        def run(i: int) -> int:
            rows, queries = fetcher.fetch(i, chunks[i])
            n = manifest.write_chunk(i, rows, queries)
            with lock:  # keep small results for the merge instead of reading them back
                if kept_rows[0] + n <= KEEP_IN_MEMORY_ROWS:
                    kept[i] = rows
                    kept_rows[0] += n
            return n

        fatal: BaseException | None = None
        with ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="synapses") as pool:
            running = {pool.submit(run, i): i for i in todo}
            try:
                while running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        i = running.pop(fut)
                        try:
                            n = fut.result()
                        except _FATAL as exc:
                            fatal = fatal or exc
                            continue
                        except (ServiceError, DataError) as exc:
                            failures[i] = str(exc)
                            manifest.write_failure(i, str(exc))
                            log.warning("chunk %d failed: %s", i, exc)
                            continue
                        with lock:
                            done.add(i)
                            report.rows += n
                        if progress:
                            progress(len(done), len(chunks), report.rows)
                    if fatal is not None:
                        for fut in running:
                            fut.cancel()
                        running = {f: i for f, i in running.items() if not f.cancelled()}
            except BaseException:
                # Ctrl-C or an unexpected error: do not start the queued chunks; finished ones are kept
                for fut in running:
                    fut.cancel()
                raise
        if fatal is not None:
            # finished chunks are on disk; merge them so the work is not lost, then stop
            _merge_download(manifest, sorted(done), store, kept)
            raise fatal

    report.chunks_done = len(done)
    side_ids = [np.asarray(chunks[i], dtype=np.int64) for i in sorted(done)]
    report.covered_ids = np.concatenate(side_ids) if side_ids else np.empty(0, dtype=np.int64)
    missing = [np.asarray(chunks[i], dtype=np.int64) for i in sorted(failures)]
    report.missing_ids = np.concatenate(missing) if missing else np.empty(0, dtype=np.int64)
    report.failed = [
        {"chunk": i, "side": spec["chunk_side"], "first_id": chunks[i][0], "last_id": chunks[i][-1],
         "n_ids": len(chunks[i]), "error": failures[i]}
        for i in sorted(failures)
    ]
    merge_started = time.monotonic()
    _merge_download(manifest, sorted(done), store, kept)
    report.merge_seconds = time.monotonic() - merge_started
    report.seconds = time.monotonic() - started
    atomic_write_json(manifest.folder / "report.json", report.as_dict())
    if report.failed:
        ranges = ", ".join(f"{f['first_id']}..{f['last_id']}" for f in report.failed[:3])
        more = f" and {len(report.failed) - 3} more" if len(report.failed) > 3 else ""
        err = IncompleteError(
            f"synapse download incomplete: {len(report.failed)} of {len(chunks)} chunks failed "
            f"({spec['chunk_side']} ids {ranges}{more}; last error: {report.failed[-1]['error']}); "
            f"the {report.chunks_done} finished chunks were kept; rerun the same request to fetch the rest"
        )
        err.report = report
        raise err
    return report


def download_source(manifest: "Manifest", done: list[int]) -> dict:
    """The store's record of a merged download (what :func:`coverage` and the repair read)."""
    spec = manifest.spec
    return {
        "key": f"download:{spec['key']}", "kind": "connections" if spec["aggregate"] else "synapses",
        "origin": "download", "manifest": f"downloads/{spec['key']}",
        "manifest_sha256": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest(),
        "chunk_side": spec["chunk_side"], "requested": spec["requested"],
        "chunks_done": list(done), "chunks_total": len(spec["chunks"]),
    }


def _merge_download(manifest: Manifest, done: list[int], store: SynapseStore, kept: dict | None = None) -> None:
    """Merge the finished chunks (in batches, holding the store's lock); the source record
    goes in with the last batch, in the same commit."""
    kind = "connections" if manifest.spec["aggregate"] else "synapses"
    batch: list[pa.Table] = []
    n = 0
    with store.writing():
        for i in done:
            t = (kept or {}).get(i)
            t = manifest.read_chunk(i) if t is None else t
            batch.append(t)
            n += t.num_rows
            if n >= MERGE_BATCH_ROWS:
                store.merge(pa.concat_tables(batch), kind)
                batch, n = [], 0
        store.merge(pa.concat_tables(batch) if batch else empty_table(kind), kind, source=download_source(manifest, done))


# -- repair --------------------------------------------------------------------


def _manifest_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _rows_from_downloads(layout: Layout, kind: str, sources: list[dict] | None) -> tuple[list[pa.Table], list[dict], list[str]]:
    """The verified chunks of every download of ``kind``: ``(tables, source records, notes)``.

    A chunk whose file is missing or corrupt loses its record, so rerunning that
    download fetches it again; the store's record of the download no longer counts it.
    """
    tables, records, notes = [], [], []
    if sources is None:  # the index is lost: every download folder on disk
        folders = sorted(p.parent for p in downloads_dir(layout).glob("*/manifest.json"))
        candidates = [(f, None) for f in folders]
    else:
        candidates = [(layout.synapses_dir / r["manifest"], r) for r in sources
                      if r.get("origin") == "download" and r.get("kind") == kind]
    for folder, record in candidates:
        try:
            spec = read_json(folder / "manifest.json")
        except (FileNotFoundError, DataError):
            notes.append(f"download {folder.name}: its manifest is missing or damaged; rerun that request")
            continue
        if (record and record.get("manifest_sha256") not in (None, _manifest_digest(spec))) or \
                ("connections" if spec.get("aggregate") else "synapses") != kind:
            if record:
                notes.append(f"download {folder.name}: its manifest is damaged; rerun that request")
            continue
        manifest = Manifest(folder, spec)
        wanted = record["chunks_done"] if record else range(len(spec["chunks"]))
        done = []
        for i in wanted:
            ok, corrupt = manifest.is_done(i)
            if ok:
                tables.append(manifest.read_chunk(i))
                done.append(i)
            elif corrupt or record:
                manifest.record_path(i).unlink(missing_ok=True)
                notes.append(f"download {folder.name}: chunk {i} is damaged and will be fetched again by a rerun")
        if done:
            records.append(download_source(manifest, done))
    return tables, records, notes


def repair_store(layout: Layout, store: SynapseStore | None = None) -> dict:
    """Check every store file against the index and rebuild what is damaged.

    Every row is kept twice (by pre and by post): a kind with one intact side is
    rebuilt from it and loses nothing. With both sides damaged (or the index lost), it is
    rebuilt from the verified chunks of its downloads; damaged chunks are fetched again by
    rerunning their download, and imports of that kind must be imported again (listed).
    Returns ``{"checked", "damaged", "rebuilt", "lost_imports", "notes"}``.
    """
    store = store or store_for(layout)
    result = {"checked": 0, "damaged": [], "rebuilt": {}, "lost_imports": [], "notes": []}
    with store.writing():
        try:
            try:
                doc = store.index()
            except DataError as exc:  # the index itself: its copy, when whole, says the same
                if not store.restore_index_copy():
                    raise
                result["notes"].append(f"{exc}: restored from its copy")
                doc = store.index()
            problems = store.verify()
            result["checked"] = len(doc["files"])
        except DataError as exc:
            doc, problems = None, None
            result["notes"].append(str(exc))
        sources = None if doc is None else list(doc["sources"])
        for kind in ("synapses", "connections"):
            if doc is not None:
                bad = {rel for rel in problems["missing"] + problems["corrupt"] if doc["files"][rel]["kind"] == kind}
                if not bad:
                    continue
                result["damaged"] += sorted(bad)
                good = [side for side in ("pre", "post") if not any(doc["files"][r]["side"] == side for r in bad)]
                kept = [r for r in sources if r.get("kind") != kind]
                if good:
                    table = store.read_side(kind, good[0])
                    store.rebuild(kind, table, kept + [r for r in sources if r.get("kind") == kind])
                    result["rebuilt"][kind] = f"{table.num_rows} rows, from the by_{good[0]} copy (nothing lost)"
                    sources = store.sources()
                    continue
            else:
                kept = store.sources() if result["rebuilt"] else []
            tables, records, notes = _rows_from_downloads(layout, kind, None if doc is None else sources)
            lost = [r for r in (sources or []) if r.get("kind") == kind and r.get("origin") != "download"]
            result["lost_imports"] += [r.get("origin", "?") for r in lost]
            result["notes"] += notes
            table = pa.concat_tables(tables) if tables else None
            if doc is None and table is None:
                continue
            store.rebuild(kind, dedup_sorted(table, ("id",) if kind == "synapses" else (PRE, POST), PRE)
                          if table is not None else None, kept + records)
            sources = store.sources()
            result["rebuilt"][kind] = f"{0 if table is None else table.num_rows} rows, from {len(records)} download(s)"
        if doc is None and not result["rebuilt"]:
            store.rebuild("synapses", None, [])
            result["rebuilt"]["synapses"] = "0 rows (no downloads on disk)"
    return result


# -- import --------------------------------------------------------------------


def read_synapse_source(path_or_frame) -> tuple[pd.DataFrame, str]:
    """A frame from a DataFrame, a CSV/Parquet/Feather file, or a datacleaner folder, its
    root ids and synapse ids checked (:func:`check_synapse_ids`) file by file."""
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
    from .tables import frame_exact, read_csv_exact

    if path.suffix not in (".parquet", ".feather"):
        return check_synapse_ids(read_csv_exact(path), str(path), row_label="line", first_row=2)
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            from pyarrow import feather

            table = feather.read_table(path)
    except PermissionError as exc:
        from .layout import storage_error

        raise storage_error(exc, path, "reading") from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    return check_synapse_ids(frame_exact(table), str(path))


def check_synapse_ids(df: pd.DataFrame, origin: str, *, row_label: str = "row", first_row: int = 1,
                      use_index: bool = False) -> pd.DataFrame:
    """``df`` with ``pre_pt_root_id``, ``post_pt_root_id`` and ``id`` as int64, or a one-line
    :class:`DataError` naming ``origin``, the row and the column of the first bad value.

    Refused (never dropped): blank, non-integer, 0, negative and out-of-range (> 2**63-1,
    e.g. 2**64-1) root ids; blank, non-integer and negative synapse ids (negative ids are
    the synthetic ids of rows imported without one).
    """
    out = check_id_columns(df, origin, columns=[c for c in (PRE, POST) if c in df.columns], allow_zero=False,
                           blank="raise", row_label=row_label, first_row=first_row, use_index=use_index)
    if "id" in df.columns:
        try:
            out = check_id_columns(out, origin, columns=["id"], allow_zero=True, blank="raise",
                                   row_label=row_label, first_row=first_row, use_index=use_index)
        except DataError as exc:
            if "is negative" not in str(exc):
                raise
            raise DataError(f"{exc}; negative synapse ids are reserved for the synthetic ids of rows imported "
                            "without one: drop the id column to import such rows (their ids are recomputed)") from None
    return out


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


def synthetic_ids(df: pd.DataFrame) -> np.ndarray:
    """Stable negative ids for per-synapse rows that came without one (datacleaner CSVs):
    a hash of pre, post, size and position, so importing the same rows twice adds nothing."""
    cols = [PRE, POST, "size", *_VX]
    h = pd.util.hash_pandas_object(df[cols], index=False).to_numpy().astype(np.uint64)
    return -((h & np.uint64(0x7FFF_FFFF_FFFF_FFFF)).astype(np.int64)) - 1


def import_synapses(path_or_frame, layout: Layout, store: SynapseStore | None = None,
                    position_unit: str = "voxel") -> dict:
    """Merge existing synapse tables into the store; returns ``{kind, rows, origin}``.

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
    """
    if position_unit not in ("voxel", "nm"):
        raise DataError(f"position_unit must be 'voxel' or 'nm' (got {position_unit!r})")
    df, origin = read_synapse_source(path_or_frame)
    missing = [c for c in (PRE, POST, "size") if c not in df.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}; a synapse table needs pre_pt_root_id, post_pt_root_id and size")
    # root ids and synapse ids were read as int64 and checked by read_synapse_source
    store = store or store_for(layout)
    has_positions = _voxel_positions(df.iloc[:0]) is not None
    if "n_synapses" in df.columns:
        kind = "connections"
        agg = pd.DataFrame({PRE: df[PRE].astype(np.int64), POST: df[POST].astype(np.int64),
                            "n_synapses": pd.to_numeric(df["n_synapses"], errors="coerce"),
                            "size": _int_sizes(df["size"])})
        table = as_table(agg, "connections")
    elif "id" in df.columns or has_positions:
        kind = "synapses"
        vx = _voxel_positions(df)
        if vx is not None and position_unit == "nm":
            vx = vx / VOXEL_RESOLUTION_NM
        raw = pd.DataFrame({PRE: df[PRE].to_numpy(dtype=np.int64), POST: df[POST].to_numpy(dtype=np.int64),
                            "size": _int_sizes(df["size"])})
        if vx is not None:
            for i in range(3):
                raw[_VX[i]] = vx[:, i]
        raw.insert(0, "id", _int_column(df, "id") if "id" in df.columns else synthetic_ids(raw))
        table = synapse_rows(raw)
    elif df.duplicated([PRE, POST]).any():
        kind = "connections"  # single synapses without ids or positions: count them per pair
        table = aggregate_rows(df)
    else:
        kind = "connections"  # datacleaner's aggregated table: summed size, no count
        table = as_table(pd.DataFrame({PRE: df[PRE].astype(np.int64), POST: df[POST].astype(np.int64),
                                       "size": _int_sizes(df["size"])}), "connections")
    key_cols = ("id",) if kind == "synapses" else (PRE, POST)
    conflicts = count_conflicts(table, key_cols)  # the same id with different rows: the last one is kept
    if conflicts:
        log.info("%s: %d %s had conflicting rows (different values for the same id); kept the last of each",
                 origin, conflicts, "synapse ids" if kind == "synapses" else "pre/post pairs")
    deduped = dedup_sorted(table, key_cols, PRE)
    content = table_digest(deduped)
    store.merge(deduped, kind, source={"key": f"import:{content}", "kind": kind, "origin": origin, "rows": deduped.num_rows})
    log.info("imported %d %s rows from %s", deduped.num_rows, kind, origin)
    return {"kind": kind, "rows": deduped.num_rows, "origin": origin, "conflicting_ids": conflicts}


# -- queries -------------------------------------------------------------------


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
    pre = normalize_ids(pre_ids, "pre")
    post = normalize_ids(post_ids, "post")
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
    import pyarrow.compute as pc

    if pre is None and post is None:
        return store.read_all(kind)
    if pre is not None and (post is None or len(pre) <= len(post)):
        table, other_col, other = store.lookup(kind, "pre", pre), POST, post
    else:
        table, other_col, other = store.lookup(kind, "post", post), PRE, pre
    if other is not None:
        table = table.filter(pc.is_in(table.column(other_col), value_set=pa.array(other)))
    return table


def coverage(store: SynapseStore, pre_ids=None, post_ids=None) -> dict:
    """Which ids have *all* their synapses on that side in the store.

    A pre id is covered when a finished chunk of a download asked for its outputs onto any neuron
    (``post_ids=None``); likewise for post ids and inputs. Returns ``{"pre": {"covered": [...],
    "missing": [...]}, "post": {...}}`` for the sides given. Imports are not counted: what an
    imported table holds is not known.
    """
    complete = {"pre": set(), "post": set()}
    for source in store.sources():
        if source.get("origin") != "download":
            continue
        side = source["chunk_side"]
        other = "post" if side == "pre" else "pre"
        if source["requested"].get(other) != "all":
            continue
        try:
            manifest = read_json(store.root.parent / source["manifest"] / "manifest.json")
        except (FileNotFoundError, DataError):
            continue
        wanted = source.get("manifest_sha256")
        if wanted and hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest() != wanted:
            log.warning("%s is damaged: its chunks are not counted as covered (rerun that download)", source["manifest"])
            continue
        for i in source["chunks_done"]:
            complete[side].update(manifest["chunks"][i])
    out = {}
    for side, ids in (("pre", pre_ids), ("post", post_ids)):
        ids = normalize_ids(ids, side)
        if ids is not None:
            have = np.isin(ids, np.fromiter(complete[side], dtype=np.int64, count=len(complete[side])))
            out[side] = {"covered": ids[have].tolist(), "missing": ids[~have].tolist()}
    return out


# -- connectivity --------------------------------------------------------------


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
