"""Print-ready output under a real X display: pixel sizes, dpi in the file, backgrounds,
formats by extension, movies with the legend burnt in; one-line errors that write nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from napari_microns.core import palettes
from napari_microns.core.errors import DataError, StorageError

from support.render import sample_dock, sample_scene

pytestmark = pytest.mark.render

MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".tif": (b"II*\x00", b"MM\x00*")}


@pytest.fixture
def scene(make_napari_viewer, info):
    return sample_scene(make_napari_viewer, info, (900, 700))


def cli(*args: str, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "napari_microns.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env or {**os.environ, "QT_QPA_PLATFORM": "xcb"})


def test_width_height_and_scale_give_the_asked_pixels(scene, tmp_path):
    from napari_microns.figure import screenshot_figure

    out = screenshot_figure(scene, tmp_path / "a.png", legend=False, width=640, height=480)
    assert Image.open(out).size == (640, 480)
    shown = scene.viewer.screenshot(canvas_only=True, flash=False).shape
    out = screenshot_figure(scene, tmp_path / "b.png", legend=False, scale=0.5)
    assert Image.open(out).size == (round(shown[1] * 0.5), round(shown[0] * 0.5))
    with_legend = Image.open(screenshot_figure(scene, tmp_path / "c.png", width=640, height=480))
    assert with_legend.size[0] > 640 and with_legend.size[1] == 480  # the legend panel beside the canvas


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_format_follows_the_extension_and_dpi_is_in_the_file(scene, tmp_path, suffix):
    from napari_microns.figure import screenshot_figure

    out = screenshot_figure(scene, tmp_path / f"fig{suffix}", width=320, height=240, dpi=300)
    assert out.read_bytes().startswith(MAGIC[suffix])
    dpi = Image.open(out).info["dpi"]
    assert dpi == pytest.approx((300, 300), abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left


def _legend_ink(image: np.ndarray, canvas_width: int) -> tuple[int, int]:
    """(dark, light) text pixels in the legend panel (greys only, not the colour swatches)."""
    panel = image[:, canvas_width + 30:, :3].astype(int)
    grey = panel.max(axis=-1) - panel.min(axis=-1) < 12
    return int((grey & (panel.max(axis=-1) < 90)).sum()), int((grey & (panel.min(axis=-1) > 170)).sum())


def test_white_background_has_a_white_canvas_and_dark_legend_text(scene, tmp_path):
    from napari_microns.figure import screenshot_figure

    white = np.asarray(Image.open(screenshot_figure(scene, tmp_path / "w.png", width=400, height=300,
                                                    background="white", title="cell type")))
    assert (white[2, 2, :3] == 255).all()
    dark, light = _legend_ink(white, 400)
    assert dark > 100 and light > dark  # dark text on a white panel
    black = np.asarray(Image.open(screenshot_figure(scene, tmp_path / "b.png", width=400, height=300)))
    assert (black[2, 2, :3] == 0).all()
    dark, light = _legend_ink(black, 400)
    assert light > 100 and dark > light  # light text on a black panel
    assert scene.viewer.canvas.background_color_override is None  # the viewer is left as it was


def test_transparent_png_has_a_clear_canvas_corner(scene, tmp_path):
    from napari_microns.figure import screenshot_figure

    image = np.asarray(Image.open(screenshot_figure(scene, tmp_path / "t.png", width=300, height=200,
                                                    background="transparent")))
    assert image.shape[2] == 4 and image[2, 2, 3] == 0


def test_bad_output_is_one_line_and_writes_nothing(scene, tmp_path):
    from napari_microns.figure import screenshot_figure

    with pytest.raises(DataError, match="name it .png"):
        screenshot_figure(scene, tmp_path / "fig.bmp")
    with pytest.raises(DataError, match="transparent background needs"):
        screenshot_figure(scene, tmp_path / "fig.jpg", background="transparent")
    with pytest.raises(StorageError, match="does not exist"):
        screenshot_figure(scene, tmp_path / "missing" / "fig.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "extra", "says"), [
    ("fig.bmp", (), "cannot write a figure as 'fig.bmp'"),
    ("missing/fig.png", (), "does not exist"),
    ("fig.jpg", ("--background", "transparent"), "transparent background needs"),
    ("fig.png", ("--fit", "neurons"), "--fit neurons frames the neurons shown: give them with --root-ids"),
])
def test_cli_bad_output_is_one_error_line_before_any_work(info, tmp_path, name, extra, says):
    result = cli("figure", "--datadir", str(info.datadir), "--version", str(info.version),
                 "--out", str(tmp_path / name), *extra)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []  # no file, no folder


def test_cli_movie_has_the_frames_fps_and_the_legend(info, tmp_path):
    import imageio.v3 as iio

    out, movie = tmp_path / "fig.png", tmp_path / "turn.mp4"
    result = cli("figure", "--datadir", str(info.datadir), "--version", str(info.version), "--out", str(out),
                 "--movie", str(movie), "--frames", "6", "--fps", "12", "--background", "white",
                 "--width", "320", "--height", "240")
    assert result.returncode == 0, result.stderr
    frames = list(iio.imiter(movie))
    assert len(frames) == 6
    assert iio.immeta(movie)["fps"] == pytest.approx(12)
    frame = frames[3]
    assert frame.shape[1] > 320  # the legend panel is in the frame
    swatch = frame[:, 320:, :3].astype(float) - np.asarray(palettes.CELL_TYPE["23P"][:3]) * 255
    assert (np.linalg.norm(swatch, axis=-1) < 40).sum() > 20  # the legend's 23P swatch
    assert (frame[2, 2] > 235).all()  # white background


def test_movie_timing_and_panel_options():
    from napari_microns.output import movie_timing

    assert movie_timing() == (72, 24.0)
    assert movie_timing(seconds=2, fps=10) == (20, 10.0)
    assert movie_timing(frames=30, seconds=3) == (30, 10.0)
    with pytest.raises(DataError):
        movie_timing(frames=10, fps=5, seconds=2)


def _no_display_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PATH"] = os.path.dirname(sys.executable)  # and no Xvfb to find
    env["NAPARI_MICRONS_SAMPLE_DIR"] = str(tmp_path / "sample")
    return env


@pytest.mark.parametrize("command", ["view", "demo"])
def test_window_without_a_display_is_one_line(info, tmp_path, command):
    args = ["view", "--datadir", str(info.datadir), "--version", str(info.version)] if command == "view" else ["demo"]
    result = cli(*args, env=_no_display_env(tmp_path))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "error: no display: use --screenshot, figure, or run under xvfb-run"
    assert not (tmp_path / "sample").exists()  # before any work


def test_panel_movie_has_its_frames_fps_and_the_legend(make_napari_viewer, qtbot, info, tmp_path):
    import imageio.v3 as iio

    widget = sample_dock(make_napari_viewer, qtbot, info, (1100, 800))
    viewer = widget.viewer
    panel = widget.figure_panel
    viewer.layers["units"].visible = False  # software-GL frames stay cheap; the legend still lists them
    panel.frames_spin.setValue(5)
    panel.fps_spin.setValue(10)
    out = tmp_path / "turn.gif"
    assert panel.start_movie(out) is not None
    qtbot.waitUntil(lambda: panel.movie is None, timeout=120_000)
    frames = list(iio.imiter(out))
    assert len(frames) == 5
    assert iio.immeta(out, index=0)["duration"] == pytest.approx(100, abs=1)
    canvas_width = viewer.screenshot(canvas_only=True, flash=False).shape[1]
    swatch = frames[2][:, canvas_width:, :3].astype(float) - np.asarray(palettes.CELL_TYPE["23P"][:3]) * 255
    assert (np.linalg.norm(swatch, axis=-1) < 40).sum() > 20  # the legend is in the frame
