"""EM imagery and segmentation cutouts around a point, in the plugin's pia-aligned µm frame.

``Dataset.em_cutout(...)`` returns a :class:`Cutout`: the uint8 image, the uint64 root-id
segmentation on the same grid, bool masks per asked root id, and the (4, 4) affine from voxel
index to µm. Sources are chosen as in :mod:`.sources`; cutouts are cached on disk
(:mod:`.cutout`) so a second request needs no network.
"""

from .cutout import EM_CACHE_FORMAT, SECTION_NM, CutoutRequest, cache_path, make_cutout
from .sources import FLAT_SEGMENTATIONS, MINNIE65_IMAGE, em_source_specs, write_em_sources
from .types import Cutout, EmSources, nm_to_um_matrix, voxel_affine

__all__ = [
    "Cutout", "CutoutRequest", "EM_CACHE_FORMAT", "EmSources", "FLAT_SEGMENTATIONS", "MINNIE65_IMAGE",
    "SECTION_NM", "cache_path", "em_source_specs", "make_cutout", "nm_to_um_matrix", "voxel_affine",
    "write_em_sources",
]
