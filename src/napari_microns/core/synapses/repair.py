"""Repairing the synapse store: verify every file against the index, rebuild what is damaged.

Every row is kept twice (by pre and by post): a kind with one intact side is rebuilt from it
and loses nothing. With both sides damaged (or the index lost) it is rebuilt from the verified
chunks of its downloads.
"""

from __future__ import annotations

import pyarrow as pa

from ..errors import DataError
from ..layout import Layout, read_json
from .manifest import Manifest, downloads_dir
from .plan import DownloadPlan
from .schema import KINDS, PRE, dedup_sorted
from .store import SynapseStore, store_for


def _rows_from_downloads(layout: Layout, kind: str, sources: list[dict] | None) -> tuple[list[pa.Table], list[dict], list[str]]:
    """The verified chunks of every download of ``kind``: ``(tables, source records, notes)``.

    A chunk whose file is missing or corrupt loses its record, so rerunning that
    download fetches it again; the store's record of the download no longer counts it.
    """
    tables, records, notes = [], [], []
    if sources is None:  # the index is lost: every download folder on disk
        folders = sorted(p.parent for p in downloads_dir(layout).glob("*/manifest.json"))
        candidates = [(f, None) for f in folders]
    else:
        candidates = [(layout.synapses_dir / r["manifest"], r) for r in sources
                      if r.get("origin") == "download" and r.get("kind") == kind]
    for folder, record in candidates:
        try:
            doc = read_json(folder / "manifest.json")
        except (FileNotFoundError, DataError):
            notes.append(f"download {folder.name}: its manifest is missing or damaged; rerun that request")
            continue
        try:
            plan = DownloadPlan.from_recorded(doc, record.get("manifest_sha256") if record else None)
        except DataError:
            notes.append(f"download {folder.name}: its manifest is damaged; rerun that request")
            continue
        if plan.kind != kind:
            if record:
                notes.append(f"download {folder.name}: its manifest is damaged; rerun that request")
            continue
        manifest = Manifest(folder, plan)
        wanted = record["chunks_done"] if record else range(len(plan.chunks))
        done = []
        for i in wanted:
            ok, corrupt = manifest.is_done(i)
            if ok:
                tables.append(manifest.read_chunk(i))
                done.append(i)
            elif corrupt or record:
                manifest.record_path(i).unlink(missing_ok=True)
                notes.append(f"download {folder.name}: chunk {i} is damaged and will be fetched again by a rerun")
        if done:
            records.append(manifest.source_record(done))
    return tables, records, notes


def repair_store(layout: Layout, store: SynapseStore | None = None) -> dict:
    """Check every store file against the index and rebuild what is damaged.

    Every row is kept twice (by pre and by post): a kind with one intact side is
    rebuilt from it and loses nothing. With both sides damaged (or the index lost), it is
    rebuilt from the verified chunks of its downloads; damaged chunks are fetched again by
    rerunning their download, and imports of that kind must be imported again (listed).
    Returns ``{"checked", "damaged", "rebuilt", "lost_imports", "notes"}``.
    """
    store = store or store_for(layout)
    result = {"checked": 0, "damaged": [], "rebuilt": {}, "lost_imports": [], "notes": []}
    with store.writing():
        try:
            try:
                doc = store.index()
            except DataError as exc:  # the index itself: its copy, when whole, says the same
                if not store.restore_index_copy():
                    raise
                result["notes"].append(f"{exc}: restored from its copy")
                doc = store.index()
            problems = store.verify()
            result["checked"] = len(doc["files"])
        except DataError as exc:
            doc, problems = None, None
            result["notes"].append(str(exc))
        sources = None if doc is None else list(doc["sources"])
        for kind in ("synapses", "connections"):
            if doc is not None:
                bad = {rel for rel in problems["missing"] + problems["corrupt"] if doc["files"][rel]["kind"] == kind}
                if not bad:
                    continue
                result["damaged"] += sorted(bad)
                good = [side for side in ("pre", "post") if not any(doc["files"][r]["side"] == side for r in bad)]
                kept = [r for r in sources if r.get("kind") != kind]
                if good:
                    table = store.read_side(kind, good[0])
                    store.rebuild(kind, table, kept + [r for r in sources if r.get("kind") == kind])
                    result["rebuilt"][kind] = f"{table.num_rows} rows, from the by_{good[0]} copy (nothing lost)"
                    sources = store.sources()
                    continue
            else:
                kept = store.sources() if result["rebuilt"] else []
            tables, records, notes = _rows_from_downloads(layout, kind, None if doc is None else sources)
            lost = [r for r in (sources or []) if r.get("kind") == kind and r.get("origin") != "download"]
            result["lost_imports"] += [r.get("origin", "?") for r in lost]
            result["notes"] += notes
            table = pa.concat_tables(tables) if tables else None
            if doc is None and table is None:
                continue
            store.rebuild(kind, dedup_sorted(table, KINDS[kind][1], PRE) if table is not None else None, kept + records)
            sources = store.sources()
            result["rebuilt"][kind] = f"{0 if table is None else table.num_rows} rows, from {len(records)} download(s)"
        if doc is None and not result["rebuilt"]:
            store.rebuild("synapses", None, [])
            result["rebuilt"]["synapses"] = "0 rows (no downloads on disk)"
    return result
