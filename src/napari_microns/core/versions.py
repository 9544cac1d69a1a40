"""Which CAVE tables make up the units table of each materialization version.

The registry is a data file (``data/versions.json``) so a new version is one
entry, not code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from .errors import VersionError

#: The roles a table plays in the merge, in download order.
ROLES = ("nucleus", "celltype", "proofreading", "brain_areas", "func_props", "coreg")


@dataclass(frozen=True)
class VersionTables:
    version: int
    tables: dict[str, str]
    #: correction table -> the units columns it overrides (matched on target_id)
    corrections: dict[str, list[str]] = field(default_factory=dict)
    #: tables this version may lack on the server (unconfirmed): skipped with a note, not an error
    optional: tuple[str, ...] = ()

    def __getitem__(self, role: str) -> str:
        return self.tables[role]

    def annotation_tables(self) -> list[str]:
        """Every table the units merge reads (not the synapse table)."""
        return [self.tables[r] for r in ROLES if r in self.tables] + list(self.corrections)

    def is_optional(self, table: str) -> bool:
        return table in self.optional


@lru_cache(maxsize=1)
def _registry() -> dict:
    text = resources.files("napari_microns.core").joinpath("data/versions.json").read_text()
    return json.loads(text)


def supported_versions() -> list[int]:
    return sorted(int(v) for v in _registry()["versions"])


def parse_version(version) -> int:
    """A materialization version as an ``int``: an int, a numpy int or a digit string.

    Anything else (``"abc"``, ``1300.7``, ``1300.0``, ``True``) raises :class:`VersionError`
    in one line; a float is never truncated. The CLI's ``--version`` goes through here too.
    """
    import numpy as np

    value = version
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit():
            value = int(text)  # a signed whole number; tables_for says whether it is supported
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise VersionError(
            f"materialization version {version!r} is not a whole number; supported versions: "
            + ", ".join(map(str, supported_versions()))
        )
    return int(value)


def tables_for(version: int) -> VersionTables:
    number = parse_version(version)
    entry = _registry()["versions"].get(str(number))
    if entry is None:
        raise VersionError(
            f"materialization version {number} is not supported; supported versions: "
            + ", ".join(map(str, supported_versions()))
        )
    return VersionTables(number, dict(entry["tables"]), dict(entry.get("corrections", {})),
                         tuple(entry.get("optional", ())))


def long_term_versions() -> list[int]:
    """Versions kept long-term (not expiring after about a year): 117, 943, 1300."""
    return sorted(int(v) for v in _registry().get("long_term", ()))


def flat_segmentations() -> dict[int, str]:
    """Static (flat) segmentation of minnie65 by version; its root ids are those of that version."""
    return {int(v): src for v, src in _registry().get("flat_segmentations", {}).items()}


def released_on(version: int) -> str | None:
    """The release date the registry records for ``version`` (``YYYY-MM-DD``), or None."""
    return _registry()["versions"].get(str(int(version)), {}).get("released")
