"""Killing a synapse download at any moment and rerunning it ends with the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table

import napari_microns.core.synapses.store as synapses_store
from napari_microns import Dataset

TESTS = Path(__file__).parent

# The download, as a user's script would run it (argv: datadir, latency per request).
SCRIPT = """
import sys
sys.path[:0] = [{tests!r}, {here!r}]  # the support package, this test module
from support import FAST_RETRY
from support.fake_cave import FakeCAVE, synapse_table
from napari_microns import Dataset
from test_synapses_resume import TABLE_ARGS, REQUEST

fake = FakeCAVE(tables={{"synapses_pni_2": synapse_table(**TABLE_ARGS)}}, latency=float(sys.argv[2]))
ds = Dataset(sys.argv[1], version=1300, client=fake.client(1300), retry=FAST_RETRY)
with fake:
    ds.download_synapses(**REQUEST(ds))
print("finished")
"""

TABLE_ARGS = dict(n_neurons=60, n_synapses=6000, seed=7, hub_synapses=0)


def REQUEST(ds=None) -> dict:
    roots = np.unique(synapse_table(**TABLE_ARGS)["post_pt_root_id"])
    return dict(post_ids=roots, aggregate=False, workers=2, chunk_size=2)


def run_in_process(datadir: Path, fast_retry) -> Dataset:
    fake = FakeCAVE(tables={SYNAPSE_TABLE: synapse_table(**TABLE_ARGS)})
    ds = Dataset(datadir, version=1300, client=fake.client(1300), retry=fast_retry)
    with fake:
        ds.download_synapses(**REQUEST())
    return ds


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (hidden temporaries included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def chunks_done(datadir: Path) -> int:
    return len(list((datadir / "1300" / "synapses" / "downloads").glob("*/chunks/chunk_*.json")))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from support import FAST_RETRY

    datadir = tmp_path_factory.mktemp("uninterrupted")
    run_in_process(datadir, FAST_RETRY)
    return datadir


@pytest.mark.slow
def test_killed_download_process_reruns_to_the_same_store(tmp_path, uninterrupted, fast_retry):
    script = tmp_path / "download.py"
    script.write_text(SCRIPT.format(tests=str(TESTS.parent), here=str(TESTS)))
    datadir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(datadir), "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while chunks_done(datadir) < 6:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    landed = chunks_done(datadir)
    assert 6 <= landed < 30, "killed too late to test anything"
    assert not (datadir / "1300" / "synapses" / "store").exists()

    # rerun (here in-process, so the fake server can count what it is asked)
    fake = FakeCAVE(tables={SYNAPSE_TABLE: synapse_table(**TABLE_ARGS)})
    ds = Dataset(datadir, version=1300, client=fake.client(1300), retry=fast_retry)
    with fake:
        report = ds.download_synapses(**REQUEST())
    assert report.complete and report.chunks_resumed >= landed - 2  # a record may be mid-write
    assert len(fake.requests) == 30 - report.chunks_resumed

    want = tree(uninterrupted / "1300" / "synapses")
    got = tree(datadir / "1300" / "synapses")
    assert sorted(got) == sorted(want)
    assert {k for k in got if got[k] != want[k] and not k.endswith("report.json")} == set()


@pytest.mark.parametrize("compact, dies_at", [(False, 2), (True, 9)])
def test_killed_merge_reruns_to_the_same_store(tmp_path, uninterrupted, fast_retry, monkeypatch, compact, dies_at):
    """Interrupted between two store files: while writing a run, or while compacting into buckets
    (the engine's merge writes each bucket file through an Arrow ParquetWriter)."""
    real_write = synapses_store.pq.write_table
    real_writer = synapses_store.pq.ParquetWriter
    store_root = tmp_path / "1300" / "synapses" / "store"
    writes = {"n": 0}

    def counts(where) -> bool:
        """One more store file written; True when this one is to die half-way."""
        if isinstance(where, (str, os.PathLike)) and store_root in Path(where).parents:
            writes["n"] += 1
            if writes["n"] == dies_at:
                Path(where).write_bytes(b"half a file")
                return True
        return False

    def dies_in_the_store(table, where, **kwargs):
        if counts(where):
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the merge
        return real_write(table, where, **kwargs)

    class DyingWriter(real_writer):
        def __init__(self, where, *args, **kwargs):
            if counts(where):
                raise KeyboardInterrupt
            super().__init__(where, *args, **kwargs)

    if compact:
        monkeypatch.setattr(synapses_store, "RUN_MAX_ROWS", 0)
        monkeypatch.setattr(synapses_store.pq, "ParquetWriter", DyingWriter)
    monkeypatch.setattr(synapses_store.pq, "write_table", dies_in_the_store)
    with pytest.raises(KeyboardInterrupt):
        run_in_process(tmp_path, fast_retry)
    assert writes["n"] >= dies_at  # compaction writes a few bucket files at once
    monkeypatch.setattr(synapses_store.pq, "write_table", real_write)
    monkeypatch.setattr(synapses_store.pq, "ParquetWriter", real_writer)
    run_in_process(tmp_path, fast_retry)

    want = tree(uninterrupted / "1300" / "synapses")
    got = tree(tmp_path / "1300" / "synapses")
    if compact:  # compared with an uninterrupted compacting run
        reference = tmp_path.parent / f"{tmp_path.name}-reference"
        run_in_process(reference, fast_retry)
        want = tree(reference / "1300" / "synapses")
    assert sorted(got) == sorted(want)
    assert {k for k in got if got[k] != want[k] and not k.endswith("report.json")} == set()
