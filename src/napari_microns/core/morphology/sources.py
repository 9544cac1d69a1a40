"""Where skeletons and meshes come from, and which reader reads each source.

A source is ``"cave"`` (the datastack's defaults: the skeleton service, the
segmentation source) or a cloud-volume path (``precomputed://gs://...``,
``graphene://https://...``, ``precomputed://file:///...``; a plain absolute folder
becomes ``precomputed://file://``). It is chosen, in this order, by
``Dataset(skeleton_source=..., mesh_source=...)``, by ``<datadir>/<version>/sources.json``
(``{"skeleton_source": ..., "mesh_source": ...}``), or the CAVE defaults.

The reader is chosen by the source's scheme (the part before ``://``) in
:data:`READERS`, the way pooch picks a downloader by protocol: a new kind of source
is one more entry there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..layout import Layout, atomic_write_json, make_dirs, read_json, write_lock
from .precomputed import file_url
from .readers import CaveReader, VolumeReader
from .types import CAVE

#: Optional per-version file naming the data folder's own sources.
SOURCES_FILE = "sources.json"

_CLOUD_VOLUME = VolumeReader()

#: ``scheme -> reader``. cloud-volume reads its formats (``precomputed``, ``graphene``) and
#: bare storage protocols (read as precomputed layers).
READERS: dict[str, VolumeReader] = {
    CAVE: CaveReader(),
    "precomputed": _CLOUD_VOLUME,
    "graphene": _CLOUD_VOLUME,
    "gs": _CLOUD_VOLUME,
    "s3": _CLOUD_VOLUME,
    "file": _CLOUD_VOLUME,
    "http": _CLOUD_VOLUME,
    "https": _CLOUD_VOLUME,
    "middleauth+https": _CLOUD_VOLUME,
}
#: Any other scheme (cloud-volume's other formats, the user's cloudfiles aliases): cloud-volume
#: decides, and a layer it cannot open is a one-line :class:`DataError`.
DEFAULT_READER = _CLOUD_VOLUME


def scheme(source: str) -> str:
    """``"cave"``, or the part of ``source`` before ``://`` (lower case)."""
    return CAVE if source == CAVE else source.split("://", 1)[0].strip().lower()


def reader_for(source: str) -> VolumeReader:
    """The reader of a (resolved) source, by its scheme."""
    return READERS.get(scheme(source), DEFAULT_READER)


@dataclass(frozen=True)
class MorphologySources:
    """Where skeletons and meshes come from: ``"cave"`` or a cloud-volume path."""

    skeleton: str = CAVE
    mesh: str = CAVE


def _check_source(value, what: str, origin: str) -> str:
    if value is None:
        return CAVE
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{what} in {origin} must be 'cave' or a cloud-volume path, not {value!r}")
    value = value.strip()
    if value.lower() == CAVE:
        return CAVE
    if "://" not in value:
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise DataError(f"{what} {value!r} in {origin}: use an absolute folder or a precomputed://... path")
        return file_url(path)
    return value


def read_sources_file(layout: Layout) -> tuple[dict, Path]:
    """``<datadir>/<version>/sources.json`` (``{}`` when there is none) and its path."""
    path = layout.root / SOURCES_FILE
    from_file = read_json(path) if path.exists() else {}
    if not isinstance(from_file, dict):
        raise DataError(f"{path} must hold a JSON object with source keys (skeleton_source, mesh_source, "
                        "image_source, segmentation_source)")
    return from_file, path


def resolve_sources(layout: Layout, skeleton_source: str | None = None, mesh_source: str | None = None) -> MorphologySources:
    """Arguments first, then ``<datadir>/<version>/sources.json``, then the CAVE defaults."""
    from_file, path = read_sources_file(layout)
    skel = skeleton_source if skeleton_source is not None else from_file.get("skeleton_source")
    mesh = mesh_source if mesh_source is not None else from_file.get("mesh_source")
    origin_s = "skeleton_source argument" if skeleton_source is not None else str(path)
    origin_m = "mesh_source argument" if mesh_source is not None else str(path)
    return MorphologySources(_check_source(skel, "skeleton_source", origin_s), _check_source(mesh, "mesh_source", origin_m))


def write_sources(layout: Layout, skeleton_source: str | None = None, mesh_source: str | None = None,
                  **other_sources: str | None) -> Path:
    """Write ``<datadir>/<version>/sources.json`` so the folder carries its own sources.

    The given keys are merged into the file (``None`` leaves a key as it is), under the
    folder's lock; ``other_sources`` takes more keys (``image_source``, ``segmentation_source``).
    """
    given = dict(skeleton_source=skeleton_source, mesh_source=mesh_source, **other_sources)
    path = layout.root / SOURCES_FILE
    make_dirs(layout.root)
    with write_lock(layout.lock_file("sources"), f"the sources file {path}"):
        doc = read_json(path) if path.exists() else {}
        if not isinstance(doc, dict):
            raise DataError(f"{path} must hold a JSON object; fix or delete it")
        doc.update({k: v for k, v in given.items() if v is not None})
        atomic_write_json(path, doc)
    return path

