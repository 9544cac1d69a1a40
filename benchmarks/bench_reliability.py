"""Benchmark: what checksums and locks cost, before and after, side by side in one run.

The issue's budget: checksums and locks may cost at most 5% of ``process``, import and
single-neuron query time. "Before" is the code before they existed (git revision
``764bed6``, extracted with ``git archive`` into a temporary folder); "after" is this
checkout. Each is run in its own process (``PYTHONPATH`` picks the code), alternating
before/after for ``--rounds`` rounds on the same synthetic inputs:

* ``process``: 96,000 nuclei from parquet raw tables (as bench_process.py), median of 5;
* import: 2,000,000 synapses into an empty store (``Dataset.import_synapses``), median of 3;
* query: one neuron's synapses by pre and by post from a 5,000,000-synapse store, median of
  300 warm queries, and the first query of a fresh process (which verifies the files it opens);
* peak RSS of each process.

    python benchmarks/bench_reliability.py [--rounds 2] [--baseline-rev 764bed6]
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

WORKLOAD = r"""
import json, os, resource, statistics, sys, time, shutil
from pathlib import Path
import numpy as np
sys.path.insert(0, {bench!r})
import napari_microns
from napari_microns import Dataset
from napari_microns.core.layout import Layout
from napari_microns.sample.tables import write_raw_tables
from bench_process import full_scale_tables
from bench_synapses_query import generate

work = Path(sys.argv[1]); work.mkdir(parents=True, exist_ok=True)
out = {{"code": str(Path(napari_microns.__file__).parent)}}

# process
ds = Dataset(work / "process", version=1300)
write_raw_tables(Layout(ds.datadir, 1300), full_scale_tables())
ds.process()
times = []
for _ in range(5):
    t = time.perf_counter(); ds.process(); times.append(time.perf_counter() - t)
out["process_s"] = statistics.median(times)

# import
rows = generate(2_000_000, 40_000, seed=1)
times = []
for i in range(3):
    target = work / f"import-{{i}}"
    t = time.perf_counter(); Dataset(target, version=1300).import_synapses(rows); times.append(time.perf_counter() - t)
    shutil.rmtree(target)
out["import_s"] = statistics.median(times)

# query
big = generate(5_000_000, 100_000, seed=2)
store = Dataset(work / "query", version=1300)
store.import_synapses(big)
neurons = np.random.default_rng(3).choice(np.unique(big["post_pt_root_id"]), 300, replace=False)
del big
fresh = Dataset(work / "query", version=1300)
t = time.perf_counter(); fresh.synapses(post_ids=[int(neurons[0])]); out["first_query_ms"] = (time.perf_counter() - t) * 1e3
for side in ("pre", "post"):
    samples = []
    for n in neurons:
        t = time.perf_counter(); fresh.synapses(**{{f"{{side}}_ids": [int(n)]}}); samples.append(time.perf_counter() - t)
    out[f"query_{{side}}_ms"] = statistics.median(samples) * 1e3
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def extract(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run(src: Path, work: Path, script: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, str(script), str(work)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-rev", default="764bed6")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        tmp = Path(tmp)
        before_src = extract(args.baseline_rev, tmp / "before")
        script = tmp / "workload.py"
        script.write_text(WORKLOAD.format(bench=str(HERE)))
        results: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for name, src in (("before", before_src), ("after", REPO / "src")):
                got = run(src, tmp / f"{name}-{r}", script)
                assert Path(got["code"]).resolve().is_relative_to(src.resolve()), got["code"]
                results[name].append(got)
                print(f"round {r + 1} {name:>6}: " + ", ".join(f"{k} {v:.4g}" for k, v in got.items() if k != "code"),
                      flush=True)
    print(f"\nmedians over {args.rounds} rounds (before = {args.baseline_rev}, after = this checkout)")
    print(f"{'measure':<18}{'before':>12}{'after':>12}{'after/before':>14}")
    for key in ("process_s", "import_s", "query_pre_ms", "query_post_ms", "first_query_ms", "peak_rss_mb"):
        b = statistics.median(x[key] for x in results["before"])
        a = statistics.median(x[key] for x in results["after"])
        print(f"{key:<18}{b:>12.4g}{a:>12.4g}{a / b:>13.3f}x")


if __name__ == "__main__":
    main()
