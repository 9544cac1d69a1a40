"""The embedded engine (DuckDB) for the store's heavy work, with bounded memory.

Sorting and deduplicating tens of millions of rows in pandas needs several times the rows'
size in memory (16 GB for 40M synapses). DuckDB sorts, deduplicates and writes Parquet
out of core: past its memory limit it spills to a temporary folder on the same disk as the
store. Every connection made here has a memory limit (``NAPARI_MICRONS_ENGINE_MEMORY``,
e.g. ``2GB``; by default a quarter of the machine's memory, at most 1.5 GB) and a spill
folder, so a merge of any size stays within a stated footprint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..layout import make_dirs
from .schema import BUCKET_MULTIPLIER, WRITE_OPTIONS, same_as_next

MEMORY_ENV = "NAPARI_MICRONS_ENGINE_MEMORY"
THREADS_ENV = "NAPARI_MICRONS_ENGINE_THREADS"
DEFAULT_MEMORY_CAP = 1536 * 2**20
#: below this the merges run out of memory (measured: 64MiB fails, 128MB passes)
MIN_MEMORY = 128 * 10**6
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_memory(value) -> int:
    """Bytes from ``2GB``, ``1536MiB``, ``500MB`` or a number of bytes; a one-line error else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise DataError(f"the engine's memory limit must be positive (got {value})")
        return int(value)
    m = _SIZE.match(str(value))
    if not m:
        raise DataError(f"the engine's memory limit {value!r} is not a size like 2GB or 1536MiB")
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper() if m.group(2) else None])
    if n < MIN_MEMORY:
        raise DataError(f"the engine's memory limit {value!r} is below 128MB; the merges need at least that")
    return n


def machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit(value=None) -> int:
    """The engine's memory limit in bytes: ``value``, else the environment's, else the default."""
    if value is None:
        value = os.environ.get(MEMORY_ENV) or None
    if value is not None:
        return parse_memory(value)
    total = machine_memory()
    return DEFAULT_MEMORY_CAP if total is None else int(min(DEFAULT_MEMORY_CAP, total // 4))


def connect(spill_dir: str | os.PathLike, memory: int | str | None = None, threads: int | None = None):
    """An in-process DuckDB connection limited to ``memory`` that spills into ``spill_dir``."""
    import duckdb

    spill = make_dirs(spill_dir)
    con = duckdb.connect(":memory:")
    threads = threads or int(os.environ.get(THREADS_ENV, "0") or 0) or (os.cpu_count() or 1)
    con.execute(f"SET memory_limit = '{memory_limit(memory) // 2**20}MiB'")
    con.execute(f"SET temp_directory = {sql_string(spill)}")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")  # ORDER BY fixes every order the store needs
    con.execute("SET enable_progress_bar = false")
    return con


def sql_string(value) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_files(paths) -> str:
    """A DuckDB list literal of file paths, for ``read_parquet``."""
    return "[" + ", ".join(sql_string(Path(p).as_posix()) for p in paths) + "]"


def columns_sql(names) -> str:
    return ", ".join(f'"{n}"' for n in names)


def bucket_sql(column: str, n_buckets: int) -> str:
    """SQL for :func:`.schema.bucket_of` of an integer column: the top 16 bits of
    ``id * BUCKET_MULTIPLIER mod 2**64``, modulo ``n_buckets``. The product is formed from 32-bit
    halves (UBIGINT arithmetic refuses to overflow; HUGEINT is 100x slower)."""
    hi, lo = BUCKET_MULTIPLIER >> 32, BUCKET_MULTIPLIER & 0xFFFFFFFF
    mask = "4294967295::UBIGINT"
    x = f'"{column}"::UBIGINT'
    x_lo, x_hi = f"({x} & {mask})", f"({x} >> 32)"
    cross = f"((({x_hi} * {lo}::UBIGINT) & {mask}) + (({x_lo} * {hi}::UBIGINT) & {mask}))"
    top32 = f"(((({x_lo} * {lo}::UBIGINT) >> 32) + {cross}) & {mask})"
    return f"(({top32} >> 16) % {int(n_buckets)})::SMALLINT"


def union_sql(inputs: list, names: list[str], ranked=()) -> str:
    """The rows of Parquet ``inputs`` (lists of files) with ``__src``, the input's number, and
    ``__row``, the row's rank within its input: the inputs numbered in ``ranked`` (staged rows)
    carry it; for the others (the store's files) it is 0."""
    return " UNION ALL ".join(
        f"SELECT {columns_sql(names)}, {i} AS __src, {'__row' if i in ranked else '0'} AS __row "
        f"FROM read_parquet({sql_files(files)})" for i, files in enumerate(inputs))


def dedup_sql(inputs: list, names: list[str], key_cols) -> str:
    """A query over Parquet ``inputs`` (lists of files, later lists winning): their rows, one
    per key (the copy from the latest input)."""
    if len(inputs) == 1:
        return f"SELECT {columns_sql(names)} FROM read_parquet({sql_files(inputs[0])})"
    return (f"SELECT {columns_sql(names)} FROM ({union_sql(inputs, names)}) "
            f"QUALIFY row_number() OVER (PARTITION BY {columns_sql(key_cols)} ORDER BY __src DESC) = 1")


def write_merged(con, inputs: list, schema: pa.Schema, key_cols, sort_col: str, path, ranked=(),
                 batch_rows: int = 1 << 20) -> int:
    """Write the rows of Parquet ``inputs`` (lists of files, later lists winning; within the
    inputs numbered in ``ranked``, later rows by their ``__row`` column) to ``path``:
    one row per key, sorted by ``sort_col`` then the keys, in the store's Parquet format
    (:data:`.schema.WRITE_OPTIONS`). DuckDB sorts out of core (``ORDER BY`` the sort column,
    the keys, then the input and row, latest first); the sorted stream keeps the first row of each key
    and is written by Arrow batch by batch, so memory stays bounded. Returns the rows written.

    Rows with one key sort next to each other because a key fixes its sort column (a synapse
    id has one pre and one post root id; a pair is its own root ids)."""
    names = schema.names
    order = columns_sql([sort_col, *key_cols]) + ", __src DESC, __row DESC"
    relation = con.sql(f"SELECT * FROM ({union_sql(inputs, names, ranked)}) ORDER BY {order}")
    # a stream of Arrow batches: ``to_arrow_reader`` (DuckDB 2), ``fetch_arrow_reader`` before
    stream = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    reader = stream(batch_rows)
    options = {k: v for k, v in WRITE_OPTIONS.items() if k != "row_group_size"}
    rows = 0
    last = None  # the previous batch's last key
    with pq.ParquetWriter(path, schema, **options) as writer:
        for batch in reader:
            keys = [batch.column(c).to_numpy(zero_copy_only=False) for c in key_cols]
            n = batch.num_rows
            first = np.ones(n, dtype=bool)
            first[1:] = ~same_as_next(keys)
            if last is not None and n and all(k[0] == v for k, v in zip(keys, last)):
                first[0] = False
            if n:
                last = [k[-1] for k in keys]
            table = pa.Table.from_batches([batch]).select(names)
            if not first.all():
                table = table.filter(pa.array(first))
            writer.write_table(table.cast(schema), row_group_size=WRITE_OPTIONS["row_group_size"])
            rows += table.num_rows
    return rows
