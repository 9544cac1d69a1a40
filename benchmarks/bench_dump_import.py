"""Benchmark: the whole-volume synapse dump import, on a generated dump in the published format.

A dump of N synapses (headerless gzip CSV with every column of ``synapses_pni_2`` and its header
file, ``tests/support/synapse_dump.py``) is imported by ``napari-microns synapses --import-dump``
in a fresh process (wall time, peak RSS, rows per second, the time extrapolated to the 337M
synapses of the real dump), against DuckDB reading the same gzip CSV and writing it sorted by pre
root id to one zstd Parquet file (``COPY (SELECT ... FROM read_csv(...) ORDER BY ...)``), in a
fresh process with its default settings. Data in ``$NAPARI_MICRONS_BENCH`` (default
``/tmp/napari-microns-bench``).

    python benchmarks/bench_dump_import.py [--synapses 5000000] [--memory 1536MiB]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_store_scale import child  # noqa: E402
from support.synapse_dump import COLUMNS, STEM, synapse_table, write_dump  # noqa: E402

REAL_DUMP_ROWS = 337_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=int, default=5_000_000)
    parser.add_argument("--memory", default="1536MiB")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NAPARI_MICRONS_BENCH", "/tmp/napari-microns-bench")))
    args = parser.parse_args()
    n = args.synapses
    folder = args.cache / f"dump-{n}"
    data = folder / f"{STEM}.csv.gz"
    if not data.exists():
        print(f"writing a {n:,}-row dump to {folder} ...")
        write_dump(folder, synapse_table(n, n_roots=100_000))
    datadir = args.cache / f"dump-store-{n}"
    shutil.rmtree(datadir, ignore_errors=True)
    ours = child("from napari_microns import Dataset\n"
                 f"r = Dataset({str(datadir)!r}, version=1300).import_synapse_dump({str(data)!r})\n"
                 "assert r['rows'] == " + str(n), {"NAPARI_MICRONS_ENGINE_MEMORY": args.memory})
    one = args.cache / f"dump-one-{n}.parquet"
    names = "{" + ", ".join(f"'{c}': '{'BIGINT' if t in ('bigint', 'integer') else 'VARCHAR'}'" for c, t in COLUMNS) + "}"
    theirs = child("import duckdb\n"
                   f"duckdb.sql(\"COPY (SELECT id, pre_pt_root_id, post_pt_root_id, size, ctr_pt_position_x, "
                   f"ctr_pt_position_y, ctr_pt_position_z FROM read_csv('{data}', header=false, columns={names}) "
                   f"ORDER BY pre_pt_root_id, id) TO '{one}' (FORMAT parquet, COMPRESSION zstd)\")")
    gz = data.stat().st_size
    print(f"dump: {n:,} synapses, {gz / 2**20:.0f} MiB gzip")
    for name, r in (("ours (--import-dump, both sorted copies, checked)", ours),
                    ("DuckDB read_csv -> one sorted Parquet file", theirs)):
        rate = n / r["seconds"]
        print(f"{name}: {r['seconds']:.1f} s, {rate / 1e6:.2f}M rows/s, {gz / r['seconds'] / 2**20:.1f} MiB/s of gzip, "
              f"peak RSS {r['peak_mib']:.0f} MiB; 337M rows at this rate: {REAL_DUMP_ROWS / rate / 60:.0f} min")
    print(f"ratio ours / DuckDB: {ours['seconds'] / theirs['seconds']:.2f}x")
    shutil.rmtree(datadir, ignore_errors=True)
    one.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
