"""The circuit around neurons: one neuron's partners, and the connectivity among many.

:func:`partners` reads one neuron's synapses on one side (a few row groups of one bucket file)
and sums them per partner, with the partners' unit labels; :func:`connectivity` reads only the
root id and size columns of the pre-side rows of the chosen neurons and bins them into a matrix.
Both say what the store may lack: a pair, or a neuron's side, counts only when some store
source vouches that every synapse of it is present (:mod:`.covers`); a matrix cell is NaN when
its pair is not covered, and a partner list says when it is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ids import parse_id, parse_ids
from ..palettes import palette_for, proofreading_status
from .covers import pair_coverage, whole_side_covered
from .schema import POST, PRE, SYNAPSE_SCHEMA

DIRECTIONS = ("inputs", "outputs")
VALUES = ("count", "size", "log_size")
#: the units' label columns a partner table carries
LABEL_COLUMNS = ("cell_type", "classification_system", "layer", "brain_area", "proofreading")
NOT_IN_UNITS = "not in units"
UNKNOWN = "unknown"

__all__ = ["Connectivity", "DIRECTIONS", "LABEL_COLUMNS", "Partners", "VALUES", "connectivity", "pair_coverage",
           "partner_summary", "partners"]


@dataclass(frozen=True, eq=False)
class Partners:
    """The partners of ``root_id`` on one side: ``inputs`` (presynaptic partners) or ``outputs``."""

    root_id: int
    direction: str
    table: pd.DataFrame  # one row per partner (see :func:`partners`)
    synapses: pd.DataFrame  # root_id's per-synapse rows on that side (empty for aggregated stores)
    complete: bool  # the store holds every synapse of root_id on that side
    note: str

    @property
    def n_synapses(self) -> int:
        return int(self.table["n_synapses"].sum())


def _no_synapses(store) -> DataError:
    return DataError(f"no synapses in {store.root}; run download_synapses() or import_synapses() first")


def _unit_rows(units: pd.DataFrame | None, ids: np.ndarray) -> pd.DataFrame | None:
    """The first units row of each of ``ids`` present, indexed by root id."""
    if units is None or "pt_root_id" not in units.columns:
        return None
    present = units["pt_root_id"].isin(ids).to_numpy(dtype=bool)  # hashed: 3x np.isin's sort of 100k units
    rows = units.loc[present].drop_duplicates("pt_root_id").set_index("pt_root_id")
    if "proofreading" not in rows.columns and {"strategy_axon", "strategy_dendrite"} <= set(rows.columns):
        rows = rows.assign(proofreading=proofreading_status(rows["strategy_axon"], rows["strategy_dendrite"]).to_numpy())
    return rows


def _labels(values: pd.Series) -> np.ndarray:
    """Labels as ``str`` objects, NaN where missing."""
    out = values.astype(object).to_numpy(copy=True)
    missing = pd.isna(out)
    out[~missing] = [str(v) for v in out[~missing]]
    out[missing] = np.nan
    return out


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be 'inputs' or 'outputs' (got {direction!r})")
    return "post" if direction == "inputs" else "pre"  # the side root_id is on


def _per_partner(ids: np.ndarray, n: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of ``n`` and ``size`` per distinct id (exact int64)."""
    order = np.argsort(ids, kind="stable")
    ids, n, size = ids[order], n[order], size[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=np.intp)
    if not len(starts):
        return ids, n, size
    return ids[starts], np.add.reduceat(n, starts), np.add.reduceat(size, starts)


def partners(store, units: pd.DataFrame | None, root_id, direction: str = "inputs") -> Partners:
    """The partners of ``root_id`` (``inputs``: presynaptic to it; ``outputs``: postsynaptic).

    ``table``: one row per partner, sorted by ``n_synapses`` and ``size_sum`` (descending), then
    ``partner_root_id``: ``partner_root_id, n_synapses, size_sum, size_mean`` and the partner's
    ``cell_type, classification_system, layer, brain_area, proofreading`` from ``units`` (NaN when
    not in the units; ``in_units`` says). A pair found both per synapse and aggregated counts once,
    as its aggregated row. ``complete`` says whether some store source holds every synapse of
    ``root_id`` on that side; else the counts are lower bounds, and ``note`` says so.
    """
    root = parse_id(root_id, "root id", where="root_id")
    side = _check_direction(direction)
    partner_col = PRE if side == "post" else POST
    have_syn, have_conn = store.has("synapses"), store.has("connections")
    if not have_syn and not have_conn:
        raise _no_synapses(store)
    syn = store.lookup("synapses", side, [root]).to_pandas() if have_syn else SYNAPSE_SCHEMA.empty_table().to_pandas()
    syn = syn.sort_values("id", kind="stable", ignore_index=True)
    ids, n, size = _per_partner(syn[partner_col].to_numpy(np.int64), np.ones(len(syn), np.int64),
                                syn["size"].to_numpy(np.int64))
    if have_conn:
        conn = store.lookup("connections", side, [root]).to_pandas()
        if len(conn):
            if conn["n_synapses"].isna().any():
                raise DataError(f"the store's connections of {root} have no synapse counts (imported without "
                                "n_synapses); download them (napari-microns synapses) or import per-synapse rows")
            keep = ~np.isin(ids, conn[partner_col].to_numpy(np.int64))  # the aggregated row wins
            ids = np.r_[ids[keep], conn[partner_col].to_numpy(np.int64)]
            n = np.r_[n[keep], conn["n_synapses"].to_numpy(np.int64)]
            size = np.r_[size[keep], conn["size"].to_numpy(np.int64)]
    order = np.lexsort((ids, -size, -n))
    ids, n, size = ids[order].astype(np.int64), n[order].astype(np.int64), size[order].astype(np.int64)
    columns = {"partner_root_id": ids, "n_synapses": n, "size_sum": size, "size_mean": size / np.maximum(n, 1)}
    rows = _unit_rows(units, ids)
    for col in LABEL_COLUMNS:
        values = rows[col].reindex(ids) if rows is not None and col in rows.columns else None
        columns[col] = np.full(len(ids), np.nan, dtype=object) if values is None else _labels(values)
    columns["in_units"] = np.isin(ids, rows.index.to_numpy() if rows is not None else np.array([], dtype=np.int64))
    table = pd.DataFrame(columns)
    complete = bool(whole_side_covered(store, [root], side)[0])
    total = int(table["n_synapses"].sum())
    word = "from" if direction == "inputs" else "to"
    note = f"{total:,} {direction} of {root} {word} {len(table):,} partners"
    note += f" (all of its {direction})" if complete else (
        f"; INCOMPLETE: the store may not hold all {direction} of {root} (imported, or downloaded for chosen "
        "partners only); counts are lower bounds")
    return Partners(root, direction, table, syn, complete, note)


def partner_summary(partners: Partners, by: str = "cell_type") -> pd.DataFrame:
    """Partners grouped by a units label (``by``): ``n_partners, n_synapses, size_sum, share`` (of
    the neuron's synapses on that side), sorted by ``n_synapses``; partners missing from the units
    are the group ``"not in units"``, partners without a label ``"unknown"``."""
    if by not in LABEL_COLUMNS:
        raise DataError(f"cannot group partners by {by!r}; choose one of: {', '.join(LABEL_COLUMNS)}")
    t = partners.table
    labels = t[by].where(t[by].notna(), UNKNOWN).where(t["in_units"], NOT_IN_UNITS)
    frame = pd.DataFrame({by: labels.astype(str), "n": t["n_synapses"], "s": t["size_sum"]})
    out = frame.groupby(by, sort=False).agg(n_partners=("n", "size"), n_synapses=("n", "sum"), size_sum=("s", "sum"))
    out = out.reset_index().astype({"n_partners": np.int64, "n_synapses": np.int64, "size_sum": np.int64})
    total = partners.n_synapses
    out["share"] = out["n_synapses"] / total if total else 0.0
    out = out.sort_values(["n_synapses", by], ascending=[False, True], ignore_index=True)
    out.attrs["complete"] = partners.complete
    return out


@dataclass(frozen=True, eq=False)
class Connectivity:
    """The pre x post matrix among some neurons (see :func:`connectivity`)."""

    matrix: pd.DataFrame  # float64; NaN: the pair is not covered by the store; 0.0: covered, no synapse
    value: str
    order_by: str | None
    labels: pd.Series | None  # root id (matrix order) -> order_by label
    pair_sizes: np.ndarray | None = field(default=None, repr=False)  # summed sizes, NaN where not covered
    load_sizes: Callable[[], np.ndarray] | None = field(default=None, repr=False)  # pair_sizes when first asked

    @property
    def covered(self) -> np.ndarray:
        return ~np.isnan(self.matrix.to_numpy())

    @property
    def root_ids(self) -> np.ndarray:
        return self.matrix.index.to_numpy(dtype=np.int64)

    def connection_sizes(self) -> np.ndarray:
        """The summed sizes of the covered pairs that have synapses (for a log histogram)."""
        sizes = self.pair_sizes
        if sizes is None:
            if self.load_sizes is None:
                raise DataError("this matrix holds no sizes; make it with connectivity(..., value='size')")
            sizes = self.load_sizes()
            object.__setattr__(self, "pair_sizes", sizes)  # read once
        with np.errstate(invalid="ignore"):
            return sizes[~np.isnan(sizes) & (sizes > 0)]

    def grouped(self) -> pd.DataFrame:
        """Label x label sums of the matrix over covered pairs (NaN where no pair is covered)."""
        if self.labels is None:
            raise DataError("this matrix has no labels to group by; make it with order_by='cell_type' (or another units column)")
        codes, names = pd.factorize(self.labels.to_numpy())
        onehot = np.zeros((len(codes), len(names)))
        onehot[np.arange(len(codes)), codes] = 1.0
        m = self.matrix.to_numpy()
        covered = ~np.isnan(m)
        sums = onehot.T @ np.where(covered, m, 0.0) @ onehot
        pairs = onehot.T @ covered.astype(np.float64) @ onehot
        out = pd.DataFrame(np.where(pairs > 0, sums, np.nan), index=pd.Index(names, name="pre"),
                           columns=pd.Index(names, name="post"))
        return out


def _order(ids: np.ndarray, units: pd.DataFrame | None, order_by: str | None) -> tuple[np.ndarray, pd.Series | None]:
    """``ids`` by the palette order of their ``order_by`` group, then depth, then root id."""
    if order_by is None:
        return ids, None
    rows = _unit_rows(units, ids)
    if units is not None and order_by not in units.columns:
        raise DataError(f"the units have no column {order_by!r} to order by; "
                        f"choose e.g. one of: {', '.join(c for c in LABEL_COLUMNS if c in units.columns)}")
    if rows is None:
        labels = np.full(len(ids), UNKNOWN, dtype=object)
        depth = np.full(len(ids), np.inf)
    else:
        values = rows[order_by].reindex(ids).astype(object)
        labels = values.where(values.notna(), UNKNOWN).map(str).to_numpy(dtype=object)
        depth = rows["pt_position_y"].reindex(ids).to_numpy(np.float64, na_value=np.inf) \
            if "pt_position_y" in rows.columns else np.full(len(ids), np.inf)
        depth = np.where(np.isnan(depth), np.inf, depth)
    names = [k for k in palette_for(order_by, set(labels) - {UNKNOWN})] + [UNKNOWN]
    rank = pd.Series(labels).map({k: i for i, k in enumerate(names)}).to_numpy(np.int64)
    order = np.lexsort((ids, depth, rank))
    return ids[order], pd.Series(labels[order], index=pd.Index(ids[order], name="root_id"), name=order_by)


def connectivity(store, units: pd.DataFrame | None, root_ids, value: str = "count",
                 order_by: str | None = "cell_type", drop_autapses: bool = False) -> Connectivity:
    """The pre x post matrix among ``root_ids``: synapse ``count``, summed ``size`` or
    ``log_size`` (log10 of 1 + summed size).

    The ids are ordered by their ``order_by`` units label, in palette order (for ``cell_type``
    the excitatory types superficial to deep, then inhibitory, then non-neuronal; labels the
    palette lacks after them, ``unknown`` last), then by depth, then by root id; ``order_by=None``
    keeps the order given. A cell is NaN when the store does not vouch for every synapse of its
    pair (:func:`pair_coverage`), 0.0 when it does and there is none.
    """
    if value not in VALUES:
        raise DataError(f"value must be one of {', '.join(VALUES)} (got {value!r})")
    ids = parse_ids(root_ids, "root id", where="root_ids", unique=True, allow_empty=False)
    ordered, labels = _order(ids, units, order_by)
    n = len(ordered)
    if not store.has("synapses") and not store.has("connections"):
        raise _no_synapses(store)
    covered = pair_coverage(store, ordered, ordered).ravel()
    diagonal = np.arange(n) * (n + 1)

    everything = covered.all()

    def matrix_of(sums: np.ndarray) -> np.ndarray:
        if drop_autapses:
            sums[diagonal] = 0.0
        return (sums if everything else np.where(covered, sums, np.nan)).reshape(n, n)

    counts, sizes = _pair_sums(store, ordered, count=value == "count", size=value != "count")
    values = matrix_of(counts if value == "count" else sizes)
    if value == "log_size":
        values = np.log10(1.0 + values)
    index = pd.Index(ordered, name="pre", dtype=np.int64)
    matrix = pd.DataFrame(values, index=index, columns=pd.Index(ordered, name="post", dtype=np.int64))
    if value == "count":  # sizes only when asked for (connection_sizes): a count reads no size column
        return Connectivity(matrix, value, order_by, labels, None,
                            lambda: matrix_of(_pair_sums(store, ordered, count=False, size=True)[1]))
    return Connectivity(matrix, value, order_by, labels, matrix_of(sizes))


def _pair_sums(store, ordered: np.ndarray, count: bool, size: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Synapse counts and summed sizes per (pre, post) pair among ``ordered`` (flat, row-major; only
    the ones asked for), from the pre-side rows: only the columns needed are read."""
    n = len(ordered)
    sorted_ids = np.sort(ordered)
    place = np.argsort(ordered)  # the matrix position of sorted_ids[k]
    counts = np.zeros(n * n) if count else None
    sizes = np.zeros(n * n) if size else None

    def cells(table) -> tuple[np.ndarray, np.ndarray]:
        post = table.column(POST).to_numpy()
        j = np.minimum(np.searchsorted(sorted_ids, post), n - 1)
        keep = sorted_ids[j] == post
        i = np.searchsorted(sorted_ids, table.column(PRE).to_numpy()[keep])
        return place[i] * n + place[j[keep]], keep

    if store.has("synapses"):
        table = store.lookup("synapses", "pre", sorted_ids, columns=[PRE, POST] + (["size"] if size else []))
        flat, keep = cells(table)
        if count:
            counts = np.bincount(flat, minlength=n * n).astype(np.float64)
        if size:
            sizes = np.bincount(flat, weights=table.column("size").to_numpy()[keep], minlength=n * n)
    if store.has("connections"):
        table = store.lookup("connections", "pre", sorted_ids, columns=[PRE, POST, "n_synapses", "size"])
        flat, keep = cells(table)
        if count:
            n_syn = table.column("n_synapses").to_numpy(zero_copy_only=False)[keep].astype(np.float64)
            if np.isnan(n_syn).any():
                raise DataError("these connections have no synapse counts (imported without n_synapses); "
                                "use value='size'")
            counts[flat] = n_syn  # the aggregated row of a pair wins, as in query_synapses
        if size:
            sizes[flat] = table.column("size").to_numpy()[keep]
    return counts, sizes
