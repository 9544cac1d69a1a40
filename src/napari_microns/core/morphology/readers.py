"""Readers: how skeletons and meshes are read from one kind of source.

* :class:`VolumeReader`: a layer cloud-volume opens by its path (``precomputed://``,
  ``graphene://``, ``gs://``, ``file://``...): skeletons from ``cv.skeleton``, meshes
  from ``cv.mesh`` (single-resolution, or multi-resolution Draco like ``seg_m1300``).
* :class:`CaveReader`: the datastack's defaults (``"cave"``): skeletons from the CAVE
  skeleton service (also in bulk), meshes from the segmentation source CAVE names.

:mod:`.sources` picks the reader for a source by its scheme. Every reader takes the
fetcher's :class:`~.remote.Remote` (client, retries, opened volumes) as its first argument.
"""

from __future__ import annotations

import logging

import numpy as np

from ..credentials import check_token_host, token_destination
from ..errors import AuthError, DataError, MicronsError, NotFoundError, ServiceError
from ..ids import parse_id
from ..transform import nm_to_um
from .decimation import decimate, merge_duplicate_vertices
from .remote import Remote, plain
from .types import SKELETON_VERSION, NeuronMesh, NeuronSkeleton, guess_root, make_skeleton

log = logging.getLogger(__name__)

SKELETON_SERVICE = "the CAVE skeleton service"


def looks_missing(exc: BaseException) -> bool:
    """cloud-volume's ways of saying "no such object" (missing file, missing manifest)."""
    if type(exc).__name__ in ("MeshMissingError", "EmptyFileException"):
        return True
    if getattr(getattr(exc, "response", None), "status_code", None) in (400, 404):  # graphene: 400 for a bad id
        return True
    text = str(exc).lower()
    return any(s in text for s in ("do not exist", "does not exist", "missing corresponding mesh", "manifest not found"))


def cloud_volume_kwargs(remote: Remote, source: str, need_token_for: str) -> dict:
    """CloudVolume's arguments for ``source``. graphene:// (and middleauth+ URLs) carry the
    user's CAVE token: only to the datastack's own servers or hosts the user allows, never to
    one a data folder names (``need_token_for``: what the token is for, in messages)."""
    kwargs = dict(use_https=True, progress=False, fill_missing=False)
    if token_destination(source) is not None:
        client = remote.client(need_token_for=need_token_for)
        check_token_host(source, client, policy=remote.retry)
        if source.startswith("graphene://"):
            kwargs["secrets"] = {"token": client.auth.token}
    return kwargs


def open_volume(remote: Remote, source: str, what: str, need_token_for: str | None = None):
    """A CloudVolume for ``source`` (``what``: "morphology", "EM image", "segmentation", for
    messages), the token only where :func:`cloud_volume_kwargs` allows; a layer cloud-volume
    cannot open is one line, network failures go to the retry policy."""
    from cloudvolume import CloudVolume

    kwargs = cloud_volume_kwargs(remote, source, need_token_for or f"the {what} source {source}")

    def opener():
        try:
            return CloudVolume(source, **kwargs)
        except MicronsError:
            raise
        except Exception as exc:  # noqa: BLE001 - cloud-volume raises many kinds on a bad layer
            if getattr(exc, "response", None) is not None or isinstance(exc, (ConnectionError, TimeoutError, OSError)) \
                    and not isinstance(exc, FileNotFoundError):
                raise  # HTTP and network failures: the retry policy decides
            raise DataError(f"cannot open the {what} source {source} ({type(exc).__name__}: {plain(exc)})") from None

    return remote.call_cv(opener, what=f"the {what} layer {source}", service=source)


class VolumeReader:
    """A layer cloud-volume opens by its path."""

    #: ``bulk_skeletons(remote, root_ids) -> {root_id: dict}`` when the source has a bulk endpoint.
    bulk_skeletons = None

    @staticmethod
    def where(source: str) -> str:
        """The source as named in messages."""
        return source

    def open(self, remote: Remote, source: str):
        """A CloudVolume for ``source``."""
        return open_volume(remote, source, "morphology", need_token_for=source)

    # -- skeletons ---------------------------------------------------------------
    def skeleton(self, remote: Remote, root_id: int, source: str) -> NeuronSkeleton | dict:
        """The skeleton of ``root_id`` (a :class:`NeuronSkeleton`, or the skeleton service's dict)."""
        cv = remote.volume(source, self.open)

        def get():
            try:
                return cv.skeleton.get(root_id)
            except Exception as exc:  # noqa: BLE001
                if looks_missing(exc):
                    raise remote.missing_root_error(root_id, source, "skeleton") from None
                raise

        sk = remote.call_cv(get, what=f"the skeleton of root id {root_id}", service=source)
        if sk is None or len(sk.vertices) == 0:
            raise remote.missing_root_error(root_id, source, "skeleton")
        n = len(sk.vertices)
        radii, types = getattr(sk, "radii", None), getattr(sk, "vertex_types", None)
        radius = np.asarray(radii if radii is not None else np.zeros(n), np.float64)
        compartment = np.asarray(types if types is not None else np.zeros(n), np.int8)
        return make_skeleton(root_id, np.asarray(sk.vertices, np.float64), np.asarray(sk.edges, np.int64),
                             radius, compartment, guess_root(compartment, radius), source)

    # -- meshes ------------------------------------------------------------------
    def mesh(self, remote: Remote, root_id: int, source: str, lod: int | None, max_faces: int | None) -> NeuronMesh:
        """The mesh of ``root_id``: one level of detail, duplicates merged, decimated to ``max_faces``."""
        where = self.where(source)
        cv = remote.volume(source, self.open)
        source_mesh = cv.mesh
        used_lod = None
        if hasattr(source_mesh, "get_manifest") and hasattr(source_mesh, "vertex_quantization_bits"):
            verts, faces, used_lod = self._multires_mesh(remote, cv, root_id, lod, max_faces, where)
        else:
            if lod not in (None, 0):
                raise DataError(f"{where} has single-resolution meshes; use lod=None or 0, not {lod}")

            def get():
                try:
                    if source_mesh.__class__.__name__ == "UnshardedLegacyPrecomputedMeshSource":
                        # cloud-volume's own merge of duplicates is slow on big meshes; ours runs below
                        return source_mesh.get(root_id, remove_duplicate_vertices=False)
                    return source_mesh.get(root_id)
                except Exception as exc:  # noqa: BLE001
                    if looks_missing(exc):
                        raise remote.missing_root_error(root_id, where, "mesh") from None
                    raise

            got = remote.call_cv(get, what=f"the mesh of root id {root_id}", service=where)
            if isinstance(got, dict):  # graphene and multi-segment answers: {segid: Mesh}
                got = got[root_id] if root_id in got else (next(iter(got.values())) if len(got) == 1 else None)
            if got is None or len(got.faces) == 0:
                raise remote.missing_root_error(root_id, where, "mesh")
            verts, faces = got.vertices, got.faces
        verts, faces = merge_duplicate_vertices(verts, faces)
        n_source = len(faces)
        if max_faces is not None:
            verts, faces = decimate(verts, faces, max_faces)
        verts = np.asarray(verts, np.float32)
        return NeuronMesh(root_id, verts, nm_to_um(verts).astype(np.float32), np.asarray(faces, np.int32),
                          lod=used_lod, source=source, n_faces_source=n_source)

    @staticmethod
    def _multires_mesh(remote: Remote, cv, root_id: int, lod: int | None, max_faces: int | None, where: str):
        """Read one level of detail. With ``lod=None``: the coarsest level with at least
        ``max_faces`` faces (the finest when none has), or the coarsest without a budget."""

        def manifest():
            m = cv.mesh.get_manifest(root_id)
            if m is None:
                raise remote.missing_root_error(root_id, where, "mesh")
            return m

        num_lods = int(remote.call_cv(manifest, what=f"the mesh manifest of root id {root_id}", service=where).num_lods)
        if lod is not None and int(lod) >= num_lods:
            raise DataError(f"root id {root_id} has levels of detail 0-{num_lods - 1} in {where}; lod={lod} does not exist")

        def read(level: int):
            got = remote.call_cv(lambda: cv.mesh.get(root_id, lod=level),
                                 what=f"the mesh of root id {root_id} (lod {level})", service=where)
            m = got.get(root_id) if isinstance(got, dict) else got
            if m is None:
                raise remote.missing_root_error(root_id, where, "mesh")
            return np.asarray(m.vertices), np.asarray(m.faces)

        if lod is not None:
            return (*read(int(lod)), int(lod))
        for level in range(num_lods - 1, -1, -1):  # coarsest first
            verts, faces = read(level)
            if max_faces is None or len(faces) >= max_faces:
                break
        return verts, faces, level


class CaveReader(VolumeReader):
    """The datastack's defaults: the skeleton service, and the segmentation source CAVE names."""

    @staticmethod
    def where(source: str) -> str:
        return "the segmentation source"

    def open(self, remote: Remote, source: str):
        client = remote.client(need_token_for="the CAVE segmentation source (meshes)")
        return remote.call(lambda: client.info.segmentation_cloudvolume(progress=False),
                           what="the segmentation volume", service="the CAVE segmentation source")

    def skeleton(self, remote: Remote, root_id: int, source: str) -> dict:
        client = remote.client(need_token_for=SKELETON_SERVICE)

        def get():
            try:
                return client.skeleton.get_skeleton(root_id, skeleton_version=SKELETON_VERSION, output_format="dict")
            except ValueError as exc:  # caveclient's "Invalid root id ..." after its validity check
                if "root id" in str(exc).lower():
                    raise remote.missing_root_error(root_id, SKELETON_SERVICE, "skeleton") from None
                raise DataError(f"{SKELETON_SERVICE} could not serve root id {root_id}: {exc}") from None
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ == "NoL2CacheException":
                    raise ServiceError(f"{SKELETON_SERVICE} is unavailable for {remote.datastack} (no level-2 cache)") from None
                raise

        try:
            d = remote.call(get, what=f"the skeleton of root id {root_id}", service=SKELETON_SERVICE)
        except NotFoundError as exc:
            if str(exc).startswith(f"root id {root_id} "):
                raise
            raise remote.missing_root_error(root_id, SKELETON_SERVICE, "skeleton") from None
        if not isinstance(d, dict) or "vertices" not in d:
            raise DataError(f"{SKELETON_SERVICE} sent no skeleton for root id {root_id}")
        return d

    def bulk_skeletons(self, remote: Remote, root_ids: list[int]) -> dict[int, dict]:
        """Skeletons the service already has, ≤ 500 ids per request; the rest are fetched one by one."""
        from caveclient.base import ServerIncompatibilityError
        from caveclient.skeletonservice import MAX_BULK_CACHED_SKELETONS

        client = remote.client(need_token_for=SKELETON_SERVICE)
        found: dict[int, dict] = {}
        for start in range(0, len(root_ids), MAX_BULK_CACHED_SKELETONS):
            chunk = root_ids[start:start + MAX_BULK_CACHED_SKELETONS]

            def fetch(chunk=chunk):
                try:
                    return client.skeleton.fetch_skeletons(chunk, skeleton_version=SKELETON_VERSION, output_format="dict")
                except ServerIncompatibilityError:
                    return {}  # an older server: fall back to single requests

            try:
                answer = remote.call(fetch, what=f"{len(chunk)} cached skeletons", service=SKELETON_SERVICE)
            except AuthError:
                raise
            except MicronsError as exc:  # the single requests still get their chance
                log.warning("bulk skeleton request failed (%s); fetching one by one", exc)
                continue
            for key, d in (answer or {}).items():
                if isinstance(d, dict) and "vertices" in d:
                    found[parse_id(key)] = d
        return found

