"""Ids given one by one, as a text list, in a file of ids, or as a command-line value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import DataError
from .rules import OK, SEPARATORS, problem, classify_scalar, id_column

# -- one value, a list, a text ---------------------------------------------------------


def parse_id(value: Any, what: str = "root id", *, allow_zero: bool = False, where: str = "") -> int:
    """One id as an ``int`` (0 < id <= 2**63-1, or 0 too with ``allow_zero``).

    ``where`` prefixes the error message (e.g. ``"--pre"``). A string holding
    several ids is refused: use :func:`parse_ids` for lists.
    """
    code, v = classify_scalar(value, allow_zero)
    if code != OK:
        raise DataError(f"{where + ': ' if where else ''}{problem(code, value, what)}")
    return v


def split_ids(text: str) -> list[str]:
    """The tokens of a text list of ids (commas, spaces, semicolons, newlines, brackets)."""
    return [t for t in SEPARATORS.split(text or "") if t]


def parse_ids(
    values: Any,
    what: str = "root id",
    *,
    where: str = "",
    allow_zero: bool = False,
    allow_empty: bool = True,
    unique: bool = False,
    sort: bool = False,
) -> np.ndarray:
    """Ids as an ``int64`` array, in input order.

    ``values``: one id (int, numpy int, digit string), a text list of ids (a
    string; ``"1, 2 3"``), or a list/tuple/set/array/Series/Index of ids. ``unique``
    drops repeats (keeping the first), ``sort`` sorts (and drops repeats). Any bad
    value raises :class:`DataError` in one line naming it (and its position in a list).
    """
    if isinstance(values, (str, bytes)):
        text = values.decode("ascii", "replace") if isinstance(values, bytes) else values
        tokens = split_ids(text)
        if len(tokens) == 1:  # one id: the message names it without a position
            arr = np.array([parse_id(tokens[0], what, allow_zero=allow_zero, where=where)], dtype=np.int64)
        else:
            arr = id_column(np.array(tokens, dtype=object), what=what, origin=where or None, row_label="item",
                            allow_zero=allow_zero).values
    elif _is_scalar(values):
        arr = np.array([parse_id(values, what, allow_zero=allow_zero, where=where)], dtype=np.int64)
    else:
        arr = id_column(values, what=what, origin=where or None, row_label="item", allow_zero=allow_zero).values
    if len(arr) == 0 and not allow_empty:
        raise DataError(f"{where + ': ' if where else ''}no {what}s given")
    if sort:
        return np.unique(arr)
    if unique:
        _, first = np.unique(arr, return_index=True)
        return arr[np.sort(first)]
    return arr


def _is_scalar(values: Any) -> bool:
    if isinstance(values, (str, bytes, int, float, np.integer, np.floating, np.bool_)) or values is None:
        return True
    if isinstance(values, np.ndarray):
        return values.ndim == 0
    return not isinstance(values, (Iterable, pd.Series, pd.Index)) and not hasattr(values, "__array__")


def read_ids_file(path: str | Path, what: str = "root id", *, where: str = "", allow_zero: bool = False) -> np.ndarray:
    """The ids in a text file (commas, spaces or lines between them; ``#`` starts a comment),
    in file order without repeats. A bad id is refused naming the file and line."""
    path = Path(path).expanduser()
    prefix = f"{where}: " if where else ""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{prefix}{path} is not a text file of {what}s") from None
    except PermissionError:
        from .errors import StorageError

        raise StorageError(f"{prefix}permission denied reading {path}") from None
    except IsADirectoryError:
        raise DataError(f"{prefix}{path} is a folder, not a file of {what}s") from None
    except FileNotFoundError:
        raise DataError(f"{prefix}{path} not found") from None
    except OSError as exc:
        raise DataError(f"{prefix}cannot read {path} ({type(exc).__name__}: {exc.strerror or exc})") from None
    tokens, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in split_ids(line.split("#", 1)[0]):
            tokens.append(token)
            lines.append(number)
    if not tokens:
        raise DataError(f"{prefix}no {what}s in {path}")
    col = id_column(np.array(tokens, dtype=object), what=what, origin=f"{prefix}{path}", row_label="line",
                    row_numbers=np.array(lines), allow_zero=allow_zero)
    _, first = np.unique(col.values, return_index=True)
    return col.values[np.sort(first)]


def ids_argument(text: str, option: str = "ids", what: str = "root id") -> np.ndarray | None:
    """A command-line ``IDS`` value: ``all`` (None: any neuron), a list of ids (commas or
    spaces), or a file of ids (see :func:`read_ids_file`). Sorted, without repeats."""
    text = str(text).strip()
    if text.lower() == "all":
        return None
    if not text:
        raise DataError(f"{option}: no {what}s given (pass ids, a file of ids, or 'all')")
    path = Path(text).expanduser()
    tokens = split_ids(text)
    if path.is_file():
        return np.unique(read_ids_file(path, what, where=option))
    if path.is_dir():
        raise DataError(f"{option}: {text} is a folder, not a file of {what}s")
    looks_like_a_file = "/" in text or "\\" in text or re.search(r"\.[A-Za-z_]\w*$", text)
    if tokens and not looks_like_a_file and all(any(ch.isdigit() for ch in t) for t in tokens):
        return parse_ids(text, what, where=option, sort=True)  # ids, one of them maybe mistyped
    raise DataError(f"{option}: {text!r} is neither 'all', a list of {what}s, nor an existing file of {what}s")
