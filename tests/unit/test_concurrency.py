"""Several writers at once, through real processes: no row is lost, readers never see half a merge.

Each trial starts writer processes that import into one synapse store at the same moment
(a start file they all wait for), then checks rows in = rows stored. Small stores keep it fast.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import synapse_table

from napari_microns import Dataset

PRE, POST = "pre_pt_root_id", "post_pt_root_id"

# argv: datadir, parquet of rows to import, start file, mode ("import" or "compact")
WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
import napari_microns.core.synapses.store as store_module
from napari_microns import Dataset
if sys.argv[4] == "compact":
    store_module.RUN_MAX_ROWS = 0  # every merge rewrites the bucket files
start = Path(sys.argv[3])
while not start.exists():
    time.sleep(0.002)
ds = Dataset(sys.argv[1], version=1300)
rows = pd.read_parquet(sys.argv[2])
for part in range(4):  # several merges per writer, so the writers interleave
    ds.import_synapses(rows.iloc[part::4])
print("done")
"""


def synapse_rows(seed: int, n: int, id_base: int) -> pd.DataFrame:
    table = synapse_table(n_neurons=30, n_synapses=n, seed=seed)
    table["id"] = id_base + np.arange(len(table), dtype=np.int64)
    return table


def run_writers(tmp_path: Path, frames: list[pd.DataFrame], mode: str) -> list[subprocess.CompletedProcess]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    start = tmp_path / "start"
    procs = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"rows-{i}.parquet"
        frame.to_parquet(path)
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), str(path), str(start), mode],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    time.sleep(0.5)  # let every interpreter reach the start line
    start.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("writers, mode", [(2, "import"), (3, "import"), (2, "compact"), (3, "compact")])
def test_concurrent_writers_lose_no_row(tmp_path, writers, mode):
    # overlapping row sets: writer k shares half its rows with writer k+1
    base = synapse_rows(seed=11, n=4000 * writers, id_base=10**9)
    frames = [base.iloc[k * 4000: k * 4000 + 6000] for k in range(writers)]
    results = run_writers(tmp_path, frames, mode)
    for r in results:
        assert r.returncode == 0 and "done" in r.stdout, r.stderr[-2000:]
    ds = Dataset(tmp_path / "data", version=1300)
    want = pd.concat(frames).drop_duplicates("id")
    got = ds.synapses()
    assert len(got) == len(want)  # rows in = rows stored
    assert got["id"].tolist() == sorted(want["id"].tolist())
    assert ds.synapse_store.verify() == {"missing": [], "corrupt": []}
    assert len(ds.synapse_store.sources()) == 4 * writers  # every merge recorded
    # both copies agree: each neuron's inputs by post equal the by-pre rows onto it
    some = want[POST].unique()[:5]
    by_post = ds.synapses(post_ids=some)
    assert sorted(by_post["id"]) == sorted(want.loc[want[POST].isin(some), "id"])
    # no temporary file of any writer is left behind
    assert not [p for p in (tmp_path / "data").rglob("*.tmp")]


READER = """
import sys, time
from napari_microns import Dataset
ds = Dataset(sys.argv[1], version=1300)
ids = [int(x) for x in sys.argv[2].split(",")]
seen, deadline = [], time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    a = len(ds.synapses(post_ids=ids))
    b = len(ds.synapses(pre_ids=ids))
    seen.append((a, b))
print(len(seen), ";".join(f"{a},{b}" for a, b in seen))
"""


@pytest.mark.slow
def test_a_reader_never_sees_half_a_merge(tmp_path):
    """While a writer compacts merge after merge, a reader's answers only ever grow, and by
    whole merges: each answer equals the rows of some prefix of the merges."""
    rows = synapse_rows(seed=5, n=8000, id_base=2 * 10**9)
    ds = Dataset(tmp_path / "data", version=1300)
    ds.import_synapses(rows.iloc[:1000])  # the store exists before the reader starts
    watched = rows[POST].unique()[:6]
    parts = [rows.iloc[1000 + k * 700: 1000 + (k + 1) * 700] for k in range(10)]
    valid_post, valid_pre = set(), set()
    for k in range(len(parts) + 1):
        upto = pd.concat([rows.iloc[:1000], *parts[:k]])
        valid_post.add(int(upto[POST].isin(watched).sum()))
        valid_pre.add(int(upto[PRE].isin(watched).sum()))
    script = tmp_path / "reader.py"
    script.write_text(READER)
    reader = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), ",".join(map(str, watched)), "6"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    import napari_microns.core.synapses.store as store_module

    old = store_module.RUN_MAX_ROWS
    store_module.RUN_MAX_ROWS = 0
    try:
        for part in parts:
            ds.import_synapses(part)
    finally:
        store_module.RUN_MAX_ROWS = old
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-2000:]
    n, pairs = out.strip().split(" ", 1)
    answers = [tuple(map(int, p.split(","))) for p in pairs.split(";")]
    assert int(n) > 10
    bad = [(a, b) for a, b in answers if a not in valid_post or b not in valid_pre]
    assert not bad, (bad[:5], sorted(valid_post), sorted(valid_pre))
    assert [a for a, _ in answers] == sorted(a for a, _ in answers)


KILLED = """
import sys, os
import pandas as pd
import napari_microns.core.synapses.store as store_module
from napari_microns.core import layout
from napari_microns import Dataset
import napari_microns.core.synapses.engine as engine
store_module.RUN_MAX_ROWS = 0
real = engine.write_merged  # each bucket file of the merge (the engine's compaction)
def slow(*args, **kw):
    rows = real(*args, **kw)
    print("writing", flush=True)
    import time; time.sleep(0.3)
    return rows
engine.write_merged = slow
ds = Dataset(sys.argv[1], version=1300)
ds.import_synapses(pd.read_parquet(sys.argv[2]))
"""


@pytest.mark.slow
def test_sigkill_during_a_locked_merge_loses_nothing_committed(tmp_path):
    first = synapse_rows(seed=1, n=3000, id_base=3 * 10**9)
    second = synapse_rows(seed=2, n=3000, id_base=4 * 10**9)
    ds = Dataset(tmp_path / "data", version=1300)
    ds.import_synapses(first)
    (tmp_path / "second.parquet").write_bytes(b"")
    second.to_parquet(tmp_path / "second.parquet")
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), str(tmp_path / "second.parquet")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("writing")  # inside the merge, holding the lock
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the store is as before the killed merge: readable, verified, first rows only
    store = Dataset(tmp_path / "data", version=1300)
    assert sorted(store.synapses()["id"]) == sorted(first["id"])
    assert store.synapse_store.verify() == {"missing": [], "corrupt": []}
    # the lock died with the process: the next writer goes ahead and removes the dead one's leftovers
    store.import_synapses(second)
    assert len(store.synapses()) == len(first) + len(second)
    assert not [p for p in (tmp_path / "data").rglob("*.tmp")]
    named = {tmp_path / "data" / "1300" / "synapses" / "store" / rel for rel in store.synapse_store.index()["files"]}
    on_disk = set((tmp_path / "data" / "1300" / "synapses" / "store").rglob("*.parquet"))
    assert on_disk == named  # no orphaned file of the killed merge


def test_a_second_writer_waits_then_fails_in_one_line(tmp_path, monkeypatch):
    from filelock import FileLock

    from napari_microns.core import layout
    from napari_microns.core.errors import BusyError

    ds = Dataset(tmp_path, version=1300)
    root = ds.synapse_store.root
    root.mkdir(parents=True)
    held = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(30)"), str(root / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "held"
        monkeypatch.setattr(layout, "LOCK_TIMEOUT", 0.3)
        with pytest.raises(BusyError) as err:
            ds.import_synapses(synapse_rows(seed=3, n=100, id_base=10**9))
        assert "another napari-microns process is writing the synapse store" in str(err.value)
        assert "\n" not in str(err.value)
    finally:
        held.kill()
        held.wait()
    assert isinstance(FileLock, type)
    ds.import_synapses(synapse_rows(seed=3, n=100, id_base=10**9))  # free again
    assert len(ds.synapses()) == 100


def test_files_follow_the_umask_and_secrets_do_not_matter_here(tmp_path):
    """Data files are 0666 less the umask (0644 under 022), folders 0777 less it; not 0600."""
    old = os.umask(0o022)
    try:
        ds = Dataset(tmp_path, version=1300)
        ds.import_synapses(synapse_rows(seed=4, n=200, id_base=10**9))
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "1300").rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    for p in [p for p in (tmp_path / "1300").rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o755, p
