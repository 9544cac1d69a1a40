"""``napari-microns figure2d``: a 2D vector figure (SVG, PDF, PNG) of chosen neurons.

Registered in :mod:`.cli` (``SUBCOMMANDS``); draws with :mod:`.figure2d` (matplotlib only),
so this command imports no napari or Qt. Its arguments are checked before any work
starts: the ids (:mod:`.core.ids`), the output's extension and folder, ``--dpi``.
"""

from __future__ import annotations

from pathlib import Path


def add_figure2d(sub, add_data_arguments) -> None:
    """Register the subcommand; ``add_data_arguments`` is :func:`.cli.add_data_arguments`."""
    p = sub.add_parser("figure2d", help="draw neurons' skeletons in 2D (SVG, PDF or PNG) with synapses, "
                                        "cortical layers, a depth axis and a scale bar (no window)")
    add_data_arguments(p)
    p.add_argument("--root-ids", nargs="+", required=True, metavar="IDS",
                   help="neurons to draw, in this order: ids (comma or space separated) or a file of ids")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="file to write: .svg, .pdf or .png (its folder must exist)")
    p.add_argument("--view", choices=["front", "side"], default="front",
                   help="front: x across, side: z across; depth below the pia down (default: front)")
    p.add_argument("--no-synapses", dest="synapses", action="store_false",
                   help="leave out the synapses (default: inputs and outputs from the local store)")
    p.add_argument("--lineup", action="store_true",
                   help="set the neurons side by side, labelled by root id and cell type")
    p.add_argument("--title", default=None, help="a title above the figure")
    p.add_argument("--dpi", type=int, default=300, help="resolution of a .png (default: 300)")
    p.add_argument("--width", type=float, default=None, metavar="INCHES", help="figure width (default: from the neurons)")
    p.add_argument("--height", type=float, default=6.0, metavar="INCHES", help="figure height (default: 6)")
    p.set_defaults(run=run_figure2d)


def add_render_arguments(p) -> None:
    """``--camera`` and ``--movie`` of the commands that render the 3D scene (``demo``, ``figure``)."""
    from .camera import CAMERA_PRESETS

    p.add_argument("--camera", choices=list(CAMERA_PRESETS), default="pia_up",
                   help="camera preset (default: pia_up, an oblique 3D view with the pia at the top)")
    p.add_argument("--movie", type=Path, metavar="FILE.mp4",
                   help="also write a turntable movie (napari-animation; .mp4 or .gif)")


def root_ids_of(values: list[str]) -> list[int]:
    """``--root-ids``: ids (several arguments, each one id or a comma list), or one file of
    ids; in the order given, without repeats."""
    from .core.errors import DataError
    from .core.ids import parse_ids, read_ids_file

    text = " ".join(values).strip()
    if text.lower() == "all":
        raise DataError("--root-ids: name the neurons to draw ('all' is not allowed here)")
    if len(values) == 1 and Path(text).expanduser().is_file():
        ids = read_ids_file(text, where="--root-ids")
    else:
        ids = parse_ids(text, "root id", where="--root-ids", unique=True, allow_empty=False)
    return list(dict.fromkeys(int(r) for r in ids))


def run_figure2d(args) -> None:
    from .core.dataset import Dataset
    from .figure2d import check_output, figure2d

    root_ids = root_ids_of(args.root_ids)  # every argument checked before reading any data
    out = check_output(args.out, args.dpi)
    ds = Dataset(args.datadir, version=args.version)
    figure2d(ds, root_ids, out=out, view=args.view, synapses=args.synapses, lineup=args.lineup,
             title=args.title, width_in=args.width, height_in=args.height, dpi=args.dpi)
    print(f"wrote {out}")
