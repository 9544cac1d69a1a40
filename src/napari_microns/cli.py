"""The ``napari-microns`` command.

Each subcommand is an ``add_<name>(subparsers)`` function that registers its
arguments and a ``run`` callable taking the parsed arguments. Expected
failures (:class:`MicronsError`) end in one line on stderr and exit code 1;
Ctrl-C ends with exit code 130 and a hint that a rerun resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .core.errors import MicronsError

DEFAULT_DATADIR = "napari-microns-data"


def _dataset(args):
    from .core.dataset import Dataset

    return Dataset(args.datadir, version=args.version)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--datadir`` and ``--version``, shared by every data subcommand."""
    parser.add_argument("--datadir", type=Path, default=Path(DEFAULT_DATADIR),
                        help=f"data folder (default: ./{DEFAULT_DATADIR}); a microns_datacleaner folder works as is")
    parser.add_argument("--version", type=int, default=1300, help="materialization version (default: 1300)")


# -- download ----------------------------------------------------------------

def add_download(sub) -> None:
    p = sub.add_parser("download", help="download a version's annotation tables from CAVE (needs a token)")
    add_data_arguments(p)
    p.add_argument("--tables", nargs="+", metavar="TABLE", help="only these tables (default: all the version needs)")
    p.add_argument("--force", action="store_true", help="download again even if complete on disk")
    p.set_defaults(run=run_download)


def run_download(args) -> None:
    from tqdm import tqdm

    ds = _dataset(args)
    wanted = args.tables or ds.tables.annotation_tables()
    with tqdm(total=len(wanted), unit="table", desc="tables") as bar:
        rows: dict[str, int] = {}

        def progress(table, n):
            rows[table] = rows.get(table, 0) + n
            bar.set_postfix_str(f"{table}: {rows[table]:,} rows")

        for table in wanted:
            ds.download_tables([table], force=args.force, progress=progress)
            bar.update(1)
    from .core.tables import is_complete

    for table in wanted:
        state = "complete" if is_complete(ds.layout, table) else "missing"
        print(f"{table}: {state} ({ds.layout.raw_table(table)})")


# -- process -----------------------------------------------------------------

def add_process(sub) -> None:
    p = sub.add_parser("process", help="merge the raw tables into units and layers (local, no network)")
    add_data_arguments(p)
    p.add_argument("--functional", choices=["none", "match", "best_only", "all"], default="none",
                   help="functional data to add, as microns_datacleaner (default: none)")
    p.add_argument("--layer-method", default="datacleaner", help="how to derive layer boundaries (default: datacleaner)")
    p.set_defaults(run=run_process)


def run_process(args) -> None:
    from .core.units import format_summary

    ds = _dataset(args)
    units, layers = ds.process(functional=args.functional, layer_method=args.layer_method)
    print(format_summary(ds.last_summary))
    print(f"wrote {ds.layout.units_path} ({len(units):,} rows) and {ds.layout.layers_path} ({len(layers)} layers)")


# -- login -------------------------------------------------------------------

def add_login(sub) -> None:
    p = sub.add_parser("login", help="save your CAVE token (says where to get one)")
    p.add_argument("--token", help="the token; without it you are asked for it")
    p.add_argument("--server", default=None, help="CAVE global server (default: caveclient's)")
    p.set_defaults(run=run_login)


def run_login(args) -> None:
    import getpass

    from caveclient.auth import AuthClient
    from caveclient.endpoints import auth_endpoints_v1

    kwargs = {"server_address": args.server} if args.server else {}
    auth = AuthClient(**kwargs)
    url = auth_endpoints_v1["create_token"].format_map(auth._default_endpoint_mapping)
    token = args.token
    if not token:
        print(f"Get a CAVE token: open {url}, log in with your Google account and copy the token shown.")
        print("(Making a new token there invalidates your previous one.)")
        if not sys.stdin.isatty():
            raise MicronsError("no terminal to type the token in; run `napari-microns login --token TOKEN`")
        token = getpass.getpass("Paste the token (hidden): ").strip()
    if not token or any(c.isspace() for c in token):
        raise MicronsError("that does not look like a CAVE token (empty or contains spaces)")
    auth.save_token(token=token, overwrite=True)
    print(f"token saved to {auth._token_file}; caveclient and napari-microns will use it from now on")


# -- morphology ----------------------------------------------------------------

def add_morphology(sub) -> None:
    p = sub.add_parser("morphology", help="fetch skeletons (and meshes) of root ids into the local cache")
    add_data_arguments(p)
    p.add_argument("root_ids", nargs="+", metavar="ROOT_ID", help="root ids at this version")
    p.add_argument("--mesh", action="store_true", help="fetch meshes too")
    p.add_argument("--max-faces", type=int, default=None, metavar="N", help="decimate meshes to at most N faces")
    p.add_argument("--lod", type=int, default=None, help="mesh level of detail (default: the coarsest suitable)")
    p.add_argument("--workers", type=int, default=4, help="concurrent downloads (default: 4)")
    p.set_defaults(run=run_morphology)


def run_morphology(args) -> None:
    from tqdm import tqdm

    from .core.errors import IncompleteError

    ds = _dataset(args)
    failed: list = []  # (root id, what, error)

    def fetch(what, call):
        with tqdm(total=len(set(args.root_ids)), unit="neuron", desc=what) as bar:
            def progress(done, total):
                bar.n = done
                bar.refresh()
            try:
                return call(progress)
            except IncompleteError as exc:
                failed.extend((rid, what, err) for rid, err in exc.failures.items())
                return exc.results

    skeletons = fetch("skeletons", lambda p: ds.skeletons(args.root_ids, workers=args.workers, progress=p))
    meshes = {}
    if args.mesh:
        meshes = fetch("meshes", lambda p: ds.meshes(args.root_ids, lod=args.lod, max_faces=args.max_faces,
                                                      workers=args.workers, progress=p))
    cache = ds.morphology.cache
    for rid, sk in skeletons.items():
        print(f"{rid}: skeleton {sk.n_vertices:,} vertices -> {cache.skeleton_path(rid, sk.source)}")
    for rid, m in meshes.items():
        print(f"{rid}: mesh {m.n_faces:,} faces (lod {m.lod}) -> {cache.mesh_path(rid, m.source, args.lod, args.max_faces)}")
    if failed:
        for rid, what, exc in failed:
            print(f"{rid}: {what[:-1]} failed: {exc}", file=sys.stderr)
        raise IncompleteError(f"{len(failed)} fetch(es) failed (listed above); rerun to retry them, what was fetched is cached")


# -- synapses ------------------------------------------------------------------

def add_synapses(sub) -> None:
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
    p.set_defaults(run=run_synapses)


def run_synapses(args) -> None:
    from tqdm import tqdm

    from .core.synapses import parse_ids_argument

    ds = _dataset(args)
    if args.import_path is not None:
        result = ds.import_synapses(args.import_path)
        print(f"imported {result['rows']:,} {result['kind']} rows from {result['origin']} into {ds.synapse_store.root}")
        return
    pre, post = parse_ids_argument(args.pre, "--pre"), parse_ids_argument(args.post, "--post")
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


# -- viewer: demo, view, figure ------------------------------------------------

def _root_ids(values) -> list[int]:
    from .scene import parse_root_ids

    return parse_root_ids(" ".join(values or []))


def _add_render_arguments(p) -> None:
    from .figure import CAMERA_PRESETS

    p.add_argument("--camera", choices=list(CAMERA_PRESETS), default="pia_up",
                   help="camera preset (default: pia_up, an oblique 3D view with the pia at the top)")
    p.add_argument("--movie", type=Path, metavar="FILE.mp4",
                   help="also write a turntable movie (napari-animation; .mp4 or .gif)")


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="open napari on the bundled SYNTHETIC sample (units, layers, neurons)")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="render the demo to a PNG and exit (no window needed; uses Xvfb without a display)")
    p.add_argument("--sample-dir", type=Path, default=None,
                   help="where to generate the sample (default: $NAPARI_MICRONS_SAMPLE_DIR or ~/.cache/napari-microns/sample)")
    _add_render_arguments(p)
    p.set_defaults(run=run_demo)


def run_demo(args) -> None:
    from .app import demo

    demo(args.screenshot, sample_dir=args.sample_dir, camera=args.camera, movie=args.movie)


def add_view(sub) -> None:
    p = sub.add_parser("view", help="open napari on a processed data folder, with the MICrONS dock widget")
    add_data_arguments(p)
    p.add_argument("--root-ids", nargs="+", metavar="ID", help="show these neurons' skeletons (comma or space separated)")
    p.add_argument("--color-by", default="cell_type", metavar="COLUMN", help="units column to colour by")
    p.set_defaults(run=run_view)


def run_view(args) -> None:
    from .app import view

    view(args.datadir, args.version, root_ids=_root_ids(args.root_ids), color_by=args.color_by)


def add_figure(sub) -> None:
    p = sub.add_parser("figure", help="render a figure (PNG with scale bar and legend) without a window")
    add_data_arguments(p)
    p.add_argument("--root-ids", nargs="+", metavar="ID", help="neurons to show (skeletons; comma or space separated)")
    p.add_argument("--color-by", default="cell_type", metavar="COLUMN",
                   help="units column to colour by: cell_type, classification_system, layer, brain_area, proofreading")
    p.add_argument("--mesh", action="store_true", help="add the neurons' meshes")
    p.add_argument("--synapses", action="store_true", help="add the neurons' synapses (from the local store)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="PNG to write")
    _add_render_arguments(p)
    p.set_defaults(run=run_figure)


def run_figure(args) -> None:
    from .app import figure

    figure(args.datadir, args.version, args.out, root_ids=_root_ids(args.root_ids), color_by=args.color_by,
           mesh=args.mesh, synapses=args.synapses, camera=args.camera, movie=args.movie)


# -- entry point -----------------------------------------------------------------

SUBCOMMANDS = [add_download, add_process, add_login, add_morphology, add_synapses, add_demo, add_view, add_figure]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-microns",
        description="Download, merge and view the MICrONS minnie65_public connectome.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (retries, paging)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except MicronsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad argument values reaching the library
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
