"""Skeletons and meshes of chosen root ids, cached on disk, in the units' frame.

Sources (:mod:`.sources`)
-------------------------
* Skeletons: the CAVE skeleton service (``client.skeleton``, skeleton version
  4, dict format) by default, or a precomputed skeleton layer read through
  cloud-volume (``precomputed://gs://...``, ``precomputed://file:///...``).
* Meshes: the datastack's segmentation source (graphene, with the user's CAVE
  token) by default, or a precomputed layer: MICrONS' static ``seg_m1300``
  (sharded multi-resolution Draco) or a ``file://`` layer.

The source is chosen, in this order, by ``Dataset(skeleton_source=...,
mesh_source=...)``, by ``<datadir>/<version>/sources.json`` (``{"skeleton_source":
..., "mesh_source": ...}``), or the datastack's defaults above; its scheme picks
the reader (:mod:`.readers`).

Every object is returned with vertices in nm (as served) and in the
pia-aligned µm frame of :mod:`..transform` (the frame of the units table), and
cached under ``<datadir>/<version>/morphology/<datastack>/`` keyed by root id
and source (plus level of detail and face budget for meshes; :mod:`.cache`).
Cache files are written atomically and carry a checksum; a corrupt file is
fetched again. A second call is answered from disk without a client or network.

Modules, lowest first: :mod:`.types` (results), :mod:`.decimation`,
:mod:`.precomputed` (writing ``file://`` layers), :mod:`.cache`, :mod:`.remote`
(client, retries, "root id not found"), :mod:`.readers`, :mod:`.sources`,
:mod:`.fetcher` (:class:`Morphology`, batches).
"""

from .cache import MorphologyCache
from .decimation import SIMPLIFY_LOCK, decimate
from .fetcher import Morphology, Progress
from .precomputed import file_url, write_precomputed_layer
from .sources import READERS, SOURCES_FILE, MorphologySources, reader_for, resolve_sources, write_sources
from .types import CAVE, SKELETON_VERSION, NeuronMesh, NeuronSkeleton, skeleton_from_dict

__all__ = [
    "CAVE", "MorphologyCache", "MorphologySources", "Morphology", "NeuronMesh", "NeuronSkeleton", "Progress",
    "READERS", "SIMPLIFY_LOCK", "SKELETON_VERSION", "SOURCES_FILE", "decimate", "file_url", "reader_for",
    "resolve_sources", "skeleton_from_dict", "write_precomputed_layer", "write_sources",
]
