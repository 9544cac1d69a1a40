"""Coverage: which (pre, post) pairs the store holds *every* synapse of.

Each store source that vouches for completeness is a *block*, a set of pre ids times a set of
post ids (``None``: any neuron): a download vouches for the chunk-side ids of its finished chunks
times the other side's requested ids (any neuron when it asked for none), an import made with
``covers={"pre": ..., "post": ...}`` for what it declared. A pair is covered when some block holds
it; a neuron's whole side (all its inputs, all its outputs) when a block holds it against any neuron.
The blocks are read once per store index commit (the index checksum names the commit).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..ids import parse_ids, side_ids
from ..layout import read_json
from .plan import DownloadPlan

log = logging.getLogger(__name__)

_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8


@dataclass(frozen=True)
class Block:
    """Every synapse from ``pre`` to ``post`` is in the store (sorted int64 ids; None: any neuron)."""

    pre: np.ndarray | None
    post: np.ndarray | None

    def side(self, side: str) -> np.ndarray | None:
        return self.pre if side == "pre" else self.post


def check_covers(covers) -> dict | None:
    """``covers`` of an import as the store records it: ``{"pre": [ids] | "all", "post": ...}``
    (sorted ints); a one-line :class:`DataError` for anything else."""
    if covers is None:
        return None
    if not isinstance(covers, dict) or set(covers) != {"pre", "post"}:
        raise DataError("covers must be a dict with the keys 'pre' and 'post', each root ids or 'all' "
                        "(e.g. covers={'pre': [X], 'post': 'all'} for all outputs of X)")
    out = {}
    for side in ("pre", "post"):
        value = covers[side]
        if value is None:
            raise DataError(f"covers[{side!r}] is None; give root ids, or 'all' for any neuron")
        ids = side_ids(value, side)
        out[side] = "all" if ids is None else [int(i) for i in ids]
    return out


def blocks(store) -> list[Block]:
    """The store's coverage blocks (cached per index commit)."""
    doc = store.index()
    key = (str(store.root), doc.get("checksum"))
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    out = []
    for source in doc["sources"]:
        block = _block_of(store, source)
        if block is not None:
            out.append(block)
    _CACHE[key] = out
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def _ids(value) -> np.ndarray | None:
    return None if value == "all" else np.unique(np.asarray(value, dtype=np.int64))


def _block_of(store, source: dict) -> Block | None:
    if source.get("origin") != "download":
        covers = source.get("covers")
        return None if not covers else Block(_ids(covers["pre"]), _ids(covers["post"]))
    if not source.get("chunks_done"):
        return None
    try:
        manifest = read_json(store.root.parent / source["manifest"] / "manifest.json")
    except (FileNotFoundError, DataError):
        return None
    try:
        plan = DownloadPlan.from_recorded(manifest, source.get("manifest_sha256"))
    except DataError:
        log.warning("%s is damaged: its chunks are not counted as covered (rerun that download)", source["manifest"])
        return None
    done = [i for i in source["chunks_done"] if 0 <= i < len(plan.chunks)]
    chunked = np.unique(np.fromiter((r for i in done for r in plan.chunks[i]), dtype=np.int64))
    other = None if plan.other_side_ids is None else np.unique(np.asarray(plan.other_side_ids, dtype=np.int64))
    return Block(chunked, other) if plan.chunk_side == "pre" else Block(other, chunked)


def _member(ids: np.ndarray, block_ids: np.ndarray | None) -> np.ndarray:
    return np.ones(len(ids), dtype=bool) if block_ids is None else np.isin(ids, block_ids)


def whole_side_covered(store, ids, side: str) -> np.ndarray:
    """Bool per id: the store holds all its outputs (``side="pre"``) or all its inputs (``"post"``)."""
    ids = np.asarray(ids, dtype=np.int64)
    other = "post" if side == "pre" else "pre"
    out = np.zeros(len(ids), dtype=bool)
    for block in blocks(store):
        if block.side(other) is None:
            out |= _member(ids, block.side(side))
    return out


def pair_coverage(store, pre_ids, post_ids) -> np.ndarray:
    """Bool ``(len(pre_ids), len(post_ids))``: the store holds every synapse from pre i to post j."""
    pre = parse_ids(pre_ids, "root id", where="pre ids")
    post = parse_ids(post_ids, "root id", where="post ids")
    out = np.zeros((len(pre), len(post)), dtype=bool)
    for block in blocks(store):
        rows, cols = _member(pre, block.pre), _member(post, block.post)
        if rows.all() and cols.all():  # (a whole-store import: no fancy indexing of n x n cells)
            out[:] = True
            break
        if rows.any() and cols.any():
            out[np.ix_(rows, cols)] = True
    return out
