"""Skeletons and meshes of chosen root ids, cached on disk, in the units' frame.

Sources
-------
* Skeletons: the CAVE skeleton service (``client.skeleton``, skeleton version
  4, dict format) by default, or a precomputed skeleton layer read through
  cloud-volume (``precomputed://gs://...``, ``precomputed://file:///...``).
* Meshes: the datastack's segmentation source (graphene, with the user's CAVE
  token) by default, or a precomputed layer: MICrONS' static ``seg_m1300``
  (sharded multi-resolution Draco) or a ``file://`` layer.

The source is chosen, in this order, by ``Dataset(skeleton_source=...,
mesh_source=...)``, by ``<datadir>/<version>/sources.json`` (``{"skeleton_source":
..., "mesh_source": ...}``), or the datastack's defaults above.

Every object is returned with vertices in nm (as served) and in the
pia-aligned µm frame of :mod:`.transform` (the frame of the units table), and
cached under ``<datadir>/<version>/morphology/<datastack>/`` keyed by root id
and source (plus level of detail and face budget for meshes). Cache files are
written atomically and carry a checksum; a corrupt file is fetched again.
A second call is answered from disk without a client or network.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from .errors import AuthError, DataError, IncompleteError, MicronsError, NotFoundError, ServiceError
from .ids import parse_id, parse_ids
from .layout import LOCK_NAME, Layout, atomic_path, atomic_write_json, read_json, write_lock
from .morphology_precomputed import file_url, write_precomputed_layer
from .session import TOKEN_HELP, RetryPolicy, call_with_retry, check_token_host, token_destination
from .transform import nm_to_um

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Dataset

log = logging.getLogger(__name__)

__all__ = [
    "CAVE", "MorphologySources", "Morphology", "NeuronMesh", "NeuronSkeleton", "SKELETON_VERSION",
    "SOURCES_FILE", "decimate", "file_url", "resolve_sources", "write_precomputed_layer", "write_sources",
]

#: Skeleton-service skeleton version (radius + compartments, soma collapsed).
SKELETON_VERSION = 4
#: The source name meaning "the datastack's CAVE default" (skeleton service / segmentation source).
CAVE = "cave"
#: Optional per-version file naming the data folder's own sources.
SOURCES_FILE = "sources.json"
#: Cache format; bump when the stored arrays change meaning.
CACHE_FORMAT = 1

SKELETON_SERVICE = "the CAVE skeleton service"
CHUNKEDGRAPH = "the CAVE chunkedgraph service"

SWC_SOMA, SWC_AXON, SWC_BASAL, SWC_APICAL = 1, 2, 3, 4


# -- results -------------------------------------------------------------------


@dataclass(eq=False)
class NeuronSkeleton:
    """A neuron's skeleton in nm and in the units' pia-aligned µm frame.

    ``compartment`` holds SWC codes (1 soma, 2 axon, 3 basal dendrite,
    4 apical dendrite, 0 unknown); ``root`` is the index of the soma vertex.
    """

    root_id: int
    vertices_nm: np.ndarray  # (N, 3) float64
    vertices_um: np.ndarray  # (N, 3) float64, pia-aligned (y = depth)
    edges: np.ndarray  # (M, 2) int64, child -> parent
    radius_nm: np.ndarray  # (N,) float64
    compartment: np.ndarray  # (N,) int8 SWC codes
    root: int
    source: str = CAVE
    lvl2_ids: np.ndarray | None = None
    mesh_to_skel_map: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices_nm)

    @property
    def soma_um(self) -> np.ndarray:
        """The root (soma) vertex in pia-aligned µm."""
        return self.vertices_um[self.root]

    @property
    def radius_um(self) -> np.ndarray:
        return self.radius_nm / 1000.0

    @cached_property
    def skeleton(self):
        """The meshparty ``Skeleton`` (nm), with ``compartment`` as a vertex property."""
        from meshparty.skeleton import Skeleton

        return Skeleton(
            self.vertices_nm, self.edges, root=int(self.root), radius=self.radius_nm,
            mesh_to_skel_map=self.mesh_to_skel_map,
            vertex_properties={"compartment": self.compartment.astype(int)},
            remove_zero_length_edges=False, meta={"root_id": int(self.root_id)},
        )

    def meshparty(self):
        """Same as :attr:`skeleton`."""
        return self.skeleton

    def __repr__(self) -> str:
        return f"NeuronSkeleton(root_id={self.root_id}, n_vertices={self.n_vertices}, source={self.source!r})"


@dataclass(eq=False)
class NeuronMesh:
    """A neuron's surface mesh in nm and in the units' pia-aligned µm frame."""

    root_id: int
    vertices_nm: np.ndarray  # (N, 3) float32
    vertices_um: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (M, 3) int32
    lod: int | None = None  # level of detail read (None: single-resolution source)
    source: str = CAVE
    n_faces_source: int = 0  # faces before decimation
    meta: dict = field(default_factory=dict)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    def trimesh(self, um: bool = False):
        """A ``trimesh.Trimesh`` (nm, or µm with ``um=True``)."""
        import trimesh

        return trimesh.Trimesh(self.vertices_um if um else self.vertices_nm, self.faces, process=False)

    def meshparty(self):
        """A meshparty ``trimesh_io.Mesh`` in nm."""
        from meshparty.trimesh_io import Mesh

        return Mesh(self.vertices_nm, self.faces, process=False)

    def __repr__(self) -> str:
        return f"NeuronMesh(root_id={self.root_id}, n_faces={self.n_faces}, lod={self.lod}, source={self.source!r})"


# -- sources -------------------------------------------------------------------


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


def resolve_sources(layout: Layout, skeleton_source: str | None = None, mesh_source: str | None = None) -> MorphologySources:
    """Arguments first, then ``<datadir>/<version>/sources.json``, then the CAVE defaults."""
    from_file: dict = {}
    path = layout.root / SOURCES_FILE
    if path.exists():
        from_file = read_json(path)
        if not isinstance(from_file, dict):
            raise DataError(f"{path} must hold a JSON object with skeleton_source and/or mesh_source")
    skel = skeleton_source if skeleton_source is not None else from_file.get("skeleton_source")
    mesh = mesh_source if mesh_source is not None else from_file.get("mesh_source")
    origin_s = "skeleton_source argument" if skeleton_source is not None else str(path)
    origin_m = "mesh_source argument" if mesh_source is not None else str(path)
    return MorphologySources(_check_source(skel, "skeleton_source", origin_s), _check_source(mesh, "mesh_source", origin_m))


def write_sources(layout: Layout, skeleton_source: str | None = None, mesh_source: str | None = None) -> Path:
    """Write ``<datadir>/<version>/sources.json`` so the folder carries its own sources."""
    doc = {k: v for k, v in (("skeleton_source", skeleton_source), ("mesh_source", mesh_source)) if v is not None}
    path = layout.root / SOURCES_FILE
    atomic_write_json(path, doc)
    return path


def _source_tag(source: str, kind: str) -> str:
    """A readable, stable folder name for a source."""
    if source == CAVE:
        return f"cave-skeleton-v{SKELETON_VERSION}" if kind == "skeleton" else "cave-segmentation"
    scheme = re.sub(r"[^a-z0-9]+", "-", source.split("://")[0].lower()).strip("-") or "source"
    return f"{scheme}-{hashlib.sha1(source.encode()).hexdigest()[:12]}"


# -- cache ---------------------------------------------------------------------


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


class MorphologyCache:
    """``.npz`` files under ``<datadir>/<version>/morphology/<datastack>/``.

    Each file holds the arrays and a JSON ``meta`` entry with a checksum of
    the arrays; a file that fails to parse or to match its checksum is
    reported as missing (and removed) so the caller fetches it again.
    """

    def __init__(self, layout: Layout, datastack: str):
        self.dir = layout.morphology_dir / datastack

    def skeleton_path(self, root_id: int, source: str) -> Path:
        return self.dir / "skeletons" / _source_tag(source, "skeleton") / f"{root_id}.npz"

    def mesh_path(self, root_id: int, source: str, lod: int | None, max_faces: int | None) -> Path:
        lod_part = "auto" if lod is None else str(int(lod))
        faces_part = "all" if max_faces is None else str(int(max_faces))
        return self.dir / "meshes" / _source_tag(source, "mesh") / f"{root_id}_lod-{lod_part}_faces-{faces_part}.npz"

    @staticmethod
    def write(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
        meta = dict(meta, cache_format=CACHE_FORMAT, checksum=_digest(arrays))
        payload = dict(arrays, meta=np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8))
        # one writer per cache folder at a time (processes and threads); the file itself is atomic
        with write_lock(path.parent / LOCK_NAME, f"the morphology cache {path.parent}"):
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **payload)

    @staticmethod
    def read(path: Path) -> tuple[dict[str, np.ndarray], dict] | None:
        """``(arrays, meta)``, or None when absent or corrupt (a corrupt file is removed)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
            if meta.get("cache_format") != CACHE_FORMAT or meta.get("checksum") != _digest(arrays):
                raise ValueError("checksum mismatch")
        except Exception as exc:  # noqa: BLE001 - any parse failure means "fetch again"
            log.warning("%s is corrupt (%s: %s); fetching it again", path, type(exc).__name__, exc)
            path.unlink(missing_ok=True)
            return None
        return arrays, meta


# -- conversion ----------------------------------------------------------------


def skeleton_from_dict(root_id: int, d: dict, source: str = CAVE) -> NeuronSkeleton:
    """A :class:`NeuronSkeleton` from the skeleton service's dict (skeleton version 4)."""
    try:
        verts = np.asarray(d["vertices"], dtype=np.float64).reshape(-1, 3)
        edges = np.asarray(d["edges"], dtype=np.int64).reshape(-1, 2)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"skeleton of root id {root_id} from {source} is malformed ({type(exc).__name__}: {exc})") from None
    n = len(verts)
    radius = np.asarray(d.get("radius", np.zeros(n)), dtype=np.float64)
    compartment = np.asarray(d.get("compartment", np.zeros(n)), dtype=np.int8)
    root = d.get("root")
    if root is None:
        root = _guess_root(compartment, radius)
    optional = {k: np.asarray(d[k], dtype=np.int64) for k in ("lvl2_ids", "mesh_to_skel_map") if k in d}
    meta = d.get("meta") if isinstance(d.get("meta"), dict) else {}
    return _make_skeleton(root_id, verts, edges, radius, compartment, int(root), source, meta=meta, **optional)


def _guess_root(compartment: np.ndarray, radius: np.ndarray) -> int:
    soma = np.flatnonzero(compartment == SWC_SOMA)
    if len(soma):
        return int(soma[0])
    return int(np.argmax(radius)) if len(radius) else 0


def _make_skeleton(root_id, verts, edges, radius, compartment, root, source, meta=None,
                   lvl2_ids=None, mesh_to_skel_map=None, vertices_um=None) -> NeuronSkeleton:
    n = len(verts)
    if len(radius) != n or len(compartment) != n or (n and not 0 <= root < n) or (len(edges) and edges.max() >= n):
        raise DataError(f"skeleton of root id {root_id} from {source} is inconsistent (vertex, radius, edge counts differ)")
    return NeuronSkeleton(
        root_id=int(root_id), vertices_nm=verts, vertices_um=nm_to_um(verts) if vertices_um is None else vertices_um,
        edges=edges, radius_nm=radius, compartment=compartment, root=int(root), source=source,
        lvl2_ids=lvl2_ids, mesh_to_skel_map=mesh_to_skel_map, meta=meta or {},
    )


#: fast-simplification keeps its working mesh in C++ globals: concurrent calls corrupt each
#: other's results (tests/test_morphology.py shows it), so every call holds this lock.
SIMPLIFY_LOCK = threading.Lock()


def decimate(vertices: np.ndarray, faces: np.ndarray, max_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation (fast-simplification) to at most ``max_faces`` faces. Thread-safe."""
    import fast_simplification

    max_faces = int(max_faces)
    if max_faces < 1:
        raise ValueError(f"max_faces must be a positive number of faces, not {max_faces}")
    if len(faces) <= max_faces:
        return vertices, faces
    vertices = np.asarray(vertices, dtype=np.float64)
    centre = vertices.mean(axis=0)  # float32 inside the simplifier: keep coordinates small
    local = (vertices - centre).astype(np.float32)
    tri = np.asarray(faces, dtype=np.int32)
    target = max_faces
    # agg=11: ~2x faster than the default 7; against agg=9 it is ~19% faster for +3% mean error
    # (3.4 vs 3.3 nm on the 1M-face benchmark mesh; docs/morphology.md). The simplifier stops early
    # on awkward meshes (borders, slivers): push harder until it fits
    for agg in (11.0, 12.0, 12.0, 12.0):
        with SIMPLIFY_LOCK:
            v, f = fast_simplification.simplify(local, tri, target_count=target, agg=agg)
        if 0 < len(f) <= max_faces:
            return (v + centre).astype(np.float64), f
        if len(f) > max_faces and agg == 12.0:
            target = max(1, int(target * max_faces / len(f) * 0.95))
    raise DataError(f"could not decimate a {len(faces)}-face mesh to {max_faces} faces; ask for more faces")


def _merge_duplicate_vertices(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge exactly repeated vertices (Draco fragment seams, chunk boundaries) so the
    surface is connected for decimation; hashing, O(n), unlike cloud-volume's sort-based
    ``consolidate``."""
    import pandas as pd

    verts = np.asarray(verts, dtype=np.float32)
    codes = pd.DataFrame(verts).groupby([0, 1, 2], sort=False).ngroup().to_numpy()
    n_unique = int(codes.max()) + 1 if len(codes) else 0
    if n_unique == len(verts):
        return verts, faces
    first = np.full(n_unique, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # the first vertex of each group
    return verts[first], codes[np.asarray(faces)]


# -- the fetcher ----------------------------------------------------------------


def check_workers(workers) -> None:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise DataError(f"workers must be a whole number of at least 1, not {workers!r}")


def check_mesh_options(lod, max_faces) -> None:
    """``lod`` (None or >= 0) and ``max_faces`` (None or >= 1) as one-line errors, checked
    before any id is fetched (not as one failure per id)."""
    for name, value, low, text in (("max_faces", max_faces, 1, "a positive number of faces"),
                                   ("lod", lod, 0, "0 (finest) or more")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"{name} must be a whole number, {text}, not {value!r}")
        if value < low:
            raise DataError(f"{name} must be {text}, not {value}")


Progress = Callable[[int, int], None]


class Morphology:
    """Skeletons and meshes of one :class:`Dataset` (use the ``Dataset`` methods)."""

    def __init__(self, dataset: "Dataset"):
        self.dataset = dataset
        self._sources_key = None
        self._sources = None
        self.cache = MorphologyCache(dataset.layout, dataset.datastack)
        self._lock = threading.Lock()
        self._volumes: dict[str, object] = {}
        self._in_batch = False
        self._client_failure: MicronsError | None = None

    # -- plumbing ------------------------------------------------------------
    @property
    def sources(self) -> MorphologySources:
        """The resolved sources; ``sources.json`` is re-read when it changes."""
        path = self.dataset.layout.root / SOURCES_FILE
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = None
        key = (key, getattr(self.dataset, "skeleton_source", None), getattr(self.dataset, "mesh_source", None))
        if self._sources is None or key != self._sources_key:
            self._sources = resolve_sources(self.dataset.layout, key[1], key[2])
            self._sources_key = key
        return self._sources

    @property
    def version(self) -> int:
        return self.dataset.version

    def _client(self, need_token_for: str | None = None):
        """The Dataset's CAVE client; with ``need_token_for``, fail clearly when it has no token."""
        with self._lock:
            if self._client_failure is not None:  # in a batch, fail the other ids at once
                raise self._client_failure
            try:
                client = self.dataset.client
            except MicronsError as exc:
                if self._in_batch:
                    self._client_failure = exc
                raise
        if need_token_for and not getattr(getattr(client, "auth", None), "token", None):
            raise AuthError(f"{need_token_for} needs a CAVE token and none is saved: {TOKEN_HELP}")
        return client

    def _call(self, fn, what: str, service: str):
        return call_with_retry(fn, what=what, service=service, policy=self.dataset.retry)

    def _call_cv(self, fn, what: str, service: str):
        """A cloud-volume read: cloudfiles already retries storage reads (7 attempts with
        backoff), so one more attempt here, not a policy's worth multiplied by seven."""
        retry = self.dataset.retry
        policy = RetryPolicy(attempts=min(2, retry.attempts), base_delay=retry.base_delay, max_delay=retry.max_delay)
        return call_with_retry(fn, what=what, service=service, policy=policy)

    def _volume(self, source: str):
        """A CloudVolume for ``source`` (``cave``: the datastack's segmentation source), kept per source."""
        with self._lock:
            if source in self._volumes:
                return self._volumes[source]
        if source == CAVE:
            client = self._client(need_token_for="the CAVE segmentation source (meshes)")
            cv = self._call(lambda: client.info.segmentation_cloudvolume(progress=False),
                            what="the segmentation volume", service="the CAVE segmentation source")
        else:
            from cloudvolume import CloudVolume

            kwargs = dict(use_https=True, progress=False, fill_missing=False)
            if token_destination(source) is not None:
                # graphene:// (and middleauth+ URLs) carry the user's CAVE token: only to the
                # datastack's own servers or hosts the user allows, never to one a data folder names
                client = self._client(need_token_for=source)
                check_token_host(source, client, policy=self.dataset.retry)
                if source.startswith("graphene://"):
                    kwargs["secrets"] = {"token": client.auth.token}

            def open_volume():
                try:
                    return CloudVolume(source, **kwargs)
                except Exception as exc:  # noqa: BLE001 - cloud-volume raises many kinds on a bad layer
                    if getattr(exc, "response", None) is not None or isinstance(exc, (ConnectionError, TimeoutError, OSError)) \
                            and not isinstance(exc, FileNotFoundError):
                        raise  # HTTP and network failures: the retry policy decides
                    raise DataError(
                        f"cannot open the morphology source {source} ({type(exc).__name__}: {_plain(exc)})"
                    ) from None

            cv = self._call_cv(open_volume, what=f"the layer {source}", service=source)
        with self._lock:
            self._volumes.setdefault(source, cv)
            return self._volumes[source]

    # -- errors --------------------------------------------------------------
    def missing_root_error(self, root_id: int, where: str, kind: str = "data") -> NotFoundError:
        """A one-line error naming the id and version, with the latest root id when CAVE knows it."""
        v = self.version
        client = self.dataset._client
        if client is None:  # precomputed source and no CAVE session: do not go online just to explain
            return NotFoundError(
                f"root id {root_id} has no {kind} in {where} (materialization version {v}); "
                f"check the id against the units table of version {v}"
            )
        unknown = NotFoundError(
            f"root id {root_id} does not exist at materialization version {v} ({where} has no {kind} for it and "
            "CAVE knows no newer id); check the id against the units table"
        )
        try:
            is_latest = self._call(
                lambda: client.chunkedgraph.is_latest_roots([root_id], timestamp=client.timestamp),
                what=f"whether root id {root_id} is current", service=CHUNKEDGRAPH,
            )
            if bool(np.asarray(is_latest).ravel()[0]):
                return NotFoundError(f"root id {root_id} exists at materialization version {v}, but {where} has no {kind} for it")
            now = _dt.datetime.now(_dt.timezone.utc)
            latest = self._call(
                lambda: client.chunkedgraph.get_latest_roots(root_id, timestamp=now),
                what=f"the latest root ids of {root_id}", service=CHUNKEDGRAPH,
            )
        except MicronsError as exc:
            log.info("could not look up a newer root id for %s: %s", root_id, exc)
            return unknown
        latest = [int(x) for x in np.asarray(latest).ravel()]
        if latest == [root_id]:
            return NotFoundError(
                f"root id {root_id} does not exist at materialization version {v}: it was made later; use a newer version"
            )
        if latest:
            shown = ", ".join(map(str, latest[:5])) + (" ..." if len(latest) > 5 else "")
            return NotFoundError(
                f"root id {root_id} does not exist at materialization version {v}: it was split or merged; "
                f"its latest root id(s): {shown} (a newer version's units table has them)"
            )
        return unknown

    # -- skeletons -------------------------------------------------------------
    def skeleton(self, root_id) -> NeuronSkeleton:
        """One skeleton, from the cache or the source (then cached)."""
        root_id = parse_id(root_id)
        cached = self._cached_skeleton(root_id)
        if cached is not None:
            return cached
        return self.store_skeleton(root_id, self._fetch_skeleton(root_id))

    def skeletons(self, root_ids: Iterable, workers: int = 4, progress: Progress | None = None) -> dict[int, NeuronSkeleton]:
        """``{root_id: NeuronSkeleton}`` in input order, fetched by ``workers`` threads.

        With the skeleton service, ids not cached locally first go to the bulk endpoint
        (≤ 500 per request, skeletons the service already has); the rest one by one.
        ``progress(done, total)`` is called after each id. If any id fails, the others are
        still fetched and cached, then :class:`IncompleteError` is raised with ``.results``
        (the successes) and ``.failures`` (``{root_id: MicronsError}``).
        """
        check_workers(workers)
        ids = self._unique_ids(root_ids)
        done: dict[int, NeuronSkeleton] = {}
        missing = []
        for rid in ids:
            sk = self._cached_skeleton(rid)
            if sk is None:
                missing.append(rid)
            else:
                done[rid] = sk
        failures: dict[int, MicronsError] = {}
        counter = _Counter(len(ids), progress, already=len(done))
        if missing and self.sources.skeleton == CAVE and len(missing) > 1:
            # one bulk request per 500 ids answers every skeleton the service has already cached
            try:
                bulk = self._bulk_cached_skeletons(missing)
            except MicronsError as exc:  # no client or token: every missing id fails alike
                bulk, failures = {}, {rid: exc for rid in missing}
                for _ in missing:
                    counter.step()
            for rid, d in bulk.items():
                try:
                    done[rid] = self.store_skeleton(rid, d)
                except MicronsError as exc:
                    failures[rid] = exc
                counter.step()
            missing = [r for r in missing if r not in done and r not in failures]
        rest, more_failures = self._batch(missing, lambda r: self.store_skeleton(r, self._fetch_skeleton(r)), workers, counter)
        done.update(rest)
        failures.update(more_failures)
        return self._finish(ids, done, failures, "skeletons")

    def _cached_skeleton(self, root_id: int) -> NeuronSkeleton | None:
        hit = self.cache.read(self.cache.skeleton_path(root_id, self.sources.skeleton))
        if hit is None:
            return None
        a, meta = hit
        return NeuronSkeleton(
            root_id=root_id, vertices_nm=a["vertices_nm"], vertices_um=a["vertices_um"], edges=a["edges"],
            radius_nm=a["radius_nm"], compartment=a["compartment"], root=int(meta["root"]),
            source=self.sources.skeleton, lvl2_ids=a.get("lvl2_ids"), mesh_to_skel_map=a.get("mesh_to_skel_map"),
            meta=meta.get("source_meta", {}),
        )

    def store_skeleton(self, root_id, d) -> NeuronSkeleton:
        """Put a skeleton (the skeleton service's dict, e.g. a saved ``skeleton.json``) in the cache
        of the current skeleton source, and return it."""
        root_id = parse_id(root_id)
        sk = d if isinstance(d, NeuronSkeleton) else skeleton_from_dict(root_id, d, self.sources.skeleton)
        arrays = dict(vertices_nm=sk.vertices_nm, vertices_um=sk.vertices_um, edges=sk.edges,
                      radius_nm=sk.radius_nm, compartment=sk.compartment)
        for name in ("lvl2_ids", "mesh_to_skel_map"):
            if getattr(sk, name) is not None:
                arrays[name] = getattr(sk, name)
        meta = dict(kind="skeleton", root_id=root_id, root=sk.root, source=self.sources.skeleton,
                    datastack=self.dataset.datastack, version=self.version, skeleton_version=SKELETON_VERSION,
                    fetched=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), source_meta=sk.meta)
        self.cache.write(self.cache.skeleton_path(root_id, self.sources.skeleton), arrays, meta)
        return sk

    def _fetch_skeleton(self, root_id: int):
        if self.sources.skeleton == CAVE:
            return self._service_skeleton(root_id)
        return self._precomputed_skeleton(root_id, self.sources.skeleton)

    def _service_skeleton(self, root_id: int) -> dict:
        client = self._client(need_token_for=SKELETON_SERVICE)

        def get():
            try:
                return client.skeleton.get_skeleton(root_id, skeleton_version=SKELETON_VERSION, output_format="dict")
            except ValueError as exc:  # caveclient's "Invalid root id ..." after its validity check
                if "root id" in str(exc).lower():
                    raise self.missing_root_error(root_id, SKELETON_SERVICE, "skeleton") from None
                raise DataError(f"{SKELETON_SERVICE} could not serve root id {root_id}: {exc}") from None
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ == "NoL2CacheException":
                    raise ServiceError(f"{SKELETON_SERVICE} is unavailable for {self.dataset.datastack} (no level-2 cache)") from None
                raise

        try:
            d = self._call(get, what=f"the skeleton of root id {root_id}", service=SKELETON_SERVICE)
        except NotFoundError as exc:
            if str(exc).startswith(f"root id {root_id} "):
                raise
            raise self.missing_root_error(root_id, SKELETON_SERVICE, "skeleton") from None
        if not isinstance(d, dict) or "vertices" not in d:
            raise DataError(f"{SKELETON_SERVICE} sent no skeleton for root id {root_id}")
        return d

    def _bulk_cached_skeletons(self, root_ids: list[int]) -> dict[int, dict]:
        """Skeletons the service already has, ≤ 500 ids per request; the rest are fetched one by one."""
        from caveclient.base import ServerIncompatibilityError
        from caveclient.skeletonservice import MAX_BULK_CACHED_SKELETONS

        client = self._client(need_token_for=SKELETON_SERVICE)
        found: dict[int, dict] = {}
        for start in range(0, len(root_ids), MAX_BULK_CACHED_SKELETONS):
            chunk = root_ids[start:start + MAX_BULK_CACHED_SKELETONS]

            def fetch(chunk=chunk):
                try:
                    return client.skeleton.fetch_skeletons(chunk, skeleton_version=SKELETON_VERSION, output_format="dict")
                except ServerIncompatibilityError:
                    return {}  # an older server: fall back to single requests

            try:
                answer = self._call(fetch, what=f"{len(chunk)} cached skeletons", service=SKELETON_SERVICE)
            except AuthError:
                raise
            except MicronsError as exc:  # the single requests still get their chance
                log.warning("bulk skeleton request failed (%s); fetching one by one", exc)
                continue
            for key, d in (answer or {}).items():
                if isinstance(d, dict) and "vertices" in d:
                    found[int(key)] = d
        return found

    def _precomputed_skeleton(self, root_id: int, source: str) -> NeuronSkeleton:
        cv = self._volume(source)

        def get():
            try:
                return cv.skeleton.get(root_id)
            except Exception as exc:  # noqa: BLE001
                if _looks_missing(exc):
                    raise self.missing_root_error(root_id, source, "skeleton") from None
                raise

        sk = self._call_cv(get, what=f"the skeleton of root id {root_id}", service=source)
        if sk is None or len(sk.vertices) == 0:
            raise self.missing_root_error(root_id, source, "skeleton")
        n = len(sk.vertices)
        radius = np.asarray(getattr(sk, "radii", None) if getattr(sk, "radii", None) is not None else np.zeros(n), np.float64)
        compartment = np.asarray(getattr(sk, "vertex_types", None) if getattr(sk, "vertex_types", None) is not None
                                 else np.zeros(n), np.int8)
        return _make_skeleton(root_id, np.asarray(sk.vertices, np.float64), np.asarray(sk.edges, np.int64),
                              radius, compartment, _guess_root(compartment, radius), source)

    # -- meshes ----------------------------------------------------------------
    def mesh(self, root_id, lod: int | None = None, max_faces: int | None = None) -> NeuronMesh:
        """One mesh, from the cache or the source (then cached).

        ``lod=None``: on multi-resolution sources the coarsest level with at least
        ``max_faces`` faces (the finest when none has), or the coarsest without a budget.
        ``max_faces``: decimate to at most that many faces (:func:`decimate`).
        """
        root_id = parse_id(root_id)
        check_mesh_options(lod, max_faces)
        path = self.cache.mesh_path(root_id, self.sources.mesh, lod, max_faces)
        hit = self.cache.read(path)
        if hit is not None:
            a, meta = hit
            return NeuronMesh(root_id, a["vertices_nm"], a["vertices_um"], a["faces"], lod=meta.get("lod"),
                              source=self.sources.mesh, n_faces_source=int(meta.get("n_faces_source", 0)))
        mesh = self._fetch_mesh(root_id, lod, max_faces)
        meta = dict(kind="mesh", root_id=root_id, lod=mesh.lod, requested_lod=lod, max_faces=max_faces,
                    n_faces_source=mesh.n_faces_source, source=self.sources.mesh, datastack=self.dataset.datastack,
                    version=self.version, fetched=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.cache.write(path, dict(vertices_nm=mesh.vertices_nm, vertices_um=mesh.vertices_um, faces=mesh.faces), meta)
        return mesh

    def meshes(self, root_ids: Iterable, lod: int | None = None, max_faces: int | None = None,
               workers: int = 4, progress: Progress | None = None) -> dict[int, NeuronMesh]:
        """``{root_id: NeuronMesh}``; concurrency, progress and failures as :meth:`skeletons`."""
        check_mesh_options(lod, max_faces)  # once, up front: not a failure per id
        check_workers(workers)
        ids = self._unique_ids(root_ids)
        counter = _Counter(len(ids), progress)
        done, failures = self._batch(ids, lambda r: self.mesh(r, lod=lod, max_faces=max_faces), workers, counter)
        return self._finish(ids, done, failures, "meshes")

    def _fetch_mesh(self, root_id: int, lod: int | None, max_faces: int | None) -> NeuronMesh:
        source = self.sources.mesh
        where = "the segmentation source" if source == CAVE else source
        cv = self._volume(source)
        source_mesh = cv.mesh
        used_lod = None
        if hasattr(source_mesh, "get_manifest") and hasattr(source_mesh, "vertex_quantization_bits"):
            verts, faces, used_lod = self._multires_mesh(cv, root_id, lod, max_faces, where)
            verts, faces = _merge_duplicate_vertices(verts, faces)
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
                    if _looks_missing(exc):
                        raise self.missing_root_error(root_id, where, "mesh") from None
                    raise

            got = self._call_cv(get, what=f"the mesh of root id {root_id}", service=where)
            if isinstance(got, dict):  # graphene and multi-segment answers: {segid: Mesh}
                got = got[root_id] if root_id in got else (next(iter(got.values())) if len(got) == 1 else None)
            if got is None or len(got.faces) == 0:
                raise self.missing_root_error(root_id, where, "mesh")
            verts, faces = _merge_duplicate_vertices(got.vertices, got.faces)
        n_source = len(faces)
        if max_faces is not None:
            verts, faces = decimate(verts, faces, max_faces)
        verts = np.asarray(verts, np.float32)
        return NeuronMesh(root_id, verts, nm_to_um(verts).astype(np.float32), np.asarray(faces, np.int32),
                          lod=used_lod, source=source, n_faces_source=n_source)

    def _multires_mesh(self, cv, root_id: int, lod: int | None, max_faces: int | None, where: str):
        """Read one level of detail. With ``lod=None``: the coarsest level with at least
        ``max_faces`` faces (the finest when none has), or the coarsest without a budget."""

        def manifest():
            m = cv.mesh.get_manifest(root_id)
            if m is None:
                raise self.missing_root_error(root_id, where, "mesh")
            return m

        num_lods = int(self._call_cv(manifest, what=f"the mesh manifest of root id {root_id}", service=where).num_lods)
        if lod is not None and int(lod) >= num_lods:
            raise DataError(f"root id {root_id} has levels of detail 0-{num_lods - 1} in {where}; lod={lod} does not exist")

        def read(level: int):
            got = self._call_cv(lambda: cv.mesh.get(root_id, lod=level), what=f"the mesh of root id {root_id} (lod {level})",
                             service=where)
            m = got.get(root_id) if isinstance(got, dict) else got
            if m is None:
                raise self.missing_root_error(root_id, where, "mesh")
            return np.asarray(m.vertices), np.asarray(m.faces)

        if lod is not None:
            return (*read(int(lod)), int(lod))
        levels = list(range(num_lods - 1, -1, -1))  # coarsest first
        for level in levels:
            verts, faces = read(level)
            if max_faces is None or len(faces) >= max_faces:
                break
        return verts, faces, level

    # -- batch helpers -----------------------------------------------------------
    @staticmethod
    def _unique_ids(root_ids) -> list[int]:
        return [int(r) for r in parse_ids(root_ids, "root id", unique=True)]

    def _batch(self, ids: list[int], fetch_one, workers: int, counter: "_Counter"):
        """Run ``fetch_one`` over ``ids`` in a bounded thread pool; collect results and failures."""
        done: dict = {}
        failures: dict[int, MicronsError] = {}
        if not ids:
            return done, failures
        # the client is made lazily by the first thread that needs one (under the lock); if that
        # fails, the other ids fail with the same error instead of each retrying it
        self._in_batch, self._client_failure = True, None
        pool = ThreadPoolExecutor(max_workers=max(1, int(workers)))
        try:
            futures = {pool.submit(fetch_one, rid): rid for rid in ids}
            for fut in as_completed(futures):
                rid = futures[fut]
                try:
                    done[rid] = fut.result()
                except MicronsError as exc:
                    failures[rid] = exc
                except Exception as exc:  # noqa: BLE001 - one bad id must not lose the others
                    failures[rid] = DataError(f"root id {rid}: {type(exc).__name__}: {_plain(exc)}")
                counter.step()
        except BaseException:  # Ctrl-C: drop the queued ids; the running ones finish their atomic writes
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        else:
            pool.shutdown()
        finally:
            self._in_batch, self._client_failure = False, None
        return done, failures

    def _finish(self, ids: list[int], done: dict, failures: dict, what: str) -> dict:
        ordered = {rid: done[rid] for rid in ids if rid in done}
        if failures:
            first_id, first_err = next(iter(failures.items()))
            err = IncompleteError(
                f"{len(failures)} of {len(ids)} {what} failed (first: {first_err}); the {len(ordered)} fetched are "
                "cached, and a rerun fetches only the rest"
            )
            err.results = ordered
            err.failures = dict(failures)
            raise err
        return ordered


class _Counter:
    """Thread-safe progress reporting: ``progress(done, total)`` after each id."""

    def __init__(self, total: int, progress: Progress | None, already: int = 0):
        self.total, self.progress, self.done = total, progress, already
        self._lock = threading.Lock()
        if progress and already:
            progress(already, total)

    def step(self) -> None:
        with self._lock:
            self.done += 1
            done = self.done
        if self.progress:
            self.progress(done, self.total)


def _plain(exc: BaseException) -> str:
    """An exception's text without cloud-volume's terminal colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()


def _looks_missing(exc: BaseException) -> bool:
    """cloud-volume's ways of saying "no such object" (missing file, missing manifest)."""
    if type(exc).__name__ in ("MeshMissingError", "EmptyFileException"):
        return True
    if getattr(getattr(exc, "response", None), "status_code", None) in (400, 404):  # graphene: 400 for a bad id
        return True
    text = str(exc).lower()
    return any(s in text for s in ("do not exist", "does not exist", "missing corresponding mesh", "manifest not found"))
