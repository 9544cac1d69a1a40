"""The rules every id is checked by (see the package docstring): one value, or a whole column
at once (vectorized), each bad value with a one-line reason."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

#: The largest id: ids are signed 64-bit integers (Arrow/Parquet int64, CAVE's bigint).
MAX_ID = 2**63 - 1
#: Floats are exact for whole numbers below this; a larger float id may already be rounded.
FLOAT_EXACT = 2**53
#: What separates ids in a text list.
SEPARATORS = re.compile(r"[\s,;\[\]()]+")
#: A number written as a float (``1.0``, ``1e3``, ``8.646911351012895e+17``).
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
EXAMPLE = "864691135101289504"

# problem codes of one value
OK, BLANK, NOT_WHOLE, INEXACT, NEGATIVE, ZERO, TOO_BIG = range(7)


def problem(code: int, raw: Any, what: str) -> str:
    """The problem of one value, as text (``what`` is e.g. "root id")."""
    shown = _show(raw)
    if code == BLANK:
        return f"{what} is blank"
    if code == NOT_WHOLE:
        return f"{what} {shown} is not an integer ({what}s are whole numbers like {EXAMPLE})"
    if code == INEXACT:
        return (f"{what} {shown} is a floating-point number, which cannot hold an id of 2**53 or more exactly "
                "(it may already be rounded); read the ids as integers (int64 or text), not floats")
    if code == NEGATIVE:
        return f"{what} {shown} is negative ({what}s are positive)"
    if code == ZERO:
        return f"{what} 0 is not a valid {what} ({what}s start at 1)"
    if code == TOO_BIG:
        return f"{what} {shown} is out of range (above 2**63-1 = {MAX_ID}, the largest 64-bit id)"
    raise AssertionError(code)


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        text = raw.strip()
        return text if _FLOAT_TEXT.fullmatch(text) else repr(raw)  # a number: as a number
    if isinstance(raw, (float, np.floating)):
        return repr(float(raw))
    if isinstance(raw, (bool, np.bool_)):
        return repr(bool(raw))
    if isinstance(raw, (int, np.integer)):
        return str(int(raw))
    return repr(raw)


def _classify_int(value: int, allow_zero: bool) -> int:
    if value < 0:
        return NEGATIVE
    if value == 0 and not allow_zero:
        return ZERO
    if value > MAX_ID:
        return TOO_BIG
    return OK


def classify_scalar(value: Any, allow_zero: bool) -> tuple[int, int]:
    """``(problem code, value)`` of one scalar; the value is 0 unless the code is OK."""
    if value is None or value is pd.NA or value is pd.NaT:
        return BLANK, 0
    if isinstance(value, (bool, np.bool_)):
        return NOT_WHOLE, 0
    if isinstance(value, (int, np.integer)):
        v = int(value)
        code = _classify_int(v, allow_zero)
        return code, v if code == OK else 0
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return NOT_WHOLE, 0
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return BLANK, 0
        sign = text[0] if text[0] in "+-" else ""
        digits = text[len(sign):]
        if digits.isascii() and digits.isdigit():
            v = int(text)
            code = _classify_int(v, allow_zero)
            return code, v if code == OK else 0
        if not _FLOAT_TEXT.fullmatch(text):
            return NOT_WHOLE, 0
        value = float(text)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return BLANK, 0
        if not math.isfinite(f) or f != math.floor(f):
            return NOT_WHOLE, 0
        if abs(f) >= FLOAT_EXACT:
            return (NEGATIVE if f < 0 else INEXACT), 0
        code = _classify_int(int(f), allow_zero)
        return code, int(f) if code == OK else 0
    try:  # Decimal, Fraction, other integer-like objects
        v = operator.index(value)
    except TypeError:
        return NOT_WHOLE, 0
    code = _classify_int(v, allow_zero)
    return code, v if code == OK else 0


# -- table columns ---------------------------------------------------------------------


@dataclass
class IdColumn:
    """The ids of a column: ``values`` (int64, one per input row, 0 where dropped) and
    ``ok`` (False where a row was dropped), with the counts of dropped rows."""

    values: np.ndarray
    ok: np.ndarray
    blank: int = 0
    invalid: int = 0
    first_dropped: str | None = None
    dropped_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def ids(self) -> np.ndarray:
        """The ids of the kept rows."""
        return self.values[self.ok]

    @property
    def dropped(self) -> int:
        return self.blank + self.invalid

    def nullable(self) -> pd.arrays.IntegerArray:
        """All rows as a pandas ``Int64`` array, ``<NA>`` where dropped."""
        return pd.arrays.IntegerArray(self.values.copy(), ~self.ok)


def id_column(
    values: Any,
    *,
    what: str = "id",
    origin: str | None = None,
    column: str | None = None,
    allow_zero: bool = False,
    blank: str = "raise",
    on_bad: str = "raise",
    row_label: str = "row",
    first_row: int = 1,
    row_numbers: np.ndarray | None = None,
    index: pd.Index | None = None,
) -> IdColumn:
    """Read a column of ids exactly as ``int64`` (see the module docstring for the rules).

    ``blank`` and ``on_bad`` say what to do with blank values and with other bad
    values (not whole, negative, 0 when not ``allow_zero``, above 2**63-1):
    ``"raise"`` a one-line :class:`DataError` naming ``origin``, the row and
    ``column`` (and how many more rows are bad), or ``"drop"`` them (``ok`` is then
    False there, and they are counted). Rows are named ``<row_label> <n>``, ``n``
    counting from ``first_row`` (``row_label="line", first_row=2`` for a CSV file
    with a header), or ``row_numbers[i]``, or ``index[i]`` (a DataFrame's index).
    """
    if blank not in ("raise", "drop") or on_bad not in ("raise", "drop"):
        raise ValueError("blank and on_bad must be 'raise' or 'drop'")
    codes, out, raw = _classify(values, allow_zero)
    bad_blank = codes == BLANK
    bad_other = (codes != OK) & ~bad_blank
    refuse = (bad_blank if blank == "raise" else np.zeros_like(bad_blank)) | (bad_other if on_bad == "raise" else
                                                                              np.zeros_like(bad_other))
    dropped = (codes != OK) & ~refuse

    def locate(i: int) -> str:
        if index is not None:
            row = f"index {index[i]!r}"
        elif row_numbers is not None:
            row = f"{row_label} {int(row_numbers[i])}"
        else:
            row = f"{row_label} {i + first_row}"
        parts = [p for p in (origin, row, f"column {column}" if column else None) if p]
        return ", ".join(parts)

    if refuse.any():
        where = np.flatnonzero(refuse)
        i = int(where[0])
        more = f" (and {len(where) - 1:,} more bad {row_label}{'s' if len(where) > 2 else ''})" if len(where) > 1 else ""
        raise DataError(f"{locate(i)}: {problem(int(codes[i]), raw(i), what)}{more}")
    result = IdColumn(out, ~dropped, blank=int((dropped & bad_blank).sum()), invalid=int((dropped & bad_other).sum()),
                      dropped_rows=np.flatnonzero(dropped))
    if dropped.any():
        i = int(result.dropped_rows[0])
        result.first_dropped = f"{locate(i)}: {problem(int(codes[i]), raw(i), what)}"
    return result


def _classify(values: Any, allow_zero: bool):
    """``(codes uint8, values int64, raw(i))`` for every element, vectorized where the type allows."""
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_null(values.type):
            mask = values.is_null().to_numpy(zero_copy_only=False) if values.null_count else None
            if pa.types.is_null(values.type):
                return _classify_numpy(np.zeros(len(values), dtype=np.int64), np.ones(len(values), bool), allow_zero)
            filled = values.fill_null(0) if values.null_count else values
            arr = filled.to_numpy() if isinstance(filled, pa.Array) else filled.to_numpy()
            return _classify_numpy(arr, mask, allow_zero)
        values = values.to_pandas()
    if isinstance(values, (pd.Series, pd.Index)):
        series = values
        if isinstance(series.dtype, pd.ArrowDtype):
            return _classify(pa.array(series.array), allow_zero)
        if pd.api.types.is_extension_array_dtype(series.dtype) and series.dtype.kind in "iuf":
            mask = series.isna().to_numpy()
            fill = 0 if series.dtype.kind in "iu" else np.nan
            return _classify_numpy(series.to_numpy(dtype=series.dtype.numpy_dtype, na_value=fill), mask, allow_zero)
        if isinstance(series.dtype, pd.BooleanDtype):
            arr = series.to_numpy(dtype=object)
        else:
            arr = series.to_numpy()
    elif isinstance(values, np.ndarray):
        arr = values.reshape(-1) if values.ndim else values.reshape(1)
    else:
        items = list(values)
        arr = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            arr[i] = item
    return _classify_numpy(arr, None, allow_zero)


def _classify_numpy(arr: np.ndarray, mask: np.ndarray | None, allow_zero: bool):
    n = len(arr)
    codes = np.zeros(n, dtype=np.uint8)
    out = np.zeros(n, dtype=np.int64)
    kind = arr.dtype.kind
    if kind in "iu":
        if kind == "u":
            big = arr > np.uint64(MAX_ID) if arr.dtype.itemsize == 8 else np.zeros(n, dtype=bool)
            codes[big] = TOO_BIG
            vals = np.where(big, 0, arr).astype(np.int64)
        else:
            vals = arr.astype(np.int64, copy=False)
            codes[vals < 0] = NEGATIVE
        if not allow_zero:
            codes[(vals == 0) & (codes == OK)] = ZERO
        out = np.where(codes == OK, vals, 0).astype(np.int64)

        def raw(i):
            return int(arr[i])
    elif kind == "f":
        f = arr.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            nan = np.isnan(f)
            whole = np.isfinite(f) & (np.floor(f) == f)
            codes[~whole] = NOT_WHOLE
            codes[whole & (f <= -1)] = NEGATIVE
            codes[whole & (f >= FLOAT_EXACT)] = INEXACT
            if not allow_zero:
                codes[whole & (f == 0)] = ZERO
            codes[nan] = BLANK
            ok = codes == OK
            out[ok] = f[ok].astype(np.int64)

        def raw(i):
            return float(f[i])
    elif kind == "b":
        codes[:] = NOT_WHOLE

        def raw(i):
            return bool(arr[i])
    else:  # objects, strings: one by one
        obj = arr.astype(object, copy=False)
        for i, v in enumerate(obj):
            try:
                code, val = classify_scalar(v, allow_zero)
            except (TypeError, ValueError, OverflowError):
                code, val = NOT_WHOLE, 0
            codes[i] = code
            out[i] = val if code == OK else 0

        def raw(i):
            return obj[i]
    if mask is not None:
        codes[mask] = BLANK
        out[mask] = 0
    return codes, out, raw


