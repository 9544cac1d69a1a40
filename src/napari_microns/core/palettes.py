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
    "6P-CT": _hex("#800000"),
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
    2: _hex("#00e5ff"),  # axon
    3: _hex("#ff4f4f"),  # basal dendrite
    4: _hex("#ff9f1c"),  # apical dendrite
}
COMPARTMENT_NAMES = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}

#: Synapses of the chosen neurons.
SYNAPSE_DIRECTION = {
    "input": _hex("#00ff7f"),
    "output": _hex("#ff00ff"),
}

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
