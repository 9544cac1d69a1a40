"""Columns of ids (a table's, a DataFrame's, a synapse table's): read exactly as int64, bad
rows refused in one line naming the file, row and column, or dropped and counted."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import DataError
from .rules import id_column
from .values import parse_ids

# -- id columns of a DataFrame ---------------------------------------------------------

#: Columns of CAVE and microns_datacleaner tables that hold 64-bit ids.
ID_COLUMNS = frozenset({"id", "target_id", "nucleus_id", "valid_id", "pt_root_id", "pt_supervoxel_id",
                        "pre_pt_root_id", "post_pt_root_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id"})


def is_id_column(name: str) -> bool:
    return name in ID_COLUMNS or name.endswith("_root_id") or name.endswith("_supervoxel_id")


def what_of(column: str) -> str:
    """The words for the ids of a column: "root id", "nucleus id", "synapse id", ..."""
    if column.endswith("root_id") or column == "valid_id":
        return "root id"
    if column.endswith("supervoxel_id"):
        return "supervoxel id"
    if column in ("target_id", "nucleus_id"):
        return "nucleus id"
    return "id"


def check_id_columns(
    df: pd.DataFrame,
    origin: str,
    *,
    columns: Iterable[str] | None = None,
    allow_zero: bool = True,
    blank: str = "keep",
    row_label: str = "row",
    first_row: int = 1,
    use_index: bool = False,
) -> pd.DataFrame:
    """``df`` with its id columns (``columns``, default: those :func:`is_id_column` names)
    read exactly as ``int64``; any value that is not a valid id is refused in one line
    naming ``origin``, the row and the column.

    ``blank="keep"``: blank cells become ``<NA>`` of a pandas ``Int64`` column (never a
    float NaN), for the caller to count and drop; ``blank="raise"`` refuses them.
    ``use_index``: name rows by ``df.index`` (a DataFrame from the caller) instead of
    ``<row_label> <n>`` counted from ``first_row``.
    """
    if blank not in ("keep", "raise"):
        raise ValueError("blank must be 'keep' or 'raise'")
    wanted = set(columns) if columns is not None else None
    names = [c for c in df.columns if isinstance(c, str) and (c in wanted if wanted is not None else is_id_column(c))]
    out = df
    for name in names:
        if _valid_int64(df[name], allow_zero):
            continue  # already exact int64 ids (our own files): nothing to check or convert
        col = id_column(df[name], what=what_of(name), origin=origin, column=name, allow_zero=allow_zero,
                        blank="drop" if blank == "keep" else "raise", row_label=row_label, first_row=first_row,
                        index=df.index if use_index else None)
        if out is df:
            out = df.copy(deep=False)
        out[name] = col.values if col.ok.all() else col.nullable()
    return out


def _valid_int64(series: pd.Series, allow_zero: bool) -> bool:
    """A plain numpy ``int64`` column whose every value is a valid id (the common case, one pass)."""
    if series.dtype != np.int64 or len(series) == 0:
        return series.dtype == np.int64
    return int(series.to_numpy().min()) >= (0 if allow_zero else 1)


# -- synapse ids ------------------------------------------------------------------------

#: The root id columns of a synapse table.
SYNAPSE_ROOT_COLUMNS = ("pre_pt_root_id", "post_pt_root_id")


def side_ids(values: Any, side: str) -> np.ndarray | None:
    """The root ids of one side (``pre``/``post``) of a synapse request: None (any neuron) for
    None or ``"all"``, else the sorted unique ids (see :func:`parse_ids`: a string is one id or
    a text list of ids, never its characters); a one-line error for anything else."""
    if values is None or (isinstance(values, str) and values.strip().lower() == "all"):
        return None
    out = parse_ids(values, "root id", where=f"{side} ids", sort=True)
    if len(out) == 0:
        raise DataError(f"no {side} ids given; pass root ids, or None for any neuron")
    return out


def int64_ids(values: pd.Series, column: str) -> np.ndarray:
    """A synapse table's id column as int64: as it is when int64 already (the server's columns,
    the synthetic negative ids of rows imported without one), else read exactly by
    :func:`id_column` (never through float; 0 allowed for the synapse ``id`` only)."""
    if values.dtype == np.int64:
        return values.to_numpy()
    return id_column(values, what=what_of(column), column=column, allow_zero=column == "id").values


def check_synapse_ids(df: pd.DataFrame, origin: str, *, row_label: str = "row", first_row: int = 1,
                      use_index: bool = False) -> pd.DataFrame:
    """``df`` with ``pre_pt_root_id``, ``post_pt_root_id`` and ``id`` as int64, or a one-line
    :class:`DataError` naming ``origin``, the row and the column of the first bad value.

    Refused (never dropped): blank, non-integer, 0, negative and out-of-range (> 2**63-1,
    e.g. 2**64-1) root ids; blank, non-integer and negative synapse ids (negative ids are
    the synthetic ids of rows imported without one).
    """
    out = check_id_columns(df, origin, columns=[c for c in SYNAPSE_ROOT_COLUMNS if c in df.columns],
                           allow_zero=False, blank="raise", row_label=row_label, first_row=first_row,
                           use_index=use_index)
    if "id" in df.columns:
        try:
            out = check_id_columns(out, origin, columns=["id"], allow_zero=True, blank="raise",
                                   row_label=row_label, first_row=first_row, use_index=use_index)
        except DataError as exc:
            if "is negative" not in str(exc):
                raise
            raise DataError(f"{exc}; negative synapse ids are reserved for the synthetic ids of rows imported "
                            "without one: drop the id column to import such rows (their ids are recomputed)") from None
    return out
