"""The pure pieces of the Neuroglancer model: which pasted texts are CAVE short links, a state's
points as napari Points in the scene's frame (exact ids, annotation colours), what the panel says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import layer_data as ld
from napari_microns.cli_neuroglancer import LONG_URL
from napari_microns.neuroglancer_scene import (KIND_NEUROGLANCER_POINTS, POINTS_LAYER, Link, Opened,
                                               annotation_colors, is_short_link, points_layer_data)


@pytest.mark.parametrize("text, short", [
    ("https://global.daf-apis.com/nglstate/api/v1/5678", True),
    ("https://spelunker.cave-explorer.org/#!middleauth+https://global.daf-apis.com/nglstate/api/v1/5678", True),
    ("https://ngl.example/?json_url=https%3A%2F%2Fglobal.daf-apis.com%2Fnglstate%2Fapi%2Fv1%2F12", True),
    ('https://spelunker.cave-explorer.org/#!{"layers": [], "title": "/nglstate/ in a title"}', False),
    ('{"layers": []}', False),
    ("https://spelunker.cave-explorer.org/#!%7B%22layers%22%3A%5B%5D%7D", False),
    ("no link at all", False),
])
def test_short_links_are_told_from_states(text, short):
    assert is_short_link(text) is short


def test_points_land_in_the_scene_frame_with_exact_ids_and_their_layer_colours():
    big = 2**62 + 1  # not a float
    points = pd.DataFrame({"x": [1.0, 4.0], "y": [2.0, 5.0], "z": [3.0, 6.0], "layer": ["inputs", "outputs"],
                           "description": ["a", None], "segments": [(big, 7), ()]})
    state = {"layers": [{"name": "inputs", "type": "annotation", "annotationColor": "#ff0000"},
                        {"name": "segmentation", "type": "segmentation"}]}
    assert annotation_colors(state) == {"inputs": "#ff0000"}
    data, kwargs, kind = points_layer_data(points, annotation_colors(state))
    assert kind == "points" and kwargs["name"] == POINTS_LAYER
    assert kwargs["metadata"] == {ld.KIND_KEY: KIND_NEUROGLANCER_POINTS}
    np.testing.assert_array_equal(data, [[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]])  # (z, y, x), as the synapses
    np.testing.assert_array_equal(data, ld.to_display(points[["x", "y", "z"]].to_numpy()))
    feats = kwargs["features"]
    assert feats["segments"].tolist() == [f"{big} 7", ""] and feats["description"].tolist() == ["a", ""]
    assert kwargs["face_color"][0] == "#ff0000" and kwargs["face_color"][1] != "#ff0000"


def test_what_the_panel_says():
    assert Opened((1, 2), 120, (1.4, 2.6, 3.0)).summary() == "2 neurons chosen, 120 points, camera at (1, 3, 3) µm"
    assert Opened((), 1, None).summary() == "no neurons selected in the state, 1 point"
    short = Link(state=None, url="u" * 10, root_ids=(1,), notes=("a note",))
    assert short.messages() == ["a note"] and short.text == short.url
    long = Link(state=None, url="u" * (LONG_URL + 1), root_ids=(1,))
    assert long.messages()[0].startswith("long link") and "Short link or Save JSON" in long.messages()[0]
    done = Link(state=None, url=long.url, root_ids=(1,), short="https://x/nglstate/api/v1/1")
    assert done.text == done.short and "short link made" in done.messages()[0]
