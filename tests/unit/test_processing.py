"""Merging raw tables into units and layers (purely local)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import DataError, Dataset
from napari_microns.core.layers import assign_layers, compute_layers
from napari_microns.core.transform import voxels_to_um
from napari_microns.sample.tables import ROOT_ID_BASE, functional_tables, raw_tables, synthetic_units


def write_raw(tmp_path, tables, version=1300, fmt="parquet"):
    raw = tmp_path / str(version) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(raw / f"{name}.csv", index=False)
        else:
            df.to_parquet(raw / f"{name}.parquet", index=False)
    return Dataset(tmp_path, version=version)


def test_datacleaner_layers_on_a_known_fixture(tmp_path, layered):
    ds = write_raw(tmp_path, layered)
    units, layers = ds.process()
    depth = units["pt_position_y"]
    y0, y1 = depth.min(), depth.max()
    assert y0 == pytest.approx(0, abs=1e-6) and y1 == pytest.approx(599.999, abs=1e-6)
    assert list(layers["layer"]) == ["L1", "L2/3", "L4", "L5", "L6"]
    assert list(layers["region_index"]) == [0, 0, 0, 0, 0]
    np.testing.assert_allclose(layers["y_start"], [0, 50, 200, 300, 450], atol=0.01)
    np.testing.assert_allclose(layers["y_end"], [50, 200, 300, 450, 600], atol=0.01)
    np.testing.assert_allclose(layers["height"], layers["y_end"] - layers["y_start"])
    # every unit has a layer, the deepest one too (datacleaner leaves it without)
    assert units["layer"].notna().all()
    assert units.loc[depth.idxmax(), "layer"] == "L6"
    # the OPC bin (500-510) was absorbed into L6, the empty bin (400-410) into L5
    assert (units.loc[units["cell_type"] == "OPC", "layer"] == "L6").all()
    expected = pd.cut(depth, [-1, 50, 200, 300, 450, 601], right=False, labels=["L1", "L2/3", "L4", "L5", "L6"])
    assert (units["layer"].to_numpy() == expected.astype(str).to_numpy()).all()


def test_threshold_never_reached_gives_only_l1():
    units = pd.DataFrame({"pt_position_y": np.linspace(0, 100, 50), "cell_type": ["23P"] * 50})
    layers = compute_layers(units, "aibs_metamodel_celltypes_v661")
    assert list(layers["layer"]) == ["L1"]
    assert layers["y_end"].iloc[0] == pytest.approx(100)


def test_a_layer_that_returns_gets_a_second_region():
    depth = np.r_[np.full(300, 5.0), np.full(10, 15.0), np.full(10, 25.0), np.full(10, 35.0), [40.0]]
    types = ["23P"] * 300 + ["4P"] * 10 + ["23P"] * 10 + ["4P"] * 10 + ["4P"]
    layers = compute_layers(pd.DataFrame({"pt_position_y": depth, "cell_type": types}), "aibs_metamodel_celltypes_v661")
    assert list(layers["layer"]) == ["L2/3", "L4", "L2/3", "L4"]
    assert list(layers["region_index"]) == [0, 0, 1, 1]


def test_assign_layers_edges():
    layers = pd.DataFrame({"layer": ["L1", "L2/3"], "region_index": [0, 0], "y_start": [0.0, 10.0],
                           "y_end": [10.0, 20.0], "height": [10.0, 10.0]})
    got = assign_layers(np.array([0.0, 9.99, 10.0, 20.0, 20.5, -1]), layers)
    assert list(got) == ["L1", "L1", "L2/3", "L2/3", None, None]


def test_units_columns_and_frame(tmp_path):
    cells = synthetic_units(300)
    cells["strategy_axon"] = np.where(cells["strategy_dendrite"] != "none", "axon_fully_extended", "none")
    tables = raw_tables(cells)
    ds = write_raw(tmp_path, tables)
    units, _ = ds.process()
    for col in ["nucleus_id", "pt_root_id", "pt_position_x", "pt_position_y", "pt_position_z",
                "classification_system", "cell_type", "brain_area", "strategy_axon", "strategy_dendrite",
                "tuning_type", "layer", "pt_position_vx_x", "pt_position_vx_y", "pt_position_vx_z"]:
        assert col in units.columns, col
    assert units["nucleus_id"].is_unique and units["pt_root_id"].is_unique
    um = voxels_to_um(units[["pt_position_vx_x", "pt_position_vx_y", "pt_position_vx_z"]].to_numpy())
    np.testing.assert_allclose(units[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(), um)
    proofread = tables["proofreading_status_and_strategy"]["pt_root_id"]
    flagged = units["pt_root_id"].isin(proofread)
    assert (units.loc[flagged, "strategy_axon"] == "axon_fully_extended").all()
    assert (units.loc[~flagged, "strategy_axon"] == "none").all()
    assert (units["tuning_type"] == "not_matched").all()


def test_removals_are_counted_and_repeated_annotations_keep_the_neuron(tmp_path):
    tables = raw_tables(synthetic_units(300))
    nucleus, celltype = tables["nucleus_detection_v0"], tables["aibs_metamodel_celltypes_v661"]
    proof = tables["proofreading_status_and_strategy"]
    # a nucleus classified twice (newest row wins), a root id proofread twice
    again = celltype.iloc[[0]].assign(id=celltype["id"].max() + 1, cell_type="MC", classification_system="inhibitory_neuron")
    tables["aibs_metamodel_celltypes_v661"] = pd.concat([celltype, again], ignore_index=True)
    tables["proofreading_status_and_strategy"] = pd.concat(
        [proof, proof.iloc[[0]].assign(id=proof["id"].max() + 1, strategy_axon="axon_partially_extended")], ignore_index=True)
    # root id 0, a two-soma root id, a nucleus without cell type
    nucleus.loc[1, "pt_root_id"] = 0
    nucleus.loc[2, "pt_root_id"] = nucleus.loc[3, "pt_root_id"]
    tables["aibs_metamodel_celltypes_v661"] = tables["aibs_metamodel_celltypes_v661"][
        tables["aibs_metamodel_celltypes_v661"]["target_id"] != nucleus.loc[4, "id"]]
    ds = write_raw(tmp_path, tables)
    units, _ = ds.process()
    s = ds.summary()
    assert s["removed"] == {"no_cell_type": 1, "no_brain_area": 0, "root_id_0": 1, "multi_soma": 2}
    assert s["multi_soma_root_ids"] == 1
    assert s["collapsed_duplicate_rows"]["aibs_metamodel_celltypes_v661"] == 1
    assert s["collapsed_duplicate_rows"]["proofreading_status_and_strategy"] == 1
    assert len(units) == 300 - 4
    reclassified = units.set_index("nucleus_id").loc[celltype["target_id"].iloc[0]]
    assert reclassified["cell_type"] == "MC"
    twice = units.set_index("pt_root_id").loc[proof["pt_root_id"].iloc[0]]
    assert twice["strategy_axon"] == "axon_partially_extended"


def test_functional_modes(tmp_path):
    tables = raw_tables(synthetic_units(300))
    func = functional_tables(tables["nucleus_detection_v0"])
    tables.update(func)
    ds = write_raw(tmp_path, tables)
    props = func["functional_properties_v3_bcm"]
    best = props.sort_values("cc_abs").drop_duplicates("target_id", keep="last").set_index("target_id")

    units, _ = ds.process(functional="best_only")
    assert units["nucleus_id"].is_unique
    matched = units[units["tuning_type"] == "matched"].set_index("nucleus_id")
    assert set(matched.index) == set(props["target_id"])
    np.testing.assert_allclose(matched["cc_abs"], best.loc[matched.index, "cc_abs"])
    assert (units.loc[units["tuning_type"] == "not_matched", "cc_abs"].isna()).all()

    all_units, all_layers = ds.process(functional="all")
    assert len(all_units) == 300 + props["target_id"].duplicated().sum()
    none_layers = ds.process(functional="none").layers
    pd.testing.assert_frame_equal(all_layers, none_layers)  # layers count each unit once

    match, _ = ds.process(functional="match")
    assert {"session", "scan_idx", "functional_unit_id"} <= set(match.columns)
    assert "cc_abs" not in match.columns
    with pytest.raises(ValueError, match="functional"):
        ds.process(functional="some")


def test_v1718_corrections_override_cell_types(tmp_path):
    tables = raw_tables(synthetic_units(300))
    target = tables["aibs_metamodel_celltypes_v661"]["target_id"].iloc[:5]
    tables["aibs_metamodel_celltypes_v661_corrections"] = pd.DataFrame({
        "id": range(1, 6), "valid": True, "target_id": target,
        "classification_system": "inhibitory_neuron", "cell_type": "BPC"})
    ds = write_raw(tmp_path, tables, version=1718)
    units, _ = ds.process()
    assert (units.set_index("nucleus_id").loc[target, "cell_type"] == "BPC").all()
    assert ds.summary()["corrections_applied"] == {"aibs_metamodel_celltypes_v661_corrections": 5}


def test_datacleaner_csv_layout_is_read_offline(tmp_path, layered):
    ds = write_raw(tmp_path, layered, fmt="csv")
    assert ds._client is None
    units, layers = ds.process()
    assert ds._client is None  # never touched the network
    assert list(layers["layer"]) == ["L1", "L2/3", "L4", "L5", "L6"]
    assert (ds.layout.processed_dir / "units.parquet").exists() and (ds.layout.processed_dir / "layers.parquet").exists()
    pd.testing.assert_frame_equal(ds.layers(), layers)


def test_missing_table_is_a_one_line_error(tmp_path):
    tables = raw_tables(synthetic_units(50))
    del tables["nucleus_functional_area_assignment"]
    ds = write_raw(tmp_path, tables)
    with pytest.raises(DataError) as err:
        ds.process()
    assert "nucleus_functional_area_assignment" in str(err.value) and "napari-microns download" in str(err.value)


def test_corrupt_raw_table_is_a_one_line_error(tmp_path):
    ds = write_raw(tmp_path, raw_tables(synthetic_units(50)))
    ds.layout.raw_table("nucleus_detection_v0").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="corrupt"):
        ds.process()


def test_units_before_process_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="napari-microns process"):
        Dataset(tmp_path, version=1300).units()


def test_root_ids_are_int64(tmp_path):
    ds = write_raw(tmp_path, raw_tables(synthetic_units(50)))
    units, _ = ds.process()
    assert units["pt_root_id"].dtype == np.int64 and units["pt_root_id"].min() > ROOT_ID_BASE - 1
