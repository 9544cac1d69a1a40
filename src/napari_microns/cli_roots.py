"""The CLI's ``roots`` command: root ids of one version mapped to another (by nucleus, offline,
or by lineage, with a token). Registered by ``cli.py``; imports no napari."""

from __future__ import annotations

from pathlib import Path

from .core.errors import MicronsError

HOWS = ("nucleus", "lineage")  # the same as core.roots.HOWS (not imported: the CLI starts light)


def add_roots(sub, default_datadir: str) -> None:
    p = sub.add_parser("roots", help="map root ids from one materialization version to another")
    p.add_argument("--datadir", type=Path, default=Path(default_datadir),
                   help=f"data folder (default: ./{default_datadir}) holding both versions' processed units")
    p.add_argument("--from", dest="from_version", required=True, metavar="V1", help="the version the ids are from")
    p.add_argument("--to", dest="to_version", required=True, metavar="V2", help="the version to map them to")
    p.add_argument("ids", metavar="IDS", help="root ids: a comma list, or a file of root ids")
    p.add_argument("--how", choices=HOWS, default="nucleus",
                   help="nucleus (the processed units of both versions, offline; default) or lineage "
                        "(the chunkedgraph's edit history: any segment, needs a CAVE token)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the table to FILE")
    p.set_defaults(run=run_roots)


def check_roots(args) -> None:
    """Versions, ids and the CSV path, checked before any work (one line each)."""
    from .core.ids import ids_argument, read_ids_file
    from .core.versions import tables_for

    args.from_version = tables_for(args.from_version).version
    args.to_version = tables_for(args.to_version).version
    text = str(args.ids).strip()
    ids = read_ids_file(text, where="IDS") if Path(text).expanduser().is_file() else ids_argument(text, "IDS")
    if ids is None:
        raise MicronsError("IDS all: name the root ids to map (a comma list or a file)")
    args.ids = [int(i) for i in ids]
    if args.csv is not None:
        path = Path(args.csv).expanduser()
        if path.is_dir():
            raise MicronsError(f"--csv {path} is a folder; name the file to write")
        if not path.parent.is_dir():
            raise MicronsError(f"--csv {path}: the folder {path.parent} does not exist")
        args.csv = path


def table_text(df) -> list[str]:
    """The mapping as text lines, ids printed exactly (never through a float)."""
    from .core.roots import format_candidates

    cols = ["root_id", "status", "new_root_id", "candidates"] + (["nucleus_id"] if "nucleus_id" in df else []) + ["note"]
    rows = [[str(r["root_id"]), r["status"], "" if r["new_root_id"] is None else str(r["new_root_id"]),
             format_candidates(r["candidates"])] + (["" if r["nucleus_id"] is None else str(r["nucleus_id"])]
                                                    if "nucleus_id" in df else []) + [r["note"]]
            for r in _records(df)]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(cols)]
    fmt = lambda row: "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip()  # noqa: E731
    return [fmt(cols)] + [fmt(row) for row in rows]


def _records(df) -> list[dict]:
    import pandas as pd

    # column by column: ``to_dict("records")`` turns an Int64 column with <NA> into floats,
    # which round 18-digit root ids
    cols = {c: [None if v is pd.NA else v for v in df[c].tolist()] for c in df.columns}
    for key in ("new_root_id", "nucleus_id"):
        if key in cols:
            cols[key] = [None if v is None else int(v) for v in cols[key]]
    return [dict(zip(cols, values)) for values in zip(*cols.values())]


def run_roots(args) -> None:
    from .core.dataset import Dataset

    check_roots(args)
    table = Dataset(args.datadir, version=args.from_version).map_root_ids(args.ids, args.to_version, how=args.how)
    print(f"root ids of v{args.from_version} at v{args.to_version} (by {args.how}):")
    for line in table_text(table):
        print(line)
    if args.csv is not None:
        import pandas as pd

        from .core.roots import format_candidates

        records = _records(table)  # every id as text: exact, and blank for <NA>
        out = pd.DataFrame({c: ["" if r[c] is None else format_candidates(r[c]) if c == "candidates" else str(r[c])
                                for r in records] for c in table.columns})
        out.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
