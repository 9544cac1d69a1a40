"""The synthetic sample, generated once per test session (tests of the plugin share it)."""

from __future__ import annotations

from napari_microns.sample import SampleInfo, make_sample


def session_sample(tmp_path_factory) -> SampleInfo:
    """make_sample() into the session's temp folder; later calls reuse it."""
    return make_sample(tmp_path_factory.getbasetemp() / "microns-sample")
