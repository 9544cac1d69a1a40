"""The CLI's ``neuroglancer`` command: a Neuroglancer link of neurons, their synapses and the EM.

Registered by ``cli.py``. The state is built offline from the data folder (units, synapse
store); only ``--shorten`` touches the network (it uploads the state to CAVE's state server
with the CAVE token). Imports no napari.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: the same as ``core.neuroglancer.build`` (not imported here: the CLI starts without nglui)
SYNAPSES = ("both", "inputs", "outputs", "none")
GROUPS = ("direction", "cell_type")
#: a link longer than this is said to be long (chat tools and some browsers cut such links)
LONG_URL = 100_000


def add_neuroglancer(sub, add_data_arguments) -> None:
    p = sub.add_parser("neuroglancer", help="a Neuroglancer link of neurons, their synapses and the EM (offline)")
    add_data_arguments(p)
    p.add_argument("root_ids", nargs="+", metavar="ROOT_IDS", help="the neurons (comma or space separated)")
    p.add_argument("--synapses", choices=SYNAPSES, default="both",
                   help="their synapses from the local store: both (default), inputs, outputs or none")
    p.add_argument("--group-by", choices=GROUPS, default="direction",
                   help="one point layer per direction (default) or per direction and partner cell type")
    p.add_argument("--out", type=Path, metavar="FILE.json", help="also write the state as JSON")
    p.add_argument("--shorten", action="store_true",
                   help="also upload the state to CAVE's state server and print the short link (needs a token)")
    p.add_argument("--base", default="https://spelunker.cave-explorer.org/", metavar="URL",
                   help="the Neuroglancer deployment of the link (default: Spelunker)")
    p.set_defaults(run=run_neuroglancer)


def check_neuroglancer(args) -> None:
    """The ids (exact ints) and ``--base``, checked before any work."""
    from .core.errors import MicronsError
    from .core.ids import parse_ids

    args.root_ids = [int(i) for i in parse_ids(" ".join(args.root_ids), where="ROOT_IDS", unique=True,
                                               allow_empty=False)]
    if not str(args.base).startswith(("https://", "http://")):
        raise MicronsError(f"--base {args.base!r}: give the http(s) address of a Neuroglancer deployment")


def run_neuroglancer(args) -> None:
    from .core.dataset import Dataset

    check_neuroglancer(args)
    ds = Dataset(args.datadir, version=args.version)
    client = None
    if args.shorten:  # no token: one line before any work
        from .core.session import make_client

        client = make_client(ds.datastack, policy=ds.retry)
    ng = ds.neuroglancer_state(args.root_ids, synapses=None if args.synapses == "none" else args.synapses,
                               group_by=args.group_by)
    for note in ng.notes:
        if not (args.shorten and "short link" in note):
            print(f"note: {note}", file=sys.stderr)
    if args.out is not None:
        from .core.layout import atomic_path

        with atomic_path(Path(args.out).expanduser()) as tmp:
            tmp.write_text(ng.json() + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    url = ng.url(args.base)
    if len(url) > LONG_URL:
        print(f"note: the link is {len(url):,} characters long; some tools cut links this long "
              "(--shorten gives a short one, --out the state as a file)", file=sys.stderr)
    print(url)
    if client is not None:
        print(ng.shorten(client, base=args.base))
