"""Credentials: where the CAVE token may go, and the token files.

The CAVE token goes only to the datastack's own servers or hosts the user allows
(:func:`check_token_host`), and :func:`save_token` keeps the token files private.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from pathlib import Path

from .errors import AuthError
from .session import DEFAULT_RETRY, RetryPolicy, call_with_retry

log = logging.getLogger(__name__)


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
