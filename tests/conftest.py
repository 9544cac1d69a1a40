"""Shared test fixtures: the fake CAVE server and fast retries."""

from __future__ import annotations

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
