"""Tables of expired versions, read from their static dumps.

A version the materialization service no longer serves survives as a static dump, one
pair of files per table in ``<base>/v<N>/``: ``<table>_merged.csv.gz`` (gzip CSV without a
header row) and ``<table>_merged_header.csv`` (column name, Postgres type). The base is
``Dataset(dump_source=...)``, else ``$NAPARI_MICRONS_DUMP_URL``, else :data:`DEFAULT_DUMP_URL`;
any CloudFiles path works (``https://``, ``gs://``, a ``file://`` mirror).

:func:`download_dump_table` streams the gzip file in ranged reads, parses it with Arrow
(ids as exact int64, never through float; ``t``/``f`` booleans) and writes the same
``raw/<table>.parquet`` and provenance sidecar as a CAVE download (``"source": "static
dump"``), so :func:`~.tables.is_complete` and ``process`` treat both alike. Parsed rows are
kept as checksummed parts in ``<version>/.partial/dump/<table>/`` (with a journal), so a
killed download resumes after its last finished part; the raw table is written atomically
once every row is in.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import io
import logging
import os
import shutil
import zlib
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import DataError, MicronsError, NotFoundError
from .ids import is_id_column
from .layout import Layout, atomic_path, atomic_write_json, file_sha256, read_json, remove_stale_temporaries
from .session import DEFAULT_RETRY, RetryPolicy, call_with_retry
from .tables import frame_exact, write_raw_table

log = logging.getLogger(__name__)

DUMP_URL_ENV = "NAPARI_MICRONS_DUMP_URL"
DEFAULT_DUMP_URL = "https://storage.googleapis.com/mat_dbs/public/minnie65_phase3_v1"
SERVICE = "the static dump store"
#: bytes per ranged read of the gzip file, and rows per finished part
READ_BYTES = 8 << 20
PART_ROWS = 500_000
#: bytes of CSV text Arrow parses at a time (one record batch)
BLOCK_BYTES = 1 << 20
POSITION_UNIT = ("voxels, presumably 4x4x40 nm like the API's voxel_resolution; "
                 "the dump does not document it (unconfirmed)")

_INTEGER = {"bigint", "integer", "smallint", "int", "int2", "int4", "int8", "serial", "bigserial", "smallserial"}
_FLOAT = {"double precision", "real", "float", "float4", "float8", "numeric", "decimal"}
_BOOL = {"boolean", "bool"}


def dump_base(base: str | None = None) -> str:
    """The dump store: ``base``, else ``$NAPARI_MICRONS_DUMP_URL``, else the public one."""
    return (base or os.environ.get(DUMP_URL_ENV) or DEFAULT_DUMP_URL).rstrip("/")


def dump_location(version: int, base: str | None = None) -> str:
    """The folder holding version ``version``'s dump files."""
    return f"{dump_base(base)}/v{int(version)}"


def dump_files(table: str, merged: bool = True) -> tuple[str, str]:
    """``(data file, header file)`` of ``table`` in a version's dump folder (most tables are
    ``<table>_merged``; a few, like the synapse view, lack the ``_merged``)."""
    stem = f"{table}_merged" if merged else table
    return f"{stem}.csv.gz", f"{stem}_header.csv"


def version_expired(client, version: int, policy: RetryPolicy = DEFAULT_RETRY) -> bool:
    """True when the server no longer serves ``version`` but lists it among its expired versions."""
    mat = "the CAVE materialization service"
    served = call_with_retry(client.materialize.get_versions, what="the list of materialization versions",
                             service=mat, policy=policy)
    if int(version) in {int(v) for v in served}:
        return False
    meta = call_with_retry(lambda: client.materialize.get_versions_metadata(expired=True),
                           what="the metadata of expired materialization versions", service=mat, policy=policy)
    return int(version) in {int(m["version"]) for m in meta or [] if isinstance(m, dict) and "version" in m}


# -- reading the store --------------------------------------------------------

class _Store:
    """One version's dump folder, read through CloudFiles with the retry policy."""

    def __init__(self, location: str, policy: RetryPolicy):
        from cloudfiles import CloudFiles

        self.location, self.policy = location, policy
        self.cf = CloudFiles(location)

    def url(self, name: str) -> str:
        return f"{self.location}/{name}"

    def _call(self, fn, name: str):
        return call_with_retry(fn, what=f"{self.url(name)}", service=SERVICE, policy=self.policy)

    def exists(self, name: str) -> bool:
        return bool(self._call(lambda: self.cf.exists(name), name))

    def size(self, name: str) -> int:
        size = self._call(lambda: self.cf.size(name), name)
        if size is None:
            raise NotFoundError(f"{self.url(name)} does not exist")
        return int(size)

    def get(self, name: str, start: int | None = None, end: int | None = None) -> bytes:
        def fetch():
            item = {"path": name} if start is None else {"path": name, "start": start, "end": end}
            [res] = self.cf.get([item], raw=True)
            if res.get("error") is not None:
                raise res["error"]
            return res["content"]

        data = self._call(fetch, name)
        if data is None:
            raise NotFoundError(f"{self.url(name)} does not exist")
        return data


class _RangeReader(io.RawIOBase):
    """A file's bytes as a stream of ranged reads, checked to add up to its size."""

    def __init__(self, store: _Store, name: str, size: int):
        self.store, self.name, self.size, self.pos = store, name, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.pos >= self.size:
            return 0
        data = self.store.get(self.name, self.pos, min(self.pos + max(len(buf), READ_BYTES), self.size))
        data = data[: len(buf)]
        if not data:
            raise DataError(f"{self.store.url(self.name)} ended at byte {self.pos} of {self.size}")
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)


def read_header(store: _Store, name: str) -> list[tuple[str, str]]:
    """``[(column, postgres type)]`` from a dump's header file."""
    text = store.get(name).decode("utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] in (["column_name", "data_type"], ["name", "type"]):
        rows = rows[1:]
    if not rows or any(len(r) < 2 or not r[0].strip() for r in rows):
        raise DataError(f"{store.url(name)} is no dump header (expected lines 'column name, type')")
    cols = [(r[0].strip(), r[1].strip().lower()) for r in rows]
    if len({c for c, _ in cols}) != len(cols):
        raise DataError(f"{store.url(name)} names a column twice")
    return cols


def _arrow_type(name: str, pg_type: str) -> pa.DataType:
    if is_id_column(name) or pg_type in _INTEGER:
        return pa.int64()
    if pg_type in _FLOAT:
        return pa.float64()
    if pg_type in _BOOL:
        return pa.bool_()
    return pa.string()  # text, varchar, timestamps (converted after), geometry, anything unknown


def _batches(stream, columns: list[tuple[str, str]], block_bytes: int, include: list[str] | None = None):
    """Record batches of a headerless CSV stream; ``include``: parse only these columns."""
    names = [c for c, _ in columns]
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=names, block_size=block_bytes, use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: _arrow_type(c, t) for c, t in columns}, include_columns=include,
            true_values=["t", "true", "True", "TRUE"], false_values=["f", "false", "False", "FALSE"],
            strings_can_be_null=True, quoted_strings_can_be_null=False,  # COPY: "" is an empty text
        ),
    )
    yield from reader


def _frame(table: pa.Table, columns: list[tuple[str, str]]) -> pd.DataFrame:
    df = frame_exact(table)
    for name, pg_type in columns:
        if pg_type.startswith("timestamp"):
            df[name] = pd.to_datetime(df[name], format="ISO8601", utc="with time zone" in pg_type)
    if "id" in df.columns:  # as a CAVE download: sorted by id
        df = df.sort_values("id", kind="stable", ignore_index=True)
    return df


# -- download -----------------------------------------------------------------

class DumpParts:
    """The finished parts of one table's dump download: ``<version>/.partial/dump/<table>/``.

    ``journal.json`` names the source (URL, size, header) and the parts in order (file,
    rows, SHA-256); a part file is written before the journal names it. Parts are kept
    up to the first missing or damaged one.
    """

    def __init__(self, layout: Layout, table: str, key: dict):
        self.folder = layout.root / ".partial" / "dump" / table
        self.path = self.folder / "journal.json"
        self.state = {**key, "parts": []}
        try:
            stored = read_json(self.path)
        except (FileNotFoundError, DataError):
            stored = None
        if isinstance(stored, dict) and all(stored.get(k) == v for k, v in key.items()):
            for part in stored.get("parts", []):
                file = self.folder / part["file"]
                if not (file.exists() and file_sha256(file) == part["sha256"]):
                    break
                self.state["parts"].append(part)
        if self.folder.exists():
            remove_stale_temporaries(self.folder)

    @property
    def rows(self) -> int:
        return sum(p["rows"] for p in self.state["parts"])

    def add(self, table: pa.Table) -> None:
        name = f"part-{len(self.state['parts']):05d}.parquet"
        with atomic_path(self.folder / name) as tmp:
            pq.write_table(table, tmp, write_page_checksum=True)
            digest = file_sha256(tmp)
        self.state["parts"].append({"file": name, "rows": table.num_rows, "sha256": digest})
        atomic_write_json(self.path, self.state)

    def table(self, schema: pa.Schema) -> pa.Table:
        parts = [pq.read_table(self.folder / p["file"]) for p in self.state["parts"]]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def download_dump_table(
    layout: Layout,
    table: str,
    *,
    datastack: str,
    base: str | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
    part_rows: int | None = None,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Download ``table`` of ``layout.version`` from its static dump; returns its row count.

    The caller holds the ``raw/`` write lock (as :meth:`Dataset.download_tables` does).
    ``part_rows``: rows per resumable part (default :data:`PART_ROWS`).
    """
    part_rows = part_rows or PART_ROWS
    store = _Store(dump_location(layout.version, base), policy)
    data_name, header_name = dump_files(table)
    if not store.exists(header_name) and store.exists(dump_files(table, merged=False)[1]):
        data_name, header_name = dump_files(table, merged=False)
    url = store.url(data_name)
    columns = read_header(store, header_name)
    size = store.size(data_name)
    parts = DumpParts(layout, table, {"version": layout.version, "table": table, "url": url, "bytes": size,
                                      "columns": [list(c) for c in columns]})
    skip = parts.rows
    if skip:
        log.info("%s: resuming the dump download after %d rows", table, skip)
    again = "nothing was written; rerun, or check the dump"
    pending: list[pa.RecordBatch] = []
    schema = None
    try:
        with gzip.GzipFile(fileobj=io.BufferedReader(_RangeReader(store, data_name, size), READ_BYTES)) as stream:
            for batch in _batches(stream, columns, block_bytes=BLOCK_BYTES):
                schema = batch.schema
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                pending.append(batch.slice(skip))
                skip = 0
                if sum(b.num_rows for b in pending) >= part_rows:
                    _flush(parts, pending, on_page)
        if skip:
            raise DataError(f"{url} has fewer rows than an earlier run read from it; delete {parts.folder} and rerun")
        _flush(parts, pending, on_page)
        whole = parts.table(schema or pa.schema([(c, _arrow_type(c, t)) for c, t in columns]))
    except MicronsError:
        raise
    except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise DataError(f"the static dump {url} cannot be read ({type(exc).__name__}: {reason}); {again}") from None
    df = _frame(whole, columns)
    write_raw_table(layout, table, df, {
        "datastack": datastack, "source": "static dump", "url": url, "header_url": store.url(header_name),
        "dump_bytes": size, "dump_columns": [list(c) for c in columns],
        "positions": {"columns": [c for c in df.columns if c.endswith(("_position_x", "_position_y", "_position_z"))],
                      "unit": POSITION_UNIT},
        "downloaded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    parts.clear()
    return len(df)


def _flush(parts: DumpParts, pending: list[pa.RecordBatch], on_page) -> None:
    if not pending:
        return
    table = pa.Table.from_batches(pending)
    pending.clear()
    parts.add(table)
    if on_page:
        on_page(table.num_rows)
