"""Fetching one chunk of a download: every synapse of its root ids, splitting on capped answers.

Each chunk is one or more queries of the synapse table (``synapses_pni_2``) through
:mod:`core.query` and so through the one retry policy of :mod:`core.session`. A capped
answer splits the chunk's id list in halves until every answer is complete; a single id
whose synapses still exceed the cap is paged by synapse id ranges (:func:`core.query.query_all`).
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
import pyarrow as pa

from ..query import query_all, query_page
from ..session import RetryPolicy
from .plan import DownloadPlan
from .rows import aggregate_rows, synapse_rows
from .schema import POST, PRE, SIDES

log = logging.getLogger(__name__)


class ChunkFetcher:
    """Fetch every synapse of one chunk, splitting on capped answers."""

    def __init__(self, client, plan: DownloadPlan, policy: RetryPolicy, page_limit: int | None):
        self.client = client
        self.plan = plan
        self.policy = policy
        self.page_limit = page_limit
        self.chunk_col = SIDES[plan.chunk_side]
        self.other_col = SIDES["post" if plan.chunk_side == "pre" else "pre"]
        self.columns = ["id", PRE, POST, "size"] + ([] if plan.aggregate else ["ctr_pt_position"])
        # ids per query that answered uncapped lately, shared by the workers: once a chunk has
        # shown how dense the ids are, later chunks start at that size instead of re-learning it
        # through capped answers (which cost a full answer each). Results do not depend on it.
        self.max_ids: int | None = None
        self._lock = threading.Lock()
        # the other side's ids, as a list, once: sent with every query
        self._other_ids = None if plan.other_side_ids is None else list(plan.other_side_ids)

    def filters(self, ids: list[int]) -> dict:
        filter_in = {self.chunk_col: ids}
        if self._other_ids is not None:
            filter_in[self.other_col] = self._other_ids
        return {"filter_in_dict": filter_in}

    def _request(self, part: list[int], what: str) -> dict:
        """The arguments of :func:`query_page` / :func:`query_all` for the synapses of ``part``."""
        return dict(version=self.plan.version, filters=self.filters(part), select_columns=self.columns,
                    limit=self.page_limit, policy=self.policy, what=what)

    def fetch(self, index: int, ids) -> tuple[pa.Table, int]:
        ids = list(ids)
        pages: list[pd.DataFrame] = []
        queries = 0
        step = self.max_ids or len(ids)
        pending = [ids[start:start + step] for start in range(0, len(ids), step)][::-1]
        while pending:
            part = pending.pop()
            what = (f"synapses of {len(part)} {self.plan.chunk_side} ids {part[0]}..{part[-1]} "
                    f"(chunk {index}, version {self.plan.version})")
            page, capped = query_page(self.client, self.plan.table, **self._request(part, what))
            queries += 1
            if capped and len(part) == 1:
                # one neuron with more synapses than an answer holds: page by synapse id
                counter = {"n": 0}
                page = query_all(self.client, self.plan.table, **self._request(part, what),
                                 on_page=lambda n: counter.__setitem__("n", counter["n"] + 1))
                queries += counter["n"]
            elif capped:
                half = len(part) // 2
                with self._lock:
                    self.max_ids = min(self.max_ids or len(part), max(1, half))
                log.info("%s: capped answer; splitting into %d + %d ids", what, half, len(part) - half)
                pending += [part[half:], part[:half]]
                continue
            pages.append(page)
        return self.to_rows(pages), queries

    def to_rows(self, pages: list[pd.DataFrame]) -> pa.Table:
        for page in pages:
            # caveclient keeps the query (with every filter id) in attrs, which pandas deep-copies
            # on each operation: slow with thousands of ids
            page.attrs = {}
        frames = [p for p in pages if len(p)]
        raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", PRE, POST, "size"])
        ids = raw["id"].to_numpy()
        if len(np.unique(ids)) != len(ids):  # sub-queries are disjoint; this only guards a wobbly server
            raw = raw.drop_duplicates("id")
        if self.plan.aggregate:
            return aggregate_rows(raw)
        return synapse_rows(raw)
