"""Figures from a napari scene: screenshots with a legend and a scale bar,
PNG files, and turntable movies.

Camera presets are in :mod:`napari_microns.camera`; drawing without a display
(Xvfb) is :mod:`napari_microns.display`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from . import layer_data as ld
from .camera import camera_of
from .core import palettes
from .core.errors import MicronsError
from .core.layout import atomic_path
from .sample import is_sample


def scale_bar_of(viewer):
    """The scale bar overlay (``viewer.canvas.overlays.scale_bar`` from napari 0.9 on)."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and hasattr(overlays, "scale_bar"):
        return overlays.scale_bar
    return viewer.scale_bar


def legend_items_from_scene(scene) -> list[tuple[str, tuple]]:
    """The colours a figure shows: units categories, then neuron layers."""
    items: list[tuple[str, tuple]] = [(label, color) for label, color, _ in scene.legend()]
    shown = [lyr for lyr in scene.viewer.layers if lyr.visible]
    if any(ld.layer_kind(lyr) == ld.KIND_SKELETON for lyr in shown):
        items += [(palettes.COMPARTMENT_NAMES[c], palettes.COMPARTMENT[c]) for c in (2, 3, 4)]
    for lyr in shown:
        if ld.layer_kind(lyr) == ld.KIND_MESH and lyr.metadata.get("root_id") is not None:
            root = int(lyr.metadata["root_id"])
            items.append((f"neuron {root}", tuple(float(c) for c in lyr.vertex_colors[0])))
    syn = [lyr for lyr in shown if ld.layer_kind(lyr) == ld.KIND_SYNAPSES]
    if syn and syn[0].metadata.get("color_by") == "direction":
        items += [(f"{k} synapse", v) for k, v in palettes.SYNAPSE_DIRECTION.items()]
    return items


def add_legend(image: np.ndarray, items: Sequence[tuple[str, tuple]], title: str = "",
               scale: float = 1.0) -> np.ndarray:
    """A copy of an RGBA screenshot with a legend panel on its right side."""
    from qtpy.QtCore import QRect, Qt
    from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

    h, w = image.shape[:2]
    row = int(22 * scale)
    probe = QFont()
    probe.setPixelSize(int(14 * scale))
    probe.setBold(True)
    widest = max([QFontMetrics(probe).horizontalAdvance(t) for t in [title, *[lbl for lbl, _ in items]]] + [100])
    panel_w = widest + row + int(30 * scale)
    rows = len(items) + (1 if title else 0)
    out_h = max(h, rows * row + 2 * row)
    canvas = np.zeros((out_h, w + panel_w, 4), dtype=np.uint8)
    canvas[..., 3] = 255
    canvas[:h, :w] = image[..., :4] if image.shape[2] == 4 else np.dstack([image, np.full((h, w), 255, np.uint8)])
    canvas = np.ascontiguousarray(canvas)
    qimg = QImage(canvas.data, canvas.shape[1], canvas.shape[0], canvas.strides[0], QImage.Format.Format_RGBA8888)
    painter = QPainter(qimg)
    try:
        font = QFont()
        font.setPixelSize(int(14 * scale))
        painter.setFont(font)
        painter.setPen(QColor(230, 230, 230))
        y = row
        if title:
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(QRect(w + 10, y, panel_w - 14, row), int(Qt.AlignmentFlag.AlignVCenter), title)
            font.setBold(False)
            painter.setFont(font)
            y += row
        for label, color in items:
            r, g, b = (int(round(255 * c)) for c in color[:3])
            painter.fillRect(QRect(w + 10, y + row // 4, row // 2, row // 2), QColor(r, g, b))
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(QRect(w + 10 + row, y, panel_w - row - 14, row), int(Qt.AlignmentFlag.AlignVCenter), label)
            y += row
    finally:
        painter.end()
    return _qimage_to_array(qimg)


def _qimage_to_array(qimg) -> np.ndarray:
    from qtpy.QtGui import QImage

    qimg = qimg.convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = qimg.constBits()
    ptr.setsize(qimg.sizeInBytes())
    arr = np.frombuffer(ptr, np.uint8).reshape(qimg.height(), qimg.bytesPerLine() // 4, 4)
    return arr[:, : qimg.width()].copy()


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGBA array as PNG (atomically)."""
    from qtpy.QtGui import QImage

    image = np.ascontiguousarray(image.astype(np.uint8))
    h, w = image.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if image.shape[2] == 4 else QImage.Format.Format_RGB888
    qimg = QImage(image.data, w, h, image.strides[0], fmt)
    path = Path(path)
    with atomic_path(path) as tmp:
        if not qimg.save(str(tmp), "PNG"):
            raise MicronsError(f"could not write {path}")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # an ordinary file, not the temp file's private mode
    return path


def figure_title(dataset, color_by: str) -> str:
    """A legend title: what the colours mean, and SYNTHETIC for the generated sample."""
    label = color_by.replace("_", " ")
    if dataset is not None and is_sample(dataset.layout):
        return f"SYNTHETIC sample - {label}"
    return label


def screenshot_figure(scene, out: str | Path, title: str = "", size: tuple[int, int] | None = None,
                      legend: bool = True, scale_bar: bool = True) -> Path:
    """Screenshot the scene's canvas with a scale bar and a legend of its colours."""
    viewer = scene.viewer
    bar = scale_bar_of(viewer)
    bar.visible = scale_bar
    bar.colored = False
    bar.box = True
    bar.font_size = 14
    image = viewer.screenshot(canvas_only=True, size=size, flash=False)
    if legend:
        image = add_legend(image, legend_items_from_scene(scene), title=title or scene.color_by)
    return save_png(out, image)


#: Turntable keyframes: views every 45 degrees, napari-animation interpolates between them.
TURNTABLE_KEYFRAMES = 8


def turntable_frames(viewer, frames: int = 72) -> Iterator[np.ndarray]:
    """Rendered RGB frames of one turn of the scene about the depth axis, pia up.

    napari-animation holds the keyframes and interpolates the camera; each
    frame is drawn when it is asked for, so a caller on the UI thread can
    keep the event loop going between frames (the dock widget does).
    """
    from napari_animation import Animation

    steps = max(frames // TURNTABLE_KEYFRAMES, 1)
    anim = Animation(viewer)
    with warnings.catch_warnings():  # napari-animation still uses viewer.camera (deprecated in napari 0.9)
        warnings.simplefilter("ignore", DeprecationWarning)
        for k in range(TURNTABLE_KEYFRAMES + 1):
            theta = 2 * np.pi * k / TURNTABLE_KEYFRAMES
            # rotate the view direction in the z-x plane; depth stays vertical
            camera_of(viewer).set_view_direction((-np.cos(theta), 0.0, np.sin(theta)), (0.0, -1.0, 0.0))
            anim.capture_keyframe(steps=steps)
        size = None  # every frame the size of the first, even if the window changes meanwhile
        for index in range(TURNTABLE_KEYFRAMES * steps):  # the last keyframe repeats the first: left out
            anim.set_movie_frame_index(index)
            image = viewer.screenshot(canvas_only=True, size=size, flash=False)
            size = size or image.shape[:2]
            yield image[..., :3]  # movies have no alpha


@contextlib.contextmanager
def movie_writer(out: str | Path, fps: int = 24):
    """An imageio writer for ``out`` (.mp4, .mov, .gif, ...) that only appears complete.

    Frames go to a temporary file beside ``out``, renamed into place when the
    block ends without an error; a cancelled or failed movie leaves nothing.
    """
    import imageio

    out = Path(out)
    if out.suffix.lower() not in MOVIE_SUFFIXES:
        raise MicronsError(f"cannot write a movie as {out.name!r}: use one of {', '.join(MOVIE_SUFFIXES)}")
    with atomic_path(out) as tmp:
        staged = tmp.with_suffix(out.suffix)  # imageio picks the format by extension
        try:
            if out.suffix.lower() == ".gif":
                writer = imageio.get_writer(staged, duration=1000 / fps, loop=0)
            else:
                writer = imageio.get_writer(staged, fps=fps, quality=7, macro_block_size=2)  # H.264 wants even sizes
            with writer:
                yield writer
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)


MOVIE_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".gif")


def turntable(viewer, out: str | Path, frames: int = 72, fps: int = 24) -> Path:
    """Write a movie turning the scene once around the depth axis, pia up."""
    with movie_writer(out, fps) as writer:
        for image in turntable_frames(viewer, frames):
            writer.append_data(image)
    return Path(out)
