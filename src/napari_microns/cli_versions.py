"""The CLI's ``versions`` command: every materialization version this project knows, the server
lists (expired ones too) or the data folder holds, in one table. Registered by ``cli.py``;
imports no napari. Without a token or network it lists the registry and the disk, and says why."""

from __future__ import annotations

from pathlib import Path


def add_versions(sub, default_datadir: str) -> None:
    p = sub.add_parser("versions", help="list materialization versions: released, expiry, served or expired, "
                                        "known to this project, on disk")
    p.add_argument("--datadir", type=Path, default=Path(default_datadir),
                   help=f"data folder whose version folders to list (default: ./{default_datadir})")
    p.set_defaults(run=run_versions)


def run_versions(args) -> None:
    from .core.server_versions import versions

    print(versions(args.datadir))
