"""The fetcher: skeletons and meshes of chosen root ids, from the cache or the source.

One id at a time, or in batches run by a bounded thread pool with progress reports;
Ctrl-C drops the queued ids, and one failing id does not lose the others.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable

import numpy as np

from ..errors import DataError, IncompleteError, MicronsError
from ..ids import parse_id, parse_ids
from ..layout import Layout
from ..session import DEFAULT_RETRY, RetryPolicy
from .cache import MorphologyCache
from .remote import ClientProvider, Remote, plain
from .sources import SOURCES_FILE, MorphologySources, reader_for, resolve_sources
from .types import NeuronMesh, NeuronSkeleton, skeleton_from_dict

#: ``progress(done, total)``, called after each id of a batch.
Progress = Callable[[int, int], None]


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


class Morphology:
    """Skeletons and meshes of one datastack at one materialization version, cached in ``layout``.

    ``client`` returns the CAVE client (made on first use; it raises :class:`AuthError`
    when no token is saved) and is called only when a source needs CAVE; ``known_client``
    returns it only if it already exists (or None), to explain a missing root id without
    going online. ``skeleton_source``/``mesh_source``: as ``Dataset``'s (None:
    ``sources.json``, else ``"cave"``). ``Dataset`` builds one: use its methods.
    """

    def __init__(self, layout: Layout, datastack: str, client: ClientProvider, *,
                 known_client: Callable[[], object | None] | None = None, retry: RetryPolicy = DEFAULT_RETRY,
                 skeleton_source: str | None = None, mesh_source: str | None = None):
        self.layout = layout
        self.datastack = datastack
        self.skeleton_source, self.mesh_source = skeleton_source, mesh_source
        self.cache = MorphologyCache(layout, datastack)
        self.remote = Remote(client, layout.version, datastack, known_client=known_client, retry=retry)
        self._sources_key = None
        self._sources: MorphologySources | None = None

    @property
    def version(self) -> int:
        return self.layout.version

    @property
    def sources(self) -> MorphologySources:
        """The resolved sources; ``sources.json`` is re-read when it changes."""
        try:
            stat = (self.layout.root / SOURCES_FILE).stat()
            key = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = None
        key = (key, self.skeleton_source, self.mesh_source)
        if self._sources is None or key != self._sources_key:
            self._sources = resolve_sources(self.layout, key[1], key[2])
            self._sources_key = key
        return self._sources

    # -- skeletons -------------------------------------------------------------
    def skeleton(self, root_id) -> NeuronSkeleton:
        """One skeleton, from the cache or the source (then cached)."""
        root_id = parse_id(root_id)
        cached = self.cache.load_skeleton(root_id, self.sources.skeleton)
        if cached is not None:
            return cached
        return self._fetch_skeleton(root_id)

    def skeletons(self, root_ids: Iterable, workers: int = 4, progress: Progress | None = None) -> dict[int, NeuronSkeleton]:
        """``{root_id: NeuronSkeleton}`` in input order, fetched by ``workers`` threads.

        With the skeleton service, ids not cached locally first go to the bulk endpoint
        (≤ 500 per request, skeletons the service already has); the rest one by one.
        ``progress(done, total)`` is called after each id. If any id fails, the others are
        still fetched and cached, then :class:`IncompleteError` is raised with ``.results``
        (the successes) and ``.failures`` (``{root_id: MicronsError}``).
        """
        check_workers(workers)
        ids = _unique_ids(root_ids)
        source = self.sources.skeleton
        done: dict[int, NeuronSkeleton] = {}
        missing = []
        for rid in ids:
            sk = self.cache.load_skeleton(rid, source)
            if sk is None:
                missing.append(rid)
            else:
                done[rid] = sk
        failures: dict[int, MicronsError] = {}
        counter = _Counter(len(ids), progress, already=len(done))
        bulk_reader = reader_for(source).bulk_skeletons
        if missing and bulk_reader is not None and len(missing) > 1:
            # one bulk request per 500 ids answers every skeleton the service has already cached
            try:
                bulk = bulk_reader(self.remote, missing)
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
        rest, more_failures = self._batch(missing, self._fetch_skeleton, workers, counter)
        done.update(rest)
        failures.update(more_failures)
        return _finish(ids, done, failures, "skeletons")

    def store_skeleton(self, root_id, d) -> NeuronSkeleton:
        """Put a skeleton (the skeleton service's dict, e.g. a saved ``skeleton.json``) in the cache
        of the current skeleton source, and return it."""
        root_id = parse_id(root_id)
        source = self.sources.skeleton
        sk = d if isinstance(d, NeuronSkeleton) else skeleton_from_dict(root_id, d, source)
        self.cache.save_skeleton(sk, source)
        return sk

    def _fetch_skeleton(self, root_id: int) -> NeuronSkeleton:
        source = self.sources.skeleton
        return self.store_skeleton(root_id, reader_for(source).skeleton(self.remote, root_id, source))

    # -- meshes ----------------------------------------------------------------
    def mesh(self, root_id, lod: int | None = None, max_faces: int | None = None) -> NeuronMesh:
        """One mesh, from the cache or the source (then cached).

        ``lod=None``: on multi-resolution sources the coarsest level with at least
        ``max_faces`` faces (the finest when none has), or the coarsest without a budget.
        ``max_faces``: decimate to at most that many faces (:func:`~.decimation.decimate`).
        """
        root_id = parse_id(root_id)
        check_mesh_options(lod, max_faces)
        source = self.sources.mesh
        cached = self.cache.load_mesh(root_id, source, lod, max_faces)
        if cached is not None:
            return cached
        mesh = self._from_imported(root_id, source, max_faces)
        if mesh is None:
            mesh = reader_for(source).mesh(self.remote, root_id, source, lod, max_faces)
        self.cache.save_mesh(mesh, lod, max_faces)
        return mesh

    def _from_imported(self, root_id: int, source: str, max_faces: int | None) -> NeuronMesh | None:
        """A user's imported mesh (decimated to ``max_faces``), or None when there is none."""
        mesh = self.cache.imported_mesh(root_id, source)
        if mesh is None or max_faces is None or mesh.n_faces <= max_faces:
            return mesh
        from ..transform import nm_to_um
        from .decimation import decimate

        v, f = decimate(mesh.vertices_nm.astype(np.float64), mesh.faces, max_faces)
        return NeuronMesh(root_id, v.astype(np.float32), nm_to_um(v).astype(np.float32), np.asarray(f, np.int32),
                          lod=None, source=source, n_faces_source=mesh.n_faces_source, meta=mesh.meta)

    def meshes(self, root_ids: Iterable, lod: int | None = None, max_faces: int | None = None,
               workers: int = 4, progress: Progress | None = None) -> dict[int, NeuronMesh]:
        """``{root_id: NeuronMesh}``; concurrency, progress and failures as :meth:`skeletons`."""
        check_mesh_options(lod, max_faces)  # once, up front: not a failure per id
        check_workers(workers)
        ids = _unique_ids(root_ids)
        counter = _Counter(len(ids), progress)
        done, failures = self._batch(ids, lambda r: self.mesh(r, lod=lod, max_faces=max_faces), workers, counter)
        return _finish(ids, done, failures, "meshes")

    # -- batches ---------------------------------------------------------------
    def _batch(self, ids: list[int], fetch_one, workers: int, counter: "_Counter"):
        """Run ``fetch_one`` over ``ids`` in a bounded thread pool; collect results and failures."""
        done: dict = {}
        failures: dict[int, MicronsError] = {}
        if not ids:
            return done, failures
        # the client is made lazily by the first thread that needs one; if that fails, the
        # other ids fail with the same error instead of each retrying it
        with self.remote.batch():
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
                        failures[rid] = DataError(f"root id {rid}: {type(exc).__name__}: {plain(exc)}")
                    counter.step()
            except BaseException:  # Ctrl-C: drop the queued ids; the running ones finish their atomic writes
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            else:
                pool.shutdown()
        return done, failures


def _unique_ids(root_ids) -> list[int]:
    return [int(r) for r in parse_ids(root_ids, "root id", unique=True)]


def _finish(ids: list[int], done: dict, failures: dict, what: str) -> dict:
    """The results in input order; :class:`IncompleteError` (keeping them) if any id failed."""
    ordered = {rid: done[rid] for rid in ids if rid in done}
    if failures:
        first_err = next(iter(failures.values()))
        raise IncompleteError(
            f"{len(failures)} of {len(ids)} {what} failed (first: {first_err}); the {len(ordered)} fetched are "
            "cached, and a rerun fetches only the rest",
            results=ordered, failures=dict(failures),
        )
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
