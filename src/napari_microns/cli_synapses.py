"""The CLI's ``synapses`` command: download, import (a table, or the whole-volume dump),
compact and repair the local synapse store.

Registered by ``cli.py``; arguments are checked there (``check_arguments``) before any work.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli_files import add_position_unit, report_outside


def add_synapses(sub, add_data_arguments, dataset) -> None:
    p = sub.add_parser("synapses", help="download synapses between root ids into the local store (resumable)")
    add_data_arguments(p)
    p.add_argument("--pre", default="all", metavar="IDS",
                   help="presynaptic root ids: a comma list, a file of ids, or 'all' (any neuron; default)")
    p.add_argument("--post", default="all", metavar="IDS",
                   help="postsynaptic root ids: a comma list, a file of ids, or 'all' (any neuron; default)")
    p.add_argument("--per-synapse", action="store_true",
                   help="keep every synapse with its position (default: one row per pre/post pair)")
    p.add_argument("--workers", type=int, default=4, help="concurrent requests (default: 4; be kind to the server)")
    p.add_argument("--chunk-size", type=int, default=None, metavar="N", help="root ids per chunk (default: 100)")
    p.add_argument("--import", dest="import_path", type=Path, metavar="PATH",
                   help="instead of downloading, merge a microns_datacleaner synapse folder or CSV into the store")
    p.add_argument("--import-dump", metavar="URL_OR_PATH", nargs="?", const="public",
                   help="instead of downloading, stream the whole-volume synapse table from its static dump "
                        "(a .csv.gz path, file://, https:// or gs:// URL; alone: this version's public dump) into the "
                        "store with bounded memory; rerun the same command to resume")
    p.add_argument("--dump-header", metavar="FILE_OR_URL",
                   help="the dump's header file, when it is not <stem>_header.csv beside the dump")
    p.add_argument("--memory-limit", metavar="SIZE",
                   help="memory for the engine's sorting and merging, e.g. 2GB (default: a quarter of the "
                        "machine's memory, at most 1.5GB; env NAPARI_MICRONS_ENGINE_MEMORY)")
    p.add_argument("--compact", action="store_true",
                   help="instead of downloading, fold the store's small merges into its bucket files, so DuckDB, "
                        "polars and dask read it as plain Parquet files")
    add_position_unit(p)
    p.add_argument("--repair", action="store_true",
                   help="instead of downloading, check the store's files against their checksums and rebuild "
                        "what is damaged (from the intact copy, else from the downloads)")
    p.set_defaults(run=lambda args: run_synapses(args, dataset))


def run_synapses(args, dataset) -> None:
    from tqdm import tqdm

    ds = dataset(args)
    if args.import_dump is not None:
        return run_import_dump(ds, args)
    if args.compact:
        folded = ds.compact_synapses(memory=args.memory_limit)
        files = ds.synapse_files()
        print(("compacted" if folded else "already compact") + f": {ds.synapse_store.root} ({len(files)} files by pre root id)")
        return
    if args.repair:
        result = ds.repair_synapse_store()
        print(f"checked {result['checked']} store files: {len(result['damaged'])} damaged")
        for kind, how in result["rebuilt"].items():
            print(f"  rebuilt {kind}: {how}")
        for note in result["notes"]:
            print(f"  {note}")
        if result["lost_imports"]:
            print("  import these again (their rows were only in the damaged files): " + ", ".join(result["lost_imports"]))
        return
    if args.import_path is not None:
        result = ds.import_synapses(args.import_path, position_unit=args.position_unit, covers=args.covers)
        report_outside(result)
        print(f"imported {result['rows']:,} {result['kind']} rows from {result['origin']} into {ds.synapse_store.root}")
        if result.get("conflicting_ids"):
            what = "synapse ids" if result["kind"] == "synapses" else "pre/post pairs"
            print(f"warning: {result['conflicting_ids']:,} {what} came with conflicting rows (same id, different "
                  "values); the last row of each was kept", file=sys.stderr)
        return
    pre, post = args.pre, args.post  # read and checked by check_arguments
    bar = None

    def progress(done, total, rows):
        nonlocal bar
        if bar is None:  # resumed chunks count as the start, so the ETA reflects this run's speed
            bar = tqdm(total=total, initial=done, unit="chunk", desc="synapse chunks")
        bar.update(done - bar.n)
        bar.set_postfix_str(f"{rows:,} {'synapses' if args.per_synapse else 'connections'}")

    try:
        report = ds.download_synapses(pre_ids=pre, post_ids=post, aggregate=not args.per_synapse,
                                      workers=args.workers, chunk_size=args.chunk_size, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(report.summary())
    print(f"store: {ds.synapse_store.root}  (query: Dataset({str(ds.datadir)!r}, version={ds.version}).synapses(pre_ids=..., post_ids=...))")


def run_import_dump(ds, args) -> None:
    """``--import-dump``: a byte bar (with rows and an ETA) while streaming, then one for the merge."""
    from tqdm import tqdm

    bars = {}

    def progress(rows, done_bytes, total_bytes):
        bar = bars.get("read")
        if bar is None:
            bar = bars["read"] = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="dump")
        bar.update(done_bytes - bar.n)
        bar.set_postfix_str(f"{rows:,} rows")

    def merge_progress(done, total):
        bar = bars.get("merge")
        if bar is None:
            if "read" in bars:
                bars["read"].close()
            bar = bars["merge"] = tqdm(total=total, unit="file", desc="merge into the store")
        bar.update(done - bar.n)

    source = None if args.import_dump == "public" else args.import_dump
    try:
        result = ds.import_synapse_dump(source, header=args.dump_header, memory=args.memory_limit,
                                        progress=progress, merge_progress=merge_progress)
    finally:
        for bar in bars.values():
            bar.close()
    if result.get("already"):
        print(f"{result['origin']} is already in {ds.synapse_store.root} ({result['rows']:,} synapses); nothing to do")
        return
    dropped = f"; {result['dropped']:,} rows on root id 0 or invalid left out" if result["dropped"] else ""
    print(f"imported {result['rows']:,} synapses from {result['origin']} into {ds.synapse_store.root} "
          f"in {result['seconds']:.0f} s{dropped}")
