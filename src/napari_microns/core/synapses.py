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
from .layout import Layout, atomic_write_bytes, atomic_write_json, read_json
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
    """None (any neuron) or the sorted unique root ids; a clear error for anything else."""
    if ids is None or (isinstance(ids, str) and ids.strip().lower() == "all"):
        return None
    if isinstance(ids, (int, np.integer)):
        ids = [ids]
    try:
        arr = pd.to_numeric(pd.Series(list(ids)), errors="raise")
    except (TypeError, ValueError) as exc:
        raise DataError(f"{side} ids must be integer root ids ({exc})") from None
    if arr.isna().any() or not np.all(np.mod(arr.to_numpy(dtype=float), 1) == 0):
        raise DataError(f"{side} ids must be integer root ids (got missing or fractional values)")
    if arr.dtype.kind == "f" and (arr.abs() > 2**53).any():
        raise DataError(f"{side} ids came as floating point numbers, which cannot hold 18-digit root ids "
                        "exactly; pass integers (e.g. read the CSV with dtype={'pt_root_id': 'int64'})")
    out = np.unique(arr.to_numpy().astype(np.int64))
    if len(out) == 0:
        raise DataError(f"no {side} ids given; pass root ids, or None for any neuron")
    if (out <= 0).any():
        raise DataError(f"{side} ids must be positive root ids (got {int(out[out <= 0][0])})")
    return out


def parse_ids_argument(text: str, option: str = "ids") -> np.ndarray | None:
    """A command-line IDS value: ``all``, a comma list, or a file of ids (commas, spaces or
    lines; ``#`` starts a comment). None means any neuron."""
    text = str(text).strip()
    if text.lower() == "all":
        return None
    path = Path(text).expanduser()
    looks_like_ids = all(part.strip().isdigit() for part in text.split(",") if part.strip())
    if not looks_like_ids:
        if not path.is_file():
            raise DataError(f"{option}: {text!r} is neither 'all', a comma list of root ids, nor a file of ids")
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        text = " ".join(lines)
    tokens = [t for t in text.replace(",", " ").split() if t]
    bad = [t for t in tokens if not t.isdigit()]
    if bad:
        raise DataError(f"{option}: {bad[0]!r} is not a root id (expected integers)")
    if not tokens:
        raise DataError(f"{option}: no root ids in {text!r}")
    return np.unique(np.array([int(t) for t in tokens], dtype=np.int64))


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


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed process left behind (never renamed into place: not data)."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    """One download's folder: ``manifest.json`` plus a data file and a record per chunk."""

    def __init__(self, folder: Path, spec: dict):
        self.folder = folder
        self.spec = spec

    @classmethod
    def open(cls, layout: Layout, spec: dict) -> "Manifest":
        folder = downloads_dir(layout) / spec["key"]
        path = folder / "manifest.json"
        if path.exists():
            stored = read_json(path)
            if stored.get("chunks") != spec["chunks"] or stored.get("other_side_ids") != spec["other_side_ids"]:
                raise DataError(f"{path} does not match its request; delete {folder} and rerun")
        else:
            atomic_write_json(path, spec)
        _remove_stale_temporaries(folder / "chunks")
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
        if _sha256(path) != rec.get("sha256"):
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
    try:
        return raw[col].to_numpy(dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"column {col} must hold integer ids (found missing or non-numeric values)") from None


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
            _merge_download(manifest, sorted(done), store or store_for(layout), kept)
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
    _merge_download(manifest, sorted(done), store or store_for(layout), kept)
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


def _merge_download(manifest: Manifest, done: list[int], store: SynapseStore, kept: dict | None = None) -> None:
    kind = "connections" if manifest.spec["aggregate"] else "synapses"
    batch: list[pa.Table] = []
    n = 0
    for i in done:
        t = (kept or {}).get(i)
        t = manifest.read_chunk(i) if t is None else t
        batch.append(t)
        n += t.num_rows
        if n >= MERGE_BATCH_ROWS:
            store.merge(pa.concat_tables(batch), kind)
            batch, n = [], 0
    if batch:
        store.merge(pa.concat_tables(batch), kind)
    spec = manifest.spec
    store.add_source({
        "key": f"download:{spec['key']}", "kind": kind, "origin": "download",
        "manifest": str(manifest.folder.relative_to(store.root.parent)),
        "chunk_side": spec["chunk_side"], "requested": spec["requested"],
        "chunks_done": list(done), "chunks_total": len(spec["chunks"]),
    })


# -- import --------------------------------------------------------------------


def read_synapse_source(path_or_frame) -> tuple[pd.DataFrame, str]:
    """A frame from a DataFrame, a CSV/Parquet/Feather file, or a datacleaner folder."""
    if isinstance(path_or_frame, pd.DataFrame):
        return path_or_frame, "DataFrame"
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
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".feather":
            return pd.read_feather(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None


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
    for col in (PRE, POST):
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            raise DataError(f"{origin}: column {col} has missing or non-numeric root ids")
        if values.dtype.kind == "f" and (values.abs() > 2**53).any():
            raise DataError(f"{origin}: column {col} holds root ids as floating point numbers, which cannot "
                            "hold 18 digits exactly; read it as int64")
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
    deduped = dedup_sorted(table, key_cols, PRE)
    store.merge(deduped, kind)
    content = table_digest(deduped)
    store.add_source({"key": f"import:{content}", "kind": kind, "origin": origin, "rows": deduped.num_rows})
    log.info("imported %d %s rows from %s", deduped.num_rows, kind, origin)
    return {"kind": kind, "rows": deduped.num_rows, "origin": origin}


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
        ids = normalize_ids(root_ids, "root") if not isinstance(root_ids, (list, tuple, np.ndarray, pd.Series, pd.Index)) \
            else pd.unique(np.asarray(root_ids, dtype=np.int64))
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
