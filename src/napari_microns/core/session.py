"""The CAVE session: client creation, retry policy and error translation.

This is the one place that talks retry policy. Every call napari-microns makes
to a CAVE service goes through :func:`call_with_retry`, which

* retries connection errors, timeouts, truncated bodies, HTTP 429 and 5xx with
  exponential backoff and full jitter (honouring ``Retry-After``),
* fails at once on 401/403/404/410 with a one-line message that says what to do.

caveclient's own urllib3 retries are switched off (``max_retries=0``) so that
retries are counted and reported in one place. HTTP timeouts and ``Warning``
headers live in :mod:`.http`; the CAVE token's allowed hosts and token files in
:mod:`.credentials`.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests
import urllib3

from . import http as core_http
from .errors import AuthError, MicronsError, NotFoundError, ServiceError, VersionError

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_HELP = (
    "get a token at https://minnie.microns-daf.com/auth/api/v1/create_token "
    "and save it with `napari-microns login` (or Sign in on the Get data tab in napari)"
)

RETRY_STATUS = {429, 500, 502, 503, 504}


class TruncatedResponse(ConnectionError):
    """An answer that arrived cut short or undecodable; retried like a dropped connection."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: delay ~ U(0, min(cap, base * 2**n))."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return random.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))


DEFAULT_RETRY = RetryPolicy()


# --- Errors and retries ----------------------------------------------------


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            http.client.IncompleteRead,
            ConnectionError,
            TimeoutError,
            urllib3.exceptions.TimeoutError,  # a read timeout while a body streams
            urllib3.exceptions.ProtocolError,
        ),
    ):
        return True
    return _status(exc) in RETRY_STATUS


def _is_timeout(exc: BaseException | None) -> bool:
    """A timeout, also when wrapped: with urllib3 retries off, requests reports a read
    timeout as ``ConnectionError(MaxRetryError(reason=ReadTimeoutError))``."""
    kinds = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    for _ in range(8):  # a short chain of causes, never a loop
        if exc is None:
            return False
        if isinstance(exc, kinds) or isinstance(getattr(exc, "reason", None), kinds):
            return True
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = inner or exc.__cause__ or exc.__context__
    return False


def translate_error(exc: BaseException, what: str, service: str) -> MicronsError:
    """Turn a requests/caveclient failure into a one-line :class:`MicronsError`."""
    if isinstance(exc, MicronsError):
        return exc
    status = _status(exc)
    if status == 401 or type(exc).__name__ == "AuthException":
        return AuthError(f"{service} rejected the CAVE token (401) for {what}: {TOKEN_HELP}")
    if status == 403:
        return AuthError(
            f"{service} refused access (403) to {what}: your token lacks permission or you have "
            "not accepted the MICrONS terms of service; log in at https://minnie.microns-daf.com "
            f"once, or {TOKEN_HELP}"
        )
    if status == 404:
        return NotFoundError(f"{what} was not found on {service} (404)")
    if status == 410:
        return VersionError(f"{what}: the server no longer serves this materialization version (410)")
    if status is not None:
        return ServiceError(f"{service} failed with HTTP {status} for {what}; try again later")
    if _is_timeout(exc):
        limit = core_http.HTTP_TIMEOUT  # read now: it can be changed at run time
        if isinstance(limit, tuple) and len(limit) == 2:
            limit = f"connect {limit[0]:g} s, read {limit[1]:g} s"
        return ServiceError(
            f"{service} did not answer in time for {what} (timeouts: {limit}; {type(exc).__name__}); try again later"
        )
    return ServiceError(f"could not reach {service} for {what} ({type(exc).__name__}: {exc})")


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    service: str = "CAVE",
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` with the retry policy; raise a one-line :class:`MicronsError` on failure."""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except MicronsError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            if not _is_transient(exc):
                raise translate_error(exc, what, service) from exc
            if attempt == policy.attempts - 1:
                err = translate_error(exc, what, service)
                raise type(err)(f"{err} (gave up after {policy.attempts} attempts)") from exc
            delay = policy.delay(attempt, _retry_after(exc))
            log.info("%s: %s; retry %d/%d in %.1fs", what, exc, attempt + 1, policy.attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


# --- Client ----------------------------------------------------------------


def make_client(datastack: str, policy: RetryPolicy = DEFAULT_RETRY, pool_maxsize: int = 16):
    """A CAVEclient for ``datastack`` with the token caveclient has saved."""
    from caveclient import CAVEclient
    from caveclient.auth import AuthClient

    if not AuthClient().token:  # checked offline, before any server says 401
        raise AuthError(f"no CAVE token is saved on this machine: {TOKEN_HELP}")

    def create():
        return CAVEclient(datastack, max_retries=0, pool_maxsize=pool_maxsize)

    try:
        return call_with_retry(create, what=f"datastack {datastack}", service="the CAVE info service", policy=policy)
    except NotFoundError:
        raise NotFoundError(f"datastack {datastack!r} is not known to CAVE (404); the MICrONS public one is minnie65_public") from None


def check_version(client, version: int, policy: RetryPolicy = DEFAULT_RETRY) -> None:
    """Fail with a clear message unless the server still serves ``version``; then pin the client to it."""
    served = call_with_retry(
        client.materialize.get_versions,
        what="the list of materialization versions",
        service="the CAVE materialization service",
        policy=policy,
    )
    served = sorted(int(v) for v in served)
    if int(version) not in served:
        raise VersionError(
            f"materialization version {version} is no longer served by {client.datastack_name} "
            f"(served now: {', '.join(map(str, served))}); pick one of those, or process tables "
            "already on disk, which needs no server"
        )
    client.version = int(version)
    core_http.watch_warnings(client.materialize.session)
