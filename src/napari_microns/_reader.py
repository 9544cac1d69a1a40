"""npe2 reader: a processed data folder (``<datadir>/<version>``) or a units parquet.

Drag either onto napari: the units appear as one Points layer coloured by
cell type, with the cortical layer planes when the layers table is there.
"""

from __future__ import annotations

from pathlib import Path

from . import layer_data as ld
from .core.errors import DataError


def _version_folder(path: Path) -> Path | None:
    """``<datadir>/<version>`` holding ``processed/units.parquet``, from the folder itself
    or its ``processed`` subfolder."""
    for candidate in (path, path.parent if path.name == "processed" else None):
        if candidate is not None and candidate.name.isdigit() and (candidate / "processed" / "units.parquet").exists():
            return candidate
    return None


def _is_units_parquet(path: Path) -> bool:
    if path.suffix != ".parquet" or not path.is_file():
        return False
    try:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - not a parquet we can read: not ours
        return False
    # a processed units table, not a raw CAVE table (those have positions and root ids too)
    return set(ld.POSITION_COLUMNS) | {"pt_root_id", "nucleus_id", "cell_type"} <= names


def get_reader(path):
    """Return a reader function if ``path`` is something this plugin opens, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = Path(path)
    if path.is_dir() and _version_folder(path) is not None:
        return read_microns
    if _is_units_parquet(path):
        return read_microns
    return None


def read_microns(path) -> list[tuple]:
    """Layer data for a processed folder or a units parquet."""
    from .core.dataset import Dataset
    from .core.units import CHECKSUMS, load_processed

    if isinstance(path, list):
        path = path[0]
    path = Path(path)
    meta: dict = {}
    if path.is_dir():
        root = _version_folder(path)
        if root is None:
            raise DataError(f"{path} is not a processed data folder (<datadir>/<version>/processed/units.parquet)")
        tables = load_processed(Dataset(root.parent, version=int(root.name)).layout.units_path)
        meta = {"datadir": str(root.parent), "version": int(root.name)}
    else:
        # a processed folder's files are verified against its checksums; a lone table is read as it is
        tables = load_processed(path, verify=(path.parent / CHECKSUMS).exists())
        if path.parent.name == "processed" and path.parent.parent.name.isdigit():
            meta = {"datadir": str(path.parent.parent.parent), "version": int(path.parent.parent.name)}
    return ld.scene_layer_data(tables.units, tables.cortical_layers, source=meta)
