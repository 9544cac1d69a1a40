"""Where EM imagery and segmentation come from.

Chosen, in this order, by ``Dataset(image_source=..., segmentation_source=...)``, by the keys
``image_source`` / ``segmentation_source`` of ``<datadir>/<version>/sources.json``, or
``"cave"``: the datastack's defaults. For ``"cave"`` the image is ``client.info.image_source()``
(public; without a saved token minnie65's known public path is used) and the segmentation is
the static flat segmentation of the version when MICrONS publishes one (``seg_m1300``,
``seg_m943``, ``seg_m343``: no token), else ``client.info.segmentation_source()`` (graphene:
needs the token, read as root ids at the version's timestamp).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AuthError
from ..layout import Layout
from ..morphology.sources import _check_source, read_sources_file, write_sources
from ..morphology.types import CAVE
from ..versions import flat_segmentations

#: minnie65's public EM imagery (what ``client.info.image_source()`` answers for minnie65_public).
MINNIE65_IMAGE = "precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em"

#: Static (flat) segmentations of minnie65, by materialization version: root ids of that version
#: (kept in the version registry, ``core/data/versions.json``).
FLAT_SEGMENTATIONS = flat_segmentations()

IMAGE_KEY = "image_source"
SEGMENTATION_KEY = "segmentation_source"


def em_source_specs(layout: Layout, image_source: str | None = None,
                    segmentation_source: str | None = None) -> tuple[str, str]:
    """``(image, segmentation)``: each ``"cave"`` or a cloud-volume path, not yet resolved."""
    from_file, path = read_sources_file(layout)
    specs = []
    for key, arg in ((IMAGE_KEY, image_source), (SEGMENTATION_KEY, segmentation_source)):
        value = arg if arg is not None else from_file.get(key)
        origin = f"{key} argument" if arg is not None else str(path)
        specs.append(_check_source(value, key, origin))
    return specs[0], specs[1]


def resolve_image(spec: str, client_or_none) -> str:
    """The image source of ``spec``; ``client_or_none()`` gives the CAVE client or raises AuthError."""
    if spec != CAVE:
        return spec
    try:
        client = client_or_none()
    except AuthError:
        return MINNIE65_IMAGE
    return client.info.image_source()


def resolve_segmentation(spec: str, version: int, client) -> str:
    """The segmentation source of ``spec``; ``client()`` is called only when CAVE must be asked."""
    if spec != CAVE:
        return spec
    if int(version) in FLAT_SEGMENTATIONS:
        return FLAT_SEGMENTATIONS[int(version)]
    return client().info.segmentation_source()


def write_em_sources(layout: Layout, image_source: str | None = None,
                     segmentation_source: str | None = None) -> Path:
    """Add ``image_source`` / ``segmentation_source`` to ``<datadir>/<version>/sources.json``
    (the other keys are kept)."""
    return write_sources(layout, **{IMAGE_KEY: image_source, SEGMENTATION_KEY: segmentation_source})
