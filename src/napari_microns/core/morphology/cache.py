"""The on-disk morphology cache: ``<datadir>/<version>/morphology/<datastack>/``.

Keyed by root id and source (plus level of detail and face budget for meshes).
Files are written atomically under the cache folder's lock and carry a checksum;
a corrupt file is removed and reported as missing, so it is fetched again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from ..layout import LOCK_NAME, Layout, atomic_path, write_lock
from .types import CAVE, SKELETON_VERSION, NeuronMesh, NeuronSkeleton

log = logging.getLogger(__name__)

#: Cache format; bump when the stored arrays change meaning.
CACHE_FORMAT = 1


def source_tag(source: str, kind: str) -> str:
    """A readable, stable folder name for a source."""
    if source == CAVE:
        return f"cave-skeleton-v{SKELETON_VERSION}" if kind == "skeleton" else "cave-segmentation"
    scheme = re.sub(r"[^a-z0-9]+", "-", source.split("://")[0].lower()).strip("-") or "source"
    return f"{scheme}-{hashlib.sha1(source.encode()).hexdigest()[:12]}"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class MorphologyCache:
    """``.npz`` files under ``<datadir>/<version>/morphology/<datastack>/``.

    Each file holds the arrays and a JSON ``meta`` entry with a checksum of
    the arrays; a file that fails to parse or to match its checksum is
    reported as missing (and removed) so the caller fetches it again.
    """

    def __init__(self, layout: Layout, datastack: str):
        self.dir = layout.morphology_dir / datastack
        self.datastack = datastack
        self.version = layout.version

    def skeleton_path(self, root_id: int, source: str) -> Path:
        return self.dir / "skeletons" / source_tag(source, "skeleton") / f"{root_id}.npz"

    def mesh_path(self, root_id: int, source: str, lod: int | None, max_faces: int | None) -> Path:
        lod_part = "auto" if lod is None else str(int(lod))
        faces_part = "all" if max_faces is None else str(int(max_faces))
        return self.dir / "meshes" / source_tag(source, "mesh") / f"{root_id}_lod-{lod_part}_faces-{faces_part}.npz"

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

    # -- skeletons and meshes ----------------------------------------------------
    def load_skeleton(self, root_id: int, source: str) -> NeuronSkeleton | None:
        """The cached skeleton of ``root_id`` from ``source``, or None."""
        hit = self.read(self.skeleton_path(root_id, source))
        if hit is None:
            return None
        a, meta = hit
        return NeuronSkeleton(
            root_id=root_id, vertices_nm=a["vertices_nm"], vertices_um=a["vertices_um"], edges=a["edges"],
            radius_nm=a["radius_nm"], compartment=a["compartment"], root=int(meta["root"]),
            source=source, lvl2_ids=a.get("lvl2_ids"), mesh_to_skel_map=a.get("mesh_to_skel_map"),
            meta=meta.get("source_meta", {}),
        )

    def save_skeleton(self, sk: NeuronSkeleton, source: str) -> None:
        arrays = dict(vertices_nm=sk.vertices_nm, vertices_um=sk.vertices_um, edges=sk.edges,
                      radius_nm=sk.radius_nm, compartment=sk.compartment)
        for name in ("lvl2_ids", "mesh_to_skel_map"):
            if getattr(sk, name) is not None:
                arrays[name] = getattr(sk, name)
        meta = dict(kind="skeleton", root_id=sk.root_id, root=sk.root, source=source,
                    datastack=self.datastack, version=self.version, skeleton_version=SKELETON_VERSION,
                    fetched=_now(), source_meta=sk.meta)
        self.write(self.skeleton_path(sk.root_id, source), arrays, meta)

    def load_mesh(self, root_id: int, source: str, lod: int | None, max_faces: int | None) -> NeuronMesh | None:
        """The cached mesh for this request (level of detail and face budget), or None."""
        hit = self.read(self.mesh_path(root_id, source, lod, max_faces))
        if hit is None:
            return None
        a, meta = hit
        return NeuronMesh(root_id, a["vertices_nm"], a["vertices_um"], a["faces"], lod=meta.get("lod"),
                          source=source, n_faces_source=int(meta.get("n_faces_source", 0)))

    def imported_mesh(self, root_id: int, source: str) -> NeuronMesh | None:
        """The mesh a user imported for ``root_id`` (:mod:`.files`), or None; it answers every request."""
        hit = self.read(self.mesh_path(root_id, source, None, None))
        if hit is None or not hit[1].get("imported"):
            return None
        a, meta = hit
        return NeuronMesh(root_id, a["vertices_nm"], a["vertices_um"], a["faces"], lod=None, source=source,
                          n_faces_source=int(meta.get("n_faces_source", 0)), meta={"imported_from": meta["imported"]})

    def drop_meshes(self, root_id: int, source: str) -> int:
        """Remove every cached mesh of ``root_id`` from ``source`` (all levels and budgets); how many."""
        folder = self.mesh_path(root_id, source, None, None).parent
        if not folder.is_dir():
            return 0
        with write_lock(folder / LOCK_NAME, f"the morphology cache {folder}"):
            stale = list(folder.glob(f"{int(root_id)}_lod-*.npz"))
            for path in stale:
                path.unlink(missing_ok=True)
        return len(stale)

    def save_mesh(self, mesh: NeuronMesh, lod: int | None, max_faces: int | None, imported: str | None = None) -> None:
        """Cache ``mesh`` as the answer to a request for ``lod`` and ``max_faces`` (``imported``: the
        file a user's own mesh came from; see :meth:`imported_mesh`)."""
        meta = dict(kind="mesh", root_id=mesh.root_id, lod=mesh.lod, requested_lod=lod, max_faces=max_faces,
                    n_faces_source=mesh.n_faces_source, source=mesh.source, datastack=self.datastack,
                    version=self.version, fetched=_now(), imported=imported)
        arrays = dict(vertices_nm=mesh.vertices_nm, vertices_um=mesh.vertices_um, faces=mesh.faces)
        self.write(self.mesh_path(mesh.root_id, mesh.source, lod, max_faces), arrays, meta)
