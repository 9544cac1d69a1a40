"""Shared test fixtures: fast retries and raw tables with known layers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fake_cave.py and friends

from napari_microns.core.session import RetryPolicy  # noqa: E402
from napari_microns.sample.tables import raw_tables, units_at  # noqa: E402

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


@pytest.fixture(scope="session")
def layered() -> dict:
    """Raw tables of cells whose datacleaner layers are known: L1 0-50, L2/3 50-200, L4 200-300,
    L5 300-450, L6 450-600 µm.

    Each 10 µm bin holds 310 cells of its layer's marker type, placed within 3 µm of the
    bin centre; L1 bins hold a few BC and 23P cells (< 300). One bin of L5 (400-410) is
    empty (Unknown) and one bin of L6 (500-510) is OPC-dominated (WM): both must be
    absorbed. The shallowest and deepest cells sit at 0 and 599.999 µm so the 60 bins fall
    on the band edges (to 0.01 µm); positions keep their voxel fraction, so they come back exactly.
    """
    rng = np.random.default_rng(0)
    depth, types = [], []
    for layer, top, bottom, marker in (("L1", 0, 50, "BC"), ("L2/3", 50, 200, "23P"), ("L4", 200, 300, "4P"),
                                       ("L5", 300, 450, "5P-IT"), ("L6", 450, 600, "6P-IT")):
        for b0 in range(top, bottom, 10):
            if layer == "L1":
                kinds = ["BC"] * 20 + ["23P"] * 40
            elif b0 == 400:
                kinds = []
            elif b0 == 500:
                kinds = ["OPC"] * 50
            else:
                kinds = [marker] * 310
            depth += list(b0 + 5 + rng.uniform(-3, 3, len(kinds)))
            types += kinds
    depth += [0.0, 599.999]  # range just under 600 µm: exactly 60 bins
    types += ["BC", "6P-IT"]
    return raw_tables(units_at(types, depth, rng), whole_voxels=False)
