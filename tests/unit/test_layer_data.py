"""Layer builders: core tables in, napari layer-data tuples out (no Qt, no window)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import layer_data as ld
from napari_microns.core import palettes
from napari_microns.core.errors import DataError


@pytest.fixture
def units() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 500
    types = rng.choice(["23P", "4P", "BC", "MC", "astrocyte", "oligo"], n)
    cls = np.where(np.isin(types, ["23P", "4P"]), "excitatory_neuron",
                   np.where(np.isin(types, ["BC", "MC"]), "inhibitory_neuron", "nonneuron"))
    return pd.DataFrame({
        "nucleus_id": np.arange(n) + 100,
        "pt_position_x": rng.uniform(500, 900, n),
        "pt_position_y": rng.uniform(1, 820, n),
        "pt_position_z": rng.uniform(700, 950, n),
        "classification_system": cls,
        "cell_type": types,
        "brain_area": rng.choice(["V1", "RL", "AL"], n),
        "strategy_axon": np.where(np.arange(n) % 50 == 0, "axon_fully_extended", "none"),
        "strategy_dendrite": np.where(np.arange(n) % 25 == 0, "dendrite_extended", "none"),
        "tuning_type": "not_matched",
        "layer": rng.choice(["L1", "L2/3", "L4", "L5", "L6"], n),
        "pt_root_id": 864691135000000000 + np.arange(n, dtype=np.int64) * 7,
    })


@pytest.fixture
def layers() -> pd.DataFrame:
    return pd.DataFrame({
        "layer": ["L1", "L2/3", "L4", "L5", "L6"], "region_index": 0,
        "y_start": [1.2, 71.0, 250.4, 360.0, 509.5], "y_end": [71.0, 250.4, 360.0, 509.5, 828.3],
    }).assign(height=lambda d: d.y_end - d.y_start)


def test_display_order_puts_depth_on_rows_and_x_on_columns():
    xyz = np.array([[10.0, 200.0, 3000.0]])
    zyx = ld.to_display(xyz)
    assert zyx.tolist() == [[3000.0, 200.0, 10.0]]  # napari (plane, row, column)
    np.testing.assert_array_equal(ld.from_display(zyx), xyz)


def test_units_layer_carries_the_table_colours_and_sizes(units):
    data, kwargs, kind = ld.units_layer_data(units, color_by="cell_type", size=9.0)
    assert kind == "points" and data.shape == (len(units), 3)
    np.testing.assert_allclose(data[:, 1], units["pt_position_y"])  # depth on the row axis
    feats = kwargs["features"]
    assert list(feats.columns[:5]) == ld.HOVER_COLUMNS  # shown first on hover
    assert feats["pt_root_id"].tolist() == units["pt_root_id"].tolist()
    assert set(units.columns) <= set(feats.columns) and "proofreading" in feats.columns
    for i in (0, 17, 333):
        np.testing.assert_allclose(kwargs["face_color"][i], palettes.CELL_TYPE[units["cell_type"][i]])
    assert kwargs["size"] == 9.0 and kwargs["shading"] == "spherical" and kwargs["units"] == "um"


@pytest.mark.parametrize("column", ld.COLOR_BY_CHOICES)
def test_every_colour_by_choice_uses_its_palette(units, column):
    feats = ld.units_features(units)
    rgba = ld.units_colors(feats, column)
    palette = palettes.PALETTES[column]
    for value, color in zip(feats[column].astype(str)[:50], rgba[:50]):
        np.testing.assert_allclose(color, palette[value])


def test_colour_by_a_missing_column_is_a_clear_error(units):
    with pytest.raises(DataError, match="no such column"):
        ld.units_colors(ld.units_features(units), "favourite_colour")


def test_units_without_positions_are_rejected(units):
    with pytest.raises(DataError, match="position"):
        ld.units_layer_data(units.drop(columns="pt_position_y"))


def test_filters_combine(units):
    feats = ld.units_features(units)
    assert ld.filter_mask(feats).all()
    exc = ld.filter_mask(feats, classes=["excitatory_neuron"])
    assert set(feats["cell_type"][exc]) == {"23P", "4P"}
    both = ld.filter_mask(feats, classes=["excitatory_neuron"], cortical_layers=["L4"], areas=["V1"])
    expected = (units.classification_system == "excitatory_neuron") & (units.layer == "L4") & (units.brain_area == "V1")
    np.testing.assert_array_equal(both, expected.to_numpy())
    proof = ld.filter_mask(feats, proofread_only=True)
    np.testing.assert_array_equal(proof, ((units.strategy_axon != "none") | (units.strategy_dendrite != "none")).to_numpy())
    assert ld.filter_mask(feats, cell_types=[]).sum() == 0


def test_legend_counts_only_shown_units(units):
    feats = ld.units_features(units)
    shown = ld.filter_mask(feats, cell_types=["BC", "MC"])
    entries = ld.legend(feats, "cell_type", shown)
    assert {e[0] for e in entries} == {"BC", "MC"}
    assert sum(e[2] for e in entries) == shown.sum()


def test_layer_planes_sit_at_every_boundary_and_span_the_units(units, layers):
    extent = ld.units_extent(units, margin=5)
    (verts, faces), kwargs, kind = ld.cortical_layer_planes_data(layers, extent)
    assert kind == "surface"
    expected = [1.2, 71.0, 250.4, 360.0, 509.5, 828.3]
    assert kwargs["metadata"]["depths_um"] == expected
    np.testing.assert_allclose(np.unique(verts[:, 1]), expected)  # depth = display axis 1
    assert len(faces) == 2 * len(expected)
    np.testing.assert_allclose([verts[:, 2].min(), verts[:, 2].max()],
                               [units.pt_position_x.min() - 5, units.pt_position_x.max() + 5])
    np.testing.assert_allclose([verts[:, 0].min(), verts[:, 0].max()],
                               [units.pt_position_z.min() - 5, units.pt_position_z.max() + 5])
    assert 0 < kwargs["vertex_colors"][0, 3] < 0.5  # translucent


def test_layer_outlines_and_labels(units, layers):
    extent = ld.units_extent(units)
    vectors, kwargs, kind = ld.cortical_layer_outlines_data(layers, extent)
    assert kind == "vectors" and vectors.shape == (4 * 6, 2, 3)
    np.testing.assert_allclose(vectors[:, 1, 1], 0)  # each outline edge stays at its depth
    data, kwargs, kind = ld.cortical_layer_labels_data(layers, extent)
    assert kwargs["features"]["layer"].tolist() == ["L1", "L2/3", "L4", "L5", "L6"]
    np.testing.assert_allclose(data[:, 1], (layers.y_start + layers.y_end) / 2)


def test_skeleton_vectors_join_parent_and_child_coloured_by_compartment():
    verts = np.array([[0, 100, 0], [0, 90, 0], [0, 80, 0], [5, 110, 0], [0, 120, 0]], float)
    edges = np.array([[1, 0], [2, 1], [3, 0], [4, 3]])
    comp = np.array([1, 4, 4, 3, 2])
    vectors, kwargs, kind = ld.skeleton_layer_data(verts, edges, comp, root_id=5)
    assert kind == "vectors" and vectors.shape == (4, 2, 3)
    np.testing.assert_allclose(vectors[:, 0] + vectors[:, 1], ld.to_display(verts[edges[:, 1]]))
    np.testing.assert_allclose(vectors[:, 0], ld.to_display(verts[edges[:, 0]]))
    assert kwargs["features"]["compartment"].tolist() == ["apical dendrite", "apical dendrite", "basal dendrite", "axon"]
    np.testing.assert_allclose(kwargs["edge_color"][3], palettes.COMPARTMENT[2])
    assert kwargs["metadata"]["root_id"] == 5


def test_mesh_surface_one_colour_translucent():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 1, 2], [0, 1, 3]])
    (v, f), kwargs, kind = ld.mesh_layer_data(verts, faces, (1, 0, 0, 1), opacity=0.5, root_id=9)
    assert kind == "surface" and v.shape == (4, 3) and f.tolist() == faces.tolist()
    np.testing.assert_allclose(v, ld.to_display(verts))
    assert (kwargs["vertex_colors"] == [1, 0, 0, 1]).all() and kwargs["opacity"] == 0.5


def test_synapses_by_direction_and_by_partner_type(units):
    me = int(units.pt_root_id[0])
    partners = units.pt_root_id[[1, 2, 3]].to_numpy()
    syn = pd.DataFrame({
        "id": [1, 2, 3], "pre_pt_root_id": [me, partners[1], partners[2]],
        "post_pt_root_id": [partners[0], me, me], "size": [100, 4000, 20000],
        "ctr_pt_position_x": [1.0, 2, 3], "ctr_pt_position_y": [10.0, 20, 30], "ctr_pt_position_z": [5.0, 6, 7],
    })
    data, kwargs, _ = ld.synapse_layer_data(syn, [me])
    feats = kwargs["features"]
    assert feats["direction"].tolist() == ["output", "input", "input"]
    assert feats["partner_root_id"].tolist() == partners.tolist()
    np.testing.assert_allclose(kwargs["face_color"][0], palettes.SYNAPSE_DIRECTION["output"])
    np.testing.assert_allclose(kwargs["face_color"][1], palettes.SYNAPSE_DIRECTION["input"])
    assert np.all(np.diff(kwargs["size"]) > 0)  # bigger synapse, bigger point
    np.testing.assert_allclose(data[:, 1], [10, 20, 30])
    _, kwargs, _ = ld.synapse_layer_data(syn, [me], units=units, color_by="cell_type")
    for i in range(3):
        np.testing.assert_allclose(kwargs["face_color"][i], palettes.CELL_TYPE[units.cell_type[i + 1]])
    with pytest.raises(DataError):
        ld.synapse_layer_data(syn, [me], units=None, color_by="cell_type")


def test_layer_builders_and_core_import_neither_napari_nor_qt():
    import subprocess
    import sys

    code = ("import sys, napari_microns.layer_data, napari_microns.core.palettes, napari_microns.sample; "
            "bad = [m for m in sys.modules if m == 'napari' or m.startswith(('napari.', 'PyQt', 'qtpy', 'vispy'))]; "
            "print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- numeric colour columns ---------------------------------------------------------------
def test_units_coloured_by_a_numeric_column_follow_the_colour_map(units):
    import matplotlib

    from napari_microns import colour_data

    units = units.assign(volume=np.linspace(100.0, 600.0, len(units)))
    units.loc[[5, 6], "volume"] = np.nan
    feats = ld.units_features(units)
    rgba = ld.units_colors(feats, "volume")
    lo, hi = np.nanpercentile(feats["volume"], [2, 98])
    t = np.clip((feats["volume"].to_numpy() - lo) / (hi - lo), 0, 1)
    ok = np.isfinite(t)
    np.testing.assert_allclose(rgba[ok], matplotlib.colormaps["viridis"](t[ok]), atol=0.02)  # a 256-colour table
    np.testing.assert_allclose(rgba[[5, 6]], [palettes.NO_DATA] * 2)
    # the legend is a colour bar: limits, column, "no data" of the shown units only
    bar = ld.legend(feats, "volume")
    assert isinstance(bar, colour_data.ColourBar) and bar.column == "volume" and bar.missing == 2
    assert bar.labels == (f"{lo:.3g}", f"{hi:.3g}") and bar.no_data == palettes.NO_DATA
    shown = np.ones(len(feats), dtype=bool)
    shown[[5, 6]] = False
    assert ld.legend(feats, "volume", shown).no_data is None
    assert ld.legend(feats, "volume", limits=(0, 1000)).labels == ("0", "1e+03")
    assert isinstance(ld.legend(feats, "cell_type"), list)  # categories keep their swatches
    _, kwargs, _ = ld.units_layer_data(units, color_by="volume")
    np.testing.assert_allclose(kwargs["face_color"], rgba)


def test_colour_by_choices_list_numeric_columns_after_the_categories_and_never_ids(units):
    from napari_microns import colour_data

    units = units.assign(volume=np.linspace(1.0, 2.0, len(units)), pref_ori=np.linspace(0, 180, len(units)),
                         n_spines=np.arange(len(units)) % 3)
    feats = ld.units_features(units)
    choices = colour_data.color_by_choices(feats)
    assert choices[:len(ld.COLOR_BY_CHOICES)] == ld.COLOR_BY_CHOICES
    assert choices[len(ld.COLOR_BY_CHOICES):] == ["pt_position_x", "pt_position_y", "pt_position_z",
                                                   "volume", "pref_ori"]
    for bad in ("pt_root_id", "nucleus_id", "favourite_colour"):
        with pytest.raises(DataError, match="cannot colour by.*choose one of .*volume") as err:
            ld.units_colors(feats, bad)
        assert "\n" not in str(err.value)


def test_a_numeric_colouring_of_94k_units_makes_no_per_unit_dict():
    import tracemalloc

    n = 94_000
    rng = np.random.default_rng(1)
    feats = pd.DataFrame({"cell_type": pd.Categorical(rng.choice(list(palettes.CELL_TYPE), n)),
                          "volume": rng.lognormal(5, 1, n)})
    peaks = {}
    for column in ("cell_type", "volume"):
        ld.units_colors(feats, column)  # warm up (matplotlib's colour map registry)
        tracemalloc.start()
        ld.units_colors(feats, column)
        peaks[column] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    bound = 6 * n * 16  # a few (N, 4) float32 arrays; a dict or list per unit is far more
    assert peaks["cell_type"] < bound and peaks["volume"] < bound, peaks


def test_synapses_coloured_by_the_partners_numeric_value(units):
    units = units.assign(volume=np.linspace(100.0, 600.0, len(units)))
    me = int(units.pt_root_id[0])
    partners = units.pt_root_id[[1, 250, 499]].to_numpy()
    syn = pd.DataFrame({
        "id": [1, 2, 3], "pre_pt_root_id": [me, partners[1], 42],
        "post_pt_root_id": [partners[0], me, me], "size": [100, 4000, 20000],
        "ctr_pt_position_x": [1.0, 2, 3], "ctr_pt_position_y": [10.0, 20, 30], "ctr_pt_position_z": [5.0, 6, 7],
    })
    _, kwargs, _ = ld.synapse_layer_data(syn, [me], units=units, color_by="volume")
    unit_rgba = ld.units_colors(ld.units_features(units), "volume")  # the units' limits
    np.testing.assert_allclose(kwargs["face_color"][0], unit_rgba[1])
    np.testing.assert_allclose(kwargs["face_color"][1], unit_rgba[250])
    np.testing.assert_allclose(kwargs["face_color"][2], palettes.NO_DATA)  # partner 42 is no unit
    assert kwargs["features"]["partner_volume"].dtype == float
