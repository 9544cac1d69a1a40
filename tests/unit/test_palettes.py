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


# -- continuous colours ---------------------------------------------------------------------
def test_numeric_and_categorical_columns_are_told_apart():
    n = 1000
    rng = np.random.default_rng(0)
    assert palettes.is_numeric_column(pd.Series(rng.normal(size=n)), "volume")
    assert palettes.is_numeric_column(pd.Series(rng.integers(0, 10_000, n)), "n_synapses")
    assert not palettes.is_numeric_column(pd.Series(rng.integers(0, 5, n)), "n_nuclei")  # few integers: categories
    assert not palettes.is_numeric_column(pd.Series(np.arange(n)), "nucleus_id")  # ids never
    assert not palettes.is_numeric_column(pd.Series(np.arange(n)), "pt_root_id")
    assert not palettes.is_numeric_column(pd.Series(rng.choice(["a", "b"], n)), "label")
    assert not palettes.is_numeric_column(pd.Series(rng.random(n) > 0.5), "flag")
    assert not palettes.is_numeric_column(pd.Series(["23P"] * n, dtype="category"), "cell_type")


def test_numeric_colours_follow_the_colour_map_between_robust_limits():
    import matplotlib

    values = np.r_[np.linspace(0, 100, 1001), 1e6]  # one outlier: the 98th percentile ignores it
    scale = palettes.colour_scale(values, "volume")
    assert scale.cmap == "viridis" and scale.period is None
    np.testing.assert_allclose([scale.vmin, scale.vmax], np.percentile(values, [2, 98]))
    assert scale.vmax < 200
    rgba = palettes.scale_colors(values, scale)
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(rgba[0], viridis(0.0), atol=1e-6)  # below the low limit: saturates
    np.testing.assert_allclose(rgba[-1], viridis(1.0), atol=1e-6)  # the outlier saturates
    mid = np.searchsorted(values, (scale.vmin + scale.vmax) / 2)
    np.testing.assert_allclose(rgba[mid], viridis(0.5), atol=0.02)
    # limits given by the caller win over the percentiles
    fixed = palettes.colour_scale(values, "volume", limits=(0, 50))
    assert (fixed.vmin, fixed.vmax) == (0, 50)
    np.testing.assert_allclose(palettes.scale_colors([50, 100], fixed), [viridis(1.0)] * 2, atol=1e-6)


def test_angles_wrap_with_a_cyclic_map_and_a_period_from_name_and_range():
    assert palettes.angle_period("pref_ori", [0, 90, 179]) == 180
    assert palettes.angle_period("pref_dir", [0, 90, 359]) == 360
    assert palettes.angle_period("preferred_angle", [10, 300]) == 360
    assert palettes.angle_period("pref_ori", [0, 1.5, 3.1]) == pytest.approx(np.pi)  # radians
    assert palettes.angle_period("pref_dir", [0, 3, 6.2]) == pytest.approx(2 * np.pi)
    assert palettes.angle_period("volume", [0, 90]) is None
    ori = palettes.colour_scale([0.0, 45, 90, 135, 180], "pref_ori")
    assert ori.cmap == palettes.CYCLIC_MAP and ori.period == 180
    rgba = palettes.scale_colors([0.0, 45, 90, 135, 180, -45], ori)
    np.testing.assert_allclose(rgba[0], rgba[4])  # 0° and 180° orientation: the same colour
    np.testing.assert_allclose(rgba[3], rgba[5])  # 135° and -45° too
    assert not np.allclose(rgba[0], rgba[2])
    direction = palettes.colour_scale([0.0, 180, 360], "pref_dir")
    rgba = palettes.scale_colors([0.0, 180, 360], direction)
    np.testing.assert_allclose(rgba[0], rgba[2])
    assert not np.allclose(rgba[0], rgba[1])  # opposite directions differ
    rad = palettes.colour_scale([0.0, np.pi / 2, np.pi], "pref_ori")
    rgba = palettes.scale_colors([0.0, np.pi / 2, np.pi], rad)
    np.testing.assert_allclose(rgba[0], rgba[2])


def test_units_with_no_value_are_a_faint_no_data_grey():
    scale = palettes.colour_scale([1.0, np.nan, 3.0, np.nan], "volume")
    assert scale.missing == 2
    rgba = palettes.scale_colors([1.0, np.nan, 3.0, np.nan], scale)
    np.testing.assert_allclose(rgba[1], palettes.NO_DATA)
    np.testing.assert_allclose(rgba[3], palettes.NO_DATA)
    assert palettes.NO_DATA[3] < 0.5  # fainter than any colour-map colour
    assert _hls(palettes.NO_DATA)[2] == 0  # grey


def test_limits_of_many_values_come_from_a_close_sample():
    values = np.random.default_rng(5).lognormal(5, 1, 94_000)
    scale = palettes.colour_scale(values, "volume")
    exact = np.percentile(values, [2, 98])
    # within 0.2 percentile points of the exact limits
    assert np.percentile(values, 1.8) <= scale.vmin <= np.percentile(values, 2.2)
    assert np.percentile(values, 97.8) <= scale.vmax <= np.percentile(values, 98.2)
    np.testing.assert_allclose([scale.vmin, scale.vmax], exact, rtol=0.03)


def test_2d_figure_colours_read_on_a_white_page():
    """The 2D figure's lines and dots (no units behind them) keep a contrast ratio of at least
    3:1 against white (WCAG relative luminance); the pale colours made for black would not."""
    def luminance(rgb):
        c = np.asarray(rgb[:3], dtype=float)
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])

    def contrast(rgb):
        return 1.05 / (luminance(rgb) + 0.05)

    drawn = [*(palettes.COMPARTMENT_ON_WHITE[c] for c in (2, 3, 4)), *palettes.SYNAPSE_DIRECTION_ON_WHITE.values()]
    assert min(contrast(c) for c in drawn) >= 3.0
    assert contrast(palettes.SYNAPSE_DIRECTION["input"]) < 3.0  # why a second set is needed
