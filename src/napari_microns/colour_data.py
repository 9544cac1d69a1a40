"""Pure functions: which unit columns can colour the units, their colours and legends.

Categorical columns (:data:`~.core.palettes.CATEGORY_COLUMNS`, text, booleans, integers with
few distinct values) get palette colours and a legend of swatches; numeric columns get a
colour map (a cyclic one for angles) and a colour bar (:class:`ColourBar`). Identifiers are
never colour columns. No napari or Qt imports; :mod:`.layer_data` and the Scene use these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .core import palettes
from .core.errors import DataError

#: Categorical colour-by columns in menu order: those with a palette.
CATEGORY_CHOICES = list(palettes.PALETTES)


def numeric_columns(features: pd.DataFrame) -> list[str]:
    """The columns coloured by a colour map, in table order."""
    return [c for c in features.columns if palettes.is_numeric_column(features[c], c)]


def color_by_choices(features: pd.DataFrame | None) -> list[str]:
    """Colour-by menu: the categorical columns with a palette, then the numeric columns."""
    if features is None:
        return list(CATEGORY_CHOICES)
    categorical = [c for c in CATEGORY_CHOICES if c in features.columns]
    return categorical + numeric_columns(features)


def check_color_by(features: pd.DataFrame, column: str) -> None:
    """A one-line :class:`DataError` listing the choices unless the units can be coloured by ``column``."""
    if column in features.columns and not palettes.is_id_column(column):
        return
    why = "it is an id column" if column in features.columns else "the units table has no such column"
    raise DataError(f"cannot colour by {column!r}: {why}; choose one of {', '.join(color_by_choices(features))}")


def column_colors(values: pd.Series, column: str, reference: pd.Series | None = None,
                  limits: tuple[float, float] | None = None) -> np.ndarray:
    """(N, 4) float32 RGBA of ``values`` of ``column``: palette colours for a categorical
    column, the colour map for a numeric one, with limits taken from ``reference`` (e.g. all
    units while ``values`` are synapse partners; default ``values``) or given as ``limits``."""
    reference = values if reference is None else reference
    if palettes.is_numeric_column(reference, column):
        return palettes.scale_colors(values, palettes.colour_scale(reference, column, limits))
    return palettes.colors_for(values, column)


@dataclass(frozen=True)
class ColourBar:
    """The legend of a numeric column: its colour map between two labelled limits."""

    column: str
    scale: palettes.ColourScale
    missing: int  # shown units with no value ("no data")

    @property
    def labels(self) -> tuple[str, str]:
        """Texts at the low and high end (angles in degrees or radians, as the column)."""
        if self.scale.period is not None and self.scale.period > 2 * np.pi * 1.01:
            return "0°", f"{self.scale.period:g}°"
        if self.scale.period is not None:
            return "0", "π" if self.scale.period < 4 else "2π"
        return _number(self.scale.vmin), _number(self.scale.vmax)

    @property
    def no_data(self) -> tuple | None:
        """The "no data" swatch colour, when some shown unit has no value."""
        return palettes.NO_DATA if self.missing else None

    def colors(self, n: int = 256) -> np.ndarray:
        """(n, 4) colours from the low to the high end."""
        return self.scale.lut(n)


def _number(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def colour_bar(features: pd.DataFrame, column: str, shown: np.ndarray | None = None,
               limits: tuple[float, float] | None = None) -> ColourBar:
    """The colour bar of a numeric column (limits from every unit, "no data" from the shown ones)."""
    values = features[column]
    scale = palettes.colour_scale(values, column, limits)
    seen = values if shown is None else values[np.asarray(shown, dtype=bool)]
    return ColourBar(column, scale, int(seen.isna().sum()))


def legend(features: pd.DataFrame, column: str, shown: np.ndarray | None = None,
           limits: tuple[float, float] | None = None) -> list[tuple[str, tuple, int]] | ColourBar:
    """``[(category, rgba, count)]`` of the shown units, or a :class:`ColourBar` for a numeric column."""
    values = features[column]
    if palettes.is_numeric_column(values, column):
        return colour_bar(features, column, shown, limits)
    if shown is not None:
        values = values[np.asarray(shown, dtype=bool)]
    return palettes.legend_entries(values, column)


#: How the units can be coloured by their connection with one neuron: value -> partners column.
CONNECTION_COLUMNS = {"count": "n_synapses", "size": "size_sum"}


def connection_scale(partners: pd.DataFrame, value: str) -> palettes.ColourScale:
    """The colour map of the partners' synapse count (from the fewest to the most) or summed size
    (the 2nd-98th percentiles)."""
    if value not in CONNECTION_COLUMNS:
        raise DataError(f"cannot colour by connection {value!r}: choose one of {', '.join(CONNECTION_COLUMNS)}")
    column = CONNECTION_COLUMNS[value]
    values = partners[column].astype(float)
    # counts are small integers: the whole range, so the strongest partners stand out; sizes:
    # the default percentiles (a few huge synapses saturate)
    limits = None
    if value == "count" and len(values):
        low, high = float(values.min()), float(values.max())
        limits = (low, max(high, low + 1.0))  # one partner, or all with one synapse: still a range
    return dataclasses.replace(palettes.colour_scale(values, column, limits), start=palettes.BRIGHT_START)


def connection_colors(root_ids, partners: pd.DataFrame, value: str, neuron: int | None = None) -> np.ndarray:
    """(N, 4) RGBA of units (``root_ids``, int64) coloured by their connection with one neuron:
    partners (``partners``: one row per ``partner_root_id``) by ``value`` ("count" or "size")
    on a colour map, the neuron itself in :data:`~.core.palettes.CIRCUIT_NEURON`, every other
    unit :data:`~.core.palettes.NOT_PARTNER` (faint)."""
    ids = np.asarray(root_ids, dtype=np.int64)
    scale = connection_scale(partners, value)
    values = pd.Series(partners[CONNECTION_COLUMNS[value]].to_numpy(dtype=float),
                       index=pd.Index(partners["partner_root_id"].to_numpy(dtype=np.int64)))
    values = values[~values.index.duplicated()]
    colors = np.tile(np.asarray(palettes.NOT_PARTNER, dtype=np.float32), (len(ids), 1))
    is_partner = np.isin(ids, values.index.to_numpy())
    colors[is_partner] = palettes.scale_colors(values.reindex(ids[is_partner]).to_numpy(), scale)
    if neuron is not None:
        colors[ids == int(neuron)] = np.asarray(palettes.CIRCUIT_NEURON, dtype=np.float32)
    return colors
