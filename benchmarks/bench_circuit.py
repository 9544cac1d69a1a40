"""Benchmark: one neuron's partner table, and the connectivity among 2,000 neurons, on a
20-million-synapse store.

(a) :func:`~napari_microns.core.synapses.partners` (inputs and outputs, the units joined):
median over many neurons; target < 50 ms.
(b) :func:`~napari_microns.core.synapses.connectivity` (synapse counts, ordered by cell type,
coverage checked) against DuckDB computing the same matrix from the store's ``by_pre`` Parquet
files (``GROUP BY pre, post`` with ``IN`` filters on both ids), interleaved run by run, with
the ratio; the two matrices are checked equal. Target: ours no slower than DuckDB. Then the
peak memory of one call of each, each in a fresh process (RSS counts the store's memory-mapped
pages that ours reads).

The store is the one of ``bench_synapses_query.py`` (generated once, cached in
``$NAPARI_MICRONS_BENCH``, default ``/tmp/napari-microns-bench``); the synthetic table is the
whole synthetic dataset, so its import record is given ``covers={"pre": "all", "post": "all"}``
(what ``import_synapses(..., covers=...)`` records). Units: synthetic cell types and depths for
the 100,000 roots. Needs the ``bench`` extra (``pip install duckdb polars``).

    python benchmarks/bench_circuit.py [--synapses 20000000] [--neurons 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_synapses_query import build  # noqa: E402  (the store generator, shared)

from napari_microns.core.palettes import proofreading_status  # noqa: E402
from napari_microns.core.synapses import POST, PRE, connectivity, partners, store_for  # noqa: E402
from napari_microns.core.layout import Layout  # noqa: E402
from napari_microns.sample.tables import synthetic_units  # noqa: E402


def units_for(roots: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Synthetic units (cell types, depths, proofreading) for these root ids."""
    units = synthetic_units(len(roots), seed=seed).rename(columns={"x": "pt_position_x", "y": "pt_position_y",
                                                                  "z": "pt_position_z"})
    units["pt_root_id"] = np.random.default_rng(seed).permutation(roots)
    units["proofreading"] = proofreading_status(units["strategy_axon"], units["strategy_dendrite"])
    for col in ("cell_type", "classification_system", "brain_area"):
        units[col] = units[col].astype("category")
    return units


def declare_complete(store) -> None:
    """The synthetic import holds the whole synthetic dataset: record that (as covers= would)."""
    for source in store.sources():
        if source.get("origin") == "DataFrame" and "covers" not in source:
            store.add_source({**source, "covers": {"pre": "all", "post": "all"}})


def duckdb_matrix(con, files: list[str], ids: np.ndarray) -> np.ndarray:
    """The count matrix (rows/columns in the order of ``ids``) as DuckDB computes it from the files."""
    listed = ", ".join(str(int(i)) for i in ids)
    got = con.sql(
        f"SELECT {PRE} AS pre, {POST} AS post, count(*) AS n FROM read_parquet({files!r}) "
        f"WHERE {PRE} IN ({listed}) AND {POST} IN ({listed}) GROUP BY 1, 2").to_arrow_table()
    order = np.argsort(ids)
    sorted_ids = ids[order]
    i = order[np.searchsorted(sorted_ids, got.column("pre").to_numpy())]
    j = order[np.searchsorted(sorted_ids, got.column("post").to_numpy())]
    out = np.zeros((len(ids), len(ids)))
    out[i, j] = got.column("n").to_numpy()
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def ms(samples) -> str:
    return f"{1000 * statistics.median(samples):8.1f} ms"


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=int, default=20_000_000)
    parser.add_argument("--neurons", type=int, default=100_000)
    parser.add_argument("--matrix-neurons", type=int, default=2000)
    parser.add_argument("--partner-queries", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7, help="connectivity runs of each method")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NAPARI_MICRONS_BENCH", "/tmp/napari-microns-bench")))
    parser.add_argument("--memory", choices=["ours", "duckdb"], help=argparse.SUPPRESS)  # the memory child
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.memory:
        return memory(args)
    datadir, whole = build(args.cache, args.synapses, args.neurons)
    store = store_for(Layout(datadir, 1300))
    declare_complete(store)
    ends = pd.read_parquet(whole, columns=[PRE, POST])
    roots = np.unique(np.concatenate([ends[PRE].to_numpy(), ends[POST].to_numpy()]))
    units = units_for(roots)
    rng = np.random.default_rng(1)

    # (a) partner tables
    sample = ends.sample(args.partner_queries, random_state=1)
    del ends
    times = {"inputs": [], "outputs": []}
    sizes = {"inputs": [], "outputs": []}
    for direction, col in (("inputs", POST), ("outputs", PRE)):
        for root in sample[col].to_numpy():
            got, dt = timed(lambda: partners(store, units, int(root), direction))
            assert got.complete and got.n_synapses == len(got.synapses)
            times[direction].append(dt)
            sizes[direction].append((len(got.table), got.n_synapses))
    every = times["inputs"] + times["outputs"]
    print(f"store: {store.count('synapses'):,} synapses, {len(roots):,} neurons; units: {len(units):,} rows")
    for d in ("inputs", "outputs"):
        print(f"partners ({d:7s}): median {ms(times[d])} (max {1000 * max(times[d]):.1f} ms; median "
              f"{int(np.median([s[0] for s in sizes[d]]))} partners, {int(np.median([s[1] for s in sizes[d]]))} synapses)")
    print(f"partner tables: median {ms(every)} over {len(every)} (target < 50 ms: "
          f"{'met' if statistics.median(every) < 0.05 else 'NOT met'})")

    # (b) connectivity among N neurons: ours and DuckDB, interleaved
    ids = rng.choice(roots, size=args.matrix_neurons, replace=False)
    files = sorted(str(p) for p in (store.root / "synapses").rglob("by_pre/*.parquet"))
    con = duckdb.connect()
    con.execute(f"SET threads TO {args.threads}")
    ours_t, duck_t, whole_t = [], [], []
    checked = False
    for run in range(args.runs):
        turn = [("ours", lambda: connectivity(store, units, ids, value="count")),
                ("duckdb", lambda: duckdb_matrix(con, files, ids)),
                ("whole", lambda: duckdb_matrix(con, [str(whole)], ids))]  # the same rows as one file
        for name, fn in (turn if run % 2 == 0 else turn[::-1]):
            out, dt = timed(fn)
            {"ours": ours_t, "duckdb": duck_t, "whole": whole_t}[name].append(dt)
            if name == "ours":
                conn = out
            elif name == "duckdb":
                duck = out
            else:
                duck_whole = out
        if not checked:  # the same matrix: ours is reordered, so compare in DuckDB's order (the ids given)
            ours = conn.matrix.loc[ids, ids].to_numpy()
            assert not np.isnan(ours).any() and np.array_equal(ours, duck), "ours and DuckDB disagree"
            assert np.array_equal(duck, duck_whole), "DuckDB on the store and on one file disagree"
            checked = True
    print(f"connectivity among {len(ids):,} neurons ({int(np.nansum(conn.matrix.to_numpy())):,} synapses, "
          f"{int((conn.matrix.to_numpy() > 0).sum()):,} connected pairs), median of {args.runs} interleaved runs:")
    print(f"  ours (napari-microns): {ms(ours_t)}   (first run {1000 * ours_t[0]:.1f} ms: verifies the row groups)")
    print(f"  DuckDB {duckdb.__version__} ({args.threads} threads, read_parquet over {len(files)} by_pre files): {ms(duck_t)}")
    print(f"  DuckDB {duckdb.__version__} ({args.threads} threads, read_parquet of the same rows as one file): {ms(whole_t)}")
    ratio = min(statistics.median(duck_t), statistics.median(whole_t)) / statistics.median(ours_t)
    print(f"  faster DuckDB / ours: {ratio:.2f}x  (target >= 1: {'met' if ratio >= 1 else 'NOT met'}); matrices identical")

    # memory: one call of each, each in a fresh process (peak RSS above the RSS before the call)
    np.save(args.cache / "circuit-roots.npy", roots)
    np.save(args.cache / "circuit-ids.npy", ids)
    for method in ("ours", "duckdb"):
        out = subprocess.run([sys.executable, __file__, "--memory", method, "--synapses", str(args.synapses),
                              "--neurons", str(args.neurons), "--threads", str(args.threads), "--cache", str(args.cache)],
                             capture_output=True, text=True, check=True)
        print(f"  {out.stdout.strip().splitlines()[-1]}")


def memory(args) -> None:
    """One connectivity call in this fresh process: its peak RSS above the RSS before it."""
    datadir, _ = build(args.cache, args.synapses, args.neurons)
    store = store_for(Layout(datadir, 1300))
    roots, ids = np.load(args.cache / "circuit-roots.npy"), np.load(args.cache / "circuit-ids.npy")
    if args.memory == "ours":
        units = units_for(roots)
        run = lambda: connectivity(store, units, ids, value="count")  # noqa: E731
    else:
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads TO {args.threads}")
        files = sorted(str(p) for p in (store.root / "synapses").rglob("by_pre/*.parquet"))
        run = lambda: duckdb_matrix(con, files, ids)  # noqa: E731
    before = _rss_mib()
    tracemalloc.start()
    run()
    traced = tracemalloc.get_traced_memory()[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of one call, {args.memory:6s}: {peak - before:6.0f} MiB above the process's "
          f"{before:.0f} MiB before it (numpy/Python share, tracemalloc: {traced / 2**20:.0f} MiB)")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    main()
