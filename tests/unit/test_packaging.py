"""The wheel carries the npe2 manifest, the version registry and the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT), "-w", str(out)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("napari_microns-*.whl"))


def test_wheel_contains_manifest_and_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "napari_microns/napari.yaml" in names
        assert "napari_microns/core/data/versions.json" in names
        manifest = yaml.safe_load(zf.read("napari_microns/napari.yaml"))
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert manifest == yaml.safe_load((ROOT / "napari.yaml").read_text())
    assert manifest["name"] == "napari-microns"
    assert "napari-microns = napari_microns:napari.yaml" in entry_points
    assert "napari-microns = napari_microns.cli:main" in entry_points


def test_installed_manifest_is_discovered_by_npe2():
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    assert pm.get_manifest("napari-microns").name == "napari-microns"
