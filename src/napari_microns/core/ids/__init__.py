"""Root ids and synapse ids: the one place they are read and checked.

MICrONS root ids are 18-digit numbers (``864691135101289504``) that only a 64-bit
integer holds exactly; a float64 keeps 15-16 digits and silently rounds them. So
ids are read as ``int64`` end to end, never through a float:

* accepted: Python and numpy integers, digit strings (``"864691135101289504"``),
  text lists of them (commas, spaces, semicolons, newlines or brackets between
  them; a single string is ONE id, never iterated character by character),
  lists, tuples, sets, numpy arrays, pandas Series/Index, Arrow arrays;
* floats (``1.0``, ``"1e3"``, a float64 column) are accepted only when the value is
  a whole number below 2**53, the range where a float is exact. An 18-digit root
  id never is, so a root id that went through a float is refused, never rounded;
* refused, each in ONE line that says what and where (for tables: the file, the
  row or line, and the column): blank values, non-integers, booleans, negative
  values, 0 (unless the caller allows it, e.g. ``pt_root_id == 0`` means "no
  segment" in CAVE tables), and values above 2**63-1 (such as 2**64-1).

:func:`parse_id` reads one value, :func:`parse_ids` a list or a text of ids,
:func:`ids_argument` a command-line ``IDS`` value (``all``, a list, or a file of
ids), and :func:`id_column` a table column, either refusing the first bad row or
dropping bad rows and counting them.
"""

from .columns import (ID_COLUMNS, SYNAPSE_ROOT_COLUMNS, check_id_columns, check_synapse_ids, int64_ids,
                      is_id_column, side_ids, what_of)
from .rules import EXAMPLE, FLOAT_EXACT, MAX_ID, SEPARATORS, IdColumn, id_column
from .values import ids_argument, parse_id, parse_ids, read_ids_file, split_ids

__all__ = [
    "EXAMPLE", "FLOAT_EXACT", "ID_COLUMNS", "MAX_ID", "SEPARATORS", "SYNAPSE_ROOT_COLUMNS", "IdColumn",
    "check_id_columns", "check_synapse_ids", "id_column", "ids_argument", "int64_ids", "is_id_column",
    "parse_id", "parse_ids", "read_ids_file", "side_ids", "split_ids", "what_of",
]
