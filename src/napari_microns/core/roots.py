"""Root ids across materialization versions.

A root id names one state of one segment: every proofreading edit retires the ids it
touches and makes new ones. So an id from one version may not exist at another. Three
ways to follow a cell:

* :func:`map_by_nucleus`: through the processed units tables of two versions (nucleus
  id -> ``pt_root_id``), offline; cells with a soma only;
* :func:`map_by_lineage`: through the chunkedgraph's edit history (needs a CAVE token),
  for any segment, with the overlap fraction of split pieces;
* :func:`map_by_position`: through the nucleus positions of two cell tables that carry no
  nucleus id (exact nm position, else the nearest within a tolerance).

:func:`check_root_ids` finds stale ids (not in a version's units, but a unit's root at
another processed version on disk) and says which id to use instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AuthError, MicronsError, NotFoundError

log = logging.getLogger(__name__)

STATUSES = ("same", "changed", "split/merged", "gone")
HOWS = ("nucleus", "lineage")
COLUMNS = ["root_id", "status", "new_root_id", "candidates", "nucleus_id", "note"]
NO_SOMA = "no soma: use how='lineage'"


class StaleRootIdError(NotFoundError):
    """Root ids that are not roots at this version; the message names the ids to use."""


def _as_ids(ids) -> np.ndarray:
    from .ids import parse_ids

    return np.asarray(parse_ids(ids), dtype=np.int64)


def _row(root_id, status, candidates=(), nucleus_id=None, note=""):
    cands = [(int(c), float(o)) for c, o in candidates]
    new = cands[0][0] if len(cands) == 1 else None
    return {"root_id": int(root_id), "status": status, "new_root_id": new, "candidates": cands,
            "nucleus_id": None if nucleus_id is None else int(nucleus_id), "note": note}


def _frame(rows: list[dict], with_nucleus: bool) -> pd.DataFrame:
    # column by column from Python ints: a frame built from the rows would pass the ids with
    # None through float64, which rounds 18-digit root ids (above 2**53)
    df = pd.DataFrame({
        "root_id": np.array([r["root_id"] for r in rows], dtype=np.int64),
        "status": [r["status"] for r in rows],
        "new_root_id": pd.array([r["new_root_id"] for r in rows], dtype="Int64"),
        "candidates": [r["candidates"] for r in rows],
        "nucleus_id": pd.array([r["nucleus_id"] for r in rows], dtype="Int64"),
        "note": [r["note"] for r in rows],
    }, columns=COLUMNS)
    return df if with_nucleus else df.drop(columns="nucleus_id")


def format_candidates(candidates) -> str:
    """``id:overlap;id:overlap`` (the CSV and table form of the ``candidates`` column)."""
    return ";".join(f"{int(c)}:{o:.3g}" if o == o else f"{int(c)}:?" for c, o in candidates)


# -- by nucleus ---------------------------------------------------------------

def _nucleus_roots(units: pd.DataFrame) -> pd.DataFrame:
    df = units[["nucleus_id", "pt_root_id"]].dropna()
    return pd.DataFrame({"nucleus_id": df["nucleus_id"].astype(np.int64),
                         "pt_root_id": df["pt_root_id"].astype(np.int64)})


def map_by_nucleus(old_units: pd.DataFrame, new_units: pd.DataFrame, ids, to_version=None) -> pd.DataFrame:
    """Map root ids of ``old_units``' version to ``new_units``' through their nucleus ids (offline)."""
    old, new = _nucleus_roots(old_units), _nucleus_roots(new_units)
    new_root_of = dict(zip(new["nucleus_id"].tolist(), new["pt_root_id"].tolist()))
    old_root_of = dict(zip(old["nucleus_id"].tolist(), old["pt_root_id"].tolist()))
    nuclei_of = old.groupby("pt_root_id")["nucleus_id"].apply(list).to_dict()
    new_nuclei_of = new.groupby("pt_root_id")["nucleus_id"].apply(list).to_dict()
    at = f" at v{to_version}" if to_version is not None else ""
    rows = []
    for rid in _as_ids(ids).tolist():
        nuclei = nuclei_of.get(rid, [])
        if not nuclei:
            rows.append(_row(rid, "gone", note=f"not the root id of a unit with a nucleus ({NO_SOMA})"))
            continue
        nucleus = nuclei[0] if len(nuclei) == 1 else None
        targets = [new_root_of[n] for n in nuclei if n in new_root_of]
        if not targets:
            rows.append(_row(rid, "gone", nucleus_id=nucleus, note=f"its nucleus is not in the units{at}"))
            continue
        counts = pd.Series(targets).value_counts()
        candidates = [(t, c / len(nuclei)) for t, c in counts.items()]
        # the other old roots whose nuclei now lie on the same new root(s): a merge
        sources = {old_root_of.get(n) for t in counts.index for n in new_nuclei_of.get(t, [])} - {None}
        if len(counts) > 1 or len(sources) > 1:
            kind = "split into several root ids" if len(counts) > 1 else \
                "merged with " + ", ".join(str(s) for s in sorted(sources - {rid}))
            rows.append(_row(rid, "split/merged", candidates, nucleus, note=kind))
        elif targets[0] == rid:
            rows.append(_row(rid, "same", candidates, nucleus))
        else:
            rows.append(_row(rid, "changed", candidates, nucleus))
    return _frame(rows, with_nucleus=True)


# -- by lineage ---------------------------------------------------------------

def version_timestamp(client, version: int, policy=None):
    """The timestamp of a materialization version (a datetime in UTC)."""
    from .session import DEFAULT_RETRY, call_with_retry

    return call_with_retry(lambda: client.materialize.get_timestamp(version=int(version)),
                           what=f"the timestamp of version {version}",
                           service="the CAVE materialization service", policy=policy or DEFAULT_RETRY)


def map_by_lineage(client, ids, from_timestamp, to_timestamp, policy=None, stop_layer: int | None = None) -> pd.DataFrame:
    """Map root ids valid at ``from_timestamp`` to ``to_timestamp`` through the chunkedgraph's
    lineage: ``get_latest_roots`` going forward (split pieces ranked by ``suggest_latest_roots``'
    overlap fraction), ``get_past_ids`` going back (overlap unknown: NaN)."""
    from .session import DEFAULT_RETRY, call_with_retry

    policy = policy or DEFAULT_RETRY
    cg = client.chunkedgraph
    service = "the CAVE chunkedgraph service"

    def call(fn, what):
        return call_with_retry(fn, what=what, service=service, policy=policy)

    ids = _as_ids(ids).tolist()
    rows = []
    if to_timestamp < from_timestamp:  # going back: one call for every id
        past = call(lambda: cg.get_past_ids(ids, timestamp_past=to_timestamp), "the past ids of the root ids")
        past_map = {int(k): [int(v) for v in vals] for k, vals in past.get("past_id_map", {}).items()}
        for rid in ids:
            olds = sorted(set(past_map.get(rid, [])))
            if not olds:
                rows.append(_row(rid, "gone", note="no past id at the target version"))
            elif olds == [rid]:
                rows.append(_row(rid, "same", [(rid, 1.0)]))
            elif len(olds) == 1:
                rows.append(_row(rid, "changed", [(olds[0], 1.0)]))
            else:
                rows.append(_row(rid, "split/merged", [(o, float("nan")) for o in olds],
                                 note=f"made from {len(olds)} root ids (overlap unknown going back)"))
        return _frame(rows, with_nucleus=False)
    for rid in ids:
        latest = [int(x) for x in call(lambda r=rid: cg.get_latest_roots(r, timestamp=to_timestamp),
                                       f"the latest roots of {rid}")]
        if not latest:
            rows.append(_row(rid, "gone", note="no successor at the target version"))
        elif latest == [rid]:
            rows.append(_row(rid, "same", [(rid, 1.0)]))
        elif len(latest) == 1:
            new = latest[0]
            before = call(lambda: cg.get_past_ids([new], timestamp_past=from_timestamp), f"the past ids of {new}")
            olds = sorted({int(v) for v in before.get("past_id_map", {}).get(new, [])} - {rid})
            if olds:
                rows.append(_row(rid, "split/merged", [(new, 1.0)],
                                 note="merged with " + ", ".join(map(str, olds))))
            else:
                rows.append(_row(rid, "changed", [(new, 1.0)]))
        else:
            kwargs = {} if stop_layer is None else {"stop_layer": stop_layer}
            found, fractions = call(lambda r=rid: cg.suggest_latest_roots(
                r, timestamp=to_timestamp, return_all=True, return_fraction_overlap=True, **kwargs),
                f"the overlap of {rid} with its successors")
            overlap = {int(c): float(f) for c, f in zip(found, fractions)}
            cands = sorted(((c, overlap.get(c, 0.0)) for c in latest), key=lambda t: (-t[1], t[0]))
            rows.append(_row(rid, "split/merged", cands, note=f"split into {len(latest)} root ids"))
    return _frame(rows, with_nucleus=False)


# -- by nucleus position (tables without nucleus ids) --------------------------

POSITION_NM = ["pt_position_x", "pt_position_y", "pt_position_z"]


def map_by_position(old_df: pd.DataFrame, new_df: pd.DataFrame, tolerance_nm: float = 1000.0):
    """Match the cells of two cell tables (``pt_position_x/y/z`` in nm, ``pt_root_id``) by nucleus
    position: the same position first, else the nearest unmatched one within ``tolerance_nm``
    (one to one). Returns ``(pairs, counts)``: ``pairs`` has ``old_index, new_index,
    old_root_id, new_root_id, distance_nm, match`` (``exact``/``nearest``); ``counts`` the figures."""
    from scipy.spatial import cKDTree

    def clean(df):
        pos = df[POSITION_NM].to_numpy(dtype=float)
        keep = np.isfinite(pos).all(axis=1)
        return df.index.to_numpy()[keep], pos[keep], df["pt_root_id"].to_numpy(dtype=np.int64)[keep]

    oi, op, orid = clean(old_df)
    ni, npos, nrid = clean(new_df)
    key = lambda p: [tuple(r) for r in p]  # noqa: E731
    new_at = {}
    for j, k in enumerate(key(npos)):
        new_at.setdefault(k, []).append(j)
    old_match = np.full(len(oi), -1)
    new_used = np.zeros(len(ni), bool)
    for i, k in enumerate(key(op)):
        for j in new_at.get(k, []):
            if not new_used[j]:
                old_match[i], new_used[j] = j, True
                break
    exact = old_match >= 0
    left_old, left_new = np.flatnonzero(~exact), np.flatnonzero(~new_used)
    if len(left_old) and len(left_new):
        tree = cKDTree(npos[left_new])
        dist, nearest = tree.query(op[left_old], distance_upper_bound=tolerance_nm)
        for d in np.argsort(dist, kind="stable"):  # closest pairs first, each cell used once
            if not np.isfinite(dist[d]):
                break
            j = left_new[nearest[d]]
            if not new_used[j]:
                old_match[left_old[d]], new_used[j] = j, True
    matched = np.flatnonzero(old_match >= 0)
    mj = old_match[matched]
    pairs = pd.DataFrame({
        "old_index": oi[matched], "new_index": ni[mj],
        "old_root_id": orid[matched], "new_root_id": nrid[mj],
        "distance_nm": np.linalg.norm(op[matched] - npos[mj], axis=1),
        "match": np.where(exact[matched], "exact", "nearest"),
    })
    o_all, n_all = set(old_df["pt_root_id"].astype(np.int64).tolist()), set(new_df["pt_root_id"].astype(np.int64).tolist())
    real = pairs[(pairs["old_root_id"] != 0) & (pairs["new_root_id"] != 0)]
    counts = {
        "old_cells": len(old_df), "new_cells": len(new_df),
        "matched_exact": int(exact.sum()), "matched_nearest": int(len(matched) - exact.sum()),
        "unmatched_old": int(len(old_df) - len(matched)), "unmatched_new": int(len(new_df) - len(matched)),
        "matched_same_root": int((real["old_root_id"] == real["new_root_id"]).sum()),
        "matched_root_changed": int((real["old_root_id"] != real["new_root_id"]).sum()),
        "root_ids_shared": len((o_all & n_all) - {0}), "root_ids_gone": len(o_all - n_all - {0}),
        "root_ids_new": len(n_all - o_all - {0}),
    }
    return pairs, counts


# -- stale ids ----------------------------------------------------------------

def processed_versions(datadir: Path) -> list[int]:
    """The versions with a processed units table in ``datadir``."""
    from .layout import Layout

    found = []
    for child in Path(datadir).iterdir() if Path(datadir).is_dir() else ():
        if child.name.isdigit() and Layout(Path(datadir), int(child.name)).units_path.exists():
            found.append(int(child.name))
    return sorted(found)


def _short(rid: int) -> str:
    return str(int(rid))


def check_root_ids(dataset, ids, what: str, strict: bool = True) -> list[str]:
    """Check that ``ids`` are root ids at ``dataset``'s version, when its units are processed.

    An id that is not in the version's units but is a unit's root at another processed
    version on disk is stale: mapped by nucleus, it names the id to use. ``strict`` raises
    :class:`StaleRootIdError` (one line); otherwise it logs one warning line. When ``dataset``
    already has a client, the ids still unexplained are checked by lineage (``is_latest_roots``
    at the version's timestamp); without one it never goes online. Ids found nowhere are left
    alone (segments without a soma are legitimate).
    Returns the messages (empty when every id is current or unknown).
    """
    if ids is None or (isinstance(ids, str) and ids.strip().lower() == "all"):
        return []
    try:
        wanted = _as_ids([ids] if isinstance(ids, (int, np.integer)) else ids)
        units = dataset.units_if_processed()
    except MicronsError as exc:  # bad ids or unreadable units: the caller's own checks say so
        log.info("root ids not checked against the units: %s", exc)
        return []
    if units is None:
        return []
    missing = sorted(set(wanted.tolist()) - set(units["pt_root_id"].astype(np.int64).tolist()))
    if not missing:
        return []
    messages = []
    for other in sorted(processed_versions(dataset.datadir), key=lambda v: abs(v - dataset.version)):
        if other == dataset.version or not missing:
            continue
        other_units = _units_at(dataset, other)
        if other_units is None:
            continue
        roots = set(other_units["pt_root_id"].astype(np.int64).tolist())
        known = [r for r in missing if r in roots]
        if not known:
            continue
        mapped = map_by_nucleus(other_units, units, known, to_version=dataset.version)
        for row in mapped.itertuples(index=False):
            if row.status in ("same", "gone"):
                continue
            use = ", ".join(_short(c) for c, _ in row.candidates)
            messages.append(f"{row.root_id} is not a root id at v{dataset.version} (it was at v{other}; "
                            f"now {use}: use {'that' if len(row.candidates) == 1 else 'one of those'})")
            missing.remove(row.root_id)
    if missing and getattr(dataset, "_client", None) is not None:  # a client already made: lineage too
        for rid, now in _stale_by_lineage(dataset, missing):
            messages.append(f"{rid} is not a root id at v{dataset.version} (edited since; by lineage now "
                            f"{', '.join(map(str, now))}: use {'that' if len(now) == 1 else 'one of those'})")
    if messages:
        text = f"{what}: " + "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
        if strict:
            raise StaleRootIdError(text)
        log.warning("%s", text)
    return messages


def _stale_by_lineage(dataset, ids: list[int]) -> list[tuple[int, list[int]]]:
    """``(id, ids at the version)`` for the ids that are not roots at ``dataset``'s version, by the
    chunkedgraph of the client ``dataset`` already has. Advisory: a failure is logged, not raised."""
    from .session import RetryPolicy, call_with_retry

    policy = RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0)
    client = dataset._client
    cg = client.chunkedgraph
    service = "the CAVE chunkedgraph service"
    try:
        ts = version_timestamp(client, dataset.version, policy)
        latest = call_with_retry(lambda: cg.is_latest_roots(ids, timestamp=ts), what="whether root ids are current",
                                 service=service, policy=policy)
        stale = []
        for rid, ok in zip(ids, latest):
            if ok:
                continue
            now = sorted(int(x) for x in call_with_retry(lambda r=rid: cg.get_latest_roots(r, timestamp=ts),
                                                         what=f"the roots of {rid}", service=service, policy=policy))
            if now and now != [rid]:
                stale.append((rid, now))
        return stale
    except MicronsError as exc:
        log.info("root ids not checked by lineage: %s", exc)
        return []


def _units_at(dataset, version: int) -> pd.DataFrame | None:
    """Another version's processed units, kept on ``dataset`` while the file is unchanged."""
    from .layout import Layout
    from .units import read_processed

    path = Layout(Path(dataset.datadir), version).units_path
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cache = dataset.__dict__.setdefault("_other_units", {})
        if version not in cache or cache[version][0] != stamp:
            cache[version] = (stamp, read_processed(path))
        return cache[version][1]
    except (OSError, MicronsError) as exc:
        log.info("root ids: v%d units unreadable (%s)", version, exc)
        return None


class RootsMixin:
    """Root ids across versions, a method of :class:`~.dataset.Dataset` (see ``docs/versions.md``)."""

    def warn_stale_ids(self, ids, what: str) -> list[str]:
        """Log one warning line naming the stale ids among ``ids`` and the ids to use (see
        :func:`check_root_ids`); for morphology, where segments without a soma are legitimate."""
        return check_root_ids(self, ids, what, strict=False)

    def map_root_ids(self, ids, to_version, how: str = "nucleus") -> pd.DataFrame:
        """One row per id of this version: ``root_id, status`` (same / changed / split/merged /
        gone), ``new_root_id`` (Int64, <NA> unless exactly one), ``candidates`` ((id, overlap)
        list), ``nucleus_id`` (by nucleus) and ``note``. ``how="nucleus"``: the processed units of
        both versions in this data folder, offline; ``"lineage"``: the chunkedgraph (a token)."""
        from .versions import tables_for

        target = tables_for(to_version).version
        if how == "nucleus":
            other = type(self)(self.datadir, target, datastack=self.datastack)
            return map_by_nucleus(self.units(), other.units(), ids, to_version=target)
        if how != "lineage":
            raise MicronsError(f"how={how!r} is not known; choose one of: {', '.join(HOWS)}")
        client = self._client
        if client is None:
            from .session import make_client

            try:
                client = make_client(self.datastack, policy=self.retry)
            except AuthError as exc:
                raise AuthError(f"mapping root ids by lineage needs the chunkedgraph: {exc}") from None
            self._client = client
        ids = _as_ids(ids)
        t_from = version_timestamp(client, self.version, self.retry)
        t_to = version_timestamp(client, target, self.retry)
        return map_by_lineage(client, ids, t_from, t_to, policy=self.retry)
