"""HTTP defaults for every request napari-microns makes: timeouts and ``Warning`` headers.

* Every ``requests`` call that names no timeout gets :data:`HTTP_TIMEOUT`
  (:func:`install_http_timeouts`, installed when this module is imported).
* The ``Warning`` headers of every response of the calling thread are recorded
  (:func:`watch_warnings`, :func:`captured_warnings`), so callers can notice an answer
  the server capped (caveclient only logs them).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Iterator

import requests

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
    a body streams); :func:`.session.call_with_retry` retries both as transient. cloudfiles
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
