"""Rendering tests need a real X display (pytest-xvfb starts Xvfb): without one they skip,
or fail when NAPARI_MICRONS_REQUIRE_RENDER=1 (set by .ci/run)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _needs_display():
    if os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM", "xcb") != "offscreen":
        return
    message = "rendering needs an X display: install Xvfb (pytest-xvfb starts it)"
    if os.environ.get("NAPARI_MICRONS_REQUIRE_RENDER") == "1":
        pytest.fail(message)
    pytest.skip(message)
