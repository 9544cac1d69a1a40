"""A display to draw on: the session's, or a virtual X server (Xvfb).

napari needs OpenGL to draw, and Qt's ``offscreen`` platform has none; with
no ``DISPLAY`` we start a virtual X server (pyvirtualdisplay + Xvfb) and use
Qt's default ``xcb`` platform with a shown window.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Iterator

from .core.errors import MicronsError


class DisplayError(MicronsError):
    """No way to draw: no display and no Xvfb."""


@contextlib.contextmanager
def display_available(size: tuple[int, int] = (1600, 1200)) -> Iterator[None]:
    """Make sure Qt can draw with OpenGL: use $DISPLAY, or start Xvfb for the block."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            os.environ.pop("QT_QPA_PLATFORM")
        yield
        return
    if shutil.which("Xvfb") is None:
        raise DisplayError("no display and no Xvfb to render with; install Xvfb "
                           "(`apt-get install xvfb xauth`) or run where a display is available")
    from pyvirtualdisplay import Display

    display = Display(visible=False, size=size, color_depth=24)
    display.start()
    previous = os.environ.pop("QT_QPA_PLATFORM", None)
    try:
        yield
    finally:
        display.stop()
        if previous is not None:
            os.environ["QT_QPA_PLATFORM"] = previous


def require_display() -> None:
    """A window needs a screen: with no ``DISPLAY`` (and Qt not ``offscreen``), one
    ``DisplayError`` line before Qt is touched (Qt would abort after many warnings)."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return
    raise DisplayError("no display: use --screenshot, figure, or run under xvfb-run")
