"""The resumable concurrent download of a :class:`~.plan.DownloadPlan`, merged into the store.

Chunks are fetched by a pool of workers (:class:`~.fetch.ChunkFetcher`) and written to the
download's folder (:class:`~.manifest.Manifest`); a rerun of the same plan skips the chunks
already done. Killing the process at any moment and rerunning ends with the same store as
an uninterrupted run. Finished chunks are merged into the :class:`~.store.SynapseStore`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from ..errors import AuthError, DataError, IncompleteError, NotFoundError, ServiceError, VersionError
from ..layout import LOCK_NAME, Layout, atomic_write_json, write_lock
from ..session import DEFAULT_RETRY, RetryPolicy
from ..transform import voxels_to_um
from .fetch import ChunkFetcher
from .manifest import Manifest, downloads_dir
from .plan import DownloadPlan
from .schema import empty_table
from .staging import grouped
from . import store as store_module
from .store import SynapseStore, store_for

log = logging.getLogger(__name__)

#: chunks fetched in this run up to this many rows are merged from memory, not read back
KEEP_IN_MEMORY_ROWS = 5_000_000
#: errors every other chunk would meet too: stop at once instead of failing each chunk
_FATAL = (AuthError, NotFoundError, VersionError)

ProgressFn = Callable[[int, int, int], None]


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


def download_synapses(
    client,
    layout: Layout,
    plan: DownloadPlan,
    *,
    workers: int = 4,
    progress: ProgressFn | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    page_limit: int | None = None,
    store: SynapseStore | None = None,
) -> DownloadReport:
    """Download (or resume) the synapses of ``plan`` and merge them into ``store``.

    ``client`` may be a CAVEclient or a zero-argument callable returning one
    (called only when some chunk must be fetched, so a finished download
    reruns offline). ``workers`` chunks are fetched at once, each query with the
    retries of ``policy`` and at most ``page_limit`` rows per answer.
    ``progress(chunks_done, chunks_total, rows)`` is called once at the start and
    after every chunk. Raises :class:`IncompleteError` at the end if any chunk still
    failed after retries; every finished chunk is kept and merged first.
    """
    if int(workers) < 1:
        raise DataError(f"workers must be at least 1 (got {workers})")
    if int(plan.version) != int(layout.version):
        raise DataError(f"the download plan is for version {plan.version}, the data folder for {layout.version}")
    started = time.monotonic()
    folder = downloads_dir(layout) / plan.key
    with write_lock(folder / LOCK_NAME, f"the synapse download {folder}"):
        manifest = Manifest.open(layout, plan)
        return _Download(manifest, store or store_for(layout), progress).run(
            client, started, workers=int(workers), policy=policy, page_limit=page_limit)


class _Download:
    """One run of a download, holding its folder's lock: resume, fetch, merge, report."""

    def __init__(self, manifest: Manifest, store: SynapseStore, progress: ProgressFn | None):
        self.manifest = manifest
        self.plan = manifest.plan
        self.store = store
        self.progress = progress
        self.report = DownloadReport(key=self.plan.key, folder=manifest.folder, aggregate=self.plan.aggregate,
                                     chunk_side=self.plan.chunk_side, chunks_total=len(self.plan.chunks))
        self.done: set[int] = set()
        self.failures: dict[int, str] = {}
        self.kept: dict[int, pa.Table] = {}  # small results of this run, merged without reading them back

    def run(self, client, started: float, *, workers: int, policy: RetryPolicy, page_limit: int | None) -> DownloadReport:
        plan, report, chunks = self.plan, self.report, self.plan.chunks
        todo = self._resume()
        if todo:
            cave = client() if callable(client) and not hasattr(client, "materialize") else client
            if not plan.aggregate:
                voxels_to_um(np.zeros((1, 3)))  # load the transform once, not in every worker at the same time
            self._fetch(ChunkFetcher(cave, plan, policy, page_limit), todo, workers)
        report.chunks_done = len(self.done)
        covered = [np.asarray(chunks[i], dtype=np.int64) for i in sorted(self.done)]
        report.covered_ids = np.concatenate(covered) if covered else np.empty(0, dtype=np.int64)
        missing = [np.asarray(chunks[i], dtype=np.int64) for i in sorted(self.failures)]
        report.missing_ids = np.concatenate(missing) if missing else np.empty(0, dtype=np.int64)
        report.failed = [
            {"chunk": i, "side": plan.chunk_side, "first_id": chunks[i][0], "last_id": chunks[i][-1],
             "n_ids": len(chunks[i]), "error": self.failures[i]}
            for i in sorted(self.failures)
        ]
        merge_started = time.monotonic()
        merge_download(self.manifest, sorted(self.done), self.store, self.kept)
        report.merge_seconds = time.monotonic() - merge_started
        report.seconds = time.monotonic() - started
        atomic_write_json(self.manifest.folder / "report.json", report.as_dict())
        if report.failed:
            ranges = ", ".join(f"{f['first_id']}..{f['last_id']}" for f in report.failed[:3])
            more = f" and {len(report.failed) - 3} more" if len(report.failed) > 3 else ""
            raise IncompleteError(
                f"synapse download incomplete: {len(report.failed)} of {len(chunks)} chunks failed "
                f"({plan.chunk_side} ids {ranges}{more}; last error: {report.failed[-1]['error']}); "
                f"the {report.chunks_done} finished chunks were kept; rerun the same request to fetch the rest",
                report=report,
            )
        return report

    def _resume(self) -> list[int]:
        """The chunks still to fetch; the ones done (with intact files) are counted as resumed."""
        todo: list[int] = []
        for i in range(len(self.plan.chunks)):
            ok, corrupt = self.manifest.is_done(i)
            if ok:
                self.done.add(i)
                self.report.rows += int(self.manifest.record(i)["rows"])
            else:
                todo.append(i)
                self.report.chunks_refetched_corrupt += int(corrupt)
        self.report.chunks_resumed = len(self.done)
        if self.done:
            log.info("download %s: resuming, %d of %d chunks already done",
                     self.plan.key, len(self.done), len(self.plan.chunks))
        self._tick()
        return todo

    def _tick(self) -> None:
        if self.progress:
            self.progress(len(self.done), len(self.plan.chunks), self.report.rows)

    def _fetch(self, fetcher: ChunkFetcher, todo: list[int], workers: int) -> None:
        """Fetch ``todo`` with ``workers`` threads; a chunk that fails is recorded and the rest go on.
        An error every chunk would meet (:data:`_FATAL`) stops the run, after merging what is done."""
        lock = threading.Lock()
        kept_rows = [0]

        def run(i: int) -> int:
            rows, queries = fetcher.fetch(i, self.plan.chunks[i])
            n = self.manifest.write_chunk(i, rows, queries)
            with lock:  # keep small results for the merge instead of reading them back
                if kept_rows[0] + n <= KEEP_IN_MEMORY_ROWS:
                    self.kept[i] = rows
                    kept_rows[0] += n
            return n

        fatal: BaseException | None = None
        queue = iter(todo)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synapses") as pool:
            # at most `workers` chunks in flight: a fatal error stops the run after those, however
            # late this thread gets to see it (all submitted at once, idle workers went on asking)
            running = {pool.submit(run, i): i for i in itertools.islice(queue, workers)}
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
                            self.failures[i] = str(exc)
                            self.manifest.write_failure(i, str(exc))
                            log.warning("chunk %d failed: %s", i, exc)
                            continue
                        with lock:
                            self.done.add(i)
                            self.report.rows += n
                        self._tick()
                    if fatal is None:
                        running.update({pool.submit(run, i): i for i in itertools.islice(queue, len(finished))})
            except BaseException:
                # Ctrl-C or an unexpected error: do not start the queued chunks; finished ones are kept
                for fut in running:
                    fut.cancel()
                raise
        if fatal is not None:
            # finished chunks are on disk; merge them so the work is not lost, then stop
            merge_download(self.manifest, sorted(self.done), self.store, self.kept)
            raise fatal


def merge_download(manifest: Manifest, done: list[int], store: SynapseStore, kept: dict | None = None) -> None:
    """Merge the finished chunks, with the source record in the same commit.

    A small download becomes one run (:meth:`SynapseStore.merge`); a large one is streamed
    chunk by chunk into the engine's staged merge (bounded memory), resumable under a key of
    the download and its finished chunks."""
    kind = manifest.plan.kind
    rows = sum(int((manifest.record(i) or {}).get("rows", 0)) for i in done)
    source = manifest.source_record(done)

    def chunk(i: int) -> pa.Table:
        t = (kept or {}).get(i)
        return manifest.read_chunk(i) if t is None else t

    if rows < store_module.RUN_MAX_ROWS:  # (read at call time: tests make it small)
        tables = [chunk(i) for i in done]
        store.merge(pa.concat_tables(tables) if tables else empty_table(kind), kind, source=source)
        return

    digest = hashlib.sha256(json.dumps(done).encode()).hexdigest()[:12]
    store.merge_batches(grouped((chunk(i) for i in done), store_module.STAGE_BATCH_ROWS), kind, source=source, key=f"download-{manifest.plan.key}-{digest}")
