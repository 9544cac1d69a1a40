"""Benchmark: the synapse store at connectome scale (2M -> 20M -> 100M synapses), against
DuckDB and polars on one sorted Parquet file of the same rows, side by side in one run.

For each size, on generated data (100,000 neurons with real-size root ids, lognormal
heavy-tailed degrees, ids in random order):

* **import**: ``Dataset.import_synapses(table.parquet, covers=all)`` in a fresh process (wall
  time, peak RSS, the engine's memory limit) against DuckDB's own
  ``COPY (SELECT * FROM table ORDER BY pre, id) TO one.parquet`` in a fresh process, with
  DuckDB's default settings and with the import's memory limit; the import also checks the
  file, resolves repeated ids and writes two sorted copies (by pre and by post);
* **size on disk**: the store's files against ``one.parquet`` (zstd), and one copy's share;
* **one neuron** (median of 40, by pre and by post): ``Dataset.synapses`` against DuckDB and
  polars filtering ``one.parquet`` (sorted by pre, so a post lookup there is what one copy
  without a second sort order would cost);
* **batch of 1,000 neurons' outputs** and the **connectivity among 2,000 neurons** (counts;
  ``core.synapses.connectivity``, ordered by cell type, coverage checked) against the same
  questions in DuckDB and polars on ``one.parquet`` (median of 5; results checked equal);
* **summary by cell type over the whole store** (``Dataset.connectivity_by_type``, an engine
  query) against DuckDB's same query on ``one.parquet``.

Data lives in ``$NAPARI_MICRONS_BENCH`` (default ``/tmp/napari-microns-bench``), never in the
repository. Needs the ``bench`` extra (polars) and duckdb (a dependency).

    python benchmarks/bench_store_scale.py [--sizes 2e6,20e6,100e6] [--memory 1536MiB] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_circuit import duckdb_matrix, units_for  # noqa: E402

from napari_microns import Dataset  # noqa: E402
from napari_microns.core.synapses import POST, PRE, connectivity  # noqa: E402

ROOT_BASE = 864691135_000_000_000
CHUNK = 5_000_000
#: a fresh process's wall time and peak RSS: VmHWM of its own memory (``ru_maxrss`` would carry
#: the parent's peak across fork + exec on Linux)
CHILD = """
import json, sys, time
t = time.perf_counter()
{body}
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0].split()[1]
print(json.dumps({{"seconds": time.perf_counter() - t, "peak_mib": int(hwm) / 1024}}))
"""


def generate(path: Path, n: int, n_neurons: int, seed: int = 0) -> np.ndarray:
    """``n`` synapses in chunks (bounded memory) to ``path``; returns the root ids."""
    rng = np.random.default_rng(seed)
    roots = np.sort(ROOT_BASE + rng.choice(2 * 10**9, size=n_neurons, replace=False)).astype(np.int64)
    p_out, p_in = rng.lognormal(0.0, 1.0, n_neurons), rng.lognormal(0.0, 1.0, n_neurons)
    p_out, p_in = p_out / p_out.sum(), p_in / p_in.sum()
    if path.exists():
        return roots
    ids = rng.permutation(n).astype(np.int64) * 7 + 1_000_003  # synapse ids in random order
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, pa.schema([("id", pa.int64()), (PRE, pa.int64()), (POST, pa.int64()),
                                          ("size", pa.int64()), ("ctr_pt_position_x", pa.int64()),
                                          ("ctr_pt_position_y", pa.int64()), ("ctr_pt_position_z", pa.int64())]),
                          compression="snappy") as writer:
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            writer.write_table(pa.table({
                "id": ids[start:start + m],
                PRE: roots[rng.choice(n_neurons, m, p=p_out)], POST: roots[rng.choice(n_neurons, m, p=p_in)],
                "size": rng.lognormal(6.0, 1.0, m).astype(np.int64) + 1,
                "ctr_pt_position_x": rng.integers(60000, 420000, m), "ctr_pt_position_y": rng.integers(40000, 320000, m),
                "ctr_pt_position_z": rng.integers(14000, 27000, m)}))
    tmp.rename(path)
    return roots


def child(body: str, env: dict | None = None) -> dict:
    """Run ``body`` in a fresh Python; its wall time and peak RSS."""
    out = subprocess.run([sys.executable, "-c", CHILD.format(body=body)], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return 1000 * statistics.median(samples)


def folder_bytes(folder: Path, pattern: str = "*.parquet") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern))


def run_size(n: int, args, results: dict) -> None:
    import duckdb
    import polars as pl

    cache = args.cache
    table = cache / f"scale-{n}.parquet"
    roots = generate(table, n, args.neurons)
    datadir, one = cache / f"scale-store-{n}", cache / f"scale-one-{n}.parquet"
    shutil.rmtree(datadir, ignore_errors=True)
    one.unlink(missing_ok=True)
    r = {"synapses": n}
    # -- import vs DuckDB COPY ... ORDER BY, each in a fresh process -------------------
    ours = child(f"from napari_microns import Dataset\n"
                 f"Dataset({str(datadir)!r}, version=1300).import_synapses({str(table)!r}, "
                 f"covers={{'pre': 'all', 'post': 'all'}})", {"NAPARI_MICRONS_ENGINE_MEMORY": args.memory})
    copy = f"COPY (SELECT * FROM read_parquet('{table}') ORDER BY {PRE}, id) TO '{one}' (FORMAT parquet, COMPRESSION zstd)"
    spill = cache / "duckdb-spill"
    bounded = child(f"import duckdb\ncon = duckdb.connect()\ncon.execute(\"SET memory_limit = '{args.memory}'\")\n"
                    f"con.execute(\"SET temp_directory = '{spill}'\")\ncon.execute(\"{copy}\")")
    shutil.rmtree(spill, ignore_errors=True)
    theirs = child(f"import duckdb\nduckdb.sql(\"{copy}\")")
    r.update(import_s=ours["seconds"], import_peak_mib=ours["peak_mib"], duckdb_copy_s=theirs["seconds"],
             duckdb_copy_peak_mib=theirs["peak_mib"], duckdb_bounded_s=bounded["seconds"],
             duckdb_bounded_peak_mib=bounded["peak_mib"])
    store_root = datadir / "1300" / "synapses" / "store"
    r.update(store_bytes=folder_bytes(store_root), by_pre_bytes=folder_bytes(store_root / "synapses" / "by_pre"),
             one_file_bytes=one.stat().st_size)
    print(f"\n== {n:,} synapses ==\nimport: ours {r['import_s']:.1f} s (peak {r['import_peak_mib']:.0f} MiB, engine "
          f"limit {args.memory}) | DuckDB COPY ORDER BY {r['duckdb_copy_s']:.1f} s (peak {r['duckdb_copy_peak_mib']:.0f} "
          f"MiB) | ratio {r['import_s'] / r['duckdb_copy_s']:.2f}x | DuckDB at the same memory limit "
          f"{r['duckdb_bounded_s']:.1f} s (peak {r['duckdb_bounded_peak_mib']:.0f} MiB), ratio "
          f"{r['import_s'] / r['duckdb_bounded_s']:.2f}x")
    print(f"size: store {r['store_bytes'] / 2**20:.0f} MiB (one copy {r['by_pre_bytes'] / 2**20:.0f} MiB) | one zstd "
          f"file {r['one_file_bytes'] / 2**20:.0f} MiB | store/one {r['store_bytes'] / r['one_file_bytes']:.2f}x")
    # -- queries ------------------------------------------------------------------
    ds = Dataset(datadir, version=1300)
    store = ds.synapse_store
    rng = np.random.default_rng(1)
    picks = rng.choice(roots, 40, replace=False)
    con = duckdb.connect()
    src = f"read_parquet('{one}')"
    lazy = pl.scan_parquet(one)
    ds.synapses(pre_ids=picks[:1])  # the first call verifies the footers
    for side, col in (("pre", PRE), ("post", POST)):
        kw = "pre_ids" if side == "pre" else "post_ids"
        it = iter(np.tile(picks, 10))
        r[f"one_{side}_ms"] = median_ms(lambda: ds.synapses(**{kw: [next(it)]}), 40)
        it = iter(np.tile(picks, 10))
        r[f"one_{side}_duckdb_ms"] = median_ms(lambda: con.sql(f"SELECT * FROM {src} WHERE {col} = {next(it)}").to_arrow_table(), 20)
        it = iter(np.tile(picks, 10))
        r[f"one_{side}_polars_ms"] = median_ms(lambda: lazy.filter(pl.col(col) == int(next(it))).collect(), 20)
    print(f"one neuron (median ms): by pre ours {r['one_pre_ms']:.1f} | DuckDB {r['one_pre_duckdb_ms']:.1f} | polars "
          f"{r['one_pre_polars_ms']:.1f};  by post ours {r['one_post_ms']:.1f} | DuckDB {r['one_post_duckdb_ms']:.1f} | "
          f"polars {r['one_post_polars_ms']:.1f}  (one file sorted by pre: a post lookup scans it)")
    batch = rng.choice(roots, 1000, replace=False)
    con.register("batch_ids", pa.table({"id": batch}))
    ours_rows = len(ds.synapses(pre_ids=batch))
    duck_rows = con.sql(f"SELECT count(*) FROM {src} WHERE {PRE} IN (SELECT id FROM batch_ids)").fetchall()[0][0]
    assert ours_rows == duck_rows, (ours_rows, duck_rows)
    r["batch_ms"] = median_ms(lambda: ds.synapses(pre_ids=batch), 5)
    r["batch_duckdb_ms"] = median_ms(lambda: con.sql(f"SELECT * FROM {src} WHERE {PRE} IN (SELECT id FROM batch_ids)").to_arrow_table(), 5)
    r["batch_polars_ms"] = median_ms(lambda: lazy.filter(pl.col(PRE).is_in(batch)).collect(), 5)
    print(f"batch of 1,000 neurons' outputs ({ours_rows:,} rows, median ms): ours {r['batch_ms']:.0f} | DuckDB "
          f"{r['batch_duckdb_ms']:.0f} | polars {r['batch_polars_ms']:.0f}")
    units = units_for(roots)
    ids = rng.choice(roots, 2000, replace=False)
    mat = connectivity(store, units, ids, value="count", order_by=None)
    order = mat.root_ids
    ref = duckdb_matrix(con, [str(one)], order)
    assert np.array_equal(mat.matrix.to_numpy(), ref), "matrices differ (or pairs not covered)"
    r["matrix_ms"] = median_ms(lambda: connectivity(store, units, ids, value="count", order_by="cell_type"), 5)
    r["matrix_duckdb_ms"] = median_ms(lambda: duckdb_matrix(con, [str(one)], order), 5)

    def polars_matrix():
        pairs = (lazy.filter(pl.col(PRE).is_in(ids) & pl.col(POST).is_in(ids))
                 .group_by([PRE, POST]).agg(pl.len().alias("n")).collect())
        index = {int(v): i for i, v in enumerate(order)}
        m = np.zeros((len(order), len(order)))
        m[[index[v] for v in pairs[PRE].to_list()], [index[v] for v in pairs[POST].to_list()]] = pairs["n"].to_numpy()
        return m

    assert np.array_equal(polars_matrix(), ref), "polars matrix differs"
    r["matrix_polars_ms"] = median_ms(polars_matrix, 5)
    print(f"connectivity among 2,000 neurons (median ms): ours {r['matrix_ms']:.0f} | DuckDB {r['matrix_duckdb_ms']:.0f} | "
          f"polars {r['matrix_polars_ms']:.0f}")
    ds._circuit_units = (None, units)
    ds.units_if_processed = lambda: units  # the synthetic units stand for the processed ones
    t = time.perf_counter()
    summary = ds.connectivity_by_type()
    r["by_type_s"] = time.perf_counter() - t
    con.register("groups", pa.table({"root_id": units["pt_root_id"].to_numpy(), "grp": units["cell_type"].astype(str).to_numpy()}))
    t = time.perf_counter()
    theirs_summary = con.sql(
        f"WITH pairs AS (SELECT {PRE} AS pre, {POST} AS post, count(*) AS n FROM {src} GROUP BY ALL) "
        "SELECT a.grp AS pre_group, b.grp AS post_group, count(*) AS n_connections, sum(n) AS n_synapses "
        "FROM pairs JOIN groups a ON pre = a.root_id JOIN groups b ON post = b.root_id GROUP BY ALL").df()
    r["by_type_duckdb_s"] = time.perf_counter() - t
    assert int(summary["n_synapses"].sum()) == int(theirs_summary["n_synapses"].sum()) == n
    print(f"summary by cell type over every synapse: ours {r['by_type_s']:.1f} s | DuckDB on one file "
          f"{r['by_type_duckdb_s']:.1f} s")
    results[n] = r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2e6,20e6,100e6")
    parser.add_argument("--neurons", type=int, default=100_000)
    parser.add_argument("--memory", default="1536MiB", help="the engine's memory limit for the import")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NAPARI_MICRONS_BENCH", "/tmp/napari-microns-bench")))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep each size's store and file (default: removed)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        run_size(n, args, results)
        if not args.keep:
            shutil.rmtree(args.cache / f"scale-store-{n}", ignore_errors=True)
            (args.cache / f"scale-one-{n}.parquet").unlink(missing_ok=True)
    print("\n| synapses | import (ours / DuckDB COPY / DuckDB COPY at our memory limit) | peak RSS (ours / DuckDB / "
          "DuckDB at our limit) | store / one zstd file | "
          "one neuron pre, post (ms) | batch 1,000 (ours / DuckDB / polars, ms) | matrix 2,000 (ours / DuckDB / polars, ms) |")
    print("|---|---|---|---|---|---|---|")
    for n, r in results.items():
        print(f"| {n / 1e6:.0f}M | {r['import_s']:.0f} s / {r['duckdb_copy_s']:.0f} s / {r['duckdb_bounded_s']:.0f} s | "
              f"{r['import_peak_mib']:.0f} / {r['duckdb_copy_peak_mib']:.0f} / {r['duckdb_bounded_peak_mib']:.0f} MiB | {r['store_bytes'] / 2**30:.2f} / {r['one_file_bytes'] / 2**30:.2f} GiB | "
              f"{r['one_pre_ms']:.1f}, {r['one_post_ms']:.1f} | {r['batch_ms']:.0f} / {r['batch_duckdb_ms']:.0f} / "
              f"{r['batch_polars_ms']:.0f} | {r['matrix_ms']:.0f} / {r['matrix_duckdb_ms']:.0f} / {r['matrix_polars_ms']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
