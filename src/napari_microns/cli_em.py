"""``napari-microns emfigure``: a 2D figure of EM imagery and its segmentation at a synapse, a
neuron's soma or a point (PNG, SVG or PDF).

Registered in :mod:`.cli` (``SUBCOMMANDS``); draws with :mod:`.em_figure` (matplotlib only), so
this command imports no napari or Qt. Its arguments are checked before any work starts: the ids
(:mod:`.core.ids`), the point, the size, the output's extension and folder.
"""

from __future__ import annotations

import math
from pathlib import Path

#: Largest box side of a figure (µm): the cutout is resampled to at most 1024 pixels a side anyway.
MAX_SIZE_UM = 500.0


def add_emfigure(sub, add_data_arguments) -> None:
    """Register the subcommand; ``add_data_arguments`` is :func:`.cli.add_data_arguments`."""
    p = sub.add_parser("emfigure", help="draw EM imagery with its segmentation at a synapse, a soma or a point "
                                        "(PNG, SVG or PDF; no window)")
    add_data_arguments(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--synapse-id", metavar="ID", help="centre on this synapse of the local store; "
                                                          "its pre- and postsynaptic cells coloured, the synapse ringed")
    where.add_argument("--root-id", metavar="ID", help="centre on this neuron's soma (units table); the neuron coloured")
    where.add_argument("--at", nargs=3, metavar=("X", "Y", "Z"), help="centre on this point, pia-aligned µm")
    p.add_argument("--root-ids", nargs="+", metavar="IDS", default=[],
                   help="also colour these neurons' segments (comma or space separated)")
    p.add_argument("--size-um", default="10", metavar="N", help="side of the square in µm (default: 10)")
    p.add_argument("--no-segmentation", dest="segmentation", action="store_false",
                   help="the image alone, no segmentation overlay")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="file to write: .png, .svg or .pdf")
    p.add_argument("--dpi", type=int, default=300, help="resolution of a .png (default: 300)")
    p.set_defaults(run=run_emfigure)


def check_emfigure(args) -> None:
    """Every argument checked (and converted) before any data is read; a bad one raises a
    one-line :class:`~.core.errors.MicronsError`."""
    from .core.errors import DataError
    from .core.ids import parse_id, parse_ids
    from .figure2d import check_output

    if args.synapse_id is not None:
        args.synapse_id = int(parse_id(args.synapse_id, "synapse id", where="--synapse-id"))
    if args.root_id is not None:
        args.root_id = int(parse_id(args.root_id, "root id", where="--root-id"))
    if args.at is not None:
        try:
            args.at = tuple(float(v) for v in args.at)
        except ValueError:
            raise DataError(f"--at needs three numbers X Y Z in µm, not {' '.join(args.at)!r}") from None
        if not all(math.isfinite(v) for v in args.at):
            raise DataError(f"--at needs three finite numbers in µm, not {' '.join(map(str, args.at))}")
    try:
        size = float(args.size_um)
    except ValueError:
        raise DataError(f"--size-um must be a number of µm, not {args.size_um!r}") from None
    if not math.isfinite(size) or not 0 < size <= MAX_SIZE_UM:
        raise DataError(f"--size-um must be above 0 and at most {MAX_SIZE_UM:g} µm (got {args.size_um})")
    args.size_um = size
    args.root_ids = [int(r) for r in parse_ids(" ".join(args.root_ids), "root id", where="--root-ids",
                                               unique=True, allow_empty=True)]
    args.out = check_output(args.out, args.dpi)


def run_emfigure(args) -> None:
    from .core.dataset import Dataset
    from .em_figure import dataset_em_figure
    from .figure2d import save

    check_emfigure(args)
    ds = Dataset(args.datadir, version=args.version)
    drawn, cutout = dataset_em_figure(ds, synapse_id=args.synapse_id, root_id=args.root_id, at=args.at,
                                      size_um=args.size_um, root_ids=args.root_ids, segmentation=args.segmentation)
    out = save(drawn.figure, args.out, args.dpi)
    print(f"wrote {out} ({cutout.image.shape[0]} x {cutout.image.shape[1]} pixels of {cutout.image_source})")
