"""Shared test fixtures: the fake CAVE server and fast retries."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fake_cave.py and friends

from napari_microns.core.session import RetryPolicy  # noqa: E402

#: Retries without real waiting, so fault tests stay fast.
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Qt platform for the napari tests: pytest-xvfb has set DISPLAY by now when Xvfb is
    installed, so Qt uses xcb and napari can render (tests marked ``render``). Without a
    display Qt runs offscreen and the rendering tests skip, unless
    NAPARI_MICRONS_REQUIRE_RENDER=1 (set by .ci/run) makes them fail instead."""
    if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
