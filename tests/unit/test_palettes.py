"""Colour palettes: families, completeness, vectorized lookups, legends."""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd
import pytest

from napari_microns.core import palettes
from napari_microns.sample.tables import CELL_TYPES


def _hls(rgba):
    return colorsys.rgb_to_hls(*rgba[:3])


def test_every_v661_cell_type_has_a_colour_of_its_class_family():
    for cell_type, (cls, _, _) in CELL_TYPES.items():
        assert cell_type in palettes.CELL_TYPE, cell_type
        hue, light, sat = _hls(palettes.CELL_TYPE[cell_type])
        hue_deg = hue * 360
        if cls == "excitatory_neuron":  # warm: reds, pinks, oranges, yellows, browns
            assert hue_deg <= 60 or hue_deg >= 320, (cell_type, hue_deg)
        elif cls == "inhibitory_neuron":  # cool: greens, cyans, blues, purples
            assert 90 <= hue_deg <= 290, (cell_type, hue_deg)
        else:  # muted: low saturation and translucent
            assert sat < 0.35 and palettes.CELL_TYPE[cell_type][3] < 1, cell_type


def test_colours_are_distinct_within_each_palette():
    for name, palette in palettes.PALETTES.items():
        rgbs = [tuple(np.round(c[:3], 3)) for c in palette.values()]
        assert len(set(rgbs)) == len(rgbs), name


def test_colors_for_is_vectorized_and_marks_unknown_and_missing():
    values = pd.Series(["23P", "BC", None, "not-a-type", "23P"])
    rgba = palettes.colors_for(values, "cell_type", palettes.CELL_TYPE)
    assert rgba.shape == (5, 4) and rgba.dtype == np.float32
    np.testing.assert_allclose(rgba[0], palettes.CELL_TYPE["23P"])
    np.testing.assert_allclose(rgba[1], palettes.CELL_TYPE["BC"])
    np.testing.assert_allclose(rgba[2], palettes.UNKNOWN)
    np.testing.assert_allclose(rgba[3], palettes.UNKNOWN)
    np.testing.assert_allclose(rgba[4], rgba[0])


def test_unknown_columns_get_deterministic_distinct_colours():
    values = pd.Series(["b", "a", "c", "a"])
    first = palettes.palette_for("my_column", values)
    again = palettes.palette_for("my_column", values[::-1])
    assert first == again and len(set(first.values())) == 3
    rgba = palettes.colors_for(values, "my_column")
    np.testing.assert_allclose(rgba[1], first["a"])
    assert not np.allclose(rgba[0], rgba[1])


def test_known_palettes_keep_fixed_colours_when_extra_values_appear():
    palette = palettes.palette_for("cell_type", pd.Series(["23P", "brand-new"]))
    assert palette["23P"] == palettes.CELL_TYPE["23P"]
    assert "brand-new" in palette and palette["brand-new"] not in palettes.CELL_TYPE.values()


def test_proofreading_status_from_the_two_strategy_columns():
    axon = pd.Series(["axon_fully_extended", "none", "none", None, "axon_partially_extended"])
    dend = pd.Series(["dendrite_extended", "dendrite_clean", "none", None, "none"])
    status = palettes.proofreading_status(axon, dend)
    assert list(status) == ["axon and dendrite", "dendrite only", "not proofread", "not proofread", "axon only"]
    assert set(status.cat.categories) == set(palettes.PROOFREADING)
    # the units table stores these columns as categoricals (with NaN and odd spellings too)
    as_category = palettes.proofreading_status(
        pd.Series([" Axon_fully_extended", "NONE", "", np.nan, "false"], dtype="category"),
        pd.Series(["none", "dendrite_clean", "nan", "dendrite_extended", None], dtype="category"))
    assert list(as_category) == ["axon only", "dendrite only", "not proofread", "dendrite only", "not proofread"]


def test_point_colours_agree_with_the_legend_for_categoricals_with_unused_categories():
    values = pd.Series(pd.Categorical(["zeta", "alpha", None, "alpha"], categories=["unused", "zeta", "alpha"]))
    rgba = palettes.colors_for(values, "my_column")
    legend = {label: color for label, color, _count in palettes.legend_entries(values, "my_column")}
    assert set(legend) == {"alpha", "zeta", "unknown"}
    np.testing.assert_allclose(rgba[0], legend["zeta"])
    np.testing.assert_allclose(rgba[1], legend["alpha"])
    np.testing.assert_allclose(rgba[2], palettes.UNKNOWN)


@pytest.mark.parametrize("column", list(palettes.PALETTES))
def test_legend_counts_and_order(column):
    values = pd.Series(list(palettes.PALETTES[column])[:2] * 3 + [None])
    entries = palettes.legend_entries(values, column)
    labels = [e[0] for e in entries]
    assert labels[:2] == list(palettes.PALETTES[column])[:2]
    assert [e[2] for e in entries] == [3, 3, 1] and labels[2] == "unknown"
