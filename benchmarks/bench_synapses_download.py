"""Benchmark: concurrent synapse download, 4 workers against 1, same request and result.

The server is the test suite's emulator (``tests/fake_cave.py``: Arrow IPC
answers, the request's filters applied) with 100 ms added to every request,
as a distant CAVE server would. By default it runs in its own process behind
a real local HTTP server, so its work does not compete with the client's
(``--in-process`` serves it through ``responses`` instead, as the tests do).
The client is the real caveclient. Target: 4 workers finish at least 3x
sooner than 1 worker, with byte-identical stores.

    python benchmarks/bench_synapses_download.py [--latency 0.1] [--chunks 40] [--runs 5] [--only per-synapse]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_cave import DATASTACK, GLOBAL, SYNAPSE_TABLE, FakeCAVE, serve_http, synapse_table  # noqa: E402

from napari_microns import Dataset  # noqa: E402
from napari_microns.core.session import RetryPolicy  # noqa: E402


def store_files(datadir: Path) -> dict[str, bytes]:
    root = datadir / "1300" / "synapses" / "store"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def http_client(base: str):
    """A real CAVEclient whose datastack lives at ``base`` (the emulator's HTTP address)."""
    from caveclient.tools.testing import CAVEclientMock, default_info

    return CAVEclientMock(
        datastack_name=DATASTACK, global_server=GLOBAL, local_server=base,
        info_file=dict(default_info(base), synapse_table=SYNAPSE_TABLE), materialization=True,
        available_materialization_versions=[1300], set_version=1300,
    )


@contextlib.contextmanager
def http_server(args):
    """The emulator in its own process; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--latency", str(args.latency),
         "--chunks", str(args.chunks), "--chunk-size", str(args.chunk_size), "--synapses", str(args.synapses)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", "the emulator did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


class IndexedFakeCAVE(FakeCAVE):
    """The emulator with root-id lookups through an index instead of a scan of the whole table:
    the server's own speed is not what this benchmark measures, and it shares the 2 cores."""

    def __post_init__(self):
        super().__post_init__()
        self._rows = {}
        for table_name, df in self.tables.items():
            for col in ("pre_pt_root_id", "post_pt_root_id"):
                groups = df.groupby(col).indices
                self._rows[(table_name, col)] = groups

    def select(self, table: str, body: dict):
        filter_in = (body.get("filter_in_dict") or {}).get(table, {})
        col = next((c for c in ("post_pt_root_id", "pre_pt_root_id") if c in filter_in), None)
        if col is None:
            return super().select(table, body)
        index = self._rows[(table, col)]
        rows = [index[i] for i in filter_in[col] if i in index]
        subset = self.tables[table].iloc[np.sort(np.concatenate(rows))] if rows else self.tables[table].iloc[:0]
        rest = {c: v for c, v in filter_in.items() if c != col}
        narrowed = dict(body, filter_in_dict={table: rest})  # the remaining filters and columns, as usual
        return FakeCAVE(tables={table: subset.reset_index(drop=True)}).select(table, narrowed)


def make_table(args):
    return synapse_table(n_neurons=args.chunks * args.chunk_size, n_synapses=args.synapses, seed=11)


def run(args, table, post_ids, workers: int, base: str | None) -> tuple[float, dict, int]:
    datadir = Path(tempfile.mkdtemp(prefix=f"bench-dl-{workers}-"))
    retry = RetryPolicy(attempts=3, base_delay=0.01)
    try:
        fake = FakeCAVE(tables={SYNAPSE_TABLE: table}, latency=args.latency)
        client = http_client(base) if base else fake.client(1300)
        ds = Dataset(datadir, version=1300, client=client, retry=retry)
        with (contextlib.nullcontext() if base else fake):
            ds.client  # the session (version check) is made once per session, not per download: untimed
        with (contextlib.nullcontext() if base else fake):
            t0 = time.perf_counter()
            report = ds.download_synapses(post_ids=post_ids, aggregate=args.aggregate, workers=workers,
                                          chunk_size=args.chunk_size)
            elapsed = time.perf_counter() - t0
        assert report.complete
        return elapsed, store_files(datadir), report.chunks_total
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every request")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--synapses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["aggregated", "per-synapse"], help="one mode (default: both)")
    parser.add_argument("--in-process", action="store_true", help="serve through responses in this process")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the emulator process
    args = parser.parse_args()
    args.aggregate = args.only != "per-synapse"

    table = make_table(args)
    if args.serve:
        serve_http(IndexedFakeCAVE(tables={SYNAPSE_TABLE: table}, latency=args.latency), port=args.serve)
        print("ready", flush=True)
        while True:
            time.sleep(3600)
    post_ids = np.unique(table["post_pt_root_id"])
    modes = [args.aggregate] if args.only else [True, False]
    ratios = []
    with (contextlib.nullcontext(None) if args.in_process else http_server(args)) as base:
        for aggregate in modes:
            args.aggregate = aggregate
            ratios.append(compare(args, table, post_ids, base))
    if min(ratios) < 3:
        print(f"NOT MET: a speed-up below 3x ({', '.join(f'{r:.2f}x' for r in ratios)})")


def compare(args, table, post_ids, base) -> float:
    results: dict[int, list[float]] = {1: [], 4: []}
    stores: dict[int, dict] = {}
    for _ in range(args.runs):
        for workers in (1, 4):
            elapsed, files, _ = run(args, table, post_ids, workers, base)
            results[workers].append(elapsed)
            stores.setdefault(workers, files)
            assert files == stores[workers], "a rerun gave a different store"
    same = stores[1] == stores[4]
    one, four = statistics.median(results[1]), statistics.median(results[4])
    print(f"request: {len(post_ids)} post ids in {args.chunks} chunks of {args.chunk_size}, "
          f"{args.synapses:,} synapses on the server, {args.latency * 1000:.0f} ms added per request, "
          f"{'aggregated (the default)' if args.aggregate else 'per synapse'}, "
          f"server {'in this process (responses)' if args.in_process else 'in its own process (HTTP)'}")
    print(f"1 worker : median {one:6.2f} s  ({', '.join(f'{t:.2f}' for t in results[1])})")
    print(f"4 workers: median {four:6.2f} s  ({', '.join(f'{t:.2f}' for t in results[4])})")
    print(f"speed-up: {one / four:.2f}x (target >= 3x); stores byte-identical: {same}")
    if not same:
        raise SystemExit("the stores differ")
    return one / four

if __name__ == "__main__":
    main()
