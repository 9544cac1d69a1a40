"""Benchmark: all synapses of one neuron, by pre or by post, from a 20-million-synapse store.

Baseline (the seed notebooks' way, measured in the same run): load the whole
synapse table, then filter it with ``np.isin``. The whole table is loaded
from one Parquet file, the fastest format for it (the notebooks read a CSV,
which is slower still), so the ratio printed here is conservative.

The synthetic store (100,000 neurons with MICrONS-like root ids, skewed
degrees) is generated once through ``Dataset.import_synapses`` and cached in
``$NAPARI_MICRONS_BENCH`` (default ``/tmp/napari-microns-bench``); never in
the repository.

    python benchmarks/bench_synapses_query.py [--synapses 20000000] [--neurons 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_microns import Dataset
from napari_microns.core.synapses import N_BUCKETS, POST, PRE, STORE_FORMAT

ROOT_BASE = 864691135_000_000_000


def generate(n_synapses: int, n_neurons: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    roots = np.sort(ROOT_BASE + rng.choice(2 * 10**9, size=n_neurons, replace=False)).astype(np.int64)
    # skewed degrees: a few hubs, many sparse cells (lognormal, as in the real data)
    p_out = rng.lognormal(0.0, 1.0, n_neurons)
    p_in = rng.lognormal(0.0, 1.0, n_neurons)
    pre = roots[rng.choice(n_neurons, size=n_synapses, p=p_out / p_out.sum())]
    post = roots[rng.choice(n_neurons, size=n_synapses, p=p_in / p_in.sum())]
    ids = 150_000_000 + np.cumsum(rng.integers(1, 16, n_synapses))
    rng.shuffle(ids)
    frame = pd.DataFrame({
        "id": ids.astype(np.int64), PRE: pre, POST: post,
        "size": np.rint(rng.lognormal(8.0, 0.9, n_synapses)).astype(np.int64),
        "ctr_pt_position_vx_x": rng.uniform(70_000, 360_000, n_synapses).round(),
        "ctr_pt_position_vx_y": rng.uniform(60_000, 270_000, n_synapses).round(),
        "ctr_pt_position_vx_z": rng.uniform(14_000, 27_000, n_synapses).round(),
    })
    return frame


def build(cache: Path, n_synapses: int, n_neurons: int) -> tuple[Path, Path]:
    tag = f"{n_synapses}x{n_neurons}-format{STORE_FORMAT}-{N_BUCKETS}buckets"
    datadir, whole = cache / f"store-{tag}", cache / f"whole-{tag}.parquet"
    done = cache / f"done-{tag}"
    if done.exists():
        print(f"using the cached store in {datadir}")
        return datadir, whole
    shutil.rmtree(datadir, ignore_errors=True)
    t0 = time.perf_counter()
    frame = generate(n_synapses, n_neurons)
    print(f"generated {len(frame):,} synapses in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    Dataset(datadir, version=1300).import_synapses(frame)
    print(f"built the store (import_synapses) in {time.perf_counter() - t0:.1f} s")
    # the baseline's single table, with the same columns as the store
    Dataset(datadir, version=1300).synapses().to_parquet(whole, index=False)
    done.touch()
    return datadir, whole


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=int, default=20_000_000)
    parser.add_argument("--neurons", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40, help="neurons looked up per side")
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NAPARI_MICRONS_BENCH", "/tmp/napari-microns-bench")))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    datadir, whole = build(args.cache, args.synapses, args.neurons)

    ds = Dataset(datadir, version=1300)  # a fresh object: the first lookups read the file footers
    sample = pd.read_parquet(whole, columns=[PRE, POST]).sample(args.queries, random_state=1)
    neurons = {"pre": sample[PRE].to_numpy(), "post": sample[POST].to_numpy()}

    store_times: dict[str, list[float]] = {"pre": [], "post": []}
    sizes: dict[str, list[int]] = {"pre": [], "post": []}
    first_call = None
    for side in ("pre", "post"):
        for root in neurons[side]:
            t0 = time.perf_counter()
            got = ds.synapses(**{f"{side}_ids": [int(root)]})
            dt = time.perf_counter() - t0
            first_call = dt if first_call is None else first_call
            store_times[side].append(dt)
            sizes[side].append(len(got))

    base_times: list[float] = []
    isin_times: list[float] = []
    checked = 0
    for run in range(args.baseline_runs):
        side = "pre" if run % 2 == 0 else "post"
        root = int(neurons[side][run % len(neurons[side])])
        col = PRE if side == "pre" else POST
        t0 = time.perf_counter()
        table = pd.read_parquet(whole)
        t1 = time.perf_counter()
        base = table[np.isin(table[col].to_numpy(), [root])]
        t2 = time.perf_counter()
        base_times.append(t2 - t0)
        isin_times.append(t2 - t1)
        ours = ds.synapses(**{f"{side}_ids": [root]})
        assert sorted(ours["id"]) == sorted(base["id"]), "store and baseline disagree"
        checked += 1
        del table, base

    n_rows = ds.synapse_store.count("synapses")
    print(f"store: {n_rows:,} synapses, {args.neurons:,} neurons, {store_bytes(datadir) / 2**30:.2f} GiB on disk (both copies)")
    for side in ("pre", "post"):
        print(f"by {side:4s}: median {median_ms(store_times[side]):6.2f} ms  (max {1000 * max(store_times[side]):6.2f} ms, "
              f"median {int(np.median(sizes[side]))} synapses per neuron, {len(store_times[side])} neurons)")
    print(f"first lookup on a fresh Dataset (reads the bucket's footer): {1000 * first_call:.2f} ms")
    all_times = store_times["pre"] + store_times["post"]
    print(f"baseline (load whole table + np.isin): median {median_ms(base_times):8.1f} ms over {len(base_times)} runs "
          f"(np.isin on the loaded table alone: {median_ms(isin_times):.1f} ms); results identical in {checked} checks")
    ratio = statistics.median(base_times) / statistics.median(all_times)
    print(f"speed-up over the baseline: {ratio:,.0f}x  (target >= 20x; median target < 50 ms: "
          f"{'met' if median_ms(all_times) < 50 else 'NOT met'})")
    print(f"speed-up over np.isin alone on a table already in memory: {statistics.median(isin_times) / statistics.median(all_times):,.1f}x")


def store_bytes(datadir: Path) -> int:
    return sum(p.stat().st_size for p in (datadir / "1300" / "synapses" / "store").rglob("*.parquet"))


if __name__ == "__main__":
    main()
