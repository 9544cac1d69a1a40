"""Download the curated CAVE tables of a version, and read them back.

Each table is written atomically to ``raw/<table>.parquet`` with a JSON
sidecar recording its provenance. The sidecar is written last and names the
row count and the parquet file's size, so a table is complete exactly when
its sidecar exists and agrees with the parquet file. Tables a
microns_datacleaner user already has as ``raw/<table>.csv`` are read as they
are.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Callable

import pandas as pd
import pyarrow.parquet as pq

from .errors import DataError
from .layout import Layout, atomic_write_json, atomic_write_parquet, read_json
from .query import query_all
from .session import RetryPolicy

log = logging.getLogger(__name__)


def is_complete(layout: Layout, table: str) -> bool:
    """True when ``table`` was fully downloaded (sidecar present and consistent)."""
    path, sidecar = layout.raw_table(table), layout.raw_sidecar(table)
    if not (path.exists() and sidecar.exists()):
        return False
    try:
        meta = read_json(sidecar)
        return meta.get("bytes") == path.stat().st_size and pq.read_metadata(path).num_rows == meta.get("rows")
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
    """Download one whole table; returns its row count."""
    df = query_all(client, table, version=layout.version, policy=policy, limit=limit, on_page=on_page)
    import caveclient

    write_raw_table(layout, table, df, {
        "datastack": datastack,
        "query": {"split_positions": True, "merge_reference": False,
                  "desired_resolution": [4, 4, 40], "paged_by": "id", "page_limit": limit},
        "caveclient_version": caveclient.__version__,
        "downloaded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    return len(df)


def write_raw_table(layout: Layout, table: str, df: pd.DataFrame, provenance: dict) -> None:
    """Write a raw table, then its sidecar (last: its rows and bytes are what :func:`is_complete` checks)."""
    path = layout.raw_table(table)
    atomic_write_parquet(df, path)
    atomic_write_json(layout.raw_sidecar(table), {
        **provenance, "version": layout.version, "table": table, "rows": len(df),
        "bytes": path.stat().st_size, "columns": list(df.columns),
    })


def read_raw_table(layout: Layout, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a downloaded table: our parquet if complete, else datacleaner's CSV."""
    parquet, csv = layout.raw_table(table), layout.raw_csv(table)
    if parquet.exists():
        try:
            return pd.read_parquet(parquet, columns=_present(pq.read_schema(parquet).names, columns))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{parquet} is corrupt ({type(exc).__name__}); delete it and run `napari-microns download` again") from None
    if csv.exists():
        try:
            header = pd.read_csv(csv, nrows=0).columns
            return pd.read_csv(csv, usecols=_present(list(header), columns), engine="pyarrow")
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{csv} cannot be read as a table ({type(exc).__name__}: {exc})") from None
    raise DataError(
        f"table {table} is not in {layout.raw_dir} (neither {parquet.name} nor {csv.name}); "
        f"run `napari-microns download --datadir {layout.datadir} --version {layout.version}` first"
    )


def has_raw_table(layout: Layout, table: str) -> bool:
    return layout.raw_table(table).exists() or layout.raw_csv(table).exists()


def _present(available: list[str], wanted: list[str] | None) -> list[str] | None:
    if wanted is None:
        return None
    return [c for c in wanted if c in set(available)]

