"""The on-disk layout of a napari-microns data folder, and atomic writes.

One place decides where every file lives::

    <datadir>/<version>/raw/<table>.parquet        downloaded CAVE tables
    <datadir>/<version>/raw/<table>.json           provenance sidecar
    <datadir>/<version>/raw/<table>.csv            microns_datacleaner layout (read as is)
    <datadir>/<version>/processed/units.parquet    merged units table
    <datadir>/<version>/processed/layers.parquet   cortical layer boundaries
    <datadir>/<version>/processed/summary.json     what the merge removed and why
    <datadir>/<version>/synapses/                  synapse downloads and the merged store
    <datadir>/<version>/morphology/                skeleton and mesh cache

Every write goes to a temporary file in the same folder and is renamed into
place, so an interrupted process never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


@dataclass(frozen=True)
class Layout:
    """Paths of one materialization version inside a data folder."""

    datadir: Path
    version: int

    def __post_init__(self):
        object.__setattr__(self, "datadir", Path(self.datadir).expanduser())

    @property
    def root(self) -> Path:
        return self.datadir / str(self.version)

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.root / "processed"

    @property
    def synapses_dir(self) -> Path:
        return self.root / "synapses"

    @property
    def morphology_dir(self) -> Path:
        return self.root / "morphology"

    def raw_table(self, table: str) -> Path:
        return self.raw_dir / f"{table}.parquet"

    def raw_sidecar(self, table: str) -> Path:
        return self.raw_dir / f"{table}.json"

    def raw_csv(self, table: str) -> Path:
        """Where microns_datacleaner keeps the same table."""
        return self.raw_dir / f"{table}.csv"

    @property
    def units_path(self) -> Path:
        return self.processed_dir / "units.parquet"

    @property
    def layers_path(self) -> Path:
        return self.processed_dir / "layers.parquet"

    @property
    def summary_path(self) -> Path:
        return self.processed_dir / "summary.json"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # data must be on disk before the rename
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, **kwargs)


def read_json(path: str | os.PathLike) -> Any:
    from .errors import DataError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is corrupt ({exc}); delete it and rerun") from None
