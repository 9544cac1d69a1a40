"""One download's folder: its ``manifest.json`` (the plan) and a data file and a record per chunk.

    <datadir>/<version>/synapses/downloads/<key>/manifest.json        the plan: parameters and chunk ids
    <datadir>/<version>/synapses/downloads/<key>/chunks/chunk_NNNNN.parquet
    <datadir>/<version>/synapses/downloads/<key>/chunks/chunk_NNNNN.json   state, rows, sha256

A chunk counts as done only when its record says so *and* its file still has the recorded
checksum; anything else is fetched again. Files are written atomically (data first, record
second), so a killed run leaves nothing half-done behind.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..layout import Layout, atomic_write_bytes, atomic_write_json, file_sha256, read_json, remove_stale_temporaries
from .plan import DownloadPlan
from .schema import KINDS, POST, PRE

log = logging.getLogger(__name__)


def downloads_dir(layout: Layout) -> Path:
    return layout.synapses_dir / "downloads"


class Manifest:
    """One download's folder: ``manifest.json`` plus a data file and a record per chunk."""

    def __init__(self, folder: Path, plan: DownloadPlan):
        self.folder = folder
        self.plan = plan

    @classmethod
    def open(cls, layout: Layout, plan: DownloadPlan) -> "Manifest":
        """The download folder of ``plan`` (call it holding the folder's :func:`write_lock`).

        ``manifest.json`` is derived from the request alone, so one that differs from it
        (a flipped bit, a truncated write) is written again; the chunks keep their own checksums.
        """
        folder = downloads_dir(layout) / plan.key
        path = folder / "manifest.json"
        try:
            stored = read_json(path)
        except (FileNotFoundError, DataError):
            stored = None
        wanted = plan.as_dict()
        if stored != wanted:
            if stored is not None:
                log.warning("%s did not match its request (damaged); writing it again", path)
            atomic_write_json(path, wanted)
        if (folder / "chunks").exists():
            remove_stale_temporaries(folder / "chunks")
        return cls(folder, plan)

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
                        index, self.plan.key, path)
            return False, True
        return True, False

    def write_chunk(self, index: int, table: pa.Table, queries: int) -> int:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", use_dictionary=[PRE, POST])
        data = sink.getvalue().to_pybytes()
        atomic_write_bytes(self.data_path(index), data)
        atomic_write_json(self.record_path(index), {
            "state": "done", "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest(), "queries": queries,
            "first_id": self.plan.chunks[index][0], "last_id": self.plan.chunks[index][-1],
        })
        return table.num_rows

    def write_failure(self, index: int, error: str) -> None:
        atomic_write_json(self.record_path(index), {
            "state": "failed", "error": error,
            "first_id": self.plan.chunks[index][0], "last_id": self.plan.chunks[index][-1],
        })

    def read_chunk(self, index: int) -> pa.Table:
        return pq.read_table(self.data_path(index), schema=KINDS[self.plan.kind][0])

    def source_record(self, done: list[int]) -> dict:
        """The store's record of this download merged with chunks ``done`` (what
        :func:`~.query.coverage` and the repair read)."""
        plan = self.plan
        return {
            "key": f"download:{plan.key}", "kind": plan.kind,
            "origin": "download", "manifest": f"downloads/{plan.key}",
            "manifest_sha256": plan.digest(),
            "chunk_side": plan.chunk_side, "requested": plan.requested,
            "chunks_done": list(done), "chunks_total": len(plan.chunks),
        }
