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
from .colour_data import ColourBar
from .core import palettes
from .core.layout import atomic_path
from .output import (BACKGROUND_RGBA, ImageOptions, check_image_options, check_movie_path,
                     movie_timing, save_image)
from .sample import is_sample


def scale_bar_of(viewer):
    """The scale bar overlay (``viewer.canvas.overlays.scale_bar`` from napari 0.9 on)."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and hasattr(overlays, "scale_bar"):
        return overlays.scale_bar
    return viewer.scale_bar


def axes_of(viewer):
    """The orientation axes in a canvas corner (``viewer.canvas.overlays.axes`` from napari
    0.9 on; before, ``viewer.axes``)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    if overlays is not None and hasattr(overlays, "axes"):
        return overlays.axes
    return viewer.axes


def legend_items_from_scene(scene) -> list[tuple[str, tuple]]:
    """The colours a figure shows: units categories, then neuron layers."""
    legend = scene.legend()  # categories, or a numeric column's colour bar (drawn by _paint_colour_bar)
    if isinstance(legend, ColourBar):
        items: list = [("", legend)] + ([("no data", legend.no_data)] if legend.missing else [])
    else:
        items = [(f"{label} ({count:,})", color) for label, color, count in legend if count]
    shown = [lyr for lyr in scene.viewer.layers if lyr.visible]
    drawn = _present(shown, ld.KIND_SKELETON, "compartment")  # only the compartments the skeletons have
    items += [(palettes.COMPARTMENT_NAMES[c], palettes.COMPARTMENT[c]) for c in (2, 3, 4)
              if palettes.COMPARTMENT_NAMES[c] in drawn]
    for lyr in shown:
        if ld.layer_kind(lyr) == ld.KIND_MESH and lyr.metadata.get("root_id") is not None:
            root = int(lyr.metadata["root_id"])
            items.append((f"neuron {root}", tuple(float(c) for c in lyr.vertex_colors[0])))
    syn = [lyr for lyr in shown if ld.layer_kind(lyr) == ld.KIND_SYNAPSES]
    if syn and syn[0].metadata.get("color_by") == "direction":
        directions = _present(syn, ld.KIND_SYNAPSES, "direction")
        items += [(f"{k} synapse", v) for k, v in palettes.SYNAPSE_DIRECTION.items() if k in directions]
    return items


def _present(layers, kind: str, column: str) -> set[str]:
    """The values of a features column over the (non-empty) layers of one kind."""
    values: set[str] = set()
    for lyr in layers:
        features = getattr(lyr, "features", None)
        if ld.layer_kind(lyr) == kind and features is not None and column in features and len(lyr.data):
            values.update(features[column].astype(str).unique())
    return values


def add_legend(image: np.ndarray, items: Sequence[tuple[str, tuple]], title: str = "",
               scale: float = 1.0, background: str = "black") -> np.ndarray:
    """A copy of an RGBA screenshot with a legend panel on its right side.

    ``background``: the panel's colour (``output.BACKGROUNDS``); text is dark unless black."""
    from qtpy.QtCore import QRect, Qt
    from qtpy.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

    h, w = image.shape[:2]
    row = int(22 * scale)
    probe = QFont()
    probe.setPixelSize(int(14 * scale))
    probe.setBold(True)
    widest = max([QFontMetrics(probe).horizontalAdvance(t) for t in [title, *[lbl for lbl, _ in items]]] + [100])
    panel_w = widest + row + int(30 * scale)
    rows = len(items) + (1 if title else 0) + sum(isinstance(c, ColourBar) for _, c in items)  # a bar: 2 rows
    out_h = max(h, rows * row + 2 * row)
    canvas = np.zeros((out_h, w + panel_w, 4), dtype=np.uint8)
    canvas[...] = [round(255 * c) for c in BACKGROUND_RGBA[background]]
    ink = QColor(*_ink(background))
    canvas[:h, :w] = image[..., :4] if image.shape[2] == 4 else np.dstack([image, np.full((h, w), 255, np.uint8)])
    canvas = np.ascontiguousarray(canvas)
    qimg = QImage(canvas.data, canvas.shape[1], canvas.shape[0], canvas.strides[0], QImage.Format.Format_RGBA8888)
    painter = QPainter(qimg)
    try:
        font = QFont()
        font.setPixelSize(int(14 * scale))
        painter.setFont(font)
        painter.setPen(ink)
        y = row
        if title:
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(QRect(w + 10, y, panel_w - 14, row), int(Qt.AlignmentFlag.AlignVCenter), title)
            font.setBold(False)
            painter.setFont(font)
            y += row
        for label, color in items:
            if isinstance(color, ColourBar):
                _paint_colour_bar(painter, color, w + 10, y, panel_w - 24, row, ink)
                y += 2 * row
                continue
            r, g, b = (int(round(255 * c)) for c in color[:3])
            painter.fillRect(QRect(w + 10, y + row // 4, row // 2, row // 2), QColor(r, g, b))
            painter.setPen(ink)
            painter.drawText(QRect(w + 10 + row, y, panel_w - row - 14, row), int(Qt.AlignmentFlag.AlignVCenter), label)
            y += row
    finally:
        painter.end()
    return _qimage_to_array(qimg)


def _paint_colour_bar(painter, bar: ColourBar, x: int, y: int, width: int, row: int, ink) -> None:
    """A numeric column's colour bar at (x, y): the gradient (low end left) over one row,
    its low and high labels under it."""
    from qtpy.QtCore import QRect, Qt
    from qtpy.QtGui import QColor

    width = max(width, 2)
    colors = (255 * bar.colors(width)).round().astype(int)
    top, height = y + row // 4, row - row // 4
    for i, (r, g, b, _a) in enumerate(colors):
        painter.fillRect(QRect(x + i, top, 1, height), QColor(int(r), int(g), int(b)))
    lo, hi = bar.labels
    painter.setPen(ink)
    painter.drawText(QRect(x, y + row, width, row), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), lo)
    painter.drawText(QRect(x, y + row, width, row), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight), hi)


def _qimage_to_array(qimg) -> np.ndarray:
    from qtpy.QtGui import QImage

    qimg = qimg.convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = qimg.constBits()
    ptr.setsize(qimg.sizeInBytes())
    arr = np.frombuffer(ptr, np.uint8).reshape(qimg.height(), qimg.bytesPerLine() // 4, 4)
    return arr[:, : qimg.width()].copy()


def figure_title(dataset, color_by: str, title: str | None = None) -> str:
    """A legend title: ``title`` or what the colours mean, and SYNTHETIC for the generated sample."""
    label = title if title else color_by.replace("_", " ")
    if dataset is not None and is_sample(dataset.layout):
        return f"SYNTHETIC sample - {label}"
    return label


def _ink(background: str) -> tuple[int, int, int]:
    """Text colour on a background: light on black, dark on white or transparent (print)."""
    return (230, 230, 230) if background == "black" else (25, 25, 25)


@contextlib.contextmanager
def figure_look(scene, options: ImageOptions, scale_bar: bool = True, axes: bool = False) -> Iterator[float]:
    """The canvas dressed for a figure for the block: background, scale bar in the
    legend's ink, sized for the output; yields the factor text grows by (output/canvas)."""
    viewer = scene.viewer
    canvas = getattr(viewer, "canvas", None)
    previous = getattr(canvas, "background_color_override", None)
    grow, camera, zoom = options.scale or 1.0, camera_of(viewer), None
    if options.size is not None and canvas is not None:
        # the same view in a canvas of another size: zoom by the fit, text grows with it
        shown = tuple(getattr(canvas, "size", None) or options.size)
        fit = min(options.size[0] / max(shown[0], 1), options.size[1] / max(shown[1], 1))
        zoom, grow = camera.zoom, max(fit, 1.0)
        camera.zoom = zoom * fit
    bar = scale_bar_of(viewer)
    bar.visible = scale_bar
    bar.colored = False
    bar.box = not options.dark_text  # a box on white greys the dark text
    bar.color = tuple(c / 255 for c in _ink(options.background)) + (1.0,)
    bar.font_size = 14 * (1.0 if options.scale else grow)  # napari scales overlays with ``scale`` itself
    if canvas is not None:
        canvas.background_color_override = BACKGROUND_RGBA[options.background]
    restore = _ink_cortical_layers(viewer, _ink(options.background)) if options.dark_text else []
    if axes:
        overlay = axes_of(viewer)
        shown_before = overlay.visible
        overlay.visible = True
        restore.append(lambda: setattr(overlay, "visible", shown_before))
    try:
        yield grow
    finally:
        if canvas is not None:
            canvas.background_color_override = previous
        if zoom is not None:
            camera.zoom = zoom
        for undo in restore:
            undo()


def _ink_cortical_layers(viewer, ink: tuple[int, int, int]) -> list:
    """Layer names and boundary lines in the figure's ink (they are light, for a black canvas);
    returns what puts them back."""
    rgba = np.array([*(c / 255 for c in ink), 1.0], dtype=np.float32)
    undo = []
    for layer in viewer.layers:
        kind = ld.layer_kind(layer)
        if kind == ld.KIND_CORTICAL_LABELS:
            before = layer.text.color
            layer.text.color = rgba
            undo.append(lambda layer=layer, before=before: setattr(layer.text, "color", before))
        elif kind == ld.KIND_CORTICAL_OUTLINES:
            before = np.array(layer.edge_color, copy=True)
            layer.edge_color = np.tile(rgba * [1, 1, 1, 0.8], (len(layer.data), 1))
            undo.append(lambda layer=layer, before=before: setattr(layer, "edge_color", before))
    return undo


def screenshot_figure(scene, out: str | Path, title: str = "", size: tuple[int, int] | None = None,
                      legend: bool = True, scale_bar: bool = True, *, width: int | None = None,
                      height: int | None = None, scale: float | None = None, dpi: float | None = None,
                      background: str = "black", axes: bool = False) -> Path:
    """Screenshot the scene's canvas with a scale bar and a legend of its colours, written as
    ``out``'s extension (.png, .jpg/.jpeg, .tif/.tiff) with ``dpi`` in its metadata;
    ``axes``: orientation axes (z, y = depth, x) in a corner.

    The canvas is ``width`` x ``height`` pixels (or ``size``, (height, width)), or the
    screen's times ``scale``; ``background`` is black, white or transparent (PNG/TIFF)."""
    if size is not None and width is None:
        height, width = size
    options = check_image_options(out, width=width, height=height, scale=scale, dpi=dpi, background=background)
    viewer = scene.viewer
    with figure_look(scene, options, scale_bar, axes=axes) as grow:
        image = viewer.screenshot(canvas_only=True, size=options.size, scale=options.scale, flash=False)
    if legend:
        image = add_legend(image, legend_items_from_scene(scene), title=title or scene.color_by,
                           scale=grow, background=options.background)
    return save_image(out, image, dpi=options.dpi)


#: Turntable keyframes: views every 45 degrees, napari-animation interpolates between them.
TURNTABLE_KEYFRAMES = 8


def turntable_frames(viewer, frames: int = 72, size: tuple[int, int] | None = None,
                     scale: float | None = None) -> Iterator[np.ndarray]:
    """Rendered RGB frames of one turn of the scene about the depth axis, pia up.

    napari-animation holds the keyframes and interpolates the camera; each
    frame is drawn when it is asked for, so a caller on the UI thread can
    keep the event loop going between frames (the dock widget does).
    """
    from napari_animation import Animation

    steps = max(-(-frames // TURNTABLE_KEYFRAMES), 1)  # at least ``frames`` interpolated views
    anim = Animation(viewer)
    with warnings.catch_warnings():  # napari-animation still uses viewer.camera (deprecated in napari 0.9)
        warnings.simplefilter("ignore", DeprecationWarning)
        for k in range(TURNTABLE_KEYFRAMES + 1):
            theta = 2 * np.pi * k / TURNTABLE_KEYFRAMES
            # rotate the view direction in the z-x plane; depth stays vertical
            camera_of(viewer).set_view_direction((-np.cos(theta), 0.0, np.sin(theta)), (0.0, -1.0, 0.0))
            anim.capture_keyframe(steps=steps)
        # every frame the size of the first, even if the window changes meanwhile
        for k in range(frames):  # exactly ``frames``; the last keyframe repeats the first: left out
            anim.set_movie_frame_index(int(k * TURNTABLE_KEYFRAMES * steps // frames))
            image = viewer.screenshot(canvas_only=True, size=size, scale=scale, flash=False)
            size, scale = size or image.shape[:2], None
            yield image[..., :3]  # movies have no alpha


@contextlib.contextmanager
def movie_writer(out: str | Path, fps: int = 24):
    """An imageio writer for ``out`` (.mp4, .mov, .gif, ...) that only appears complete.

    Frames go to a temporary file beside ``out``, renamed into place when the
    block ends without an error; a cancelled or failed movie leaves nothing.
    """
    import imageio

    out = check_movie_path(out)  # a movie suffix, in a folder that exists
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


def figure_frames(scene, frames: int = 72, title: str = "", options: ImageOptions | None = None,
                  legend: bool = True) -> Iterator[np.ndarray]:
    """Turntable frames dressed as the figure: background, scale bar and legend burnt in."""
    options = options or ImageOptions()
    items = legend_items_from_scene(scene) if legend else []
    with figure_look(scene, options) as grow:
        for image in turntable_frames(scene.viewer, frames, size=options.size, scale=options.scale):
            if legend:
                image = add_legend(image, items, title=title or scene.color_by, scale=grow,
                                   background=options.background)
            yield np.ascontiguousarray(image[..., :3])


def turntable(viewer, out: str | Path, frames: int | None = None, fps: float | None = None, *,
              scene=None, seconds: float | None = None, title: str = "",
              options: ImageOptions | None = None) -> Path:
    """Write a movie turning the scene once around the depth axis, pia up; with ``scene``,
    each frame has the figure's legend and scale bar (:func:`figure_frames`).
    Two of ``frames``, ``fps``, ``seconds`` set its length (default 72 frames at 24 fps)."""
    frames, fps = movie_timing(frames, fps, seconds)
    with movie_writer(out, fps) as writer:
        images = (figure_frames(scene, frames, title, options) if scene is not None
                  else turntable_frames(viewer, frames))
        for image in images:
            writer.append_data(image)
    return Path(out)
