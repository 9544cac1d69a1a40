"""The morphology code's way to the servers: the CAVE client (from a provider), the
retry policy, opened volumes, and the one-line "root id not found" explanation."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
import threading
from typing import Callable, Iterator

import numpy as np

from ..errors import AuthError, MicronsError, NotFoundError
from ..session import DEFAULT_RETRY, TOKEN_HELP, RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

CHUNKEDGRAPH = "the CAVE chunkedgraph service"

#: Returns the CAVE client (made on first use); raises :class:`AuthError` when no token is saved.
ClientProvider = Callable[[], object]


def plain(exc: BaseException) -> str:
    """An exception's text without cloud-volume's terminal colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()


class Remote:
    """CAVE client, retries and opened volumes, shared by the reader threads of a fetcher.

    ``client`` is called (under a lock) whenever a reader needs the CAVE client;
    ``known_client`` returns the client only if one is already made (or was given), so
    an error about a precomputed source can be explained without going online.
    """

    def __init__(self, client: ClientProvider, version: int, datastack: str, *,
                 known_client: Callable[[], object | None] | None = None, retry: RetryPolicy = DEFAULT_RETRY):
        self._provider = client
        self._known = known_client or (lambda: None)
        self.version = version
        self.datastack = datastack
        self.retry = retry
        self._lock = threading.Lock()
        self._volumes: dict[str, object] = {}
        self._in_batch = False
        self._client_failure: MicronsError | None = None

    # -- the client ------------------------------------------------------------
    def client(self, need_token_for: str | None = None):
        """The CAVE client; with ``need_token_for``, fail clearly when it has no token."""
        with self._lock:
            if self._client_failure is not None:  # in a batch, fail the other ids at once
                raise self._client_failure
            try:
                client = self._provider()
            except MicronsError as exc:
                if self._in_batch:
                    self._client_failure = exc
                raise
        if need_token_for and not getattr(getattr(client, "auth", None), "token", None):
            raise AuthError(f"{need_token_for} needs a CAVE token and none is saved: {TOKEN_HELP}")
        return client

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """While a batch runs, a client that cannot be made is tried once: the other ids
        fail with the same error instead of each retrying it."""
        self._in_batch, self._client_failure = True, None
        try:
            yield
        finally:
            self._in_batch, self._client_failure = False, None

    # -- calls -----------------------------------------------------------------
    def call(self, fn, what: str, service: str):
        return call_with_retry(fn, what=what, service=service, policy=self.retry)

    def call_cv(self, fn, what: str, service: str):
        """A cloud-volume read: cloudfiles already retries storage reads (7 attempts with
        backoff), so one more attempt here, not a policy's worth multiplied by seven."""
        retry = self.retry
        policy = RetryPolicy(attempts=min(2, retry.attempts), base_delay=retry.base_delay, max_delay=retry.max_delay)
        return call_with_retry(fn, what=what, service=service, policy=policy)

    def volume(self, source: str, open_volume: Callable[["Remote", str], object]):
        """The volume of ``source``, opened once with ``open_volume(self, source)`` and kept."""
        with self._lock:
            if source in self._volumes:
                return self._volumes[source]
        cv = open_volume(self, source)
        with self._lock:
            return self._volumes.setdefault(source, cv)

    # -- errors ----------------------------------------------------------------
    def missing_root_error(self, root_id: int, where: str, kind: str = "data") -> NotFoundError:
        """A one-line error naming the id and version, with the latest root id when CAVE knows it."""
        v = self.version
        client = self._known()
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
            is_latest = self.call(
                lambda: client.chunkedgraph.is_latest_roots([root_id], timestamp=client.timestamp),
                what=f"whether root id {root_id} is current", service=CHUNKEDGRAPH,
            )
            if bool(np.asarray(is_latest).ravel()[0]):
                return NotFoundError(f"root id {root_id} exists at materialization version {v}, but {where} has no {kind} for it")
            now = _dt.datetime.now(_dt.timezone.utc)
            latest = self.call(
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
