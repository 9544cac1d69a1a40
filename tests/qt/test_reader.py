"""npe2 contributions: napari discovers them; the reader opens processed folders and units tables."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd

from napari_microns import _reader




def test_napari_discovers_widget_sample_and_reader():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-microns")
    contrib = manifest.contributions
    assert [w.display_name for w in contrib.widgets] == ["MICrONS explorer"]
    assert [s.key for s in contrib.sample_data] == ["synthetic"]
    reader = contrib.readers[0]
    assert reader.accepts_directories and "*.parquet" in reader.filename_patterns
    for command in contrib.commands:  # every command resolves to a real callable
        module, name = command.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name)), command.id


def test_npe2_offers_our_reader_for_a_processed_folder(info):
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    readers = [r.plugin_name for r in pm.iter_compatible_readers([str(info.layout.root)])]
    assert "napari-microns" in readers


def test_reader_opens_a_processed_folder(info):
    path = info.layout.root
    reader = _reader.get_reader(str(path))
    assert reader is not None
    layers = reader(str(path))
    kinds = [(kw["name"], kind) for _, kw, kind in layers]
    assert kinds == [("units", "points"), ("cortical layers", "surface"), ("layer boundaries", "vectors"),
                     ("layer labels", "points")]
    data, kwargs, _ = layers[0]
    units = pd.read_parquet(info.layout.units_path)
    assert len(data) == len(units) and kwargs["features"]["pt_root_id"].tolist() == units["pt_root_id"].tolist()
    assert kwargs["metadata"]["datadir"] == str(info.datadir) and kwargs["metadata"]["version"] == info.version
    planes = layers[1][1]["metadata"]["depths_um"]
    lt = pd.read_parquet(info.layout.layers_path)
    np.testing.assert_allclose(planes, sorted(set(lt.y_start) | set(lt.y_end)))
    # the processed/ subfolder works too
    assert _reader.get_reader(str(path / "processed")) is not None


def test_reader_opens_a_units_parquet_and_ignores_other_files(info, tmp_path):
    assert _reader.get_reader(str(info.layout.units_path)) is not None
    layers = _reader.read_microns(str(info.layout.units_path))
    assert layers[0][1]["name"] == "units" and len(layers) == 4  # layers.parquet sits beside it
    other = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(other)
    assert _reader.get_reader(str(other)) is None
    assert _reader.get_reader(str(tmp_path)) is None
    assert _reader.get_reader(str(info.layout.raw_table("nucleus_detection_v0"))) is None


def test_viewer_open_uses_the_reader(make_napari_viewer, info):
    viewer = make_napari_viewer()
    viewer.open(str(info.layout.root), plugin="napari-microns")
    assert "units" in viewer.layers and "cortical layers" in viewer.layers
    assert len(viewer.layers["units"].data) == len(pd.read_parquet(info.layout.units_path))


def test_a_folder_without_a_layers_table_shows_units_without_planes(info, tmp_path):
    """The one rule (core.units.load_processed): no layers.parquet, no planes; the units still verified."""
    import shutil

    from napari_microns.core.units import CHECKSUMS, load_processed

    processed = tmp_path / str(info.version) / "processed"
    processed.mkdir(parents=True)
    for name in ("units.parquet", CHECKSUMS):
        shutil.copy(info.layout.processed_dir / name, processed / name)
    tables = load_processed(processed / "units.parquet")
    assert tables.cortical_layers is None and len(tables.units) == len(pd.read_parquet(info.layout.units_path))
    layers = _reader.read_microns(str(processed.parent))
    assert [kw["name"] for _, kw, _ in layers] == ["units"]
