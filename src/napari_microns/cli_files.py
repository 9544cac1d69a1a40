"""The CLI's file imports: ``morphology --import FILE --root-id ID`` and ``synapses --position-unit``.

Kept beside ``cli.py`` (which calls these); imports no napari.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .core.errors import MicronsError


def add_import_arguments(p) -> None:
    """``--import``, ``--root-id`` and ``--units`` of the ``morphology`` subcommand."""
    p.add_argument("--import", dest="import_path", type=Path, metavar="FILE", default=None,
                   help="instead of fetching, put your own skeleton (.swc, .json) or mesh (.off, .ply, .obj) "
                        "into the cache of --root-id")
    p.add_argument("--root-id", dest="import_root_id", default=None, metavar="ID",
                   help="the root id an imported file belongs to")
    p.add_argument("--units", choices=["nm", "um", "voxel"], default="nm",
                   help="positions of the imported file: nm (default), um (pia-aligned µm, as the napari "
                        "writers write) or voxel (4x4x40 nm)")


def add_dump_arguments(p) -> None:
    """``--from-dump`` and ``--dump-url`` of ``download`` (static dumps of expired versions)."""
    p.add_argument("--from-dump", action="store_true",
                   help="read the tables from the version's static dump without asking the server (expired "
                        "versions are read from it anyway)")
    p.add_argument("--dump-url", default=None, metavar="URL",
                   help="where the dumps live: https://, gs:// or a file:// mirror (default: "
                        "$NAPARI_MICRONS_DUMP_URL, else the public store)")


def add_position_unit(p) -> None:
    """``--position-unit`` and ``--complete`` of ``synapses --import``."""
    p.add_argument("--position-unit", choices=["voxel", "nm"], default="voxel",
                   help="unit of the imported positions: voxel (4x4x40 nm, default) or nm")
    p.add_argument("--complete", action="store_true",
                   help="with --import: the file holds EVERY synapse from --pre to --post (e.g. all outputs of a "
                        "neuron: --pre ID --post all), so partner tables and connectivity count those pairs as complete")


def import_covers(args) -> dict | None:
    """``covers=`` of ``synapses --import --complete``: the --pre and --post ids (checked before)."""
    if not getattr(args, "complete", False):
        return None
    if args.import_path is None:
        raise MicronsError("--complete goes with --import FILE: it says the file holds every synapse from --pre to --post")
    from .core.ids import ids_argument

    pre, post = ids_argument(args.pre, "--pre"), ids_argument(args.post, "--post")
    return {"pre": "all" if pre is None else pre.tolist(), "post": "all" if post is None else post.tolist()}


def check_morphology(args, root_ids) -> None:
    """``morphology``'s ids (``root_ids``: the CLI's id-list reader) or ``--import``'s arguments."""
    if args.import_path is not None:
        return check_import(args)
    if not args.root_ids:  # a malformed command line: argparse's wording and exit status 2
        print("error: the following arguments are required: ROOT_ID (or --import FILE --root-id ID) "
              "(see `napari-microns morphology --help`)", file=sys.stderr)
        raise SystemExit(2)
    args.root_ids = root_ids(args.root_ids, "ROOT_ID", required=True)


def check_import(args) -> None:
    """``morphology --import``'s arguments, checked before any work (one-line errors)."""
    from .core.ids import parse_id
    from .core.morphology.files import kind_of

    if args.root_ids:
        raise MicronsError("give either ROOT_IDs to fetch or --import FILE --root-id ID, not both")
    if args.import_root_id is None:
        raise MicronsError("--import needs --root-id ID: the root id the file belongs to")
    args.import_root_id = int(parse_id(args.import_root_id, where="--root-id"))
    args.import_kind = kind_of(args.import_path)  # unknown extension: one line
    if not Path(args.import_path).is_file():
        raise MicronsError(f"--import {args.import_path}: no such file")


def run_import(ds, args) -> None:
    """Import one skeleton or mesh file into the morphology cache and say where it went."""
    cache = ds.morphology.cache
    rid = args.import_root_id
    if args.import_kind == "skeleton":
        sk = ds.import_skeleton(args.import_path, rid, units=args.units)
        where = cache.skeleton_path(rid, sk.source)
        print(f"{rid}: skeleton {sk.n_vertices:,} vertices from {args.import_path} ({args.units}) -> {where}")
    else:
        mesh = ds.import_mesh(args.import_path, rid, units=args.units)
        where = cache.mesh_path(rid, mesh.source, None, None)
        print(f"{rid}: mesh {mesh.n_faces:,} faces from {args.import_path} ({args.units}) -> {where}")


def report_outside(result: dict) -> None:
    """The synapse import's warning about positions outside the volume, on stderr."""
    outside = result.get("outside_volume", 0)
    if outside:
        print(f"warning: {outside:,} of {result['rows']:,} positions fall outside the volume (see the log line "
              "above for a hint on --position-unit)", file=sys.stderr)
