"""Benchmark: concurrent synapse download, 4 workers against 1, same request and result.

The server is the test suite's emulator (``tests/fake_cave.py``: the real
caveclient, Arrow IPC answers, the request's filters applied) with 100 ms
added to every request, as a distant CAVE server would. Target: 4 workers
finish at least 3x sooner than 1 worker, with byte-identical stores.

    python benchmarks/bench_synapses_download.py [--latency 0.1] [--chunks 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table  # noqa: E402

from napari_microns import Dataset  # noqa: E402
from napari_microns.core.session import RetryPolicy  # noqa: E402


def store_files(datadir: Path) -> dict[str, bytes]:
    root = datadir / "1300" / "synapses" / "store"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def run(table, post_ids, workers: int, latency: float, chunk_size: int, aggregate: bool) -> tuple[float, dict, int]:
    datadir = Path(tempfile.mkdtemp(prefix=f"bench-dl-{workers}-"))
    try:
        fake = FakeCAVE(tables={SYNAPSE_TABLE: table}, latency=latency)
        ds = Dataset(datadir, version=1300, client=fake.client(1300), retry=RetryPolicy(attempts=3, base_delay=0.01))
        with fake:
            t0 = time.perf_counter()
            report = ds.download_synapses(post_ids=post_ids, aggregate=aggregate, workers=workers, chunk_size=chunk_size)
            elapsed = time.perf_counter() - t0
        assert report.complete
        return elapsed, store_files(datadir), len(fake.requests)
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every request")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--synapses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aggregate", action="store_true", help="aggregated rows (default: per synapse)")
    args = parser.parse_args()

    n_neurons = args.chunks * args.chunk_size
    table = synapse_table(n_neurons=n_neurons, n_synapses=args.synapses, seed=11)
    post_ids = np.unique(table["post_pt_root_id"])
    results: dict[int, list[float]] = {1: [], 4: []}
    stores: dict[int, dict] = {}
    requests = {}
    for _ in range(args.runs):
        for workers in (1, 4):
            elapsed, files, n_requests = run(table, post_ids, workers, args.latency, args.chunk_size, args.aggregate)
            results[workers].append(elapsed)
            stores.setdefault(workers, files)
            assert files == stores[workers], "a rerun gave a different store"
            requests[workers] = n_requests
    same = stores[1] == stores[4]
    one, four = statistics.median(results[1]), statistics.median(results[4])
    print(f"request: {len(post_ids)} post ids in {args.chunks} chunks of {args.chunk_size}, "
          f"{args.synapses:,} synapses on the server, {args.latency * 1000:.0f} ms added per request, "
          f"{'aggregated' if args.aggregate else 'per synapse'}")
    print(f"1 worker : median {one:6.2f} s  ({', '.join(f'{t:.2f}' for t in results[1])}; {requests[1]} requests)")
    print(f"4 workers: median {four:6.2f} s  ({', '.join(f'{t:.2f}' for t in results[4])}; {requests[4]} requests)")
    print(f"speed-up: {one / four:.2f}x (target >= 3x); stores byte-identical: {same}")
    if not same:
        raise SystemExit("the stores differ")


if __name__ == "__main__":
    main()
