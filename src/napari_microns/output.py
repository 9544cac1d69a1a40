"""Print-ready output: which files a figure may be written as, and writing them.

The format follows the file's extension (PNG, JPEG, TIFF for images; movies in
:data:`MOVIE_SUFFIXES`); the resolution (dpi) goes into the file's metadata. Every
option is checked here, before any work starts, with one-line errors; nothing here
imports napari or Qt (Pillow writes the images, atomically through ``core.layout``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.errors import DataError, StorageError
from .core.layout import atomic_path

#: image extension -> Pillow format
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
#: formats that keep an alpha channel
ALPHA_FORMATS = ("PNG", "TIFF")
MOVIE_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".gif")
BACKGROUNDS = ("black", "white", "transparent")
#: canvas colour of each background (RGBA, 0-1)
BACKGROUND_RGBA = {"black": (0.0, 0.0, 0.0, 1.0), "white": (1.0, 1.0, 1.0, 1.0), "transparent": (0.0, 0.0, 0.0, 0.0)}
DEFAULT_FRAMES, DEFAULT_FPS = 72, 24
#: what a figure's camera fits into the canvas: everything (units, planes), or the neurons shown
FITS = ("all", "neurons")


@dataclass(frozen=True)
class ImageOptions:
    """How a figure is drawn and written: canvas ``size`` (height, width) or ``scale``,
    ``dpi`` in the metadata, ``background`` of the canvas (and legend)."""

    size: tuple[int, int] | None = None
    scale: float | None = None
    dpi: float | None = None
    background: str = "black"

    @property
    def dark_text(self) -> bool:
        """Legend text and scale bar dark (on a white or transparent page)."""
        return self.background != "black"


def _check_folder(path: Path, option: str) -> None:
    if path.is_dir():
        raise StorageError(f"{option} {path} is a folder; name the file to write")
    if not path.parent.is_dir():
        raise StorageError(f"{option} {path}: the folder {path.parent} does not exist; create it first")


def image_format(path) -> str:
    """The Pillow format of an image path, from its extension; else a one-line DataError."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise DataError(f"cannot write a figure as {Path(path).name!r}: name it .png, .jpg, .jpeg, .tif or .tiff")
    return IMAGE_FORMATS[suffix]


def check_image_options(out=None, width: int | None = None, height: int | None = None,
                        scale: float | None = None, dpi: float | None = None,
                        background: str | None = None, movie=None) -> ImageOptions:
    """Every figure option checked (one-line errors), before any work starts."""
    background = background or "black"
    if background not in BACKGROUNDS:
        raise DataError(f"background {background!r} is not known; choose one of: {', '.join(BACKGROUNDS)}")
    if out is not None:
        out = Path(out).expanduser()
        fmt = image_format(out)
        if background == "transparent" and fmt not in ALPHA_FORMATS:
            raise DataError(f"a transparent background needs .png or .tif/.tiff, not {out.suffix!r}")
        _check_folder(out, "--out")
    if movie is not None:
        check_movie_path(movie)
        if background == "transparent":
            raise DataError("a movie has no transparency; use --background black or white with --movie")
    if scale is not None and (width is not None or height is not None):
        raise DataError("give --scale or --width/--height, not both")
    for name, value in (("--width", width), ("--height", height)):
        if value is not None and not 16 <= value <= 16384:
            raise DataError(f"{name} must be between 16 and 16384 pixels (got {value})")
    if (width is None) != (height is None):
        raise DataError("give both --width and --height (pixels of the canvas)")
    if scale is not None and not 0.1 <= scale <= 16:
        raise DataError(f"--scale must be between 0.1 and 16 (got {scale})")
    if dpi is not None and not 1 <= dpi <= 10000:
        raise DataError(f"--dpi must be between 1 and 10000 (got {dpi})")
    size = (int(height), int(width)) if width is not None else None
    return ImageOptions(size=size, scale=scale, dpi=dpi, background=background)


def check_fit(fit: str, root_ids=()) -> str:
    """``fit`` (one of :data:`FITS`) checked: framing the neurons needs neurons."""
    if fit not in FITS:
        raise DataError(f"--fit {fit!r} is not known; choose one of: {', '.join(FITS)}")
    if fit == "neurons" and not list(root_ids or ()):
        raise DataError("--fit neurons frames the neurons shown: give them with --root-ids")
    return fit


def check_movie_path(path) -> Path:
    path = Path(path).expanduser()
    if path.suffix.lower() not in MOVIE_SUFFIXES:
        raise DataError(f"cannot write a movie as {path.name!r}: use one of {', '.join(MOVIE_SUFFIXES)}")
    _check_folder(path, "--movie")
    return path


def movie_timing(frames: int | None = None, fps: float | None = None,
                 seconds: float | None = None) -> tuple[int, float]:
    """``(frames, fps)`` of a movie from any two of frames, fps, seconds (defaults 72 at 24 fps)."""
    if frames is not None and seconds is not None and fps is not None:
        raise DataError("give two of --frames, --fps and --seconds, not all three")
    if fps is not None and not 0 < fps <= 120:
        raise DataError(f"--fps must be above 0 and at most 120 (got {fps})")
    if seconds is not None and not 0 < seconds <= 600:
        raise DataError(f"--seconds must be above 0 and at most 600 (got {seconds})")
    if frames is not None and not 2 <= frames <= 10000:
        raise DataError(f"--frames must be between 2 and 10000 (got {frames})")
    if seconds is not None:
        if frames is not None:
            fps = frames / seconds
        else:
            fps = fps or DEFAULT_FPS
            frames = max(int(round(seconds * fps)), 2)
    return (frames or DEFAULT_FRAMES), float(fps or DEFAULT_FPS)


def save_image(path, image: np.ndarray, dpi: float | None = None) -> Path:
    """Write an RGB(A) array as the extension's format (atomically), ``dpi`` in its metadata."""
    from PIL import Image

    path = Path(path)
    fmt = image_format(path)
    image = np.ascontiguousarray(image.astype(np.uint8))
    if image.shape[2] == 4 and fmt not in ALPHA_FORMATS:
        image = image[..., :3]
    pil = Image.fromarray(image, "RGBA" if image.shape[2] == 4 else "RGB")
    extra = {"dpi": (float(dpi), float(dpi))} if dpi else {}
    if fmt == "JPEG":
        extra["quality"] = 95
    if fmt == "TIFF":
        extra["compression"] = "tiff_lzw"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pil.save(fh, fmt, **extra)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # an ordinary file, not the temp file's private mode
    return path


def add_output_arguments(p) -> None:
    """The ``figure`` command's print options (size, dpi, background, title, movie timing)."""
    g = p.add_argument_group("output (the format follows --out's extension: .png, .jpg/.jpeg, .tif/.tiff)")
    g.add_argument("--width", type=int, metavar="PX", help="canvas width in pixels (with --height)")
    g.add_argument("--height", type=int, metavar="PX", help="canvas height in pixels (with --width)")
    g.add_argument("--scale", type=float, metavar="X", help="canvas resolution times the screen's (instead of --width/--height)")
    g.add_argument("--dpi", type=float, help="resolution written into the file (PNG pHYs, JPEG/TIFF resolution)")
    g.add_argument("--background", choices=BACKGROUNDS, default="black",
                   help="canvas and legend background (transparent: .png/.tif only); white gives dark text")
    g.add_argument("--title", help="legend title (default: the colour-by column)")
    g.add_argument("--fit", choices=FITS, default="all",
                   help="what the camera fits into the canvas: all (units and layer planes, the default) "
                        "or the neurons shown (centred and zoomed, same view direction)")
    g.add_argument("--frames", type=int, help=f"movie frames (default {DEFAULT_FRAMES})")
    g.add_argument("--fps", type=float, help=f"movie frames per second (default {DEFAULT_FPS})")
    g.add_argument("--seconds", type=float, help="movie length (with --fps or --frames)")


def output_kwargs(args) -> dict:
    """The print options of parsed ``figure`` arguments, as ``app.figure`` keywords."""
    names = ("width", "height", "scale", "dpi", "background", "title", "fit", "frames", "fps", "seconds")
    return {name: getattr(args, name) for name in names}


__all__ = ["add_output_arguments", "output_kwargs", "BACKGROUNDS", "FITS", "IMAGE_FORMATS", "ImageOptions", "MOVIE_SUFFIXES",
           "check_fit", "check_image_options", "check_movie_path", "image_format", "movie_timing", "save_image"]
