"""Synapses: a resumable concurrent download, the merged local store, and queries.

A download is a :class:`DownloadPlan` (the request: which root ids, split into chunks)
fetched chunk by chunk (:mod:`.fetch`) into its own folder named by the plan's key
(:mod:`.manifest`), then merged into the local :class:`SynapseStore` (:mod:`.store`,
read by :mod:`.reader`), which answers :func:`query_synapses` by pre or post root id.
Killing a download at any moment and rerunning it ends with the same store as an
uninterrupted run; a changed request hashes to a new folder and never mixes with an old one.

Modules: :mod:`.plan` (the request), :mod:`.manifest` (a download's folder), :mod:`.fetch`
(one chunk), :mod:`.rows` (row shapes), :mod:`.download` (the run and its merge),
:mod:`.repair`, :mod:`.importing` (existing tables), :mod:`.query` (queries, coverage),
:mod:`.covers` (which pairs the store holds completely), :mod:`.circuit` (partners, connectivity), :mod:`.schema`, :mod:`.reader` and :mod:`.store` (the store).
"""

from .circuit import (DIRECTIONS, VALUES, Connectivity, Partners, connectivity, pair_coverage, partner_summary,
                      partners)
from .download import DownloadReport, download_synapses, merge_download
from .importing import count_conflicts, import_synapses, read_synapse_source
from .manifest import Manifest, downloads_dir
from .plan import DEFAULT_CHUNK_SIZE, DownloadPlan
from .query import connectivity_matrix, coverage, query_synapses, synapse_row
from .reader import REPAIR_HINT, STORE_FORMAT
from .repair import repair_store
from .rows import aggregate_rows, synapse_rows, synthetic_ids
from .schema import CONNECTION_SCHEMA, N_BUCKETS, POST, PRE, SYNAPSE_SCHEMA
from .store import SynapseStore, store_for

__all__ = [
    "CONNECTION_SCHEMA", "Connectivity", "DIRECTIONS", "Partners", "VALUES", "connectivity", "pair_coverage",
    "partner_summary", "partners", "DEFAULT_CHUNK_SIZE", "DownloadPlan", "DownloadReport", "Manifest", "N_BUCKETS", "POST",
    "PRE", "REPAIR_HINT", "STORE_FORMAT", "SYNAPSE_SCHEMA", "SynapseStore", "aggregate_rows", "connectivity_matrix",
    "count_conflicts", "coverage", "download_synapses", "downloads_dir", "import_synapses", "merge_download",
    "query_synapses", "read_synapse_source", "repair_store", "store_for", "synapse_row", "synapse_rows", "synthetic_ids",
]
