"""The circuit views' pure parts: units coloured by connection, the highlight ring, a pair's
synapses and synapses recoloured by a partner column, with root ids above 2**53 kept exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import circuit_layers as cl
from napari_microns import layer_data as ld
from napari_microns.colour_data import column_colors, connection_colors, connection_scale
from napari_microns.core import palettes
from napari_microns.core.errors import DataError

BIG = 999_000_000_000_000_000  # ids one apart here are the same float64
A, B, C, N = BIG + 1, BIG + 2, BIG + 3, BIG + 4


def partners_table() -> pd.DataFrame:
    return pd.DataFrame({"partner_root_id": np.array([A, C], dtype=np.int64), "n_synapses": [5, 1],
                         "size_sum": [5000, 300]})


def units() -> pd.DataFrame:
    return pd.DataFrame({"pt_root_id": np.array([A, B, C, N], dtype=np.int64),
                         "pt_position_x": [1.0, 2.0, 3.0, 4.0], "pt_position_y": [10.0, 20.0, 30.0, 40.0],
                         "pt_position_z": [0.5, 0.5, 0.5, 0.5], "pref_ori": [10.0, np.nan, 100.0, 50.0]})


def test_connection_colours_keep_ids_apart_fade_the_rest_and_whiten_the_neuron():
    assert float(A) == float(B)  # why the ids must stay int64
    colors = connection_colors(np.array([A, B, C, N], dtype=np.int64), partners_table(), "count", neuron=N)
    np.testing.assert_allclose(colors[1], palettes.NOT_PARTNER, atol=1e-6)
    np.testing.assert_allclose(colors[3], palettes.CIRCUIT_NEURON, atol=1e-6)
    scale = connection_scale(partners_table(), "count")
    assert (scale.vmin, scale.vmax) == (1.0, 5.0)  # counts: the fewest to the most
    np.testing.assert_allclose(colors[[0, 2]], palettes.scale_colors([5.0, 1.0], scale), atol=1e-6)
    assert not np.allclose(colors[0], colors[2])
    with pytest.raises(DataError, match="cannot colour by connection 'weight'"):
        connection_colors([A], partners_table(), "weight")


def test_the_highlight_rings_the_partner_and_its_neuron_and_refuses_a_stranger():
    data, kwargs, kind = cl.highlight_layer_data(units(), C, neuron=N)
    assert kind == "points" and kwargs["features"]["pt_root_id"].tolist() == [C, N]
    np.testing.assert_allclose(data, ld.to_display([[3.0, 30.0, 0.5], [4.0, 40.0, 0.5]]))
    np.testing.assert_allclose(kwargs["border_color"], [palettes.HIGHLIGHT, palettes.CIRCUIT_NEURON], atol=1e-6)
    assert cl.unit_rows(units(), [C, BIG, A]).tolist() == [2, -1, 0]
    with pytest.raises(DataError, match=f"{BIG} is not among the units"):
        cl.highlight_layer_data(units(), BIG, neuron=N)


def synapses() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "pre_pt_root_id": np.array([A, A, B, N], dtype=np.int64),
                         "post_pt_root_id": np.array([N, N, N, C], dtype=np.int64), "size": [100, 200, 300, 400],
                         "ctr_pt_position_x": [1.0, 2, 3, 4], "ctr_pt_position_y": [5.0, 6, 7, 8],
                         "ctr_pt_position_z": [0.0, 0, 0, 1]})


def test_a_pairs_layer_holds_only_that_pairs_synapses():
    data, kwargs, _ = cl.pair_layer_data(synapses(), A, N)
    assert kwargs["name"] == f"synapses {A}→{N}" and kwargs["metadata"]["pair"] == [A, N]
    assert kwargs["features"]["pre_pt_root_id"].tolist() == [A, A]
    np.testing.assert_allclose(data, ld.to_display([[1.0, 5, 0], [2.0, 6, 0]]))
    with pytest.raises(DataError, match=f"no synapses stored from {B} onto {C}"):
        cl.pair_layer_data(synapses(), B, C)


def test_synapses_recoloured_by_the_presynaptic_cells_value():
    data, kwargs, _ = ld.synapse_layer_data(synapses(), [N], units=units())
    _, again, _ = cl.recoloured_synapses(data, kwargs["features"], units(), "pref_ori")
    feats = again["features"]
    assert feats["direction"].astype(str).tolist() == ["input", "input", "input", "output"]
    assert feats["partner_root_id"].tolist() == [A, A, B, C]
    reference = units().set_index("pt_root_id")["pref_ori"]
    expected = column_colors(pd.Series([10.0, 10.0, np.nan, 100.0]), "pref_ori", reference=reference)
    np.testing.assert_allclose(again["face_color"], expected, atol=1e-6)
    np.testing.assert_allclose(again["face_color"][2], palettes.NO_DATA, atol=1e-6)  # B was not imaged
