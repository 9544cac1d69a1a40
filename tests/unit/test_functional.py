"""Functional properties in the units: both MICrONS tables, one angle convention, NaN when unmatched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import Dataset
from napari_microns.core import functional, palettes
from napari_microns.sample.tables import functional_tables, raw_tables, synthetic_units, write_raw_tables

V3 = "functional_properties_v3_bcm"
DT = "digital_twin_properties_bcm_coreg_v4"


def _dataset(tmp_path, version, props: pd.DataFrame, n=300):
    """A processed-ready dataset of ``n`` synthetic units and the functional table ``props``
    (its ``target_id`` column: row positions into the nucleus table)."""
    tables = raw_tables(synthetic_units(n), version=version)
    nucleus = tables["nucleus_detection_v0"]
    props = props.copy()
    rows = nucleus.iloc[props.pop("row").to_numpy()]
    props.insert(0, "target_id", rows["id"].to_numpy())
    props.insert(1, "pt_root_id", rows["pt_root_id"].to_numpy())
    props.insert(0, "id", np.arange(1, len(props) + 1))
    name = V3 if version <= 1412 else DT
    tables[name] = props
    ds = Dataset(tmp_path, version=version)
    write_raw_tables(ds.layout, tables)
    return ds, nucleus


def _by_nucleus(units):
    return units.set_index("nucleus_id")


def test_v3_radians_become_degrees_counter_clockwise_from_right(tmp_path):
    # v3: 0 = moving up, clockwise. pi/2 clockwise from up = moving right -> 0 deg;
    # 0 (up) -> 90; pi (down) -> 270; 3pi/2 (left) -> 180; pi/4 (up-right) -> 45.
    pref_dir = np.array([0.0, np.pi / 2, np.pi, 3 * np.pi / 2, np.pi / 4])
    pref_ori = np.array([0.0, np.pi / 2, np.pi / 4, 3 * np.pi / 4, 0.1])
    props = pd.DataFrame({"row": [0, 1, 2, 3, 4], "session": 4, "scan_idx": 7, "unit_id": [1, 2, 3, 4, 5],
                          "pref_ori": pref_ori, "pref_dir": pref_dir, "gOSI": 0.5, "gDSI": 0.25,
                          "cc_abs": [0.9, 0.8, 0.7, 0.6, 0.5]})
    ds, nucleus = _dataset(tmp_path, 1300, props)
    result = ds.process(functional="best_only")
    units = _by_nucleus(result.units)
    got = units.loc[nucleus["id"].iloc[:5]]
    np.testing.assert_allclose(got["pref_dir"], [90.0, 0.0, 270.0, 180.0, 45.0], atol=1e-9)
    np.testing.assert_allclose(got["pref_ori"], [90.0, 0.0, 45.0, 135.0, 90.0 - np.rad2deg(0.1)], atol=1e-9)
    assert result.summary["functional_angles"]["table"] == V3
    assert result.summary["functional_angles"]["source_unit"] == "radians"
    assert "clockwise" in result.summary["functional_angles"]["source_convention"]
    # columns the v3 table lacks are simply absent
    assert {"pref_ori", "pref_dir", "gOSI", "gDSI", "cc_abs"} <= set(units.columns)
    assert not {"OSI", "DSI", "cc_max", "cc_norm", "readout_loc_x"} & set(units.columns)


def _dt_props(pref_ori, pref_dir, rows, cc_abs):
    n = len(rows)
    return pd.DataFrame({"row": rows, "session": 5, "scan_idx": 3, "unit_id": np.arange(n) + 10,
                         "pref_ori": pref_ori, "pref_dir": pref_dir, "OSI": 0.6, "DSI": 0.3, "gOSI": 0.4,
                         "gDSI": 0.2, "cc_abs": cc_abs, "cc_max": 0.95, "cc_norm": np.asarray(cc_abs) / 0.95,
                         "readout_loc_x": -0.5, "readout_loc_y": 0.25})


def test_digital_twin_degrees_stay_and_best_only_keeps_the_highest_cc_abs(tmp_path):
    # nucleus row 0 recorded three times: the 0.7 row is kept
    props = _dt_props([10.0, 100.0, 170.0, 45.0], [10.0, 280.0, 350.0, 359.5], rows=[0, 0, 0, 1],
                      cc_abs=[0.2, 0.7, 0.5, 0.4])
    ds, nucleus = _dataset(tmp_path, 1621, props)
    result = ds.process(functional="best_only")
    units = _by_nucleus(result.units)
    assert result.units["nucleus_id"].is_unique
    first, second = units.loc[nucleus["id"].iloc[0]], units.loc[nucleus["id"].iloc[1]]
    assert first["cc_abs"] == pytest.approx(0.7) and first["pref_ori"] == pytest.approx(100.0)
    assert first["pref_dir"] == pytest.approx(280.0) and first["functional_unit_id"] == 11
    assert second["pref_dir"] == pytest.approx(359.5)
    for col in ("OSI", "DSI", "gOSI", "gDSI", "cc_max", "cc_norm", "readout_loc_x", "readout_loc_y"):
        assert units[col].dtype == np.float64, col
    assert second["readout_loc_x"] == pytest.approx(-0.5)
    angles = result.summary["functional_angles"]
    assert angles["table"] == DT and angles["source_unit"] == "degrees" and "radians" not in angles["converted"]

    everything = ds.process(functional="all").units
    assert (everything["nucleus_id"] == nucleus["id"].iloc[0]).sum() == 3  # one row per scan
    assert sorted(everything.loc[everything["nucleus_id"] == nucleus["id"].iloc[0], "cc_abs"]) == [0.2, 0.5, 0.7]


def test_digital_twin_angles_stored_as_radians_are_detected_from_their_range(tmp_path):
    props = _dt_props([np.pi / 2, np.pi / 4, np.nan], [np.pi, 3 * np.pi / 2, np.nan], rows=[0, 1, 2],
                      cc_abs=[0.5, 0.6, 0.7])
    ds, nucleus = _dataset(tmp_path, 1621, props)
    result = ds.process(functional="best_only")
    units = _by_nucleus(result.units)
    got = units.loc[nucleus["id"].iloc[:3]]
    np.testing.assert_allclose(got["pref_ori"].iloc[:2], [90.0, 45.0])  # no rotation: already the convention
    np.testing.assert_allclose(got["pref_dir"].iloc[:2], [180.0, 270.0])
    assert np.isnan(got["pref_ori"].iloc[2])  # a missing angle stays missing
    assert result.summary["functional_angles"]["source_unit"] == "radians"


def test_cells_without_functional_data_get_nan_never_zero(tmp_path):
    props = _dt_props([0.0, 90.0], [0.0, 180.0], rows=[3, 4], cc_abs=[0.5, 0.6])
    ds, nucleus = _dataset(tmp_path, 1621, props)
    units = ds.process(functional="best_only").units
    matched = units["tuning_type"] == "matched"
    assert matched.sum() == 2
    for col in ("pref_ori", "pref_dir", "OSI", "gDSI", "cc_abs", "readout_loc_y", "session", "functional_unit_id"):
        assert units.loc[~matched, col].isna().all(), col
        assert units.loc[matched, col].notna().all(), col
    assert units.loc[matched, "pref_ori"].min() == 0.0  # a real 0° stays 0, distinct from "no data"


def test_the_sample_functional_tables_still_process(tmp_path):
    tables = raw_tables(synthetic_units(300))
    tables.update(functional_tables(tables["nucleus_detection_v0"]))
    ds = Dataset(tmp_path, version=1300)
    write_raw_tables(ds.layout, tables)
    units = ds.process(functional="best_only").units
    matched = units[units["tuning_type"] == "matched"]
    assert len(matched) > 50
    assert matched["pref_ori"].between(0, 180, inclusive="left").all()
    assert matched["pref_dir"].between(0, 360, inclusive="left").all()
    assert matched["pref_dir"].max() > 2 * np.pi * 1.01  # degrees now, not radians


def test_standardise_unit_decision_and_wrapping():
    df = pd.DataFrame({"pref_ori": [179.99999, -0.0], "pref_dir": [-1e-12, 360.0]})
    out, info = functional.standardise(df, DT)
    assert info["source_unit"] == "degrees"
    assert ((out["pref_ori"] >= 0) & (out["pref_ori"] < 180)).all()
    assert ((out["pref_dir"] >= 0) & (out["pref_dir"] < 360)).all()
    # no finite angle: the documented unit decides
    assert functional.angles_are_radians(pd.DataFrame({"pref_ori": [np.nan]}), "radians")
    assert not functional.angles_are_radians(pd.DataFrame({"pref_ori": [np.nan]}), "degrees")
    assert functional.table_kind(V3) == "v3" and functional.table_kind(DT) == "digital_twin"


def test_colour_scales_read_the_converted_columns_as_degrees():
    ori = np.array([0.5, 45.0, 90.0, 179.0])
    assert palettes.angle_period("pref_ori", ori) == 180
    assert palettes.angle_period("pref_dir", np.array([3.0, 200.0, 359.0])) == 360


def test_the_printed_summary_names_the_conversion(tmp_path):
    from napari_microns.core.units import format_summary

    props = _dt_props([10.0], [10.0], rows=[0], cc_abs=[0.5])
    ds, _ = _dataset(tmp_path, 1621, props)
    text = format_summary(ds.process(functional="best_only").summary)
    assert f"angles of {DT} (degrees) as degrees, counter-clockwise from moving right" in text
    assert "angles of" not in format_summary(ds.process(functional="none").summary)
