"""Benchmark: what checksums and locks cost, before and after, side by side in one run.

The issue's budget: checksums and locks may cost at most 5% of ``process``, import and
single-neuron query time. "Before" is the code before they existed (git revision
``764bed6``, extracted with ``git archive`` into a temporary folder); "after" is this
checkout. The inputs are written once (by this checkout) and both read the same files.

This machine is noisy (a shared 2-core VM: the same run drifts by 10-20% over minutes), so
the two versions run side by side in two long-lived worker processes (``PYTHONPATH`` picks
the code) and the parent alternates single measurements between them, swapping which goes
first each time. Each pair is measured under the same conditions; the figure that counts is
the median of the per-pair ratios after/before.

* ``process``: 96,000 nuclei from parquet raw tables (as bench_process.py), ``--pairs`` pairs;
* import: 2,000,000 synapses into an empty store (``Dataset.import_synapses``), 5 pairs;
* query: one neuron's synapses by pre and by post from a 5,000,000-synapse store, 9 pairs of
  the median of 60 warm queries; and the first query of a fresh process (which verifies the
  parts of the files it reads), 9 pairs of fresh processes;
* peak RSS of each worker.

    python benchmarks/bench_reliability.py [--pairs 21] [--baseline-rev 764bed6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: The inputs, made once by this checkout's code (so both versions read the same files).
PREPARE = r"""
import sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from napari_microns.core.layout import Layout
from napari_microns.sample.tables import write_raw_tables
from bench_process import full_scale_tables
from bench_synapses_query import generate

inputs = Path(sys.argv[1])
write_raw_tables(Layout(inputs / "process", 1300), full_scale_tables())
generate(2_000_000, 40_000, seed=1).to_parquet(inputs / "import.parquet")
generate(5_000_000, 100_000, seed=2).to_parquet(inputs / "query.parquet")
"""

#: One version's worker: measures what the parent asks for, one line of JSON per answer.
WORKER = r"""
import json, resource, shutil, statistics, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import napari_microns
from napari_microns import Dataset

inputs, work = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(inputs / "process", work / "process")
ds = Dataset(work / "process", version=1300)
ds.process()
rows = pd.read_parquet(inputs / "import.parquet")
big = pd.read_parquet(inputs / "query.parquet")
Dataset(work / "query", version=1300).import_synapses(big)
neurons = np.random.default_rng(3).choice(np.unique(big["post_pt_root_id"]), 60, replace=False)
del big
store = Dataset(work / "query", version=1300)
print(json.dumps({"code": str(Path(napari_microns.__file__).parent), "neuron": int(neurons[0])}), flush=True)
imports = 0
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "process":
        t = time.perf_counter(); ds.process(); out = time.perf_counter() - t
    elif cmd == "import":
        imports += 1
        target = work / f"import-{imports}"
        t = time.perf_counter(); Dataset(target, version=1300).import_synapses(rows); out = time.perf_counter() - t
        shutil.rmtree(target)
    elif cmd in ("pre", "post"):
        samples = []
        for n in neurons:
            t = time.perf_counter(); store.synapses(**{cmd + "_ids": [int(n)]}); samples.append(time.perf_counter() - t)
        out = statistics.median(samples) * 1e3
    elif cmd == "rss":
        out = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        break
    print(json.dumps(out), flush=True)
"""

#: The first query of a fresh process (its modules imported first: import time is not the store's).
FIRST_QUERY = r"""
import json, sys, time
import napari_microns.core.synapses
from napari_microns import Dataset
ds = Dataset(sys.argv[1], version=1300)
t = time.perf_counter(); ds.synapses(post_ids=[int(sys.argv[2])]); print(json.dumps((time.perf_counter() - t) * 1e3))
"""


def extract(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


class Worker:
    """One version's worker process."""

    def __init__(self, src: Path, script: Path, inputs: Path, work: Path):
        env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
        self.proc = subprocess.Popen([sys.executable, str(script), str(inputs), str(work)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.src, self.work = src, work
        self.hello = self._answer()
        assert Path(self.hello["code"]).resolve().is_relative_to(src.resolve()), self.hello["code"]

    def _answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the worker for {self.src} stopped")
        return json.loads(line)

    def ask(self, cmd: str) -> float:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def first_query(self, script: Path) -> float:
        env = {**os.environ, "PYTHONPATH": str(self.src), "TQDM_DISABLE": "1"}
        done = subprocess.run([sys.executable, str(script), str(self.work / "query"), str(self.hello["neuron"])],
                              env=env, capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.close()
        self.proc.wait()


def pairs(before: Worker, after: Worker, measure, n: int) -> tuple[list[float], list[float]]:
    """``n`` pairs of measurements, alternating which version goes first."""
    b, a = [], []
    for i in range(n):
        order = ((before, b), (after, a)) if i % 2 == 0 else ((after, a), (before, b))
        for worker, out in order:
            out.append(measure(worker))
    return b, a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--baseline-rev", default="764bed6")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        tmp = Path(tmp)
        before_src = extract(args.baseline_rev, tmp / "before")
        prepare, worker, first = tmp / "prepare.py", tmp / "worker.py", tmp / "first.py"
        prepare.write_text(PREPARE.format(bench=str(HERE)))
        worker.write_text(WORKER)
        first.write_text(FIRST_QUERY)
        inputs = tmp / "inputs"
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TQDM_DISABLE": "1"}
        subprocess.run([sys.executable, str(prepare), str(inputs)], env=env, check=True)
        before = Worker(before_src, worker, inputs, tmp / "work-before")
        after = Worker(REPO / "src", worker, inputs, tmp / "work-after")
        rows = []
        for name, measure, n in (
            ("process_s", lambda w: w.ask("process"), args.pairs),
            ("import_s", lambda w: w.ask("import"), 5),
            ("query_pre_ms", lambda w: w.ask("pre"), 9),
            ("query_post_ms", lambda w: w.ask("post"), 9),
            ("first_query_ms", lambda w: w.first_query(first), 9),
        ):
            b, a = pairs(before, after, measure, n)
            ratio = statistics.median(x / y for x, y in zip(a, b))
            rows.append((name, statistics.median(b), statistics.median(a), ratio))
            print(f"{name}: before {[round(x, 4) for x in b]}\n{'':>{len(name) + 2}}after  {[round(x, 4) for x in a]}",
                  flush=True)
        rows.append(("peak_rss_mb", before.ask("rss"), after.ask("rss"), None))
        before.close()
        after.close()
    print(f"\nbefore = {args.baseline_rev}, after = this checkout; ratio = median of the per-pair ratios")
    print(f"{'measure':<18}{'before':>12}{'after':>12}{'after/before':>14}")
    for name, b, a, ratio in rows:
        print(f"{name:<18}{b:>12.4g}{a:>12.4g}{(ratio if ratio is not None else a / b):>13.3f}x")


if __name__ == "__main__":
    main()
