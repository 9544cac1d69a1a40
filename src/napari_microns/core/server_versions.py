"""Materialization versions over time: what this project knows, what the server serves, what is on disk.

:func:`versions` lists, in one table, every version of the registry (``data/versions.json``),
every version the CAVE server lists (expired ones too, with ``expires_on``) and every version
folder in a data folder. Without a token or network it lists the registry and the disk, and says
why the server was not asked.

:func:`server_table_plan` is the download's check of a version's tables against the server's own
list (``client.materialize.get_tables()``): an optional table the server lacks is skipped with a
note, a required one is a one-line error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import MicronsError, NotFoundError
from .layout import Layout, read_json
from .session import DEFAULT_RETRY, RetryPolicy, call_with_retry
from .versions import VersionTables, long_term_versions, released_on, supported_versions, tables_for

log = logging.getLogger(__name__)

SERVED, EXPIRED, NOT_LISTED, NOT_ASKED = "served", "expired (static dump)", "not listed by the server", "server not asked"
LONG_TERM = "long-term"
COLUMNS = ["version", "released", "expires", "status", "known", "on_disk"]


class DownloadResult(dict):
    """``{table: rows}`` downloaded now; ``skipped``: ``{table: why}`` for optional tables left out."""

    def __init__(self, *args, skipped: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped: dict[str, str] = dict(skipped or {})


def server_table_plan(client, tables: VersionTables, wanted: list[str], datastack: str,
                      policy: RetryPolicy = DEFAULT_RETRY, expired=lambda: False) -> dict[str, str]:
    """``{table: why}``: the optional tables of ``wanted`` the server lacks at the version (to skip).

    ``client()`` gives the CAVE client. The server's table list (``get_tables()``) is asked once,
    and only when ``wanted`` holds an optional table and ``expired()`` is false (an expired
    version's tables come from its static dump). A required table missing from that list raises
    :class:`NotFoundError` naming it, before anything is downloaded.
    """
    if not any(tables.is_optional(t) for t in wanted) or expired():
        return {}
    cave = client()
    served = set(call_with_retry(
        lambda: cave.materialize.get_tables(version=tables.version),
        what=f"the table list of version {tables.version}", service="the CAVE materialization service", policy=policy,
    ))
    missing = [t for t in wanted if t not in served and not tables.is_optional(t)]
    if missing:
        raise NotFoundError(f"version {tables.version} of {datastack} has no table {', '.join(missing)} "
                            "(not in the server's table list); the units merge needs it")
    skipped = {t: f"optional; version {tables.version} of {datastack} has no such table"
               for t in wanted if t not in served}
    for table, why in skipped.items():
        log.warning("%s skipped: %s", table, why)
    return skipped


# -- the versions table ---------------------------------------------------------

@dataclass
class VersionList:
    """The versions table (``table``: one row per version, sorted) and, when the server was not
    asked or not reached, ``note``: why, in one line."""

    table: pd.DataFrame
    note: str | None = None
    datadir: Path | None = None

    def __str__(self) -> str:
        return format_versions(self)


def _date(value) -> str:
    if value is None:
        return ""
    ts = pd.Timestamp(value)
    return "" if ts.year >= 2262 else ts.strftime("%Y-%m-%d")  # caveclient's "never" is Timestamp.max


def _ask_server(client, datastack: str, policy: RetryPolicy) -> tuple[dict[int, dict], set[int] | None, str | None]:
    """``(metadata by version, served versions, note)``; the note says why the server was not asked."""
    if client is None:
        from .session import make_client

        try:
            client = make_client(datastack, policy=policy)
        except MicronsError as exc:
            return {}, None, f"the server was not asked: {exc}"
    service = "the CAVE materialization service"
    try:
        meta = call_with_retry(lambda: client.materialize.get_versions_metadata(expired=True),
                               what="the versions metadata (expired too)", service=service, policy=policy)
        served = call_with_retry(client.materialize.get_versions, what="the served versions", service=service,
                                 policy=policy)
    except MicronsError as exc:
        return {}, None, f"the server was not reached: {exc}"
    return {int(m["version"]): m for m in meta}, {int(v) for v in served}, None


def _raw_done(layout: Layout, table: str) -> bool:
    """Downloaded whole (its sidecar's size matches; not re-hashed here), or a datacleaner CSV."""
    path, sidecar = layout.raw_table(table), layout.raw_sidecar(table)
    if layout.raw_csv(table).exists():
        return True
    try:
        return path.exists() and read_json(sidecar).get("bytes") == path.stat().st_size
    except (OSError, MicronsError, ValueError):
        return False


def _on_disk(datadir: Path | None, version: int, known: bool) -> str:
    if datadir is None:
        return "-"
    layout = Layout(datadir, version)
    if not layout.root.is_dir():
        return ""
    parts = []
    if known:
        tables = tables_for(version)
        required = [t for t in tables.annotation_tables() if not tables.is_optional(t)]
        done = sum(_raw_done(layout, t) for t in required)
        parts.append("raw complete" if done == len(required) else f"raw {done}/{len(required)}" if done else "")
    elif layout.raw_dir.is_dir():
        parts.append("raw (tables unknown)")
    if layout.units_path.exists():
        parts.append("processed")
    return ", ".join(p for p in parts if p) or "folder only"


def _disk_versions(datadir: Path | None) -> set[int]:
    if datadir is None or not datadir.is_dir():
        return set()
    return {int(p.name) for p in datadir.iterdir() if p.is_dir() and p.name.isascii() and p.name.isdigit()}


def versions(datadir: str | Path | None = None, client=None, datastack: str = "minnie65_public",
             retry: RetryPolicy = DEFAULT_RETRY) -> VersionList:
    """Every version the registry knows, the server lists (expired too) or ``datadir`` holds.

    Columns: ``version``, ``released`` (date), ``expires`` (date, ``"long-term"`` or empty when
    unknown), ``status`` (``"served"``, ``"expired (static dump)"``, ``"not listed by the
    server"``, or ``"server not asked"`` offline), ``known`` (the registry has its tables) and
    ``on_disk`` (``"raw complete"``, ``"raw 3/6"``, ``"processed"``; ``"-"`` without ``datadir``).
    With ``client=None`` one is made from the saved token; without a token or network the
    table has the registry and the disk only, and ``note`` says why.
    """
    folder = Path(datadir).expanduser() if datadir is not None else None
    known = set(supported_versions())
    long_term = set(long_term_versions())
    meta, served, note = _ask_server(client, datastack, retry)
    rows = []
    for v in sorted(known | long_term | set(meta) | (served or set()) | _disk_versions(folder)):
        md = meta.get(v, {})
        if served is None:
            status = NOT_ASKED
        elif v in served:
            status = SERVED
        elif v in meta:
            status = EXPIRED
        else:
            status = NOT_LISTED
        expires = LONG_TERM if v in long_term or (md and not _date(md.get("expires_on"))) else _date(md.get("expires_on"))
        released = _date(md.get("time_stamp")) if md else (released_on(v) or "") if v in known else ""
        rows.append({"version": v, "released": released, "expires": expires, "status": status,
                     "known": v in known, "on_disk": _on_disk(folder, v, v in known)})
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"version": "int64", "known": "bool"})
    return VersionList(table=table, note=note, datadir=folder)


def format_versions(result: VersionList) -> str:
    """The table as text (a line per version, left-aligned columns), then the note (if any)."""
    header = ["version", "released", "expires", "status", "known", "on disk"]
    rows = [[str(r.version), r.released or "-", r.expires or "-", r.status,
             "yes" if r.known else "no (unknown to this project)", r.on_disk or "-"]
            for r in result.table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    if result.datadir is not None:
        lines.append(f"on disk: {result.datadir}")
    if result.note:
        lines.append(result.note)
    return "\n".join(lines)
