"""Cortical layer labels set off the plane outlines, and synapse markers that leave the
skeleton readable (smaller than before, translucent)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_microns import layer_data as ld


def _layers():
    return pd.DataFrame({"layer": ["L1", "L2/3", "L4"], "y_start": [0.0, 100.0, 350.0],
                         "y_end": [100.0, 350.0, 450.0]})


def test_labels_stand_off_the_plane_corners():
    extent = (np.array([0.0, 0.0, 0.0]), np.array([1000.0, 450.0, 600.0]))
    data, kwargs, _ = ld.cortical_layer_labels_data(_layers(), extent)
    xyz = ld.from_display(data)
    assert (xyz[:, 0] > 1000 + 20).all() and (xyz[:, 2] > 600 + 20).all()  # outside the outlines
    assert kwargs["blending"] == "translucent_no_depth"  # glyphs do not cut each other


def test_synapse_markers_leave_the_skeleton_readable():
    sizes = ld.synapse_sizes(np.array([10.0, 1e3, 1e4, 1e5, 1e6]))
    assert sizes.max() <= 2.0 and sizes.min() >= 0.5 and np.all(np.diff(sizes) >= 0)
    synapses = pd.DataFrame({"ctr_pt_position_x": [1.0], "ctr_pt_position_y": [1.0], "ctr_pt_position_z": [1.0],
                             "pre_pt_root_id": [7], "post_pt_root_id": [1], "size": [100]})
    _, kwargs, _ = ld.synapse_layer_data(synapses, [1], position_columns=list(synapses.columns[:3]))
    assert kwargs["opacity"] < 1
