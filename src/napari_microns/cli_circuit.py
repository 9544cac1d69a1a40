"""The CLI's circuit commands: ``partners`` (one neuron's partners by group) and
``connectivity`` (the matrix among neurons, as a figure or a CSV).

Registered by ``cli.py``; every argument is checked by :func:`check_circuit` before any work.
Imports no napari (the figure is matplotlib, imported when one is asked for).
"""

from __future__ import annotations

from pathlib import Path

from .core.errors import MicronsError

#: the same as ``core.synapses.circuit`` (not imported here: the CLI starts without pyarrow)
DIRECTIONS = ("inputs", "outputs")
VALUES = ("count", "size", "log_size")
LABEL_COLUMNS = ("cell_type", "classification_system", "layer", "brain_area", "proofreading")
OUT_SUFFIXES = (".png", ".svg", ".pdf", ".csv")


def add_partners(sub, add_data_arguments) -> None:
    p = sub.add_parser("partners", help="one neuron's input or output partners in the local synapse store, by group")
    add_data_arguments(p)
    p.add_argument("root_id", metavar="ROOT_ID", help="the neuron")
    p.add_argument("--direction", choices=DIRECTIONS, default="inputs",
                   help="inputs (its presynaptic partners; default) or outputs (its postsynaptic partners)")
    p.add_argument("--by", choices=LABEL_COLUMNS, default="cell_type", help="group partners by this units label")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the table of partners (one row each)")
    p.set_defaults(run=run_partners)


def add_connectivity(sub, add_data_arguments) -> None:
    p = sub.add_parser("connectivity", help="the connectivity matrix among neurons, as a figure or a CSV")
    add_data_arguments(p)
    p.add_argument("--ids", required=True, metavar="IDS",
                   help="a file of root ids, a comma list, or 'proofread' (the proofread units with covered pairs)")
    p.add_argument("--value", choices=VALUES, default="count",
                   help="synapse count (default), summed size, or log_size (log10 of 1 + summed size)")
    p.add_argument("--order-by", default="cell_type", metavar="COLUMN",
                   help="units column to order and group the neurons by (default: cell_type; 'none': as given)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="FILE.png, .svg or .pdf (a figure) or FILE.csv (the ordered matrix; empty = not covered)")
    p.set_defaults(run=run_connectivity)


def _check_file(option: str, path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise MicronsError(f"{option} {path} is a folder; name the file to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise MicronsError(f"{option} {path}: {parent} is a file, not a folder")
            break
    return path


def check_circuit(args) -> None:
    """The arguments of ``partners`` / ``connectivity``, checked (and read) before any work."""
    from .core.ids import ids_argument, parse_id, read_ids_file

    if args.command == "partners":
        args.root_id = int(parse_id(args.root_id, where="ROOT_ID"))
        if args.csv is not None:
            args.csv = _check_file("--csv", args.csv)
        return
    if Path(args.out).suffix.lower() not in OUT_SUFFIXES:
        raise MicronsError(f"--out {args.out}: write a {', '.join(OUT_SUFFIXES)} file")
    if args.order_by.strip().lower() == "none":
        args.order_by = None
    text = str(args.ids).strip()
    if text.lower() == "proofread":
        args.ids = "proofread"
    else:  # a file keeps its order (for --order-by none); a list is sorted
        ids = read_ids_file(text, where="--ids") if Path(text).expanduser().is_file() else ids_argument(text, "--ids")
        if ids is None:
            raise MicronsError("--ids all: name the neurons (a file of root ids, a list, or 'proofread')")
        args.ids = [int(i) for i in ids]


def run_partners(args) -> None:
    from .core.dataset import Dataset
    from .core.layout import atomic_path
    from .core.synapses import partner_summary

    ds = Dataset(args.datadir, version=args.version)
    found = ds.partners(args.root_id, args.direction)
    print(found.note)
    summary = partner_summary(found, by=args.by)
    if len(summary):
        print(summary.to_string(index=False, formatters={"share": "{:.1%}".format}))
    if args.csv is not None:
        with atomic_path(args.csv) as tmp:
            found.table.to_csv(tmp, index=False)
        print(f"wrote {len(found.table):,} partners to {args.csv}")


def proofread_ids(ds, units) -> tuple[list[int], str]:
    """The proofread units (axon or dendrite) with at least one pair among them covered by the store."""
    import numpy as np

    from .core.errors import DataError
    from .core.palettes import proofreading_status
    from .core.synapses import pair_coverage

    if units is None:
        raise DataError("--ids proofread needs the processed units; run `napari-microns process` first")
    if "proofreading" in units.columns:
        status = units["proofreading"].astype("string")
    elif {"strategy_axon", "strategy_dendrite"} <= set(units.columns):
        status = proofreading_status(units["strategy_axon"], units["strategy_dendrite"]).astype("string")
    else:
        raise DataError("the units have no proofreading column; run `napari-microns process` again")
    done = status.notna() & ~status.isin(["not proofread", "none"])
    ids = np.unique(units.loc[done.to_numpy(dtype=bool), "pt_root_id"].to_numpy(np.int64))
    if not len(ids):
        raise DataError("no proofread units in this version's units table")
    covered = pair_coverage(ds.synapse_store, ids, ids)
    keep = covered.any(axis=0) | covered.any(axis=1)
    if not keep.any():
        raise DataError(f"none of the {len(ids):,} proofread neurons has a pair covered by the synapse store; download "
                        "their synapses first (napari-microns synapses --pre FILE --post FILE)")
    return ids[keep].tolist(), f"{int(keep.sum()):,} of {len(ids):,} proofread neurons (those with covered pairs)"


def run_connectivity(args) -> None:
    from .core.dataset import Dataset
    from .core.layout import atomic_path

    ds = Dataset(args.datadir, version=args.version)
    units = ds.units_if_processed()
    if args.ids == "proofread":
        ids, which = proofread_ids(ds, units)
    else:
        ids, which = args.ids, f"{len(args.ids):,} neurons"
    conn = ds.connectivity(ids, value=args.value, order_by=args.order_by)
    n = len(conn.root_ids)
    covered = int(conn.covered.sum())
    print(f"connectivity among {which}: {covered:,} of {n * n:,} pairs covered by the store "
          f"({covered / (n * n):.0%}), {args.value}")
    out = Path(args.out).expanduser()
    suffix = out.suffix.lower()
    if suffix == ".csv":
        table = conn.matrix.copy()
        table.columns = [str(c) for c in table.columns]
        if conn.labels is not None:
            table.insert(0, conn.order_by, conn.labels.to_numpy())
        table.index.name = "pre_root_id"
        with atomic_path(out) as tmp:
            table.to_csv(tmp, na_rep="", float_format="%.15g")
    else:
        from .circuit_figure import connectivity_figure, save
        from .sample import is_sample

        fig = connectivity_figure(conn, background="white", synthetic=is_sample(ds.layout),
                                  title=f"Connectivity among {which} ({args.value})")
        save(fig, out)  # png 200 dpi, svg/pdf vector; atomic
    print(f"wrote {out}")
