"""Versions over time: the registry (1822, long-term, flat segmentations), the ``versions`` table
against a fake CAVE server (served, expired, long-term, unknown, on disk) and offline, and the
optional correction table of 1822 skipped when the server lacks it."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import requests
from support.fake_cave import FakeCAVE

from napari_microns import DataError, Dataset, NotFoundError, VersionList, cli, tables_for, versions
from napari_microns.core.em import FLAT_SEGMENTATIONS
from napari_microns.core.units import format_summary
from napari_microns.core.versions import flat_segmentations, long_term_versions
from napari_microns.sample.tables import functional_tables, raw_tables, synthetic_units

CORRECTIONS = "aibs_metamodel_celltypes_v661_corrections"


def server_tables(version: int, corrections: bool) -> dict[str, pd.DataFrame]:
    tables = raw_tables(synthetic_units(300), version=version)
    tables.update(functional_tables(tables["nucleus_detection_v0"], version=version))
    if corrections:
        target = tables["aibs_metamodel_celltypes_v661"]["target_id"].iloc[:7]
        tables[CORRECTIONS] = pd.DataFrame({"id": range(1, 8), "valid": True, "target_id": target.to_numpy(),
                                            "classification_system": "inhibitory_neuron", "cell_type": "BPC"})
    return tables


# -- the registry ------------------------------------------------------------------

def test_1822_is_in_the_registry_with_its_corrections_optional():
    t = tables_for(1822)
    assert t["nucleus"] == "nucleus_detection_v0" and t["celltype"] == "aibs_metamodel_celltypes_v661"
    assert t["func_props"] == "digital_twin_properties_bcm_coreg_v4" and t["coreg"] == "coregistration_manual_v4"
    assert t["brain_areas"] == "nucleus_functional_area_assignment" and t["synapses"] == "synapses_pni_2"
    assert t["proofreading"] == "proofreading_status_and_strategy"
    assert t.corrections == {CORRECTIONS: ["classification_system", "cell_type"]}
    assert t.is_optional(CORRECTIONS) and not t.is_optional("nucleus_detection_v0")
    assert not tables_for(1718).is_optional(CORRECTIONS)  # confirmed at 1718: required there


def test_long_term_and_flat_segmentations_come_from_the_registry():
    assert long_term_versions() == [117, 943, 1300]
    assert set(flat_segmentations()) == {343, 943, 1300} and 1822 not in flat_segmentations()
    assert flat_segmentations()[1300].endswith("/minnie65/seg_m1300")
    assert FLAT_SEGMENTATIONS == flat_segmentations()  # the EM code reads the same place


# -- the versions table ------------------------------------------------------------

def on_disk(tmp_path, fast_retry):
    """1300 downloaded and processed, 1507 with 2 of its 6 tables, 1077 an unknown folder."""
    tables = server_tables(1300, corrections=False)
    fake = FakeCAVE(tables, versions=[1300])
    ds = Dataset(tmp_path, version=1300, client=fake.client(1300), retry=fast_retry)
    with fake:
        ds.download_tables()
    ds.process()
    tables = server_tables(1507, corrections=False)
    fake = FakeCAVE(tables, versions=[1507])
    with fake:
        Dataset(tmp_path, version=1507, client=fake.client(1507), retry=fast_retry).download_tables(
            ["nucleus_detection_v0", "aibs_metamodel_celltypes_v661"])
    (tmp_path / "1077" / "raw").mkdir(parents=True)


def test_versions_table_against_the_server(tmp_path, fast_retry):
    on_disk(tmp_path, fast_retry)
    fake = FakeCAVE({}, versions=[1300, 1718, 1822, 1900], expired_versions=[117, 1078, 1412], version_dates={
        117: ("2021-07-14T09:00:00.000000", None),
        1078: ("2024-06-07T10:10:01.203215", "2025-06-07T10:10:01.203215"),
        1300: ("2025-01-13T10:10:01.203215", "2026-01-13T10:10:01.203215"),
        1718: ("2025-12-01T08:00:00.000000", "2026-12-01T08:00:00.000000"),
        1822: ("2026-06-27T08:00:00.000000", "2027-06-27T08:00:00.000000"),
    })
    with fake:
        result = versions(tmp_path, client=fake.client(1822), retry=fast_retry)
    assert isinstance(result, VersionList) and result.note is None
    t = result.table.set_index("version")
    assert list(result.table["version"]) == sorted(result.table["version"])
    assert result.table["version"].dtype == "int64"
    # served, with the server's dates; 1300 is long-term whatever the server says
    assert t.loc[1822, ["released", "expires", "status", "known"]].tolist() == ["2026-06-27", "2027-06-27", "served", True]
    assert t.loc[1300, ["released", "expires", "status"]].tolist() == ["2025-01-13", "long-term", "served"]
    assert t.loc[1300, "on_disk"] == "raw complete, processed"
    # expired: listed only with expired=True
    assert t.loc[1078, ["released", "expires", "status", "known"]].tolist() == [
        "2024-06-07", "2025-06-07", "expired (static dump)", True]
    assert t.loc[117, ["expires", "status", "known"]].tolist() == ["long-term", "expired (static dump)", False]
    # unknown to this project, but served
    assert t.loc[1900, ["status", "known", "on_disk"]].tolist() == ["served", False, ""]
    # known, not listed by the server at all; partly on disk
    assert t.loc[1507, ["status", "known", "on_disk"]].tolist() == ["not listed by the server", True, "raw 2/6"]
    assert t.loc[1077, ["status", "known", "on_disk"]].tolist() == [
        "not listed by the server", False, "raw (tables unknown)"]
    assert t.loc[1181, "on_disk"] == "" and t.loc[943, "expires"] == "long-term"
    text = str(result)
    assert "no (unknown to this project)" in text and "raw complete, processed" in text
    assert text.splitlines()[0].split() == ["version", "released", "expires", "status", "known", "on", "disk"]


def test_versions_offline_lists_the_registry_and_the_disk_and_says_why(tmp_path, monkeypatch, fast_retry, capsys):
    on_disk(tmp_path / "data", fast_retry)
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved token
    result = versions(tmp_path / "data")
    t = result.table.set_index("version")
    assert set(t["status"]) == {"server not asked"}
    assert set(tables_for(v).version for v in (1300, 1822)) <= set(t.index) and 1077 in t.index
    assert t.loc[1300, ["expires", "on_disk"]].tolist() == ["long-term", "raw complete, processed"]
    assert t.loc[1822, "released"] == "2026-06-27"  # from the registry
    assert t.loc[1718, ["released", "expires"]].tolist() == ["", ""]  # unknown offline
    assert result.note.startswith("the server was not asked: no CAVE token")
    assert "\n" not in result.note

    assert cli.main(["versions", "--datadir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == result.note
    assert any(line.split()[:2] == ["1300", "-"] and "raw complete, processed" in line for line in out)


def test_versions_with_a_server_that_fails_says_it_was_not_reached(tmp_path, fast_retry):
    fake = FakeCAVE({}, versions=[1300])
    with fake:
        client = fake.client(1300)

        def down(**kwargs):
            raise requests.ConnectionError("connection refused")

        client.materialize.get_versions_metadata = down
        result = versions(None, client=client, retry=fast_retry)
    assert result.note.startswith("the server was not reached:") and "\n" not in result.note
    assert set(result.table["status"]) == {"server not asked"} and set(result.table["on_disk"]) == {"-"}


# -- optional tables at download ------------------------------------------------------

def download_1822(tmp_path, fast_retry, tables):
    fake = FakeCAVE(tables, versions=[1718, 1822])
    ds = Dataset(tmp_path, version=1822, client=fake.client(1822), retry=fast_retry)
    return fake, ds


def test_optional_corrections_the_server_lacks_are_skipped_then_process_works(tmp_path, fast_retry, caplog):
    fake, ds = download_1822(tmp_path, fast_retry, server_tables(1822, corrections=False))
    with fake, caplog.at_level(logging.WARNING, logger="napari_microns"):
        got = ds.download_tables()
    assert CORRECTIONS not in got and set(got) == set(ds.tables.annotation_tables()) - {CORRECTIONS}
    assert list(got.skipped) == [CORRECTIONS] and "1822" in got.skipped[CORRECTIONS]
    assert fake.table_list_requests == 1
    assert all(r["table"] != CORRECTIONS for r in fake.requests)
    skipped_lines = [r for r in caplog.records if CORRECTIONS in r.getMessage()]
    assert len(skipped_lines) == 1 and "\n" not in skipped_lines[0].getMessage()

    result = ds.process()
    assert len(result.units) > 0
    assert result.summary["corrections_skipped"] == [CORRECTIONS] and result.summary["corrections_applied"] == {}
    assert f"not corrected from {CORRECTIONS}" in format_summary(result.summary)


def test_optional_corrections_the_server_has_are_downloaded_and_applied(tmp_path, fast_retry):
    tables = server_tables(1822, corrections=True)
    fake, ds = download_1822(tmp_path, fast_retry, tables)
    with fake:
        got = ds.download_tables()
    assert got[CORRECTIONS] == 7 and got.skipped == {}
    units, _ = ds.process()
    target = tables[CORRECTIONS]["target_id"]
    assert (units.set_index("nucleus_id").loc[target, "cell_type"] == "BPC").all()
    assert ds.summary()["corrections_applied"] == {CORRECTIONS: 7}


def test_a_required_table_the_server_lacks_is_one_line_before_any_download(tmp_path, fast_retry):
    tables = server_tables(1822, corrections=False)
    del tables["proofreading_status_and_strategy"]
    fake, ds = download_1822(tmp_path, fast_retry, tables)
    with fake, pytest.raises(NotFoundError) as err:
        ds.download_tables()
    message = str(err.value)
    assert "proofreading_status_and_strategy" in message and "1822" in message and "\n" not in message
    assert CORRECTIONS not in message and fake.requests == []


def test_a_required_correction_table_missing_on_disk_is_still_an_error(tmp_path):
    tables = raw_tables(synthetic_units(200), version=1718)
    raw = tmp_path / "1718" / "raw"
    raw.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(raw / f"{name}.parquet", index=False)
    with pytest.raises(DataError, match=f"correction table {CORRECTIONS} is not in"):
        Dataset(tmp_path, version=1718).process()


def test_download_command_names_the_skipped_optional_table(tmp_path, capsys, monkeypatch, fast_retry):
    from napari_microns.core import dataset as dataset_module

    fake = FakeCAVE(server_tables(1822, corrections=False), versions=[1822])
    client = fake.client(1822)
    monkeypatch.setattr(dataset_module, "make_client", lambda datastack, policy: client)
    monkeypatch.setattr(dataset_module, "DEFAULT_RETRY", fast_retry)
    with fake:
        code = cli.main(["download", "--datadir", str(tmp_path), "--version", "1822"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"{CORRECTIONS}: skipped (optional; version 1822 of minnie65_public has no such table)" in out
    assert "nucleus_detection_v0: complete" in out and "missing" not in out
    assert cli.main(["process", "--datadir", str(tmp_path), "--version", "1822"]) == 0
    assert f"not corrected from {CORRECTIONS}" in capsys.readouterr().out
