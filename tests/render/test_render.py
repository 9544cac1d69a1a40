"""Rendering under a real X display (Xvfb via pytest-xvfb): figures are not blank, show the
palette's cell-type colours, and draw the layer planes at the layers table's depths."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from napari_microns.core import palettes

from support.render import near, sample_dock, sample_scene

pytestmark = pytest.mark.render


@pytest.fixture
def scene(make_napari_viewer, info):
    return sample_scene(make_napari_viewer, info, (1200, 900))


def test_units_render_in_their_cell_type_colours(scene):
    from napari_microns.camera import set_camera

    set_camera(scene.viewer, "front")
    for name in ("cortical layers", "layer boundaries", "layer labels"):
        scene.viewer.layers[name].visible = False
    image = scene.viewer.screenshot(canvas_only=True, flash=False)
    assert image[..., :3].std() > 20  # not blank
    for cell_type in ("23P", "4P", "5P-IT", "6P-IT"):
        assert near(image, palettes.CELL_TYPE[cell_type]) > 500, cell_type
    # and where they belong: 23P (L2/3) renders above 6P-IT (L6), pia at the top
    rows = np.arange(image.shape[0])[:, None]
    def mean_row(color):
        mask = np.linalg.norm(image[..., :3].astype(float) - np.asarray(color[:3]) * 255, axis=-1) < 40
        return (rows * mask).sum() / mask.sum()
    assert mean_row(palettes.CELL_TYPE["23P"]) < mean_row(palettes.CELL_TYPE["4P"]) < mean_row(palettes.CELL_TYPE["6P-IT"])


def test_switching_colour_by_is_drawn(scene):
    from napari_microns.camera import set_camera

    set_camera(scene.viewer, "front")
    for name in ("cortical layers", "layer boundaries", "layer labels"):
        scene.viewer.layers[name].visible = False
    scene.viewer.screenshot(canvas_only=True, flash=False)  # drawn once in cell-type colours
    scene.set_color_by("layer")
    image = scene.viewer.screenshot(canvas_only=True, flash=False)
    for layer in ("L2/3", "L4", "L5", "L6"):
        assert near(image, palettes.LAYER[layer]) > 500, layer
    assert near(image, palettes.CELL_TYPE["4P"]) < 50  # the cell-type colours are gone


def test_layer_planes_are_drawn_at_the_layer_table_depths(scene, info):
    from napari_microns.camera import camera_of, set_camera

    viewer = scene.viewer
    set_camera(viewer, "front")
    for lyr in viewer.layers:
        lyr.visible = lyr.name == "layer boundaries"
    image = viewer.screenshot(canvas_only=True, flash=False)
    h, w = image.shape[:2]
    bright = image[..., :3].max(axis=-1) > 60
    lit_rows = np.flatnonzero(bright.sum(axis=1) > 0.2 * w)  # a boundary line crosses the view
    groups = np.split(lit_rows, np.flatnonzero(np.diff(lit_rows) > 2) + 1)
    found = np.array([g.mean() for g in groups if len(g)])
    layers = pd.read_parquet(info.layout.layers_path)
    depths = np.unique(np.r_[layers.y_start, layers.y_end])
    camera = camera_of(viewer)
    # orthographic camera: screen row = centre row + (depth - centre depth) * zoom, pia up
    expected = h / 2 + (depths - camera.center[1]) * camera.zoom
    assert len(found) == len(depths), (found, expected)
    np.testing.assert_allclose(found, expected, atol=3)
    assert np.all(np.diff(found) > 0)  # deeper boundaries lower on screen


def test_figure_has_legend_and_scale_bar(scene, tmp_path):
    from qtpy.QtGui import QImage

    from napari_microns.figure import add_legend, screenshot_figure

    out = screenshot_figure(scene, tmp_path / "fig.png", title="cell type")
    img = QImage(str(out))
    canvas = scene.viewer.screenshot(canvas_only=True, flash=False)
    assert img.width() > canvas.shape[1]  # legend panel beside the canvas
    legend = add_legend(np.zeros((50, 50, 4), np.uint8), [("23P", palettes.CELL_TYPE["23P"])], title="t")
    assert near(legend, palettes.CELL_TYPE["23P"], tol=5) > 20
    from napari_microns.figure import scale_bar_of

    assert scale_bar_of(scene.viewer).visible


def test_figure_coloured_by_a_numeric_column_shows_a_colour_bar(scene, tmp_path):
    import matplotlib
    from qtpy.QtGui import QImage

    from napari_microns.figure import screenshot_figure

    scene.set_color_by("volume")
    canvas = scene.viewer.screenshot(canvas_only=True, flash=False)
    viridis = matplotlib.colormaps["viridis"]
    assert near(canvas, viridis(0.5), tol=30) > 50  # the units in viridis
    out = screenshot_figure(scene, tmp_path / "fig.png", title="volume")
    img = QImage(str(out)).convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    image = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[:, : img.width()]
    panel = image[:, canvas.shape[1]:]  # the legend beside the canvas: a gradient, both ends
    for t in (0.0, 0.5, 1.0):
        assert near(panel, viridis(t), tol=12) >= 5, t
    assert near(panel, palettes.CELL_TYPE["23P"], tol=5) == 0  # no category swatches


def cli(*args: str, check: bool = True):
    """The napari-microns command in a fresh process (as a user runs it), on this display."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "napari_microns.cli", *args], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "xcb"})
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_demo_screenshot_shows_units_planes_and_neurons(info, tmp_path, qapp):
    from qtpy.QtGui import QImage

    from napari_microns.figure import _qimage_to_array

    out = tmp_path / "demo.png"
    result = cli("demo", "--screenshot", str(out), "--sample-dir", str(info.datadir))
    assert "SYNTHETIC" in result.stdout.upper() and f"wrote {out}" in result.stdout
    image = _qimage_to_array(QImage(str(out)))
    canvas = image[:, : image.shape[1] - 250]
    assert canvas[..., :3].std() > 10
    for cell_type in ("23P", "4P"):
        assert near(canvas, palettes.CELL_TYPE[cell_type], tol=60) > 100  # dimmed units
    assert near(canvas, palettes.SYNAPSE_DIRECTION["input"], tol=60) > 30  # neurons' synapses
    assert near(canvas, palettes.CORTICAL_LAYER_OUTLINE, tol=40) > 200  # plane outlines


def test_camera_presets_keep_the_pia_up(scene):
    from napari_microns.camera import CAMERA_PRESETS, camera_of, set_camera

    camera = camera_of(scene.viewer)
    for preset, (view, up) in CAMERA_PRESETS.items():
        set_camera(scene.viewer, preset)
        np.testing.assert_allclose(camera.view_direction, view, atol=1e-6)
        np.testing.assert_allclose(camera.up_direction, up, atol=1e-6)
        if preset != "top":
            assert camera.up_direction[1] < -0.9, preset  # screen up = towards the pia
    set_camera(scene.viewer, "top")
    assert camera.view_direction[1] == pytest.approx(1.0)  # looking down through the layers
    from napari_microns.core.errors import MicronsError

    with pytest.raises(MicronsError, match="unknown camera preset 'bottom'"):
        set_camera(scene.viewer, "bottom")


def test_turntable_movie(scene, tmp_path):
    from napari_microns.figure import turntable

    scene.viewer.layers["units"].visible = False  # keep the software-GL frames cheap; planes still turn
    out = turntable(scene.viewer, tmp_path / "turn.mp4", frames=16, fps=8)
    assert out.exists() and out.stat().st_size > 2_000
    import imageio.v3 as iio

    frames = list(iio.imiter(out))
    assert len(frames) >= 16
    changed = np.abs(frames[0].astype(float) - frames[len(frames) // 4].astype(float)).max(axis=-1) > 30
    assert changed.mean() > 0.002  # it turns: the planes' outlines moved


def test_cli_figure_writes_a_png_and_fails_in_one_line(info, tmp_path, qapp):
    from qtpy.QtGui import QImage

    out = tmp_path / "fig.png"
    root = str(info.root_ids[0])
    cli("figure", "--datadir", str(info.datadir), "--version", str(info.version), "--root-ids", root,
        "--color-by", "layer", "--mesh", "--synapses", "--camera", "side", "--out", str(out))
    img = QImage(str(out))
    assert img.width() > 800 and img.height() > 500
    bad = cli("figure", "--datadir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.png"), check=False)
    err = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and len(err) == 1, bad.stderr
    assert err[0].startswith("error:") and "napari-microns process" in err[0]
    assert not (tmp_path / "x.png").exists()
    bad_view = cli("view", "--datadir", str(tmp_path / "nothing"), check=False)  # fails before any window
    assert bad_view.returncode == 1 and bad_view.stderr.strip().startswith("error:")


def _skeleton_box(viewer) -> tuple[np.ndarray, np.ndarray]:
    """The pixel bounding box of what the skeletons draw (the other layers hidden): its
    (height, width) and its centre as a fraction of the canvas."""
    from napari_microns import layer_data as ld

    for lyr in viewer.layers:
        lyr.visible = ld.layer_kind(lyr) == ld.KIND_SKELETON
    image = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float)
    rows, cols = np.nonzero(np.abs(image - image[0, 0]).max(axis=-1) > 40)
    assert rows.size > 50, "no skeleton drawn"
    size = np.array([np.ptp(rows), np.ptp(cols)]) + 1
    centre = np.array([rows.min() + rows.max(), cols.min() + cols.max()]) / 2 / image.shape[:2]
    return size, centre


def test_figure_fit_neurons_frames_the_neurons_in_the_same_view(make_napari_viewer, info):
    """``figure --fit neurons``: the camera keeps the preset's view direction but centres and
    zooms on the neurons, so the neuron is drawn far larger than in the view of everything."""
    from napari_microns import Dataset
    from napari_microns.app import build_scene
    from napari_microns.camera import CAMERA_PRESETS, camera_of

    boxes, root = {}, int(info.root_ids[-1])  # the sample's smallest neuron (~200 µm across)
    for fit in ("all", "neurons"):
        viewer = make_napari_viewer(show=True)
        viewer.window.resize(1000, 800)
        _scene, errors = build_scene(viewer, Dataset(info.datadir, version=info.version), [root], fit=fit)
        assert errors == []
        np.testing.assert_allclose(camera_of(viewer).view_direction, CAMERA_PRESETS["pia_up"][0], atol=1e-6)
        boxes[fit] = _skeleton_box(viewer)
    (framed, centre), (whole, _) = boxes["neurons"], boxes["all"]
    assert framed.max() >= 2 * whole.max(), boxes
    np.testing.assert_allclose(centre, 0.5, atol=0.1)  # in the middle of the canvas


def test_widget_frame_neurons_button(dock, qtbot, info):
    from napari.utils.notifications import notification_manager

    from napari_microns.camera import camera_of

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    try:
        dock.frame_button.click()  # nothing to frame yet: one line, the camera unchanged
    finally:
        notification_manager.notification_ready.disconnect(seen.append)
    assert len(seen) == 1 and "fetch a neuron" in str(seen[0].message)
    camera = camera_of(dock.viewer)
    zoom, view, root = camera.zoom, camera.view_direction, int(info.root_ids[-1])
    assert dock.scene.fetch_now([root], kinds=["skeleton"]) == []
    dock.frame_button.click()
    assert camera.zoom > 1.5 * zoom  # the whole sample was fitted; now the neuron (~200 µm)
    np.testing.assert_allclose(camera.view_direction, view, atol=1e-6)
    lo, hi = dock.viewer.layers[f"skeleton {root}"].extent.world
    assert np.all(lo <= camera.center) and np.all(camera.center <= hi)  # looking at the neuron


VIEW_SCRIPT = """
import json, sys
import napari
napari.run = lambda *a, **k: None  # the test inspects the window instead of entering the event loop
from napari_microns import app
made = []
_viewer = app._viewer
app._viewer = lambda show=True: made.append(_viewer(show=show)) or made[-1]
app.view(sys.argv[1], int(sys.argv[2]), root_ids=[int(sys.argv[3])], color_by="layer")
viewer = made[0]
widget = viewer.window._dock_widgets["MICrONS explorer (napari-microns)"].widget()
print(json.dumps({"layers": [lyr.name for lyr in viewer.layers], "ids": widget.neurons_panel.root_ids(),
                  "color_by": widget.units_panel.color_combo.currentText(),
                  "status": widget.data_panel.status_label.text()}))
viewer.close()
"""


def test_view_opens_the_folder_with_the_dock_widget(info):
    import json
    import subprocess
    import sys

    root = int(info.root_ids[0])
    result = subprocess.run([sys.executable, "-c", VIEW_SCRIPT, str(info.datadir), str(info.version), str(root)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "xcb"})
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["layers"][:4] == ["units", "cortical layers", "layer boundaries", "layer labels"]
    assert f"skeleton {root}" in state["layers"]
    assert state["ids"] == [root] and state["color_by"] == "layer"
    assert state["status"].startswith("30,000 units")


@pytest.fixture
def dock(make_napari_viewer, qtbot, info):
    """The dock widget's Figure panel on the sample, units hidden so that software-GL frames stay cheap."""
    widget = sample_dock(make_napari_viewer, qtbot, info, (1300, 1000))
    yield widget.figure_panel
    if widget.figure_panel.movie is not None:
        widget.figure_panel.stop_movie()


def test_widget_camera_presets_and_saved_figure(dock, tmp_path):
    from qtpy.QtGui import QImage

    from napari_microns.camera import CAMERA_PRESETS, camera_of

    dock.camera_combo.setCurrentIndex(dock.camera_combo.findData("side"))
    dock.camera_combo.activated.emit(dock.camera_combo.currentIndex())  # as a user's choice does
    np.testing.assert_allclose(camera_of(dock.viewer).view_direction, CAMERA_PRESETS["side"][0], atol=1e-6)

    out = dock.save_figure(tmp_path / "fig.png")
    image = QImage(str(out))
    canvas_w = dock.viewer.screenshot(canvas_only=True, flash=False).shape[1]
    assert image.width() > canvas_w  # the legend panel beside the canvas
    # the sample says it is synthetic in the legend title (its marker file is in the folder)
    from napari_microns.figure import figure_title

    assert figure_title(dock.scene.dataset, "cell_type") == "SYNTHETIC sample - cell type"


def test_widget_turntable_renders_frame_by_frame_and_a_stopped_movie_leaves_nothing(dock, qtbot, tmp_path):
    import imageio.v3 as iio

    dock.viewer.layers["units"].visible = False
    out = tmp_path / "turn.mp4"
    assert dock.start_movie(out, frames=8, fps=8) is not None
    assert dock.movie is not None and dock.movie_button.text() == "Stop movie"
    activity = dock.movie.activity  # its bar in napari's Activity dock: one step per frame
    assert activity.bar.total == 8 and not activity.closed
    qtbot.waitUntil(lambda: dock.movie is None, timeout=120_000)  # the event loop ran between frames
    assert len(list(iio.imiter(out))) == 8 and dock.movie_button.text() == "Turntable movie…"
    assert activity.closed and activity.bar.n == 8

    stopped = tmp_path / "stopped.gif"
    dock.start_movie(stopped, frames=16, fps=8)
    qtbot.waitUntil(lambda: dock.movie is not None and dock.movie.done >= 2, timeout=60_000)
    activity = dock.movie.activity
    activity.bar.cancel()  # the Activity dock's Cancel stops the movie like the button
    qtbot.waitUntil(lambda: dock.movie is None, timeout=10_000)
    assert activity.closed and not stopped.exists()
    dock.start_movie(stopped, frames=16, fps=8)
    qtbot.waitUntil(lambda: dock.movie is not None and dock.movie.done >= 2, timeout=60_000)
    dock.movie_clicked()  # the button reads "Stop movie"
    assert dock.movie is None and not stopped.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["turn.mp4"]  # no partial files


def test_widget_movie_with_an_unknown_extension_is_one_notification(dock, tmp_path):
    from napari.utils.notifications import notification_manager

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    try:
        assert dock.start_movie(tmp_path / "turn.xyz") is None
    finally:
        notification_manager.notification_ready.disconnect(seen.append)
    assert len(seen) == 1 and "cannot write a movie as 'turn.xyz'" in str(seen[0].message)
    assert dock.movie is None and list(tmp_path.iterdir()) == []
