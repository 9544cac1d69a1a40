"""The CAVE session: client creation, retry policy and error translation.

This is the one place that talks HTTP policy. Every call napari-microns makes
to a CAVE service goes through :func:`call_with_retry`, which

* retries connection errors, timeouts, truncated bodies, HTTP 429 and 5xx with
  exponential backoff and full jitter (honouring ``Retry-After``),
* fails at once on 401/403/404/410 with a one-line message that says what to do,
* records the ``Warning`` headers of every response of the calling thread, so
  callers can notice an answer the server capped (caveclient only logs them).

caveclient's own urllib3 retries are switched off (``max_retries=0``) so that
retries are counted and reported in one place.

It is also the one place for credentials: every HTTP request without a timeout
gets :data:`HTTP_TIMEOUT` (:func:`install_http_timeouts`), the CAVE token goes
only to the datastack's own servers or hosts the user allows
(:func:`check_token_host`), and :func:`save_token` keeps the token files private.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import os
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import requests
import urllib3

from .errors import AuthError, MicronsError, NotFoundError, ServiceError, VersionError

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_HELP = (
    "get a token at https://minnie.microns-daf.com/auth/api/v1/create_token "
    "and save it with `napari-microns login`"
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


# --- HTTP timeouts ---------------------------------------------------------

#: ``(connect, read)`` seconds for every HTTP request that names no timeout of its own.
#: The read timeout bounds the wait for each chunk of an answer (not the whole
#: download); it is generous because the materialization server computes a whole
#: query before its first byte. Read at each request, so it can be changed at run time.
HTTP_TIMEOUT: tuple[float, float] = (10.0, 120.0)


def install_http_timeouts() -> None:
    """Give every ``requests`` call that names no timeout :data:`HTTP_TIMEOUT`.

    Neither caveclient nor cloud-volume sets a timeout, so a server that accepts
    the connection and never answers blocked forever. Their requests leave by
    many doors: each caveclient service client's own ``requests.Session`` (whose
    first request, the version check, runs inside the constructor), caveclient's
    bare ``requests.get`` for API versions, cloudfiles' ``HttpInterface`` session
    with a shared adapter, and cloud-volume's graphene code, which calls
    ``requests.get``/``post`` directly. All of them pass through
    ``requests.Session.send``, so that is where the default goes: one wrapper,
    installed once (idempotent) when this module is imported, that fills in the
    timeout only when the caller gave none and leaves every explicit timeout alone.

    Alternatives were narrower but leaky: wrapping caveclient's ``_patch_session``
    misses its bare ``requests.get`` and all of cloud-volume; mounting adapters on
    sessions after the fact misses the constructors' first request. Wrapping
    ``HTTPAdapter.send`` would also work, but the ``responses`` test library keeps
    its own reference to the original and bypasses such a wrapper on passthrough.

    A timeout raises ``requests.Timeout`` (or urllib3's ``ReadTimeoutError`` while
    a body streams); :func:`call_with_retry` retries both as transient. cloudfiles
    additionally retries each storage read up to 7 times (random backoff up to a
    minute in total), so a storage server that never answers fails a cloud-volume
    read after about ``2 x (7 x read timeout + backoff)``.
    """
    if getattr(requests.Session.send, "_napari_microns_timeout", False):
        return
    original = requests.Session.send

    @functools.wraps(original)
    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = HTTP_TIMEOUT
        return original(self, request, **kwargs)

    send._napari_microns_timeout = True
    requests.Session.send = send


install_http_timeouts()


# --- Warning headers -------------------------------------------------------

_local = threading.local()


def _record_warning(response, *args, **kwargs):
    records = getattr(_local, "warnings", None)
    if records is not None:
        warning = response.headers.get("Warning")
        if warning:
            records.append(str(warning))
    return response


def watch_warnings(session: requests.Session) -> None:
    """Make ``session`` report its responses' ``Warning`` headers to :func:`captured_warnings`."""
    hooks = session.hooks.setdefault("response", [])
    if _record_warning not in hooks:
        hooks.append(_record_warning)


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect the ``Warning`` headers of responses received by this thread."""
    previous = getattr(_local, "warnings", None)
    _local.warnings = []
    try:
        yield _local.warnings
    finally:
        _local.warnings = previous


def is_capped(warnings: list[str]) -> bool:
    """True when the materialization server says it cut the answer short.

    The server adds ``201 - "Limited query to N rows`` when an answer reached
    its row limit; table-owner notices share the header and are not caps.
    """
    return any("limited query to" in w.lower() for w in warnings)


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
        limit = HTTP_TIMEOUT
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
    watch_warnings(client.materialize.session)


# --- Credentials -----------------------------------------------------------

#: Extra hosts the user trusts with the CAVE token: a comma-separated list of
#: ``host`` (any port) or ``host:port``, e.g. ``NAPARI_MICRONS_TOKEN_HOSTS=cave.example.org``.
#: Only the user's environment sets it; nothing in a data folder can.
TOKEN_HOSTS_ENV = "NAPARI_MICRONS_TOKEN_HOSTS"

_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


def _split_url(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an http(s) URL, after format prefixes
    (``graphene://``, ``precomputed://``) and ``middleauth+``; None for anything else."""
    s = str(url).strip()
    while _PREFIX.match(s):
        s = _PREFIX.sub("", s, count=1)
    s = re.sub(r"^(?:middleauth|ngauth)\+", "", s, flags=re.IGNORECASE)
    try:
        parts = urllib.parse.urlsplit(s)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port


def token_destination(source: str) -> str | None:
    """The host (``host`` or ``host:port``) that cloud-volume would send the CAVE token
    to when opening ``source``, or None when it sends none.

    ``graphene://`` sends it to the graphene server (from ``secrets`` or, failing
    that, from ``~/.cloudvolume/secrets``), and any ``middleauth+`` URL makes
    cloudfiles attach the saved token; other sources carry no CAVE token.
    """
    low = str(source).strip().lower()
    if not (low.startswith("graphene://") or "middleauth+" in low):
        return None
    parts = _split_url(source)
    if parts is None:
        return "?"
    _, host, port = parts
    return host if port is None else f"{host}:{port}"


def user_token_hosts() -> list[tuple[str, int | None]]:
    """``(host, port or None)`` pairs from :data:`TOKEN_HOSTS_ENV`."""
    allowed = []
    for entry in os.environ.get(TOKEN_HOSTS_ENV, "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        parts = _split_url(entry if "://" in entry else f"https://{entry}")
        if parts is None:
            log.warning("ignoring %r in %s: not a host or host:port", entry, TOKEN_HOSTS_ENV)
            continue
        allowed.append((parts[1], parts[2]))
    return allowed


def datastack_token_hosts(client, policy: RetryPolicy = DEFAULT_RETRY) -> dict[str, set[str]]:
    """``{host: schemes}`` of the servers the CAVE info service names for the client's
    datastack: the global and local servers and every http(s) URL in the datastack
    info (the graphene ``segmentation_source`` among them)."""
    urls = [getattr(client, "server_address", None), getattr(client, "local_server", None)]
    info = call_with_retry(client.info.get_datastack_info, what="the datastack info",
                           service="the CAVE info service", policy=policy)

    def walk(value):
        if isinstance(value, str):
            urls.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(info or {})
    hosts: dict[str, set[str]] = {}
    for url in urls:
        parts = _split_url(url) if isinstance(url, str) and "://" in url else None
        if parts is not None:
            hosts.setdefault(parts[1], set()).add(parts[0])
    return hosts


def check_token_host(source: str, client, policy: RetryPolicy = DEFAULT_RETRY) -> None:
    """Refuse ``source`` with one line if opening it would send the CAVE token to a host
    that is neither a server of the client's datastack nor allowed by the user.

    A datastack host is allowed over https (or the scheme the datastack itself uses
    for it); a host the user lists in :data:`TOKEN_HOSTS_ENV` is allowed as listed.
    Call this before cloud-volume sees ``source``: the refusal sends nothing anywhere.
    """
    destination = token_destination(source)
    if destination is None:
        return
    parts = _split_url(source)
    if parts is not None:
        scheme, host, port = parts
        if any(h == host and (p is None or p == port) for h, p in user_token_hosts()):
            return
        schemes = datastack_token_hosts(client, policy).get(host)
        if schemes and (scheme == "https" or scheme in schemes):
            return
        if schemes:
            reason = f"it asks for plain {scheme}, which would expose the token on the network"
        else:
            reason = f"{host} is not a server of datastack {getattr(client, 'datastack_name', None) or 'the datastack'}"
    else:
        raise AuthError(
            f"refusing to send your CAVE token for {source}: its host cannot be recognised; "
            "use an http(s) URL such as graphene://https://HOST/segmentation/table/NAME"
        )
    raise AuthError(
        f"refusing to send your CAVE token to {destination} for {source}: {reason}; if you trust that "
        f"host, allow it in your own environment: {TOKEN_HOSTS_ENV}={destination}"
    )


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def save_token(token: str, server_address: str | None = None) -> Path:
    """Save ``token`` with caveclient's ``AuthClient.save_token``, readable only by the user.

    caveclient writes ``~/.cloudvolume/secrets/cave-secret.json`` and a
    server-specific ``<server>-cave-secret.json`` (and a local-server file when it
    knows one) with the process umask, typically world-readable. The folders are
    made 0700 before it writes, and every token file it wrote (or that already
    held a token there) is made 0600 after. Returns the file caveclient reads.
    """
    from caveclient.auth import AuthClient, default_token_file

    auth = AuthClient(server_address=server_address) if server_address else AuthClient()

    def token_files() -> set[Path]:
        files = {auth._token_file, getattr(auth, "_server_file_path", None), default_token_file,
                 auth.local_server_filepath}
        return {Path(os.path.expanduser(f)) for f in files if f}

    for path in token_files():
        _private_dir(path.parent)
    auth.save_token(token=token, overwrite=True)
    for path in token_files():
        if path.exists():
            os.chmod(path, 0o600)
    return Path(auth._token_file)
