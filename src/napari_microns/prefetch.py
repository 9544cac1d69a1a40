"""Prefetch for offline work: the synapses and the morphology of a set of neurons into the data
folder, so the window (and notebooks) can go on without a network afterwards.

:class:`Prefetch` sits beside the :class:`~.scene.Scene`: it names the neurons (the chosen ones,
or the units shown after the filters, proofread or all: :func:`prefetch_ids`) and makes a
:class:`PrefetchRequest` on the UI thread; the request runs in a worker through the core
(``Dataset.download_synapses``, ``Dataset.skeletons``/``meshes``: resumable, cached), reports
``progress(done, total, text)`` and stops between steps when its cancel event is set, keeping
what finished. No napari or Qt here: the panel is ``_qt/prefetch_panel.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from psygnal import Signal, SignalGroup

from . import layer_data as ld
from .core.errors import DataError, MicronsError
from .fetching import DEFAULT_MAX_FACES
from .scene import Scene, fetch_source

#: Where the ids come from: the chosen neurons, the proofread units shown after the filters, or
#: every unit shown after the filters.
ID_SOURCES = ("chosen", "shown proofread", "shown")
#: Which synapses: onto the neurons (``post_ids``), from them (``pre_ids``), or both.
DIRECTIONS = ("inputs", "outputs", "both")
KINDS = ("synapses", "morphology")

#: ``progress(done, total, text)``: steps done of a total (chunks, or neurons), and a line saying what.
Progress = Callable[[int, int, str], None]


class Cancelled(MicronsError):
    """Raised inside a prefetch (from its progress) when its cancel event is set."""


def prefetch_ids(scene: Scene, source: str) -> np.ndarray:
    """The root ids of ``source`` (:data:`ID_SOURCES`), unique, in the units' order; a one-line
    error when there are none."""
    if source not in ID_SOURCES:
        raise DataError(f"neurons to prefetch come from {', '.join(ID_SOURCES)} (got {source!r})")
    if source == "chosen":
        ids = np.asarray(scene.chosen, dtype=np.int64)
        if len(ids) == 0:
            raise DataError("no chosen neurons: choose some in the Neurons panel")
        return ids
    features = scene.shown_features()
    if features is None:
        raise DataError("load units first")
    if source == "shown proofread":
        features = features[ld.filter_mask(features, proofread_only=True)]
    ids = features["pt_root_id"].to_numpy(dtype=np.int64)
    ids = ids[ids > 0]  # units without a segment (root id 0) have nothing to fetch
    if len(ids) == 0:
        raise DataError(f"no {source} units with a root id: change the filters")
    return np.asarray(list(dict.fromkeys(ids.tolist())), dtype=np.int64)


@dataclass(frozen=True)
class PrefetchRequest:
    """One prefetch, fixed on the UI thread and run in a worker (:meth:`run`)."""

    kind: str  # "synapses" | "morphology"
    dataset: object  # the Dataset
    ids: tuple[int, ...]
    source: str
    direction: str = "both"  # synapses: DIRECTIONS
    aggregate: bool = False  # synapses: one row per connection instead of per synapse
    meshes: bool = False  # morphology: meshes too (at the display's face budget)

    def describe(self) -> str:
        n = f"{len(self.ids):,} {self.source} neuron{'s' if len(self.ids) != 1 else ''}"
        if self.kind == "synapses":
            rows = "connections" if self.aggregate else "synapses"
            return f"{self.direction} {rows} of {n}"
        return f"{'skeletons and meshes' if self.meshes else 'skeletons'} of {n}"

    def run(self, progress: Progress | None = None, cancel: threading.Event | None = None, workers: int = 4) -> str:
        """Run it (in a worker); the one-line summary. Cancelled: what finished is kept (a rerun
        goes on from there) and the summary says so. Failures raise :class:`MicronsError`."""
        cancel = cancel or threading.Event()
        try:
            if self.kind == "synapses":
                return self._synapses(progress, cancel, workers)
            return self._morphology(progress, cancel, workers)
        except Cancelled as stopped:
            return str(stopped)

    def _synapses(self, progress, cancel, workers) -> str:
        ids = list(self.ids)
        sides = {"inputs": [("inputs", {"post_ids": ids})], "outputs": [("outputs", {"pre_ids": ids})]}
        sides["both"] = sides["inputs"] + sides["outputs"]
        rows = "connections" if self.aggregate else "synapses"
        said = []
        for side, which in sides[self.direction]:
            def tick(done, total, n, side=side):
                if cancel.is_set():
                    raise Cancelled(f"cancelled {side} after {done} of {total} chunks ({n:,} {rows}); "
                                    "the finished chunks are kept and a rerun resumes")
                if progress:
                    progress(done, total, f"{side}: chunk {done} of {total}, {n:,} {rows}")

            report = self.dataset.download_synapses(aggregate=self.aggregate, workers=workers, progress=tick, **which)
            said.append(f"{side}: {report.summary()}")
        return "; ".join(said)

    def _morphology(self, progress, cancel, workers) -> str:
        ids = list(self.ids)
        steps = [("skeletons", lambda tick: self.dataset.skeletons(ids, workers=workers, progress=tick))]
        if self.meshes:
            steps.append(("meshes", lambda tick: self.dataset.meshes(ids, max_faces=DEFAULT_MAX_FACES,
                                                                     workers=workers, progress=tick)))
        said = []
        for what, fetch in steps:
            def tick(done, total, what=what):
                if cancel.is_set():
                    raise Cancelled(f"cancelled after {done} of {total} {what}; those are cached and a rerun "
                                    "fetches only the rest")
                if progress:
                    progress(done, total, f"{what}: {done} of {total}")

            tick(0, len(ids))
            said.append(f"{len(fetch(tick)):,} {what}")
        return f"{' and '.join(said)} cached in {self.dataset.layout.root}: they open offline now"


class PrefetchEvents(SignalGroup):
    """What a :class:`Prefetch` announces (on the UI thread)."""

    #: a prefetch ended: its one-line summary
    finished = Signal(str)


class Prefetch:
    """Prefetches for the scene's dataset: :meth:`request` on the UI thread, ``request.run`` in a
    worker, :meth:`finish` with its summary back on the UI thread."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.events = PrefetchEvents()
        self._summary: str | None = None

    @property
    def summary(self) -> str | None:
        """The last prefetch's one-line summary, or None."""
        return self._summary

    def request(self, kind: str, source: str, direction: str = "both", aggregate: bool = False,
                meshes: bool = False) -> PrefetchRequest:
        """A prefetch of ``kind`` (:data:`KINDS`) for the ids of ``source`` from the scene's dataset."""
        if kind not in KINDS:
            raise DataError(f"prefetch {' or '.join(KINDS)} (got {kind!r})")
        if direction not in DIRECTIONS:
            raise DataError(f"synapses are {', '.join(DIRECTIONS)} (got {direction!r})")
        dataset = fetch_source(self.scene.dataset)
        ids = tuple(int(i) for i in prefetch_ids(self.scene, source))
        return PrefetchRequest(kind, dataset, ids, source, direction, bool(aggregate), bool(meshes))

    def finish(self, summary: str) -> None:
        self._summary = summary
        self.events.finished.emit(summary)
