"""Camera presets read true on the drawn canvas: looking down the depth axis (``top``) the
layer labels do not pile onto one spot and the stacked plane fills do not veil the units."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microns.core import palettes

from support.render import near, sample_scene

pytestmark = pytest.mark.render

PLANES, OUTLINES, LABELS = "cortical layers", "layer boundaries", "layer labels"


@pytest.fixture
def scene(make_napari_viewer, info):
    return sample_scene(make_napari_viewer, info, (1200, 900))


def _saturation(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(float)
    hi, lo = rgb.max(axis=-1), rgb.min(axis=-1)
    return np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0.0)


def test_top_view_keeps_unit_colours_saturated_behind_the_planes(scene):
    from napari_microns.camera import set_camera

    viewer = scene.viewer
    set_camera(viewer, "top")
    shown = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    visible = {name: viewer.layers[name].visible for name in (PLANES, OUTLINES, LABELS)}
    for name in (PLANES, OUTLINES, LABELS):
        viewer.layers[name].visible = False
    bare = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    for name, was in visible.items():
        viewer.layers[name].visible = was
    units = (bare.max(axis=-1) > 60) & (_saturation(bare) > 0.5)  # coloured unit pixels
    assert units.sum() > 2000
    assert np.median(_saturation(shown[units])) > 0.8 * np.median(_saturation(bare[units]))
    for cell_type in ("23P", "4P"):
        assert near(shown, palettes.CELL_TYPE[cell_type]) > 0.7 * near(bare, palettes.CELL_TYPE[cell_type])


def test_top_view_draws_no_pile_of_layer_labels(scene):
    from napari_microns.camera import set_camera

    viewer = scene.viewer
    set_camera(viewer, "top")
    viewer.layers["units"].visible = False
    viewer.layers[OUTLINES].visible = False
    image = viewer.screenshot(canvas_only=True, flash=False)[..., :3]
    text = np.argwhere(image.min(axis=-1) > 180)  # white label text
    # no text at all, or text spread over more than one label's place
    assert len(text) < 20 or np.ptp(text, axis=0).max() > 60, (len(text), np.ptp(text, axis=0))


def test_other_presets_bring_back_what_the_top_view_hid(scene):
    from napari_microns.camera import set_camera

    viewer = scene.viewer
    set_camera(viewer, "top")
    assert not viewer.layers[PLANES].visible and not viewer.layers[LABELS].visible
    assert viewer.layers[OUTLINES].visible  # the boundaries stay, as outlines
    set_camera(viewer, "front")  # edge-on: the planes at full opacity
    assert viewer.layers[PLANES].visible and viewer.layers[LABELS].visible
    edge_on = viewer.layers[PLANES].opacity
    set_camera(viewer, "pia_up")  # oblique: fainter fills
    assert 0 < viewer.layers[PLANES].opacity < edge_on
    viewer.layers[LABELS].visible = False  # hidden by the user: stays hidden
    set_camera(viewer, "top")
    set_camera(viewer, "side")
    assert not viewer.layers[LABELS].visible


def test_figure_with_orientation_axes(scene, tmp_path):
    from qtpy.QtGui import QImage

    from napari_microns.figure import axes_of, screenshot_figure

    def pixels(path):
        img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
        return np.frombuffer(img.constBits().asstring(img.sizeInBytes()), np.uint8).reshape(
            img.height(), img.bytesPerLine())[:, : 3 * img.width()].reshape(img.height(), img.width(), 3)

    before = axes_of(scene.viewer).visible
    plain = pixels(screenshot_figure(scene, tmp_path / "plain.png", size=(600, 800)))
    with_axes = pixels(screenshot_figure(scene, tmp_path / "axes.png", size=(600, 800), axes=True))
    assert axes_of(scene.viewer).visible == before  # put back after the figure
    changed = np.abs(plain.astype(int) - with_axes.astype(int)).max(axis=-1) > 60
    assert changed.sum() > 100  # the axes are drawn
