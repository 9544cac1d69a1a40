"""The ``napari-microns`` command.

Each subcommand is an ``add_<name>(subparsers)`` function that registers its
arguments and a ``run`` callable taking the parsed arguments.

Every failure ends in ONE line ``error: ...`` on stderr, without a traceback:

* a malformed command line (unknown option, missing argument, not an integer):
  exit code 2, said by argparse in one line;
* a bad argument value (ids of any kind, ``--workers 0``, ``--lod -1``, an
  unsupported ``--version``, a ``--datadir`` that is a file): checked by
  :func:`check_arguments` before any work starts, exit code 1;
* expected failures (:class:`MicronsError`: no token, a server down, a corrupt
  file, another process writing, ...) and file-system failures (permission
  denied, disk full: :class:`~.core.errors.StorageError`): exit code 1;
* anything unexpected: one line naming the exception and ``-v`` for the
  traceback, exit code 1.

Ctrl-C ends with exit code 130 and a hint that a rerun resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .cli_circuit import add_connectivity, add_partners, check_circuit
from .cli_em import add_emfigure
from .cli_figure2d import add_figure2d, add_render_arguments
from .cli_neuroglancer import add_neuroglancer
from .cli_roots import add_roots
from .cli_synapses import add_synapses
from .cli_versions import add_versions
from .cli_files import add_dump_arguments, add_import_arguments, check_morphology, import_covers, run_import
from .core.errors import MicronsError
from .output import add_output_arguments, output_kwargs

DEFAULT_DATADIR = "napari-microns-data"


def _dataset(args):
    from .core.dataset import Dataset

    return Dataset(args.datadir, version=args.version)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--datadir`` and ``--version``, shared by every data subcommand."""
    parser.add_argument("--datadir", type=Path, default=Path(DEFAULT_DATADIR),
                        help=f"data folder (default: ./{DEFAULT_DATADIR}); a microns_datacleaner folder works as is")
    parser.add_argument("--version", default=1300, help="materialization version (default: 1300)")


# -- download ----------------------------------------------------------------

def add_download(sub) -> None:
    p = sub.add_parser("download", help="download a version's annotation tables from CAVE (needs a token)")
    add_data_arguments(p)
    p.add_argument("--tables", nargs="+", metavar="TABLE", help="only these tables (default: all the version needs)")
    p.add_argument("--force", action="store_true", help="download again even if complete on disk")
    add_dump_arguments(p)
    p.set_defaults(run=run_download)


def run_download(args) -> None:
    from tqdm import tqdm

    ds = _dataset(args)
    ds.dump_source = args.dump_url
    wanted = args.tables or ds.tables.annotation_tables()
    with tqdm(total=len(wanted), unit="table", desc="tables") as bar:
        rows, skipped = {}, {}  # skipped: optional tables the server lacks

        def progress(table, n):
            rows[table] = rows.get(table, 0) + n
            bar.set_postfix_str(f"{table}: {rows[table]:,} rows")

        for table in wanted:
            skipped.update(ds.download_tables([table], force=args.force, progress=progress, from_dump=args.from_dump).skipped)
            bar.update(1)
    from .core.tables import is_complete

    for table in wanted:
        state = "complete" if is_complete(ds.layout, table) else f"skipped ({skipped[table]})" if table in skipped else "missing"
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
    result = ds.process(functional=args.functional, layer_method=args.layer_method)
    print(format_summary(result.summary))
    print(f"wrote {ds.layout.units_path} ({len(result.units):,} rows) and {ds.layout.layers_path} "
          f"({len(result.layers)} layers)")


# -- login -------------------------------------------------------------------

def add_login(sub) -> None:
    p = sub.add_parser(
        "login",
        help="save your CAVE token: typed at a hidden prompt, or piped in (`... | napari-microns login`)",
    )
    p.add_argument("--token", help="the token on the command line (discouraged: it lands in your shell history "
                                   "and in `ps`; type it at the prompt or pipe it in instead)")
    p.add_argument("--server", default=None, help="CAVE global server (default: caveclient's)")
    p.set_defaults(run=run_login)


def run_login(args) -> None:
    """Read the token (``--token``, a hidden prompt on a terminal, or stdin otherwise), check
    its shape and save it with the token files readable only by you. It is never printed."""
    import getpass

    from caveclient.auth import AuthClient
    from caveclient.endpoints import auth_endpoints_v1

    from .core.credentials import save_token

    def instructions():
        auth = AuthClient(server_address=args.server) if args.server else AuthClient()
        url = auth_endpoints_v1["create_token"].format_map(auth._default_endpoint_mapping)
        print(f"Get a CAVE token: open {url}, log in with your Google account and copy the token shown.")
        print("(Making a new token there invalidates your previous one.)")

    token = args.token
    if token:
        print("warning: --token leaves the token in your shell history and shows it to other users in `ps`; "
              "next time type it at the prompt or pipe it in: `napari-microns login < token.txt`", file=sys.stderr)
    elif sys.stdin is not None and sys.stdin.isatty():
        instructions()
        token = getpass.getpass("Paste the token (hidden): ")
    else:  # piped in: `echo TOKEN | napari-microns login`, `napari-microns login < token.txt`
        token = sys.stdin.read() if sys.stdin is not None else ""
        if not token.strip():
            instructions()
            raise MicronsError("no token on standard input and no terminal to type it in; pipe it in "
                               "(`napari-microns login < token.txt`), or pass --token TOKEN (seen in `ps`)")
    from .core.account import check_token_text

    path = save_token(check_token_text(token), server_address=args.server)
    print(f"token saved to {path} (readable only by you); caveclient and napari-microns will use it from now on")


# -- morphology ----------------------------------------------------------------

def add_morphology(sub) -> None:
    p = sub.add_parser("morphology", help="fetch skeletons (and meshes) of root ids into the local cache")
    add_data_arguments(p)
    p.add_argument("root_ids", nargs="*", metavar="ROOT_ID", help="root ids at this version")
    p.add_argument("--mesh", action="store_true", help="fetch meshes too")
    add_import_arguments(p)
    p.add_argument("--max-faces", type=int, default=None, metavar="N", help="decimate meshes to at most N faces")
    p.add_argument("--lod", type=int, default=None, help="mesh level of detail (default: the coarsest suitable)")
    p.add_argument("--workers", type=int, default=4, help="concurrent downloads (default: 4)")
    p.set_defaults(run=run_morphology)


def run_morphology(args) -> None:
    from tqdm import tqdm

    from .core.errors import IncompleteError

    ds = _dataset(args)
    if args.import_path is not None:
        return run_import(ds, args)
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


# -- viewer: demo, view, figure ------------------------------------------------

def _root_ids(values, option: str = "--root-ids", required: bool = False) -> list[int]:
    """Ids given as several arguments, each one id or a comma list, in order without repeats."""
    from .core.ids import parse_ids

    return [int(r) for r in parse_ids(" ".join(values or []), "root id", where=option, unique=True,
                                       allow_empty=not required)]


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="open napari on the bundled SYNTHETIC sample (units, layers, neurons)")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="render the demo to a PNG and exit (no window needed; uses Xvfb without a display)")
    p.add_argument("--sample-dir", type=Path, default=None,
                   help="where to generate the sample (default: $NAPARI_MICRONS_SAMPLE_DIR or ~/.cache/napari-microns/sample)")
    add_render_arguments(p)
    p.set_defaults(run=run_demo)


def run_demo(args) -> None:
    from .app import demo

    demo(args.screenshot, sample_dir=args.sample_dir, camera=args.camera, movie=args.movie)


def add_view(sub) -> None:
    p = sub.add_parser("view", help="open napari on a processed data folder, with the MICrONS dock widget")
    add_data_arguments(p)
    p.add_argument("--root-ids", nargs="+", metavar="ID", help="show these neurons' skeletons (comma or space separated)")
    p.add_argument("--color-by", default="cell_type", metavar="COLUMN", help="units column to colour by (categorical or numeric)")
    p.set_defaults(run=run_view)


def run_view(args) -> None:
    from .app import view

    view(args.datadir, args.version, root_ids=args.root_ids, color_by=args.color_by)


def add_figure(sub) -> None:
    p = sub.add_parser("figure", help="render a figure (PNG with scale bar and legend) without a window")
    add_data_arguments(p)
    p.add_argument("--root-ids", nargs="+", metavar="ID", help="neurons to show (skeletons; comma or space separated)")
    p.add_argument("--color-by", default="cell_type", metavar="COLUMN",
                   help="units column to colour by: cell_type, classification_system, layer, brain_area, proofreading, "
                        "or a numeric one (e.g. volume, pt_position_y: viridis with a colour bar; angles cyclic)")
    p.add_argument("--mesh", action="store_true", help="add the neurons' meshes")
    p.add_argument("--synapses", action="store_true", help="add the neurons' synapses (from the local store)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.png", help="image to write (.png, .jpg, .tif)")
    add_render_arguments(p)
    add_output_arguments(p)
    p.set_defaults(run=run_figure)


def run_figure(args) -> None:
    from .app import figure

    figure(args.datadir, args.version, args.out, root_ids=args.root_ids, color_by=args.color_by,
           mesh=args.mesh, synapses=args.synapses, camera=args.camera, movie=args.movie, **output_kwargs(args))


# -- entry point -----------------------------------------------------------------

SUBCOMMANDS = [add_download, add_process, add_login, add_morphology,
               lambda sub: add_synapses(sub, add_data_arguments, _dataset), add_demo, add_view, add_figure,
               lambda sub: add_figure2d(sub, add_data_arguments), lambda sub: add_partners(sub, add_data_arguments),
               lambda sub: add_connectivity(sub, add_data_arguments), lambda sub: add_emfigure(sub, add_data_arguments),
               lambda sub: add_neuroglancer(sub, add_data_arguments), lambda sub: add_roots(sub, DEFAULT_DATADIR),
               lambda sub: add_versions(sub, DEFAULT_DATADIR)]


class _Parser(argparse.ArgumentParser):
    """argparse, with a malformed command line said in one ``error:`` line (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


#: (option, attribute, lowest value) of the integer options
_MINIMUMS = [("--workers", "workers", 1), ("--chunk-size", "chunk_size", 1), ("--max-faces", "max_faces", 1),
             ("--lod", "lod", 0)]


def check_arguments(args) -> None:
    """Check (and convert) every argument value before any work starts; a bad one raises a
    one-line :class:`MicronsError`. Ids become ints (:mod:`core.ids`): ``ROOT_ID``s and
    ``--root-ids`` lists, ``--pre``/``--post`` (``all``, a list, or a file of ids)."""
    from .core.errors import StorageError

    if hasattr(args, "version"):
        from .core.versions import tables_for

        args.version = tables_for(args.version).version  # a supported whole number, else VersionError
    for option, attr, low in _MINIMUMS:
        value = getattr(args, attr, None)
        if value is not None and value < low:
            raise MicronsError(f"{option} must be at least {low} (got {value})")
    if getattr(args, "layer_method", None) is not None:
        from .core.layers import METHODS

        if args.layer_method not in METHODS:
            raise MicronsError(f"--layer-method {args.layer_method!r} is not known; choose one of: {', '.join(METHODS)}")
    if args.command == "morphology":
        check_morphology(args, _root_ids)
    elif args.command in ("view", "figure"):
        args.root_ids = _root_ids(args.root_ids)
    elif args.command in ("partners", "connectivity"):
        check_circuit(args)
    elif args.command == "synapses":
        from .core.ids import ids_argument

        args.covers = import_covers(args)  # --import --complete: --pre x --post; --complete alone: one line
        if args.memory_limit is not None:
            from .core.synapses.engine import memory_limit

            memory_limit(args.memory_limit)  # a size like 2GB, else one line
        if args.import_path is None:
            args.pre, args.post = ids_argument(args.pre, "--pre"), ids_argument(args.post, "--post")
    for option, attr, folder in (("--datadir", "datadir", True), ("--sample-dir", "sample_dir", True),
                                 ("--out", "out", False), ("--screenshot", "screenshot", False),
                                 ("--movie", "movie", False)):
        path = getattr(args, attr, None)
        if path is None:
            continue
        path = Path(path).expanduser()
        if folder and path.exists() and not path.is_dir():
            raise StorageError(f"{option} {path} is a file, not a folder; point {option} at a folder")
        if not folder and path.is_dir():
            raise StorageError(f"{option} {path} is a folder; name the file to write")
        for parent in path.parents:  # the nearest part of the path that exists must be a folder
            if parent.exists():
                if not parent.is_dir():
                    raise StorageError(f"{option} {path}: {parent} is a file, not a folder")
                break


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        check_arguments(args)
        args.run(args)
    except MicronsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # a file-system failure the library did not word itself
        from .core.layout import storage_error

        print(f"error: {storage_error(exc, getattr(exc, 'filename', None) or 'a file', 'using')}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the safety net: a bug, said in one line
        if args.verbose:
            import traceback

            traceback.print_exc()
        text = " ".join(str(exc).split())[:300]
        hint = "the traceback is above" if args.verbose else "rerun as `napari-microns -v ...` to see the traceback"
        print(f"error: unexpected {type(exc).__name__}{': ' + text if text else ''} ({hint})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
