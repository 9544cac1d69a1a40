"""The Figure panel: camera presets, a saved figure (scale bar + legend), a turntable movie."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QSpinBox

from ..camera import CAMERA_PRESETS, frame_layers, set_camera
from ..core.errors import MicronsError
from ..fetching import one_line
from ..figure import figure_frames, figure_title, movie_writer, screenshot_figure
from ..output import DEFAULT_FPS, DEFAULT_FRAMES, IMAGE_FORMATS, MOVIE_SUFFIXES, movie_timing
from ..scene import Scene
from .activity import Activity
from .notify import notify_error, notify_info
from .widgets import button, note, row


class MovieStopped(Exception):
    """Raised into the movie writer to discard a movie stopped before its end."""


@dataclass
class _Movie:
    frames: Iterator  # rendered frames, drawn one at a time
    writer: object  # imageio writer
    stack: contextlib.ExitStack  # closing it renames the finished movie into place
    path: str
    total: int
    activity: Activity  # its bar in napari's Activity dock
    done: int = 0


class FigurePanel(QGroupBox):
    """Point the camera, save the canvas as a figure, render a turntable movie frame by frame."""

    def __init__(self, scene: Scene, parent=None):
        super().__init__("Figure", parent)
        self.scene = scene
        self.movie: _Movie | None = None  # the turntable being rendered
        form = QFormLayout(self)
        self.camera_combo = QComboBox()
        for preset in CAMERA_PRESETS:
            self.camera_combo.addItem(preset.replace("_", " "), preset)
        self.camera_combo.setToolTip("Point the 3D camera (pia up: oblique, the pia at the top)")
        self.camera_combo.activated.connect(lambda _index: self.apply_camera(self.camera_combo.currentData()))
        self.frame_button = button("Frame neurons", self.frame_neurons,
                                   "Centre and zoom on the neurons shown, keeping the view direction")
        form.addRow("camera", row(self.camera_combo, self.frame_button))
        self.save_figure_button = button("Save figure…", self.save_figure_clicked,
                                         "PNG of the canvas with a scale bar and a legend of the colours shown")
        self.movie_button = button("Turntable movie…", self.movie_clicked,
                                   "One turn about the depth axis, pia up (.mp4 or .gif)")
        form.addRow(row(self.save_figure_button, self.movie_button))
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, 10000)
        self.frames_spin.setValue(DEFAULT_FRAMES)
        self.frames_spin.setToolTip("Frames in one turn of the movie")
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(1, 120)
        self.fps_spin.setValue(DEFAULT_FPS)
        self.fps_spin.setToolTip("Movie frames per second")
        form.addRow("movie frames, fps", row(self.frames_spin, self.fps_spin))
        self.movie_progress = note(visible=False)
        form.addRow(self.movie_progress)

    @property
    def viewer(self):
        return self.scene.viewer

    def apply_camera(self, preset: str):
        try:
            set_camera(self.viewer, preset)
        except MicronsError as exc:
            notify_error(one_line(exc))

    def frame_neurons(self):
        try:
            frame_layers(self.viewer, self.scene.neuron_layers())
        except MicronsError as exc:
            notify_error(one_line(exc))

    # -- figure -------------------------------------------------------------------------
    def save_figure_clicked(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save figure", "figure.png",
                                              "Image (*.png *.jpg *.jpeg *.tif *.tiff)")
        if path:
            self.save_figure(path if path.lower().endswith(tuple(IMAGE_FORMATS)) else path + ".png")

    def save_figure(self, path):
        """The canvas as a PNG with a scale bar and a legend (drawn on the UI thread: one frame)."""
        try:
            written = screenshot_figure(self.scene, path, title=figure_title(self.scene.dataset, self.scene.color_by))
        except (MicronsError, OSError) as exc:
            notify_error(one_line(exc))
            return None
        notify_info(f"saved {written}")
        return written

    # -- turntable movie ------------------------------------------------------------------
    def movie_clicked(self):
        if self.movie is not None:
            self.stop_movie()
            return
        path, _ = QFileDialog.getSaveFileName(self, "Turntable movie", "turntable.mp4", "Movie (*.mp4 *.gif)")
        if path:
            self.start_movie(path if path.lower().endswith(MOVIE_SUFFIXES) else path + ".mp4")

    def start_movie(self, path, frames: int | None = None, fps: float | None = None):
        """Render a turntable one frame per event-loop turn, so the window stays live
        between frames (rendering itself must happen on the UI thread); the legend and
        scale bar are in every frame. ``frames``/``fps``: else the panel's boxes."""
        if self.movie is not None:
            notify_error("a movie is already being rendered; stop it first")
            return None
        stack = contextlib.ExitStack()
        try:
            frames, fps = movie_timing(frames or self.frames_spin.value(), fps or self.fps_spin.value())
            writer = stack.enter_context(movie_writer(path, fps))
        except (MicronsError, OSError) as exc:
            notify_error(one_line(exc))
            return None
        title = figure_title(self.scene.dataset, self.scene.color_by)
        activity = Activity(f"turntable movie {path}", frames, cancel=self.stop_movie)
        self.movie = _Movie(figure_frames(self.scene, frames, title), writer, stack, path, frames, activity)
        self.movie_button.setText("Stop movie")
        self.movie_progress.setVisible(True)
        self.movie_progress.setText(f"rendering frame 0 of {frames}…")
        QTimer.singleShot(0, self._movie_step)
        return path

    def _movie_step(self):
        if self.movie is None:
            return
        movie = self.movie
        try:
            image = next(movie.frames)
        except StopIteration:
            self._end_movie(ok=True)
            return
        except Exception as exc:  # noqa: BLE001 - a failed frame ends the movie with one message
            self._end_movie(ok=False, message=f"turntable movie: {one_line(exc)}")
            return
        movie.writer.append_data(image)
        movie.done += 1
        self.movie_progress.setText(f"rendering frame {movie.done} of {movie.total}…")
        movie.activity.report(movie.done)
        QTimer.singleShot(0, self._movie_step)

    def stop_movie(self):
        if self.movie is not None:
            self._end_movie(ok=False)

    def _end_movie(self, ok: bool, message: str = ""):
        movie, self.movie = self.movie, None
        movie.activity.close()
        movie.frames.close()
        if ok:
            try:
                movie.stack.close()  # the movie is renamed into place
            except Exception as exc:  # noqa: BLE001
                ok, message = False, f"turntable movie: {one_line(exc)}"
        else:  # discard: the partial file is removed, nothing appears at ``path``
            movie.stack.__exit__(MovieStopped, MovieStopped(), None)
        self.movie_button.setText("Turntable movie…")
        self.movie_progress.setVisible(False)
        if ok:
            notify_info(f"saved {movie.path}")
        elif message:
            notify_error(message)
