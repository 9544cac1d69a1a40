"""The whole-volume synapse table from its static dump, streamed into the store.

The synapse table is published as a headerless gzip CSV with a header file naming the
columns and their Postgres types (``synapses_pni_2_v1_filtered_view.csv.gz`` and
``synapses_pni_2_v1_filtered_view_header.csv``; about 20 GB for 337M synapses). It is read
through :mod:`..dumps` (ranged reads of a local path, ``file://``, ``https://`` or ``gs://``,
parsed by Arrow with ids as exact int64), cut into batches of exactly ``batch_rows`` rows
(batch k holds the rows ``[k*batch_rows, (k+1)*batch_rows)``), each converted to the store's
rows and staged on disk (:mod:`.staging`), then compacted into the store by the engine with
bounded memory. A killed import resumes: a rerun reads the stream again, skips the rows of
the batches already staged (without converting them) and finishes with exactly the dump's
rows. The import covers every pair (``covers={"pre": "all", "post": "all"}``), so partner
tables and the connectivity matrix know the store holds all synapses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import time
import zlib
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from ..dumps import READ_BYTES, _batches, _RangeReader, _Store, read_header
from ..errors import DataError, MicronsError, NotFoundError
from ..ids import check_synapse_ids
from ..layout import Layout
from ..session import DEFAULT_RETRY, RetryPolicy
from ..tables import frame_exact
from .schema import POST, PRE, STORED, UM
from .staging import StagedMerge
from .store import STAGE_BATCH_ROWS, SynapseStore, store_for

log = logging.getLogger(__name__)

#: the public synapse dump of a version folder (``dumps.dump_location``)
SYNAPSE_DUMP = "synapses_pni_2_v1_filtered_view.csv.gz"
#: bytes of CSV text Arrow parses at a time while streaming the dump
PARSE_BYTES = 16 << 20
NEEDED = ("id", PRE, POST, "size")
#: (rows read, compressed bytes read, compressed bytes in all)
DumpProgress = Callable[[int, int, int], None]


def split_source(source: str) -> tuple[str, str]:
    """``(folder location, file name)`` of a dump given as a path, ``file://``, ``https://`` or ``gs://``."""
    text = str(source).strip()
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        if not path.exists():
            raise DataError(f"{path} not found (give a path, file://, https:// or gs:// URL of a .csv.gz dump)")
        return path.parent.as_uri(), path.name
    location, _, name = text.rstrip("/").rpartition("/")
    if not name:
        raise DataError(f"{source} names no file")
    return location, name


def header_name(name: str) -> str:
    """The header file beside a dump: ``<stem>_header.csv`` for ``<stem>.csv.gz``."""
    stem = name[: -len(".csv.gz")] if name.endswith(".csv.gz") else name.rsplit(".", 1)[0]
    return f"{stem}_header.csv"


def _store_batch(table: pa.Table, origin: str, first_row: int) -> tuple[pa.Table, int]:
    """The store's rows of one parsed batch, and how many rows it dropped (invalid, or on root id 0)."""
    from .importing import _store_rows

    keep = None
    if "valid" in table.column_names:  # the view is filtered, but a row marked invalid never counts
        keep = pc.fill_null(table.column("valid"), True)
    for col in (PRE, POST):  # synapses on unsegmented voxels (root id 0) belong to no cell
        nonzero = pc.not_equal(pc.fill_null(table.column(col), -1), 0)
        keep = nonzero if keep is None else pc.and_(keep, nonzero)
    kept = table.filter(keep)
    rows = _clean_rows(kept)
    if rows is None:  # a value the checks refuse: the reader's checks name the row
        df = check_synapse_ids(frame_exact(kept.select([c for c in kept.column_names if c != "valid"])), origin,
                               row_label="row", first_row=first_row)
        rows = _store_rows(df, "voxel")[1]
    return rows, table.num_rows - kept.num_rows


def _clean_rows(table: pa.Table) -> pa.Table | None:
    """The stored rows (:data:`.schema.STORED`) of a parsed batch whose ids, root ids and sizes
    are integers without a missing, negative or zero root id (what the header types them as),
    converted in Arrow; None for any other batch (the reader's checks then name the bad row)."""
    cols = {c: table.column(c) for c in ("id", PRE, POST, "size")}
    if not all(pa.types.is_integer(c.type) and c.null_count == 0 for c in cols.values()):
        return None
    if table.num_rows and (pc.min(cols["id"]).as_py() < 0 or min(pc.min(cols[c]).as_py() for c in (PRE, POST)) <= 0):
        return None
    xyz = [c for c in UM if c in table.column_names]
    if len(xyz) != 3 and xyz:
        return None
    arrays = [pc.cast(cols[c], pa.int64()) for c in ("id", PRE, POST, "size")]
    arrays += [pc.cast(table.column(c), pa.float64()) for c in xyz] if xyz else [pa.nulls(table.num_rows, pa.float64())] * 3
    return pa.Table.from_arrays(arrays, schema=STORED["synapses"])


def import_synapse_dump(source: str, layout: Layout, store: SynapseStore | None = None, *,
                        header: str | None = None, policy: RetryPolicy = DEFAULT_RETRY,
                        batch_rows: int = STAGE_BATCH_ROWS, memory=None,
                        progress: DumpProgress | None = None, merge_progress=None) -> dict:
    """Stream the synapse dump ``source`` into the store (resumable); returns
    ``{rows, dropped, bytes, origin, seconds}``. ``header``: the header file's name or URL,
    when it is not ``<stem>_header.csv`` beside the dump."""
    store = store or store_for(layout)
    location, name = split_source(source)
    dump = _Store(location, policy)
    try:
        if header is not None and ("://" in str(header) or Path(str(header)).expanduser().exists()):
            header_location, header_file = split_source(header)
            columns = read_header(_Store(header_location, policy), header_file)
        else:
            columns = read_header(dump, header or header_name(name))
    except NotFoundError as exc:
        if not dump.exists(name):
            raise NotFoundError(f"no synapse dump at {dump.url(name)}: static dumps are published for expired "
                                "versions (`napari-microns versions` lists them); give the dump's path or URL") from None
        raise NotFoundError(f"{exc}: the dump's header file; name it with --dump-header (header=)") from None
    names = [c for c, _ in columns]
    missing = [c for c in NEEDED if c not in names]
    if missing:
        raise DataError(f"the dump header of {dump.url(name)} lacks {', '.join(missing)}; it is no synapse table")
    size = dump.size(name)
    url = dump.url(name)
    key = "dump-" + hashlib.sha256(json.dumps([url, size, columns, batch_rows]).encode()).hexdigest()[:16]
    started = time.monotonic()
    out = {"rows": 0, "dropped": 0, "bytes": size, "origin": url}
    source_key = f"dump:{url}:{size}"
    for record in store.sources():  # already imported: nothing to read again (a rerun is a no-op)
        if record.get("key") == source_key:
            return {**out, "rows": int(record.get("rows", 0)), "read": int(record.get("dump_rows", 0)),
                    "dropped": int(record.get("dropped", 0)), "seconds": 0.0, "already": True}
    with StagedMerge(store, "synapses", key, memory=memory) as job:
        done = job.done()
        if done:
            log.info("%s: resuming; %d batch(es) already staged", url, len(done))
        raw = _RangeReader(dump, name, size)
        pending: list[pa.RecordBatch] = []
        n_pending = 0
        number = 0

        def stage(batches: list[pa.RecordBatch]) -> None:
            nonlocal number
            if number in done:
                out["dropped"] += int(done[number].get("dropped", 0))
            else:
                table, dropped = _store_batch(pa.Table.from_batches(batches), url, number * batch_rows + 1)
                job.add(number, table, dropped=dropped)
                out["dropped"] += dropped
            number += 1
            if progress is not None:
                progress((number - 1) * batch_rows + sum(b.num_rows for b in batches), raw.pos, size)

        try:
            with gzip.GzipFile(fileobj=io.BufferedReader(raw, READ_BYTES)) as stream:
                wanted = [c for c in (*NEEDED, "valid", *_positions(names)) if c in names]
                for batch in _batches(stream, columns, PARSE_BYTES, include=wanted):
                    while batch.num_rows:
                        take = min(batch.num_rows, batch_rows - n_pending)
                        pending.append(batch.slice(0, take))
                        n_pending += take
                        batch = batch.slice(take)
                        if n_pending == batch_rows:
                            stage(pending)
                            pending, n_pending = [], 0
            read_rows = number * batch_rows + n_pending
            if pending:
                stage(pending)
        except MicronsError:
            raise
        except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise DataError(f"the synapse dump {url} cannot be read ({type(exc).__name__}: {reason}); what was "
                            "staged is kept: rerun to continue") from None
        if progress is not None:
            progress(read_rows, size, size)
        staged = sum(r["rows"] for r in job.done().values() if r["number"] >= 0)
        source_record = {"key": source_key, "kind": "synapses", "origin": url, "rows": staged,
                         "dump_rows": read_rows, "dropped": out["dropped"], "covers": {"pre": "all", "post": "all"}}
        job.finish(source_record, progress=merge_progress)
    out.update(rows=staged, read=read_rows, seconds=round(time.monotonic() - started, 1))
    return out


def _positions(names: list[str]) -> list[str]:
    """The synapse's centre point columns the dump has (split ``ctr_pt_position_x/_y/_z``)."""
    return [c for c in names if c.startswith("ctr_pt_position")]
