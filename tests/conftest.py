"""Shared test fixtures: fast retries, the synthetic sample (made once per session) and raw
tables with known layers. Helpers live in the ``support`` package; tests are split into
``unit/`` (no Qt), ``qt/`` (real napari viewers, headless) and ``render/`` (OpenGL under Xvfb)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from support import FAST_RETRY
from support.sample import session_sample

from napari_microns.core.session import RetryPolicy
from napari_microns.sample import SampleInfo
from napari_microns.sample.tables import raw_tables, units_at


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


@pytest.fixture(scope="session")
def info(tmp_path_factory) -> SampleInfo:
    """The synthetic sample (processed, with morphology and synapses), made once per session;
    tests read it and never change it."""
    return session_sample(tmp_path_factory)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Qt platform for the napari tests: pytest-xvfb has set DISPLAY by now when Xvfb is
    installed, so Qt uses xcb and napari can render (tests marked ``render``). Without a
    display Qt runs offscreen and the rendering tests skip, unless
    NAPARI_MICRONS_REQUIRE_RENDER=1 (set by .ci/run) makes them fail instead."""
    if config.getoption("dist", "no") != "no" and not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the pytest-xdist controller: its workers start their own Xvfb and decide for themselves
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


@pytest.fixture
def small_engine(monkeypatch):
    """Engine thresholds for a few thousand rows: merges (and Parquet files) of 1,000+ rows go
    through the engine, in batches of 700 (a Parquet file without repeated ids in chunks of 600);
    the reader reads 900 rows at a time."""
    import napari_microns.core.synapses.importing as importing
    import napari_microns.core.synapses.parquet_import as parquet_import
    import napari_microns.core.synapses.store as synapses_store
    from napari_microns.core.synapses import engine

    monkeypatch.setattr(synapses_store, "RUN_MAX_ROWS", 1000)
    monkeypatch.setattr(synapses_store, "STAGE_BATCH_ROWS", 700)
    monkeypatch.setattr(importing, "IMPORT_BATCH_ROWS", 900)
    monkeypatch.setattr(parquet_import, "CHUNK_ROWS", 600)
    monkeypatch.setenv(engine.MEMORY_ENV, "128MB")
