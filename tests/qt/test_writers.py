"""npe2 writers: skeleton layers as SWC, points layers (units, synapses, somata) as CSV/Parquet,
written from layers built from the sample and read back equal (the SWC through the importer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import Dataset
from napari_microns import layer_data as ld
from napari_microns._writer import write_swc
from napari_microns.core.errors import DataError
from napari_microns.core.units import load_processed
from napari_microns.fetching import fetch_neurons, somata_layers


def test_napari_discovers_the_writers():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    writers = {(tuple(w.layer_types), tuple(w.filename_extensions))
               for w in pm.get_manifest("napari-microns").contributions.writers}
    assert writers == {(("vectors",), (".swc",)), (("points",), (".csv",)), (("points",), (".parquet",))}
    writer, _ = pm.get_writer("x.swc", layer_types=["vectors"])
    assert writer is not None and writer.command == "napari-microns.write_swc"


@pytest.fixture(scope="module")
def pieces(info):
    ds = Dataset(info.datadir, version=info.version)
    layers = []
    for piece in fetch_neurons(ds, info.root_ids[:2], kinds=[ld.KIND_SKELETON, ld.KIND_SYNAPSES]):
        layers += piece.layers
    tables = load_processed(ds.layout.units_path)
    units = ld.scene_layer_data(tables.units, tables.cortical_layers)[0]
    return ds, [units] + layers + somata_layers(layers)


def test_saved_swc_reads_back_as_the_same_skeleton(make_napari_viewer, info, pieces, tmp_path):
    ds, layers = pieces
    viewer = make_napari_viewer()
    for data, kwargs, kind in layers:
        if kind == "vectors":
            viewer.add_vectors(data, **kwargs)
    roots = list(info.root_ids[:2])
    for root in roots:
        layer = viewer.layers[f"skeleton {root}"]
        path = tmp_path / f"{root}.swc"
        viewer.layers.selection = {layer}
        written = viewer.layers.save(str(path), selected=True, plugin="napari-microns")
        assert written == [str(path)]
        assert f"root id {root}" in path.read_text().splitlines()[0]
        mine = Dataset(tmp_path / "mine", version=info.version).import_skeleton(path, root, units="um")
        theirs = ds.skeleton(root)
        assert mine.n_vertices == theirs.n_vertices and len(mine.edges) == len(theirs.edges)
        order_a = np.lexsort(mine.vertices_um.T)
        order_b = np.lexsort(theirs.vertices_um.T)
        np.testing.assert_allclose(mine.vertices_um[order_a], theirs.vertices_um[order_b], atol=1e-6)
        # the same edges, as pairs of vertices (matched by position)
        rank_a, rank_b = np.empty_like(order_a), np.empty_like(order_b)
        rank_a[order_a], rank_b[order_b] = np.arange(len(order_a)), np.arange(len(order_b))
        assert set(map(tuple, rank_a[mine.edges].tolist())) == set(map(tuple, rank_b[theirs.edges].tolist()))


def test_only_skeleton_vectors_are_saved_as_swc(tmp_path):
    data, kwargs, _ = ld.skeleton_layer_data(np.eye(3), [[1, 0], [2, 0]], root_id=5)
    kwargs = dict(kwargs, metadata={ld.KIND_KEY: ld.KIND_CORTICAL_OUTLINES})
    with pytest.raises(DataError, match="not a skeleton"):
        write_swc(str(tmp_path / "x.swc"), data, kwargs)
    assert not (tmp_path / "x.swc").exists()


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_points_layers_save_with_their_features(make_napari_viewer, pieces, tmp_path, ext):
    _, layers = pieces
    viewer = make_napari_viewer()
    points = [(d, kw) for d, kw, kind in layers if kind == "points"]
    assert {ld.KIND_UNITS, ld.KIND_SYNAPSES, ld.KIND_SOMATA} <= {kw["metadata"][ld.KIND_KEY] for _, kw in points}
    for data, kwargs in points:
        layer = viewer.add_points(data, **kwargs)
        viewer.layers.selection = {layer}
        path = tmp_path / f"{layer.name}{ext}"
        assert viewer.layers.save(str(path), selected=True, plugin="napari-microns") == [str(path)]
        back = pd.read_csv(path) if ext == ".csv" else pd.read_parquet(path)
        np.testing.assert_allclose(back[["z_um", "y_um", "x_um"]].to_numpy(), layer.data, atol=1e-9)
        features = layer.features.reset_index(drop=True)
        for col in features.columns:
            if col.endswith("root_id") or col == "id":
                assert back[col].dtype == np.int64, col  # ids never float
                assert back[col].tolist() == features[col].astype(np.int64).tolist()
            elif pd.api.types.is_numeric_dtype(features[col]):
                np.testing.assert_allclose(back[col].to_numpy(dtype=float), features[col].to_numpy(dtype=float))
            else:
                assert back[col].astype(str).tolist() == features[col].astype(str).tolist(), col
