"""``Dataset``: one materialization version of MICrONS in one data folder.

The entry point of the library, shared by the CLI, the napari plugin and
notebooks::

    from napari_microns import Dataset
    ds = Dataset("~/microns-data", version=1300)
    ds.download_tables()            # needs a CAVE token (napari-microns login)
    units, layers = ds.process()    # purely local
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import pandas as pd

from .errors import DataError
from .layout import Layout
from .session import DEFAULT_RETRY, RetryPolicy, check_version, make_client
from .dataset_em import EmMixin
from .dataset_neuroglancer import NeuroglancerMixin
from .dataset_synapses import SynapsesMixin
from .roots import RootsMixin
from .versions import VersionTables, tables_for

if TYPE_CHECKING:
    from .units import UnitsResult

log = logging.getLogger(__name__)

DEFAULT_DATASTACK = "minnie65_public"


class Dataset(SynapsesMixin, EmMixin, NeuroglancerMixin, RootsMixin):
    """A materialization version of a CAVE datastack, kept in ``datadir``.

    Parameters
    ----------
    datadir
        Folder holding ``<version>/raw``, ``<version>/processed`` and the caches.
        A microns_datacleaner data folder works as it is.
    version
        Materialization version (see :func:`napari_microns.supported_versions`): an int, a
        numpy int or a digit string; anything else (``"abc"``, ``1300.7``, ``True``) raises
        :class:`VersionError`, a float is never truncated.
    datastack
        CAVE datastack, ``minnie65_public`` for the public MICrONS data.
    client
        A ``caveclient.CAVEclient``. When None, one is made on first network
        use from the token caveclient has saved; purely local work never
        touches the network.
    retry
        Retry policy for every server call (backoff with jitter).
    skeleton_source, mesh_source
        Where skeletons and meshes come from: ``"cave"`` (skeleton service;
        the datastack's segmentation source) or a cloud-volume path such as
        ``precomputed://file:///...``. None: ``<datadir>/<version>/sources.json``
        when present, else ``"cave"``. See ``docs/morphology.md``.
    image_source, segmentation_source
        Where EM imagery and segmentation cutouts come from (:meth:`em_cutout`): a
        cloud-volume path, or ``"cave"`` (the datastack's image; the version's static
        segmentation, else the graphene one). None: ``sources.json``, else ``"cave"``.
    dump_source
        Where the static dumps of expired versions live (:mod:`.dumps`): a CloudFiles path
        (``https://``, ``gs://``, ``file://``). None: ``$NAPARI_MICRONS_DUMP_URL``, else the public store.
    """

    def __init__(
        self,
        datadir: str | Path,
        version: int = 1300,
        datastack: str = DEFAULT_DATASTACK,
        client=None,
        retry: RetryPolicy = DEFAULT_RETRY,
        skeleton_source: str | None = None,
        mesh_source: str | None = None,
        image_source: str | None = None,
        segmentation_source: str | None = None,
        dump_source: str | None = None,
    ):
        self.tables: VersionTables = tables_for(version)  # unknown version fails here, offline
        # morphology sources: None = <version>/sources.json, else the datastack's CAVE defaults
        self.skeleton_source = skeleton_source
        self.mesh_source = mesh_source
        self.image_source = image_source  # EM sources (core/em/): same rule
        self.segmentation_source = segmentation_source
        self.dump_source = dump_source
        self.version = self.tables.version  # a whole number, checked by tables_for
        self.datastack = datastack
        self.layout = Layout(Path(datadir), self.version)
        self.retry = retry
        self._client = client
        self._version_checked = False

    def __repr__(self) -> str:
        return f"Dataset({str(self.layout.datadir)!r}, version={self.version}, datastack={self.datastack!r})"

    @property
    def datadir(self) -> Path:
        return self.layout.datadir

    # -- network -------------------------------------------------------------
    @property
    def client(self):
        """The CAVE client, created and checked against the version on first use."""
        if self._client is None:
            self._client = make_client(self.datastack, policy=self.retry)
        if not self._version_checked:
            check_version(self._client, self.version, policy=self.retry)
            self._version_checked = True
        return self._client

    def download_tables(
        self,
        tables: Iterable[str] | None = None,
        force: bool = False,
        page_limit: int | None = None,
        progress: Callable[[str, int], None] | None = None,
        from_dump: bool = False,
    ) -> dict[str, int]:
        """Download the version's annotation tables to ``<datadir>/<version>/raw``.

        A version the server no longer serves but lists as expired, or any version with
        ``from_dump`` (no server asked), is read from its static dump (:mod:`.dumps`).

        Tables already complete on disk are skipped unless ``force``. Returns
        ``{table: rows}`` for the tables downloaded now. ``progress(table,
        rows)`` is called after each page.
        """
        from .layout import make_dirs, write_lock
        from .tables import download_table, is_complete

        wanted = list(tables) if tables is not None else self.tables.annotation_tables()
        from .server_versions import DownloadResult, server_table_plan

        # optional tables (unconfirmed at this version) the server lacks: left out, named in done.skipped
        skipped = server_table_plan(lambda: self.client, self.tables, wanted, self.datastack, self.retry,
                                    expired=lambda: from_dump or self._expired())
        wanted = [t for t in wanted if t not in skipped]
        done: dict[str, int] = DownloadResult(skipped=skipped)
        make_dirs(self.layout.raw_dir)
        with write_lock(self.layout.lock_file("raw"), f"the raw tables of version {self.version} in {self.layout.raw_dir}"):
            for table in wanted:
                if not force and is_complete(self.layout, table):
                    log.info("%s: already complete, skipped", table)
                    continue
                on_page = (lambda n, t=table: progress(t, n)) if progress else None
                if from_dump or self._expired():
                    from .dumps import download_dump_table

                    done[table] = download_dump_table(self.layout, table, datastack=self.datastack,
                                                      base=self.dump_source, policy=self.retry, on_page=on_page)
                    continue
                done[table] = download_table(
                    self.client, self.layout, table, datastack=self.datastack,
                    policy=self.retry, limit=page_limit, on_page=on_page,
                )
        return done

    def _expired(self) -> bool:
        """True when the server lists this version as expired (asked once): its tables come from the dump."""
        if getattr(self, "_is_expired", None) is None:
            if self._version_checked:
                self._is_expired = False
            else:
                from .dumps import version_expired

                if self._client is None:
                    self._client = make_client(self.datastack, policy=self.retry)
                self._is_expired = version_expired(self._client, self.version, policy=self.retry)
        return self._is_expired

    # -- local processing ----------------------------------------------------
    def process(self, functional: str = "none", layer_method: str = "datacleaner") -> UnitsResult:
        """Merge the raw tables into units and layers and write them to ``processed/``.

        Returns a :class:`~.units.UnitsResult` (``.units``, ``.layers``, ``.summary``), which
        also unpacks as ``units, layers = ds.process()``.
        """
        from .units import build_units

        result = build_units(self.layout, self.tables, functional=functional, layer_method=layer_method)
        result.write(self.layout)
        return result

    def units(self) -> pd.DataFrame:
        """The processed units table (run :meth:`process` first)."""
        from .units import read_processed

        return read_processed(self.layout.units_path)

    def layers(self) -> pd.DataFrame:
        """The processed cortical layer table (run :meth:`process` first)."""
        from .units import read_processed

        return read_processed(self.layout.layers_path)

    def summary(self) -> dict:
        """What the last :meth:`process` kept and removed, and why."""
        from .layout import read_json

        try:
            return read_json(self.layout.summary_path)
        except FileNotFoundError:
            raise DataError(f"{self.layout.summary_path} not found; run process() first") from None

    # -- morphology (core/morphology/) ---------------------------------------
    @property
    def morphology(self):
        """The skeleton/mesh fetcher and its cache (:class:`~.morphology.Morphology`)."""
        if getattr(self, "_morphology", None) is None:
            from .morphology import Morphology

            self._morphology = Morphology(
                self.layout, self.datastack, lambda: self.client, known_client=lambda: self._client,
                retry=self.retry, skeleton_source=self.skeleton_source, mesh_source=self.mesh_source,
            )
        return self._morphology

    def skeleton(self, root_id):
        """The skeleton of ``root_id`` (a ``NeuronSkeleton``: nm and pia-aligned µm), cached on disk."""
        self.warn_stale_ids(root_id, "skeleton")
        return self.morphology.skeleton(root_id)

    def skeletons(self, root_ids, workers: int = 4, progress=None):
        """``{root_id: NeuronSkeleton}``; failures raise ``IncompleteError`` (with ``.results``, ``.failures``) at the end."""
        self.warn_stale_ids(root_ids, "skeletons")
        return self.morphology.skeletons(root_ids, workers=workers, progress=progress)

    def mesh(self, root_id, lod: int | None = None, max_faces: int | None = None):
        """The mesh of ``root_id`` (a ``NeuronMesh``), coarsest suitable level of detail, decimated to ``max_faces``."""
        self.warn_stale_ids(root_id, "mesh")
        return self.morphology.mesh(root_id, lod=lod, max_faces=max_faces)

    def meshes(self, root_ids, lod: int | None = None, max_faces: int | None = None, workers: int = 4, progress=None):
        """``{root_id: NeuronMesh}``; failures raise ``IncompleteError`` at the end, like :meth:`skeletons`."""
        self.warn_stale_ids(root_ids, "meshes")
        return self.morphology.meshes(root_ids, lod=lod, max_faces=max_faces, workers=workers, progress=progress)

    def import_skeleton(self, path_or_dict, root_id, units: str = "nm"):
        """Put your own skeleton (an SWC file, a skeleton-service JSON file or dict) into the cache of
        ``root_id``, so :meth:`skeleton` and the viewer show it; ``units``: ``"nm"``, ``"um"``
        (pia-aligned µm, as the napari writers write) or ``"voxel"`` (4x4x40 nm)."""
        from .morphology.files import import_skeleton

        return import_skeleton(self.morphology, path_or_dict, root_id, units=units)

    def import_mesh(self, path, root_id, units: str = "nm"):
        """Put your own mesh (.off/.ply/.obj) into the cache of ``root_id``, so :meth:`mesh` (at any
        face budget) and the viewer show it; ``units`` as :meth:`import_skeleton`."""
        from .morphology.files import import_mesh

        return import_mesh(self.morphology, path, root_id, units=units)
