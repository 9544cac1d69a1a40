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


def test_a_share_of_excitatory_cells_has_synthetic_function_in_degrees(ds, info):
    from napari_microns.sample import functional as sample_functional

    units = ds.units()
    exc = (units["classification_system"] == "excitatory_neuron").to_numpy()
    has = units["pref_ori"].notna().to_numpy()
    assert has[exc].mean() == pytest.approx(sample_functional.FUNCTIONAL_SHARE, abs=0.03)
    assert not has[~exc].any()  # inhibitory cells and non-neurons: NaN, never 0
    assert (units.loc[has, "tuning_type"] == "matched").all() and (units.loc[~has, "tuning_type"] == "not_matched").all()
    for col in ("pref_dir", "gOSI", "gDSI", "cc_abs"):
        assert units[col].dtype == np.float64 and (units[col].notna() == has).all(), col
    assert units.loc[has, "pref_ori"].between(0, 180, inclusive="left").all()
    assert units.loc[has, "pref_dir"].between(0, 360, inclusive="left").all()
    assert units.loc[has, "pref_dir"].max() > 300 and units.loc[has, "pref_ori"].max() > 170  # degrees
    assert units["nucleus_id"].is_unique  # best_only: one row per unit
    angles = ds.summary()["functional_angles"]
    assert angles["table"] == tables_for(info.version)["func_props"]
    # the map: processed angles (converted from the table's storage) follow the synthetic map
    rec = units[has]
    want = sample_functional.orientation_map(rec["pt_position_x"], rec["pt_position_z"])
    diff = np.abs(rec["pref_ori"].to_numpy() - want)
    assert np.median(np.minimum(diff, 180 - diff)) < 15
    l23 = rec["layer"] == "L2/3"
    assert rec.loc[l23, "gOSI"].mean() > rec.loc[~l23, "gOSI"].mean() + 0.1
    showcase = units.set_index("pt_root_id").loc[list(info.root_ids)]
    assert showcase.loc[showcase["classification_system"] == "excitatory_neuron", "pref_ori"].notna().all()


def test_the_connectome_covers_its_members_and_has_cell_type_structure(ds, info):
    from napari_microns.sample.circuit import cell_group, connectome_members

    units = ds.units()
    members = connectome_members(units, info.root_ids)
    assert 300 <= len(members) <= 900 and set(info.root_ids) <= set(members.tolist())
    from napari_microns.core.synapses import pair_coverage

    assert pair_coverage(ds.synapse_store, members, members).all()  # every pair among members
    outsider = units.loc[~units["pt_root_id"].isin(members) & (units["cell_type"] == "23P"), "pt_root_id"].iloc[:3]
    others = members[~np.isin(members, list(info.root_ids))]  # the showcase has all its inputs
    assert not pair_coverage(ds.synapse_store, outsider, others).any()
    coverage = ds.synapse_coverage(members.tolist(), members.tolist())
    assert set(coverage["pre"]["covered"]) == set(info.root_ids)  # all outputs: the showcase only
    syn = ds.synapses(members, members)
    assert syn["id"].dtype == np.int64 and syn["pre_pt_root_id"].dtype == np.int64 and syn["id"].is_unique
    assert (syn["pre_pt_root_id"] != syn["post_pt_root_id"]).all()
    group = dict(zip(units["pt_root_id"].tolist(), cell_group(units["cell_type"])))
    pairs = syn[["pre_pt_root_id", "post_pt_root_id"]].drop_duplicates()
    pre_g, post_g = pairs["pre_pt_root_id"].map(group), pairs["post_pt_root_id"].map(group)
    n = pd.Series([group[int(m)] for m in members]).value_counts()

    def probability(a, b):
        return ((pre_g == a) & (post_g == b)).sum() / (n[a] * (n[b] - (a == b)))

    assert 0.02 < probability("E", "E") < 0.12  # sparse
    assert probability("E", "BC") > 2 * probability("E", "E")
    assert probability("BC", "E") > 3 * probability("E", "E")
    size = syn.assign(g=syn["pre_pt_root_id"].map(group)).groupby("g")["size"].median()
    assert size["BC"] > 2 * size["E"]  # basket cells: strong
    # like-to-like: connected E->E pairs prefer similar orientations
    ori = units.set_index("pt_root_id")["pref_ori"]
    ee = pairs[(pre_g == "E") & (post_g == "E")]
    d = np.abs(ori.reindex(ee["pre_pt_root_id"]).to_numpy() - ori.reindex(ee["post_pt_root_id"]).to_numpy())
    d = np.minimum(d, 180 - d)[np.isfinite(d)]
    assert len(d) > 500 and d.mean() < 35  # uniform differences average 45


def test_showcase_synapses_with_connectome_members_appear_once(ds, info):
    from napari_microns.sample.circuit import CONNECTOME_ID_BASE, connectome_members

    members = set(connectome_members(ds.units(), info.root_ids).tolist())
    showcase = list(info.root_ids)
    inputs, outputs = ds.synapses(post_ids=showcase), ds.synapses(pre_ids=showcase)
    for syn, partner in ((inputs, "pre_pt_root_id"), (outputs, "post_pt_root_id")):
        assert syn["id"].is_unique
        inside = syn[partner].isin(members)
        assert (syn.loc[inside, "id"] >= CONNECTOME_ID_BASE).all()  # only from the connectome
        assert (syn.loc[~inside, "id"] < CONNECTOME_ID_BASE).all()
        assert inside.any() and (~inside).any()
    coverage = ds.synapse_coverage(showcase, showcase)
    assert set(coverage["pre"]["covered"]) == set(showcase) and set(coverage["post"]["covered"]) == set(showcase)
