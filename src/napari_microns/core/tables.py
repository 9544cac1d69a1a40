"""Download the curated CAVE tables of a version, and read them back.

Each table is written atomically to ``raw/<table>.parquet`` (with Parquet page
checksums) and a JSON sidecar recording its provenance. The sidecar is written
last and names the row count, the file's size and its SHA-256, so a table is
complete exactly when its sidecar exists and agrees with the parquet file; a
reader verifies the checksum, and ``download`` fetches a table that fails it
again. Downloads hold the ``raw/`` folder's write lock, and resume by page: each
finished page of a table is kept in ``<version>/.partial/raw/<table>/`` (with a journal of
the id ranges still to fetch) until the table is whole. Tables a
microns_datacleaner user already has as ``raw/<table>.csv`` are read as they
are.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Callable

import pandas as pd
import pyarrow.parquet as pq

from .errors import DataError, MicronsError
from .ids import check_id_columns, is_id_column
from .layout import (
    Layout,
    atomic_write_json,
    atomic_write_parquet,
    file_sha256,
    read_json,
    read_parquet,
    remove_stale_temporaries,
    storage_error,
)
from .query import PageJournal, query_all
from .session import RetryPolicy

log = logging.getLogger(__name__)


def is_complete(layout: Layout, table: str) -> bool:
    """True when ``table`` was fully downloaded (sidecar present and consistent)."""
    path, sidecar = layout.raw_table(table), layout.raw_sidecar(table)
    if not (path.exists() and sidecar.exists()):
        return False
    try:
        meta = read_json(sidecar)
        return (meta.get("bytes") == path.stat().st_size and pq.read_metadata(path).num_rows == meta.get("rows")
                and meta.get("sha256") == file_sha256(path))
    except Exception:  # noqa: BLE001 - any doubt means download again
        return False


def download_table(
    client,
    layout: Layout,
    table: str,
    *,
    datastack: str,
    policy: RetryPolicy,
    limit: int | None = None,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Download one whole table, resuming the pages an interrupted run finished; returns its row count."""
    journal = TablePages(layout, table, datastack)
    df = query_all(client, table, version=layout.version, policy=policy, limit=limit, on_page=on_page, journal=journal)
    import caveclient

    write_raw_table(layout, table, df, {
        "datastack": datastack,
        "query": {"split_positions": True, "merge_reference": False,
                  "desired_resolution": [4, 4, 40], "paged_by": "id", "page_limit": limit},
        "caveclient_version": caveclient.__version__,
        "downloaded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    journal.clear()
    return len(df)


class TablePages(PageJournal):
    """The finished pages of one table's download, kept until the table is whole.

    ``<version>/.partial/raw/<table>/journal.json`` lists the id ranges still to fetch and the
    pages done (file, rows, SHA-256); each page file is written before the journal
    names it. A page whose file is missing or fails its checksum is fetched again.
    """

    def __init__(self, layout: Layout, table: str, datastack: str):
        self.folder = layout.root / ".partial" / "raw" / table
        self.path = self.folder / "journal.json"
        self.key = {"datastack": datastack, "version": layout.version, "table": table}
        self.state = {**self.key, "pending": [[None, None]], "pages": []}
        try:
            stored = read_json(self.path)
        except (FileNotFoundError, DataError):
            stored = None
        if isinstance(stored, dict) and all(stored.get(k) == v for k, v in self.key.items()):
            pages, pending = [], list(stored.get("pending", []))
            for page in stored.get("pages", []):
                file = self.folder / page["file"]
                if file.exists() and file_sha256(file) == page["sha256"]:
                    pages.append(page)
                else:  # damaged or lost: fetch that range again
                    pending.append(page["range"])
            self.state = {**self.key, "pending": pending, "pages": pages}
            if pages:
                log.info("%s: resuming, %d pages already downloaded", table, len(pages))
        if self.folder.exists():
            remove_stale_temporaries(self.folder)

    def pending(self) -> list[tuple]:
        return [tuple(r) for r in self.state["pending"]]

    def done_pages(self) -> list[pd.DataFrame]:
        return [read_parquet(self.folder / p["file"]) for p in self.state["pages"]]

    def page_done(self, id_range: tuple, df: pd.DataFrame, pending: list[tuple]) -> None:
        name = f"page-{len(self.state['pages']):05d}.parquet"
        digest = atomic_write_parquet(df, self.folder / name)
        self.state["pages"].append({"range": list(id_range), "file": name, "rows": len(df), "sha256": digest})
        self.state["pending"] = [list(r) for r in pending]
        atomic_write_json(self.path, self.state)

    def split(self, pending: list[tuple]) -> None:
        self.state["pending"] = [list(r) for r in pending]
        atomic_write_json(self.path, self.state)

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def write_raw_table(layout: Layout, table: str, df: pd.DataFrame, provenance: dict) -> None:
    """Write a raw table, then its sidecar (last: its rows and bytes are what :func:`is_complete` checks)."""
    path = layout.raw_table(table)
    digest = atomic_write_parquet(df, path)
    atomic_write_json(layout.raw_sidecar(table), {
        **provenance, "version": layout.version, "table": table, "rows": len(df),
        "bytes": path.stat().st_size, "sha256": digest, "columns": list(df.columns),
    })


def read_raw_table(layout: Layout, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a downloaded table: our parquet if complete, else datacleaner's CSV."""
    parquet, csv = layout.raw_table(table), layout.raw_csv(table)
    if parquet.exists():
        again = f"run `napari-microns download --datadir {layout.datadir} --version {layout.version}` to fetch it again"
        sidecar = layout.raw_sidecar(table)
        try:
            recorded = None
            if sidecar.exists():
                try:
                    meta = read_json(sidecar)
                except DataError:
                    raise DataError(f"{sidecar} is corrupt; {again}") from None
                recorded = meta.get("sha256") if isinstance(meta, dict) else "unreadable"
            if recorded is not None:  # one read of the file: its checksum, then its rows
                df = read_parquet(parquet, columns, sha256=recorded, what="table", fix=again)
            else:
                df = read_parquet(parquet, columns=_present(pq.read_schema(parquet).names, columns))
            return check_id_columns(df, str(parquet))  # exact int64 ids; a blank one is <NA>
        except MicronsError:
            raise
        except PermissionError as exc:
            raise storage_error(exc, parquet, "reading") from None
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{parquet} is corrupt ({type(exc).__name__}); {again}") from None
    if csv.exists():
        # ids exactly as int64 (a blank one is <NA>, never a float NaN that rounds the column);
        # a value that is no valid id is refused naming the file, line and column
        return check_id_columns(read_csv_exact(csv, columns), str(csv), row_label="line", first_row=2)
    raise DataError(
        f"table {table} is not in {layout.raw_dir} (neither {parquet.name} nor {csv.name}); "
        f"run `napari-microns download --datadir {layout.datadir} --version {layout.version}` first"
    )


def read_csv_exact(path, columns: list[str] | None = None) -> pd.DataFrame:
    """A CSV file as a DataFrame, its id columns (:func:`~.ids.is_id_column`) never through float.

    Id columns are parsed by Arrow as int64: a blank cell is ``<NA>`` of a pandas ``Int64``
    column. When some cell is not a 64-bit integer (``12a``, ``1.0``, 2**64-1) those columns
    come back as text instead, for :func:`~.ids.check_id_columns` to accept exactly
    (``1.0``) or to refuse naming the line. ``columns``: only these (those present).
    """
    import csv as _csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(_csv.reader(fh), [])
        names = _present(header, columns) if columns is not None else list(dict.fromkeys(header))
        id_cols = [c for c in names if is_id_column(c)]

        def read(id_type):
            convert = pacsv.ConvertOptions(include_columns=names, column_types={c: id_type for c in id_cols},
                                           strings_can_be_null=True)
            return pacsv.read_csv(path, convert_options=convert)

        try:
            table = read(pa.int64())
        except pa.ArrowInvalid:
            if not id_cols:
                raise
            table = read(pa.string())  # a cell is no int64: find it (or read it exactly) as text
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path} cannot be read as a table ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None
    return frame_exact(table)


def frame_exact(table) -> pd.DataFrame:
    """An Arrow table as a DataFrame whose integer id columns keep every digit: with blanks
    they become pandas ``Int64`` (``<NA>``), where ``Table.to_pandas`` would make float64."""
    import pyarrow as pa

    id_cols = [c for c in table.column_names if is_id_column(c)]
    others = [c for c in table.column_names if c not in id_cols]
    df = table.select(others).to_pandas() if others else pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for name in id_cols:
        col = table.column(name)
        if pa.types.is_integer(col.type) and col.null_count:
            df[name] = col.to_pandas(types_mapper=lambda t: pd.Int64Dtype() if pa.types.is_signed_integer(t)
                                     else pd.UInt64Dtype() if pa.types.is_unsigned_integer(t) else None)
        else:
            df[name] = col.to_pandas()
    return df[table.column_names]


def has_raw_table(layout: Layout, table: str) -> bool:
    return layout.raw_table(table).exists() or layout.raw_csv(table).exists()


def _present(available: list[str], wanted: list[str] | None) -> list[str] | None:
    if wanted is None:
        return None
    return [c for c in wanted if c in set(available)]

