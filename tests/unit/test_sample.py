"""The synthetic sample: deterministic, realistic proportions, processed by the real pipeline."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from support.sample import session_sample
from napari_microns import Dataset, sample, tables_for
from napari_microns.core.tables import is_complete
from napari_microns.layer_data import DISPLAY_MAX_FACES
from napari_microns.sample import morphology as sample_morphology
from napari_microns.sample import tables as sample_tables




@pytest.fixture(scope="module")
def ds(info):
    return Dataset(info.datadir, version=info.version)


def test_generator_is_deterministic_and_seeded():
    a, b = sample_tables.synthetic_units(3000, seed=1), sample_tables.synthetic_units(3000, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not sample_tables.synthetic_units(3000, seed=2)["y"].equals(a["y"])


def test_cell_type_proportions_follow_the_table():
    cells = sample_tables.synthetic_units(20_000)
    share = cells["cell_type"].value_counts(normalize=True)
    total = sum(v[1] for v in sample_tables.CELL_TYPES.values())
    for cell_type, (_, wanted, _) in sample_tables.CELL_TYPES.items():
        assert share[cell_type] == pytest.approx(wanted / total, abs=0.002), cell_type
    assert cells["nucleus_id"].is_unique and cells["pt_root_id"].is_unique
    assert (cells["pt_root_id"] >= sample_tables.ROOT_ID_BASE).all()  # never a real minnie65 id


def test_raw_tables_are_written_as_a_download_and_marked_synthetic(info):
    layout = info.layout
    names = tables_for(info.version)
    for table in (names["nucleus"], names["celltype"], names["brain_areas"], names["proofreading"]):
        assert is_complete(layout, table), table
        assert json.loads(layout.raw_sidecar(table).read_text())["synthetic"] is True
    nucleus = pd.read_parquet(layout.raw_table(names["nucleus"]))
    assert {"id", "pt_root_id", "pt_position_x", "pt_position_y", "pt_position_z"} <= set(nucleus.columns)
    marker = json.loads((layout.root / sample.MARKER_FILE).read_text())
    assert marker["synthetic"] and "not MICrONS data" in marker["description"]


def test_processing_finds_the_layers_in_their_bands(ds):
    layers = ds.layers()
    assert layers["layer"].tolist() == ["L1", "L2/3", "L4", "L5", "L6"]
    for row in layers.itertuples():
        lo, hi = sample_tables.LAYER_BANDS[row.layer]
        assert row.y_start == pytest.approx(lo, abs=12) and row.y_end == pytest.approx(hi, abs=12), row


def test_units_positions_survive_the_voxel_round_trip(ds, info):
    units = ds.units().set_index("nucleus_id")
    cells = sample_tables.synthetic_units(30_000, seed=0).set_index("nucleus_id")
    common = units.index.intersection(cells.index)
    assert len(common) == len(cells)  # nothing dropped by the merge
    got = units.loc[common, ["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()
    want = cells.loc[common, ["x", "y", "z"]].to_numpy()
    assert np.abs(got - want).max() < 0.05  # µm; voxels are 4x4x40 nm
    assert (units.loc[common, "cell_type"] == cells.loc[common, "cell_type"]).all()


def test_second_call_reuses_the_sample(info, tmp_path_factory):
    marker = info.layout.root / sample.MARKER_FILE
    before = marker.stat().st_mtime_ns
    again = session_sample(tmp_path_factory)
    assert again == info and marker.stat().st_mtime_ns == before


def test_showcase_neurons_have_tree_skeletons_at_their_somata(ds, info):
    units = ds.units().set_index("pt_root_id")
    assert len(info.root_ids) == len(sample_morphology.SHOWCASE)
    for root in info.root_ids:
        skel = ds.skeleton(root)
        n = len(skel.vertices_um)
        assert len(skel.edges) == n - 1  # a tree
        assert len(np.unique(skel.edges[:, 0])) == n - 1
        soma = units.loc[root, ["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(dtype=float)
        assert np.linalg.norm(skel.soma_um - soma) < 0.1
        assert {1, 2, 3} <= set(np.unique(skel.compartment).tolist())
        mesh = ds.mesh(root, max_faces=DISPLAY_MAX_FACES)
        # the tube mesh wraps the skeleton: every mesh vertex is near some skeleton vertex
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(skel.vertices_um).query(mesh.vertices_um)
        assert np.percentile(dist, 99) < 10.0
    pyramidal = ds.skeleton(info.root_ids[0])
    assert 4 in set(pyramidal.compartment.tolist())  # apical dendrite
    apical = pyramidal.vertices_um[pyramidal.compartment == 4]
    assert apical[:, 1].min() < pyramidal.soma_um[1] - 50  # rises towards the pia


def test_showcase_synapses_sit_on_dendrites_and_axons(ds, info):
    root = info.root_ids[0]
    inputs = ds.synapses(post_ids=[root])
    outputs = ds.synapses(pre_ids=[root])
    assert len(inputs) > 100 and len(outputs) > 50
    skel = ds.skeleton(root)
    from scipy.spatial import cKDTree

    tree = cKDTree(skel.vertices_um)
    for syn, compartments in ((inputs, {3, 4}), (outputs, {2})):
        pos = syn[["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]].to_numpy()
        dist, idx = tree.query(pos)
        assert np.median(dist) < 3.0
        assert np.mean(np.isin(skel.compartment[idx], list(compartments))) > 0.9


def test_fetch_neurons_yields_layers_and_one_line_errors_without_stopping(ds, info):
    from napari_microns.fetching import fetch_neurons

    unknown = sample_tables.ROOT_ID_BASE + 7  # not a unit, not in the precomputed layer
    known = int(info.root_ids[1])
    pieces = list(fetch_neurons(ds, [unknown, known]))
    kinds = [(p.kind, p.root_ids) for p in pieces]
    assert kinds == [("error", (unknown,)), ("error", (unknown,)), ("skeleton", (known,)), ("mesh", (known,)),
                     ("synapses", (unknown, known))]
    for p in pieces[:2]:
        assert str(unknown) in p.message and "\n" not in p.message
    assert [p.done for p in pieces] == [1, 2, 3, 4, 5] and {p.total for p in pieces} == {5}
    (vectors, kw, kind), = pieces[2].layers
    assert kind == "vectors" and len(vectors) == len(ds.skeleton(known).edges)
    (syn_data, syn_kw, _), = pieces[4].layers
    assert set(syn_kw["features"]["direction"]) == {"input", "output"}
