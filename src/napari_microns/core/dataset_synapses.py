"""The synapse methods of :class:`~.dataset.Dataset` (the store, downloads, queries and the
circuit: partners and connectivity), kept apart so each class stays small."""

from __future__ import annotations

from typing import Callable

import pandas as pd


class SynapsesMixin:
    """Synapse methods of :class:`~.dataset.Dataset` (see ``docs/synapses.md``)."""

    @property
    def synapse_store(self):
        """The merged local synapse store (kept, so its file index stays cached)."""
        from .synapses import store_for

        if getattr(self, "_synapse_store", None) is None:
            self._synapse_store = store_for(self.layout)
        return self._synapse_store

    def download_synapses(
        self,
        pre_ids=None,
        post_ids=None,
        aggregate: bool = True,
        workers: int = 4,
        chunk_size: int | None = None,
        progress: Callable[[int, int, int], None] | None = None,
        page_limit: int | None = None,
    ):
        """Download (or resume) synapses between ``pre_ids`` and ``post_ids`` (None = any neuron).

        Returns a :class:`~napari_microns.core.synapses.DownloadReport`; raises
        :class:`IncompleteError` after keeping every finished chunk if some failed.
        ``progress(chunks_done, chunks_total, rows)`` is called after each chunk.
        See ``docs/synapses.md``.
        """
        from .synapses import DEFAULT_CHUNK_SIZE, DownloadPlan, download_synapses

        plan = DownloadPlan.create(pre_ids, post_ids, table=self.tables["synapses"], version=self.layout.version,
                                   datastack=self.datastack, aggregate=aggregate,
                                   chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size)
        from .roots import check_root_ids

        # a stale id (a unit's root at another processed version, edited since) has no synapses here
        check_root_ids(self, pre_ids, "pre ids")
        check_root_ids(self, post_ids, "post ids")
        return download_synapses(lambda: self.client, self.layout, plan, workers=workers, progress=progress,
                                 policy=self.retry, page_limit=page_limit, store=self.synapse_store)

    def repair_synapse_store(self) -> dict:
        """Verify the synapse store's files against their checksums and rebuild what is damaged
        (from the intact copy, else from the downloads); see :func:`~.synapses.repair_store`."""
        from .synapses import repair_store

        return repair_store(self.layout, self.synapse_store)

    def synapses(self, pre_ids=None, post_ids=None, aggregate: bool = False, drop_autapses: bool = False) -> pd.DataFrame:
        """Synapses from the local store (per synapse, or per (pre, post) pair with ``aggregate``)."""
        from .synapses import query_synapses

        return query_synapses(self.synapse_store, pre_ids, post_ids, aggregate=aggregate, drop_autapses=drop_autapses)

    def synapse_coverage(self, pre_ids=None, post_ids=None) -> dict:
        """Which of these ids have all their outputs (pre) / inputs (post) in the local store."""
        from .synapses import coverage

        return coverage(self.synapse_store, pre_ids, post_ids)

    def import_synapses(self, path_or_dataframe, position_unit: str = "voxel", covers: dict | None = None) -> dict:
        """Merge a datacleaner synapse folder/CSV, a file or a DataFrame into the local store
        (positions in 4x4x40 nm voxels, or ``position_unit="nm"``); ``covers={"pre": ids|"all",
        "post": ids|"all"}`` declares the table holds every synapse from pre to post."""
        from .synapses import import_synapses

        return import_synapses(path_or_dataframe, self.layout, store=self.synapse_store,
                               position_unit=position_unit, covers=covers)

    def import_synapse_dump(self, source: str | None = None, header: str | None = None, memory=None,
                            progress=None, merge_progress=None) -> dict:
        """Stream the whole-volume synapse table from its static dump (a path, ``file://``,
        ``https://`` or ``gs://`` URL of the ``.csv.gz``; default: this version's public dump) into
        the store, with bounded memory; a rerun resumes. See :mod:`.synapses.dump_import`."""
        from .dumps import dump_location
        from .synapses.dump_import import SYNAPSE_DUMP, import_synapse_dump

        source = source or f"{dump_location(self.layout.version, getattr(self, 'dump_source', None))}/{SYNAPSE_DUMP}"
        return import_synapse_dump(source, self.layout, self.synapse_store, header=header, policy=self.retry,
                                   memory=memory, progress=progress, merge_progress=merge_progress)

    def compact_synapses(self, memory=None, progress=None) -> bool:
        """Fold the store's small merges into its bucket files (bounded memory); returns whether
        there was anything to fold."""
        return self.synapse_store.compact(memory=memory, progress=progress)

    def synapse_files(self, kind: str = "synapses", side: str = "pre") -> list:
        """The store's Parquet files holding every row of ``kind`` once (compacting first when
        needed), verified: ``duckdb.read_parquet``, ``polars.scan_parquet`` or
        ``dask.dataframe.read_parquet`` of them give the rows of :meth:`synapses`."""
        self.compact_synapses()
        return [str(p) for p in self.synapse_store.files(kind, side)]

    def connectivity_by_type(self, by: str = "cell_type", pre_ids=None, post_ids=None,
                             drop_autapses: bool = False, memory=None) -> pd.DataFrame:
        """Synapses between groups of a units label over the whole store (or from ``pre_ids`` /
        to ``post_ids``), as an engine query: ``pre_group, post_group, n_connections, n_synapses,
        size_sum``; :func:`~.synapses.by_type.summary_matrix` pivots it."""
        from .synapses.by_type import summary_by_type

        return summary_by_type(self.synapse_store, self.units_if_processed(), by=by, pre_ids=pre_ids,
                               post_ids=post_ids, drop_autapses=drop_autapses, memory=memory)

    def units_if_processed(self) -> pd.DataFrame | None:
        """The processed units (read again only when the file changes), or None before :meth:`process`."""
        try:
            st = self.layout.units_path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = getattr(self, "_circuit_units", None)
        if cached is None or cached[0] != stamp:
            cached = self._circuit_units = (stamp, self.units())
        return cached[1]

    def partners(self, root_id, direction: str = "inputs"):
        """The partners of ``root_id`` (``inputs``: presynaptic; ``outputs``), one row per partner with
        its unit labels: a :class:`~.synapses.Partners` (``.table``, ``.synapses``, ``.complete``, ``.note``)."""
        from .synapses import partners

        return partners(self.synapse_store, self.units_if_processed(), root_id, direction)

    def partner_summary(self, root_id, direction: str = "inputs", by: str = "cell_type") -> pd.DataFrame:
        """:meth:`partners` grouped by a units label: ``n_partners, n_synapses, size_sum, share``."""
        from .synapses import partner_summary

        return partner_summary(self.partners(root_id, direction), by=by)

    def connectivity(self, root_ids, value: str = "count", order_by: str | None = "cell_type",
                     drop_autapses: bool = False):
        """The pre x post matrix among ``root_ids`` (``count``, summed ``size`` or ``log_size``), ordered
        by ``order_by`` then depth; NaN where the store does not hold every synapse of a pair: a
        :class:`~.synapses.Connectivity`."""
        from .synapses import connectivity

        return connectivity(self.synapse_store, self.units_if_processed(), root_ids, value=value, order_by=order_by,
                            drop_autapses=drop_autapses)
