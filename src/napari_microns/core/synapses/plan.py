"""What a synapse download asks for: its parameters, its key, and its chunks of root ids.

A :class:`DownloadPlan` is derived from the request alone. Its :meth:`~DownloadPlan.as_dict` is
the download's ``manifest.json`` (format 1), and its ``key`` (a hash of the request) names the
download's folder, so the same request always finds the same folder and resumes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..errors import DataError
from ..ids import side_ids
from .schema import kind_of

DEFAULT_CHUNK_SIZE = 100
#: the format of ``manifest.json``
PLAN_FORMAT = 1


def manifest_digest(doc: dict) -> str:
    """The SHA-256 of a manifest's content (what the store's record of a download holds)."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class DownloadPlan:
    """The synapses between some pre and some post root ids, to download in chunks.

    The root ids of one side (``chunk_side``, the longer list) are split into ``chunks`` of
    ``chunk_size`` ids each; the other side's ids (``other_side_ids``, None for any neuron)
    go whole with every chunk. Build one with :meth:`create`.
    """

    key: str
    table: str
    version: int
    datastack: str
    aggregate: bool
    chunk_size: int
    chunk_side: str
    chunks: tuple[tuple[int, ...], ...]
    other_side_ids: tuple[int, ...] | None

    @classmethod
    def create(cls, pre_ids, post_ids, *, table: str, version: int, datastack: str, aggregate: bool = True,
               chunk_size: int = DEFAULT_CHUNK_SIZE) -> "DownloadPlan":
        """The plan of a request: ``pre_ids`` / ``post_ids`` are root ids or None (any neuron),
        at least one side given; a one-line :class:`DataError` for anything else."""
        pre = side_ids(pre_ids, "pre")
        post = side_ids(post_ids, "post")
        if pre is None and post is None:
            raise DataError(
                "give pre ids or post ids (or both): downloading all 337 million synapses is not "
                "supported; use the units' root ids, e.g. --pre all --post <ids file>"
            )
        size = int(chunk_size)
        if size < 1:
            raise DataError(f"chunk_size must be at least 1 (got {chunk_size})")
        # chunk the side that has ids; with both, chunk the longer list and send the shorter whole
        if pre is None:
            side = "post"
        elif post is None:
            side = "pre"
        else:
            side = "pre" if len(pre) > len(post) else "post"
        chunked = (pre if side == "pre" else post).tolist()
        other = post if side == "pre" else pre
        params = {
            "table": table, "version": int(version), "datastack": datastack,
            "aggregate": bool(aggregate), "chunk_size": size, "chunk_side": side,
            "pre_ids": None if pre is None else pre.tolist(),
            "post_ids": None if post is None else post.tolist(),
        }
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        return cls(
            key=key, table=table, version=int(version), datastack=datastack, aggregate=bool(aggregate),
            chunk_size=size, chunk_side=side,
            chunks=tuple(tuple(chunked[start:start + size]) for start in range(0, len(chunked), size)),
            other_side_ids=None if other is None else tuple(other.tolist()),
        )

    @property
    def kind(self) -> str:
        """``connections`` (aggregated per pre/post pair) or ``synapses``."""
        return kind_of(self.aggregate)

    @property
    def requested(self) -> dict:
        """How many ids were asked for per side (``"all"``: any neuron)."""
        chunked = sum(len(c) for c in self.chunks)
        other = "all" if self.other_side_ids is None else len(self.other_side_ids)
        return {"pre": chunked, "post": other} if self.chunk_side == "pre" else {"pre": other, "post": chunked}

    def as_dict(self) -> dict:
        """The content of ``manifest.json``."""
        return {
            "format": PLAN_FORMAT, "key": self.key, "table": self.table, "version": self.version,
            "datastack": self.datastack, "aggregate": self.aggregate, "chunk_size": self.chunk_size,
            "chunk_side": self.chunk_side,
            "other_side_ids": None if self.other_side_ids is None else list(self.other_side_ids),
            "requested": self.requested,
            "chunks": [list(chunk) for chunk in self.chunks],
        }

    @classmethod
    def from_recorded(cls, doc: dict, sha256: str | None) -> "DownloadPlan":
        """:meth:`from_dict` of a manifest the store's record of a download names, checked first
        against the digest recorded for it (when one was); a :class:`DataError` if it differs."""
        if sha256 and manifest_digest(doc) != sha256:
            raise DataError("the manifest's checksum does not match")
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict) -> "DownloadPlan":
        """The plan a ``manifest.json`` holds; a :class:`DataError` when it is not one."""
        try:
            other = doc["other_side_ids"]
            plan = cls(
                key=doc["key"], table=doc["table"], version=doc["version"], datastack=doc["datastack"],
                aggregate=doc["aggregate"], chunk_size=doc["chunk_size"], chunk_side=doc["chunk_side"],
                chunks=tuple(tuple(chunk) for chunk in doc["chunks"]),
                other_side_ids=None if other is None else tuple(other),
            )
        except (KeyError, TypeError) as exc:
            raise DataError(f"not a synapse download manifest ({type(exc).__name__}: {exc})") from None
        if plan.chunk_side not in ("pre", "post"):
            raise DataError(f"not a synapse download manifest (chunk_side {plan.chunk_side!r})")
        return plan

    def digest(self) -> str:
        """:func:`manifest_digest` of :meth:`as_dict`."""
        return manifest_digest(self.as_dict())
