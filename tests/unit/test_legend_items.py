"""A figure's legend lists only what is drawn: the compartments the shown skeletons have,
the shown (filtered) units' categories with their counts, the synapse directions present."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from napari_microns import layer_data as ld
from napari_microns.core import palettes
from napari_microns.figure import legend_items_from_scene


def _layer(layer_data):
    data, kwargs, _kind = layer_data
    return SimpleNamespace(visible=True, data=data, metadata=kwargs["metadata"],
                           features=kwargs.get("features", pd.DataFrame()))


def _scene(features, layers, filtered=None):
    shown = np.ones(len(features), bool) if filtered is None else ~features["cell_type"].isin(filtered).to_numpy()
    return SimpleNamespace(viewer=SimpleNamespace(layers=layers),
                           legend=lambda: ld.legend(features, "cell_type", shown))


def _basket_skeleton():
    """A basket-cell-like skeleton: soma, axon and basal dendrites, no apical dendrite."""
    vertices = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0], [0, 10, 0], [0, 20, 0]], float)
    edges = np.array([[1, 0], [2, 1], [3, 0], [4, 3]])
    return ld.skeleton_layer_data(vertices, edges, compartment=np.array([1, 2, 2, 3, 3]), root_id=1)


FEATURES = pd.DataFrame({"cell_type": ["BC", "BC", "23P", "MC", "astrocyte"], "pt_root_id": [1, 2, 3, 4, 5]})


def test_no_apical_dendrite_entry_for_a_skeleton_without_one():
    labels = [label for label, _ in legend_items_from_scene(_scene(FEATURES, [_layer(_basket_skeleton())]))]
    assert "axon" in labels and "basal dendrite" in labels
    assert "apical dendrite" not in labels


def test_units_entries_are_the_shown_categories_with_counts():
    items = legend_items_from_scene(_scene(FEATURES, [], filtered=["MC", "astrocyte"]))
    assert [label for label, _ in items] == ["23P (1)", "BC (2)"]
    assert items[1][1] == palettes.CELL_TYPE["BC"]


def test_only_the_synapse_directions_present_are_listed():
    synapses = pd.DataFrame({"ctr_pt_position_x": [1.0, 2.0], "ctr_pt_position_y": [1.0, 2.0],
                             "ctr_pt_position_z": [1.0, 2.0], "pre_pt_root_id": [7, 8],
                             "post_pt_root_id": [1, 1], "size": [100, 200]})
    layer = _layer(ld.synapse_layer_data(synapses, [1], position_columns=list(synapses.columns[:3])))
    labels = [label for label, _ in legend_items_from_scene(_scene(FEATURES, [layer]))]
    assert "input synapse" in labels and "output synapse" not in labels
