"""The one place for napari-microns' colours.

Categorical colour maps for every column the plugin can colour units by, plus
the colours of skeleton compartments, synapse directions and cortical layer
planes, and which units columns are categories.
Excitatory types come from a warm family (reds, oranges, yellows), inhibitory
types from a cool family (blues, greens, purples) and non-neuronal cells from
muted greys and browns, so the two neuron classes stay apart at a glance.
Colours are RGBA floats in 0..1. No napari or Qt imports: figures made in a
notebook use the same colours as the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd


def _hex(code: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    code = code.lstrip("#")
    r, g, b = (int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return (r, g, b, alpha)


#: Colour of a value a palette does not know, and of missing values.
UNKNOWN = _hex("#9a9a9a", 0.6)

#: Warm family, ordered from superficial to deep.
EXCITATORY = {
    "23P": _hex("#e6194b"),
    "4P": _hex("#ff7f0e"),
    "5P-IT": _hex("#ffd700"),
    "5P-ET": _hex("#b8860b"),
    "5P-NP": _hex("#f4a6c0"),
    "6P-IT": _hex("#a0522d"),
    "6P-CT": _hex("#b0305a"),  # bright enough on black to stand apart from the greys
}
#: Cool family.
INHIBITORY = {
    "BC": _hex("#1f77b4"),
    "MC": _hex("#17becf"),
    "BPC": _hex("#2ca02c"),
    "NGC": _hex("#7b4fc9"),
}
#: Muted, translucent: context, not the story.
NONNEURONAL = {
    "astrocyte": _hex("#8c8c8c", 0.55),
    "microglia": _hex("#b3a58a", 0.55),
    "oligo": _hex("#6f7f8f", 0.55),
    "OPC": _hex("#a8a8c0", 0.55),
    "pericyte": _hex("#9c7f7f", 0.55),
}

CELL_TYPE = {**EXCITATORY, **INHIBITORY, **NONNEURONAL}

CLASSIFICATION_SYSTEM = {
    "excitatory_neuron": _hex("#e6194b"),
    "inhibitory_neuron": _hex("#1f77b4"),
    "nonneuron": _hex("#8c8c8c", 0.55),
}

LAYER = {
    "L1": _hex("#fde725"),
    "L2/3": _hex("#7ad151"),
    "L4": _hex("#22a884"),
    "L5": _hex("#2a788e"),
    "L6": _hex("#414487"),
    "WM": _hex("#440154"),
}

BRAIN_AREA = {
    "V1": _hex("#d62728"),
    "RL": _hex("#1f77b4"),
    "AL": _hex("#2ca02c"),
    "LM": _hex("#9467bd"),
}

#: Derived column (see :func:`proofreading_status`).
PROOFREADING = {
    "axon and dendrite": _hex("#ff1493"),
    "dendrite only": _hex("#00bfff"),
    "axon only": _hex("#ffa500"),
    "not proofread": _hex("#8c8c8c", 0.35),
}

#: The units' categorical columns (pandas categoricals in ``units.parquet`` and in the
#: units layer's features): the merged labels and the derived ``proofreading`` status.
#: The one list of them; processing, layer building and the widget import it.
CATEGORY_COLUMNS = ["cell_type", "classification_system", "layer", "brain_area", "proofreading",
                    "strategy_axon", "strategy_dendrite", "tuning_type"]

#: Palettes by units column name.
PALETTES: dict[str, dict[str, tuple]] = {
    "cell_type": CELL_TYPE,
    "classification_system": CLASSIFICATION_SYSTEM,
    "layer": LAYER,
    "brain_area": BRAIN_AREA,
    "proofreading": PROOFREADING,
}

#: SWC compartment codes of the skeleton service -> colour.
COMPARTMENT = {
    1: _hex("#ffffff"),  # soma
    2: _hex("#80ffff"),  # axon: pale cyan, brighter than the teal units (L4/L5, MC)
    3: _hex("#ff7070"),  # basal dendrite: lighter than the 23P/V1 reds
    4: _hex("#ffb366"),  # apical dendrite: light orange, not the 4P/"axon only" oranges
}
COMPARTMENT_NAMES = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}

#: Synapses of the chosen neurons. Compartment and synapse colours stay apart from every unit
#: palette (CIELAB distance, tests/unit/test_palettes.py).
SYNAPSE_DIRECTION = {
    "input": _hex("#fff0a0"),  # pale yellow: no green (L2/3, BPC, AL are green)
    "output": _hex("#ff00ff"),
}

#: The same on a white page (2D figures, which draw no units): dark enough to read on white.
COMPARTMENT_ON_WHITE = {1: _hex("#ffffff"), 2: _hex("#1f78b4"), 3: _hex("#e31a1c"), 4: _hex("#d95f02")}
SYNAPSE_DIRECTION_ON_WHITE = {"input": _hex("#1a9850"), "output": _hex("#c51b7d")}

#: Cortical layer boundary planes (translucent).
CORTICAL_LAYER_PLANE = _hex("#b0c4de", 0.15)
#: Their outlines (boundary lines).
CORTICAL_LAYER_OUTLINE = _hex("#dfe8f5", 0.85)

#: Distinct colours for chosen neurons' meshes, cycled.
NEURON_CYCLE = [
    _hex("#ff6f61"), _hex("#6fa8dc"), _hex("#93c47d"), _hex("#ffd966"),
    _hex("#c27ba0"), _hex("#76d7c4"), _hex("#f6b26b"), _hex("#b4a7d6"),
]

# Extra colours for values a palette does not name (e.g. a column the user
# added), chosen to avoid the families above.
_FALLBACK_CYCLE = [
    _hex(c) for c in ("#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
                      "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#aaffc3")
]


def proofreading_status(strategy_axon: pd.Series, strategy_dendrite: pd.Series) -> pd.Series:
    """One readable category per cell from the two proofreading strategy columns."""
    axon = _proofread(strategy_axon)
    dendrite = _proofread(strategy_dendrite)
    status = np.select(
        [axon & dendrite, dendrite, axon],
        ["axon and dendrite", "dendrite only", "axon only"],
        default="not proofread",
    )
    return pd.Series(pd.Categorical(status, categories=list(PROOFREADING)), index=strategy_axon.index)


def _proofread(strategy: pd.Series) -> np.ndarray:
    """True where a strategy names some proofreading; decided once per distinct value."""
    codes, uniques = pd.factorize(pd.Series(strategy), use_na_sentinel=True)
    names = pd.Series(uniques, dtype="string").str.strip().str.lower()
    is_done = np.append(~names.isin(["none", "", "nan", "false"]).to_numpy(dtype=bool), False)
    return is_done[codes]  # code -1 (missing) -> the appended False


def palette_for(column: str, values: Iterable | None = None) -> dict[str, tuple]:
    """Category -> RGBA for ``column``, covering every value in ``values``.

    Known columns use their fixed palette (so 23P is the same red in every
    figure); values the palette lacks get colours from a fallback cycle in
    sorted order, so the result is deterministic.
    """
    base = dict(PALETTES.get(column, {}))
    if values is None:
        return base
    series = values if isinstance(values, pd.Series) else pd.Series(list(values))
    present = {str(v) for v in series.dropna().unique()}
    extra = sorted(present - set(base))
    for i, value in enumerate(extra):
        base[value] = _FALLBACK_CYCLE[i % len(_FALLBACK_CYCLE)]
    return base


def colors_for(values: pd.Series, column: str, palette: Mapping[str, tuple] | None = None) -> np.ndarray:
    """(N, 4) float32 RGBA for a column of category values, vectorized.

    Missing values and values without a colour get :data:`UNKNOWN`.
    """
    values = pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype):  # the units' label columns: codes are ready
        categories, codes = values.cat.categories, values.cat.codes.to_numpy()
    else:
        codes, categories = pd.factorize(values, use_na_sentinel=True)
    names = [str(c) for c in categories]
    if palette is None:  # fallback colours go to the values present, as in the legend
        palette = palette_for(column, [names[i] for i in np.unique(codes) if i >= 0])
    lut = np.array([palette.get(n, UNKNOWN) for n in names] + [UNKNOWN], dtype=np.float32)
    return lut[codes]  # code -1 (missing) -> the last row, UNKNOWN


def legend_entries(values: pd.Series, column: str) -> list[tuple[str, tuple, int]]:
    """``[(label, rgba, count)]`` for the categories present, in palette order."""
    values = pd.Series(values).astype("string")
    counts = values.fillna("unknown").value_counts()
    palette = palette_for(column, values)
    order = [k for k in palette if k in counts.index] + sorted(k for k in counts.index if k not in palette)
    return [(k, palette.get(k, UNKNOWN), int(counts[k])) for k in order]


# -- continuous colours: numeric unit columns -------------------------------------------
#: Colour maps (matplotlib names) for numeric columns: perceptual, and perceptual cyclic for angles.
SEQUENTIAL_MAP = "viridis"
CYCLIC_MAP = "twilight_shifted"
#: Units with no value in a numeric colour column: a muted, faint grey ("no data").
NO_DATA = _hex("#6e6e6e", 0.25)
#: Where a map starts when its lowest values must stand out from a black page (viridis' darkest
#: third is lost on black): connection strengths, whose weakest are most of them.
BRIGHT_START = 0.3
#: Units that are not partners while the units are coloured by connection: almost invisible.
NOT_PARTNER = _hex("#8c8c8c", 0.06)
#: The neuron whose partners are shown, and the highlighted partner's ring.
CIRCUIT_NEURON = _hex("#ffffff")
HIGHLIGHT = _hex("#ffff00")
#: Integer columns with fewer distinct values than this stay categories.
MAX_INTEGER_CATEGORIES = 30
#: Default limits of a colour map: these percentiles of the values (outliers saturate).
DEFAULT_PERCENTILES = (2.0, 98.0)
_LUT_SIZE = 256


def is_id_column(column: str) -> bool:
    """Identifiers (``pt_root_id``, ``nucleus_id``, ``id``) are never a colour column."""
    name = str(column).lower()
    return name == "id" or name.endswith("_id") or name.endswith("root_id")


def is_numeric_column(values: pd.Series, column: str) -> bool:
    """Whether ``column`` is coloured by a colour map (not categories): a numeric, non-boolean
    dtype, not an id, not one of :data:`CATEGORY_COLUMNS`, and (for integers) at least
    :data:`MAX_INTEGER_CATEGORIES` distinct values."""
    dtype = pd.Series(values).dtype if not hasattr(values, "dtype") else values.dtype
    if column in CATEGORY_COLUMNS or is_id_column(column) or isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return False
    if pd.api.types.is_integer_dtype(dtype):
        return pd.Series(values).nunique(dropna=True) >= MAX_INTEGER_CATEGORIES
    return True


def angle_period(column: str, values=None) -> float | None:
    """The period of an angle column, else None.

    Angle columns: ``pref_ori``, ``pref_dir`` and names ending in ``_ori``, ``_dir``,
    ``orientation``, ``direction`` or ``angle``. Orientations (``ori``) repeat every 180°,
    directions and plain angles every 360°. The values are radians (period pi or 2 pi)
    when every finite value lies within [-2 pi, 2 pi] (1% slack), else degrees.
    """
    name = str(column).lower()
    if name.endswith(("_ori", "orientation")) or name == "pref_ori":
        degrees = 180.0
    elif name.endswith(("_dir", "direction", "angle")) or name == "pref_dir":
        degrees = 360.0
    else:
        return None
    if values is not None:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if len(v) and np.abs(v).max() <= 2 * np.pi * 1.01:
            return float(np.deg2rad(degrees))
    return degrees


@dataclass(frozen=True)
class ColourScale:
    """How a numeric column maps to colours: limits (or an angle period) and a colour map."""

    column: str
    vmin: float
    vmax: float
    cmap: str = SEQUENTIAL_MAP
    period: float | None = None  # angles: colours wrap every ``period`` (vmin 0, vmax period)
    missing: int = 0  # values with no number (NaN), drawn as NO_DATA
    start: float = 0.0  # where on the colour map vmin falls (BRIGHT_START: the lowest value visible on black)

    def lut(self, n: int = _LUT_SIZE) -> np.ndarray:
        """(n, 4) float32 colours from vmin to vmax."""
        import matplotlib

        return matplotlib.colormaps[self.cmap](np.linspace(self.start, 1.0, n)).astype(np.float32)


def colour_scale(values, column: str, limits: tuple[float, float] | None = None,
                 percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> ColourScale:
    """The colour scale of a numeric column: angles wrap over their period (cyclic map),
    other values run from the ``percentiles`` of the finite values (or ``limits``) (viridis;
    see :data:`PERCENTILE_SAMPLE`)."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    missing = int(len(v) - np.count_nonzero(finite))
    period = angle_period(column, v)
    if period is not None:
        return ColourScale(column, 0.0, period, CYCLIC_MAP, period, missing)
    if limits is not None:
        lo, hi = (float(x) for x in limits)
    elif missing < len(v):
        lo, hi = _percentiles(v[finite] if missing else v, percentiles)
    else:
        lo, hi = 0.0, 1.0
    return ColourScale(column, lo, hi, SEQUENTIAL_MAP, None, missing)


#: Colour limits of more values than this come from an evenly strided sample of about this
#: many (the 2nd percentile within ~0.1 percentile points): a partial sort of 94k costs more
#: than the whole categorical colouring.
PERCENTILE_SAMPLE = 20_000


def _percentiles(v: np.ndarray, percentiles) -> list[float]:
    """``np.percentile`` (linear) of finite values by one partial sort (of a strided sample
    when there are more than :data:`PERCENTILE_SAMPLE`)."""
    if len(v) > PERCENTILE_SAMPLE:
        v = v[:: -(-len(v) // PERCENTILE_SAMPLE)]
    pos = np.asarray(percentiles, dtype=float) / 100.0 * (len(v) - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, len(v) - 1)
    part = np.partition(v, np.unique(np.concatenate([lo, hi])))
    frac = pos - lo
    return [float(x) for x in part[lo] * (1 - frac) + part[hi] * frac]


def scale_colors(values, scale: ColourScale) -> np.ndarray:
    """(N, 4) float32 RGBA of numeric values on ``scale``, vectorized; NaN -> :data:`NO_DATA`."""
    v = np.asarray(values, dtype=np.float64)
    lut = np.vstack([scale.lut(), np.asarray(NO_DATA, dtype=np.float32)])
    span = scale.vmax - scale.vmin
    if scale.period is not None:
        index = v * (1.0 / scale.period)  # turns; np.mod is several times slower
        index -= np.floor(index)
        index *= _LUT_SIZE
        np.floor(index, out=index)
        index[index >= _LUT_SIZE] = 0  # 0 and one period fall in the same bin
    elif span > 0:
        index = v - scale.vmin
        index *= (_LUT_SIZE - 1) / span
        np.clip(index, 0, _LUT_SIZE - 1, out=index)
        np.rint(index, out=index)
    else:
        index = np.full_like(v, _LUT_SIZE // 2)
    index[~np.isfinite(v)] = _LUT_SIZE  # the NO_DATA row
    return np.take(lut, index.astype(np.intp), axis=0)  # np.take: far faster than fancy indexing
