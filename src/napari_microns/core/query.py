"""Complete answers from the materialization service.

The server caps the rows of one answer (200,000 for minnie65) and only marks
a capped answer with a ``Warning`` header. :func:`query_all` notices the cap
and pages by ranges of the table's ``id`` column, splitting a capped range at
the median id it received until every range answers uncapped. The ranges are
disjoint, so the pages add up to the table exactly; the total is checked.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import requests

from .errors import ServiceError
from .http import captured_warnings, is_capped, watch_warnings
from .session import DEFAULT_RETRY, RetryPolicy, TruncatedResponse, call_with_retry
from .transform import VOXEL_RESOLUTION_NM

log = logging.getLogger(__name__)


class PageJournal:
    """Where :func:`query_all` keeps its progress so an interrupted download resumes by page.

    This base keeps nothing (every run starts from the whole id range);
    :class:`~.tables.TablePages` keeps the pages on disk.
    """

    def pending(self) -> list[tuple]:
        """The id ranges still to fetch."""
        return [(None, None)]

    def done_pages(self) -> list[pd.DataFrame]:
        """The pages an earlier run finished."""
        return []

    def page_done(self, id_range: tuple, df: pd.DataFrame, pending: list[tuple]) -> None:
        """A page arrived uncapped; ``pending`` is what is left."""

    def split(self, pending: list[tuple]) -> None:
        """A capped range was split; ``pending`` is what is left."""


SERVICE = "the CAVE materialization service"


def query_page(
    client,
    table: str,
    *,
    version: int,
    filters: dict | None = None,
    select_columns: list[str] | None = None,
    id_range: tuple[int | None, int | None] = (None, None),
    id_column: str = "id",
    limit: int | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    what: str | None = None,
) -> tuple[pd.DataFrame, bool]:
    """One query, retried; returns ``(rows, capped)``.

    ``filters`` maps caveclient filter keyword names (``filter_in_dict``,
    ``filter_equal_dict`` ...) to their dicts. ``id_range`` is ``[lo, hi)``.
    """
    kwargs = {k: dict(v) for k, v in (filters or {}).items()}
    lo, hi = id_range
    if lo is not None:
        kwargs.setdefault("filter_greater_equal_dict", {})[id_column] = int(lo)
    if hi is not None:
        kwargs.setdefault("filter_less_dict", {})[id_column] = int(hi)
    watch_warnings(client.materialize.session)

    def run():
        with captured_warnings() as warnings:
            try:
                df = client.materialize.query_table(
                    table,
                    materialization_version=version,
                    select_columns=select_columns,
                    split_positions=True,
                    merge_reference=False,
                    desired_resolution=list(VOXEL_RESOLUTION_NM),
                    limit=limit,
                    metadata=False,  # caveclient would copy every filter id into each answer's attrs
                    log_warning=False,
                    **kwargs,
                )
            except requests.RequestException:
                raise
            except (OSError, pa.ArrowException) as exc:  # body cut short: not decodable
                raise TruncatedResponse(f"truncated answer ({exc})") from exc
        capped = is_capped(warnings) or (limit is not None and len(df) >= limit)
        return df, capped

    return call_with_retry(run, what=what or f"table {table} (version {version})", service=SERVICE, policy=policy)


def query_all(
    client,
    table: str,
    *,
    version: int,
    filters: dict | None = None,
    select_columns: list[str] | None = None,
    id_column: str = "id",
    limit: int | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    on_page: Callable[[int], None] | None = None,
    what: str | None = None,
    journal: PageJournal | None = None,
) -> pd.DataFrame:
    """Every row matching ``filters``, however many the server caps an answer at.

    ``limit`` asks the server for at most that many rows per answer (tests and
    polite clients use it); the server's own cap is detected either way.
    ``on_page(n_rows)`` is called after each page, for progress bars.
    ``journal`` keeps the finished pages and the ranges left, so a rerun resumes.
    """
    what = what or f"table {table} (version {version})"
    if select_columns is not None and id_column not in select_columns:
        select_columns = [id_column, *select_columns]
    journal = journal or PageJournal()
    pending: list[tuple[int | None, int | None]] = journal.pending()
    pages: list[pd.DataFrame] = journal.done_pages()
    n_queries = 0
    while pending:
        lo, hi = pending.pop()
        df, capped = query_page(
            client, table, version=version, filters=filters, select_columns=select_columns,
            id_range=(lo, hi), id_column=id_column, limit=limit, policy=policy, what=what,
        )
        n_queries += 1
        if not capped:
            pages.append(df)
            journal.page_done((lo, hi), df, pending)
            if on_page:
                on_page(len(df))
            continue
        mid = _split_point(df, id_column, lo, hi, what)
        log.info("%s: answer for ids [%s, %s) capped at %d rows; splitting at %d", what, lo, hi, len(df), mid)
        pending.append((mid, hi))
        pending.append((lo, mid))
        journal.split(pending)

    non_empty = [p for p in pages if len(p)]
    result = pd.concat(non_empty, ignore_index=True) if non_empty else (pages[0] if pages else pd.DataFrame())
    expected = sum(len(p) for p in pages)
    if id_column in result.columns:
        n_dup = int(result[id_column].duplicated().sum())
        if n_dup or len(result) != expected:
            raise ServiceError(f"{what}: pages overlap ({n_dup} repeated ids); the server answered inconsistently, rerun")
        result = result.sort_values(id_column, kind="stable", ignore_index=True)
    log.info("%s: %d rows in %d queries", what, len(result), n_queries)
    return result


def _split_point(df: pd.DataFrame, id_column: str, lo, hi, what: str) -> int:
    if id_column not in df.columns or len(df) < 2:
        raise ServiceError(f"{what}: the server capped an answer of {len(df)} rows that cannot be split by {id_column!r}")
    ids = np.sort(df[id_column].to_numpy(dtype=np.int64))
    mid = int(ids[len(ids) // 2])
    low = ids[0] if lo is None else lo
    if mid <= low:  # all received ids at the bottom of the range: step past them
        mid = int(low) + 1
    if hi is not None and mid >= hi:
        raise ServiceError(f"{what}: the server capped an answer for the id range [{lo}, {hi}) that cannot be split further")
    return mid
