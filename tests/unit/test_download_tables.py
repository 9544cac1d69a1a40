"""Downloading CAVE tables through the real caveclient against a fake server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import FakeCAVE

from napari_microns import AuthError, Dataset, NotFoundError, ServiceError, VersionError
from napari_microns.core.tables import is_complete
from napari_microns.core.transform import voxels_to_um
from napari_microns.sample.tables import functional_tables, raw_tables, synthetic_units


@pytest.fixture
def server_tables():
    tables = raw_tables(synthetic_units(400))
    tables.update(functional_tables(tables["nucleus_detection_v0"]))
    return tables


def make(tmp_path, tables, fast_retry, version=1300, **kw):
    fake = FakeCAVE(tables, versions=kw.pop("versions", [1300, 1412]), **kw)
    ds = Dataset(tmp_path, version=version, client=fake.client(1300), retry=fast_retry)
    return fake, ds


def test_download_then_process(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    with fake:
        got = ds.download_tables()
    assert set(got) == set(ds.tables.annotation_tables())
    nucleus = server_tables["nucleus_detection_v0"]
    raw = pd.read_parquet(ds.layout.raw_table("nucleus_detection_v0"))
    assert len(raw) == len(nucleus) and set(raw["id"]) == set(nucleus["id"])
    side = json.loads(ds.layout.raw_sidecar("nucleus_detection_v0").read_text())
    assert side["rows"] == len(nucleus) and side["datastack"] == "minnie65_public" and side["version"] == 1300
    assert side["caveclient_version"] and side["downloaded_at"]

    units, layers = ds.process()
    assert len(units) == len(nucleus)
    row = units.set_index("nucleus_id").loc[nucleus["id"].iloc[0]]
    src = nucleus.iloc[0]
    expected = voxels_to_um(src[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(float))[0]
    np.testing.assert_allclose(row[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(float), expected)
    assert row["pt_position_vx_x"] == pytest.approx(src["pt_position_x"])
    assert list(layers["layer"]) == ["L1", "L2/3", "L4", "L5", "L6"] or len(layers) >= 1
    pd.testing.assert_frame_equal(ds.units(), units)


def test_complete_tables_are_not_downloaded_again(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    with fake:
        ds.download_tables()
        n = len(fake.requests)
        assert ds.download_tables() == {}
        assert len(fake.requests) == n
        ds.download_tables(["nucleus_detection_v0"], force=True)
        assert len(fake.requests) == n + 1


def test_capped_answers_are_paged_until_complete(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry, row_cap=70)
    with fake:
        ds.download_tables(["nucleus_detection_v0"])
    raw = pd.read_parquet(ds.layout.raw_table("nucleus_detection_v0"))
    nucleus = server_tables["nucleus_detection_v0"]
    assert len(raw) == len(nucleus) and raw["id"].is_unique
    queries = [r for r in fake.requests if r["table"] == "nucleus_detection_v0"]
    assert len(queries) > len(nucleus) // 70  # it had to page
    pd.testing.assert_frame_equal(
        raw.sort_values("id").reset_index(drop=True)[["id", "pt_root_id"]],
        nucleus.sort_values("id").reset_index(drop=True)[["id", "pt_root_id"]],
    )


def test_transient_faults_are_retried(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    fake.faults["nucleus_detection_v0"] += [503, "drop", 429, "truncate"]
    with fake:
        ds.download_tables(["nucleus_detection_v0"])
    assert is_complete(ds.layout, "nucleus_detection_v0")
    assert len(pd.read_parquet(ds.layout.raw_table("nucleus_detection_v0"))) == 400


def test_persistent_server_errors_give_up_with_one_line(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    fake.fault_fn = lambda table, body: 502  # the server never recovers
    with fake, pytest.raises(ServiceError) as err:
        ds.download_tables(["nucleus_detection_v0"])
    assert "502" in str(err.value) and "\n" not in str(err.value) and "attempts" in str(err.value)
    assert not ds.layout.raw_table("nucleus_detection_v0").exists()


def test_401_says_how_to_save_a_token(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    fake.faults["nucleus_detection_v0"] += [401]
    with fake, pytest.raises(AuthError) as err:
        ds.download_tables(["nucleus_detection_v0"])
    msg = str(err.value)
    assert "napari-microns login" in msg and "\n" not in msg
    assert len(fake.requests) == 1  # no retry on 401


def test_403_is_an_auth_error(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    fake.faults["nucleus_detection_v0"] += [403]
    with fake, pytest.raises(AuthError, match="403"):
        ds.download_tables(["nucleus_detection_v0"])


def test_404_names_the_table(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    with fake, pytest.raises(NotFoundError) as err:
        ds.download_tables(["no_such_table"])
    assert "no_such_table" in str(err.value) and "404" in str(err.value)


def test_interrupted_write_leaves_no_half_file_and_rerun_completes(tmp_path, server_tables, fast_retry, monkeypatch):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    real = pd.DataFrame.to_parquet

    def dying_write(self, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", dying_write)
    with fake, pytest.raises(KeyboardInterrupt):
        ds.download_tables(["nucleus_detection_v0"])
    assert list(ds.layout.raw_dir.iterdir()) == []  # no half file, no temp file
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    with fake:
        ds.download_tables(["nucleus_detection_v0"])
    assert is_complete(ds.layout, "nucleus_detection_v0")


def test_parquet_without_sidecar_counts_as_incomplete(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    with fake:
        ds.download_tables(["nucleus_detection_v0"])
        ds.layout.raw_sidecar("nucleus_detection_v0").unlink()
        assert not is_complete(ds.layout, "nucleus_detection_v0")
        assert ds.download_tables(["nucleus_detection_v0"]) == {"nucleus_detection_v0": 400}


def test_unknown_version_lists_supported_ones(tmp_path):
    with pytest.raises(VersionError) as err:
        Dataset(tmp_path, version=999)
    assert "1300" in str(err.value) and "1718" in str(err.value)


def test_version_no_longer_served(tmp_path, server_tables, fast_retry):
    fake = FakeCAVE(server_tables, versions=[1412, 1507])
    ds = Dataset(tmp_path, version=1300, client=fake.client(1412), retry=fast_retry)
    with fake, pytest.raises(VersionError) as err:
        ds.download_tables()
    msg = str(err.value)
    assert "no longer served" in msg and "1412" in msg and "1507" in msg


def test_version_expiring_mid_download_is_a_version_error(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    fake.expired_versions = [1300]
    with fake, pytest.raises(VersionError, match="410"):
        ds.download_tables(["nucleus_detection_v0"])


def test_no_saved_token_fails_offline_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # caveclient looks for ~/.cloudvolume/secrets/
    ds = Dataset(tmp_path / "data", version=1300)
    with pytest.raises(AuthError) as err:
        ds.download_tables()
    assert "no CAVE token" in str(err.value) and "napari-microns login" in str(err.value)


def test_an_interrupted_table_download_resumes_by_page(tmp_path, server_tables, fast_retry):
    """A table larger than one answer comes in pages; a run stopped after some pages keeps
    them, and the rerun asks only for the ranges still missing."""
    table = "nucleus_detection_v0"
    whole, _ = make(tmp_path / "whole", server_tables, fast_retry, row_cap=40)
    ds_whole = Dataset(tmp_path / "whole", version=1300, client=whole.client(1300), retry=fast_retry)
    with whole:
        ds_whole.download_tables([table])
    fresh_queries = len(whole.requests)
    assert fresh_queries > 6  # paged: several capped answers and their halves

    fake, ds = make(tmp_path / "stopped", server_tables, fast_retry, row_cap=40)
    fake.faults[table] += [None] * 6 + [401]  # the token is revoked after six answers
    with fake, pytest.raises(AuthError):
        ds.download_tables([table])
    assert not is_complete(ds.layout, table)
    journal = json.loads((ds.layout.root / ".partial" / "raw" / table / "journal.json").read_text())
    assert journal["pages"], "finished pages are kept"
    fake.requests.clear()
    with fake:
        ds.download_tables([table])
    assert is_complete(ds.layout, table)
    assert 0 < len(fake.requests) < fresh_queries  # only what was missing
    pd.testing.assert_frame_equal(pd.read_parquet(ds.layout.raw_table(table)),
                                  pd.read_parquet(ds_whole.layout.raw_table(table)))
    assert not (ds.layout.root / ".partial" / "raw" / table).exists()  # gone once the table is whole


def test_a_corrupt_table_is_downloaded_again(tmp_path, server_tables, fast_retry):
    fake, ds = make(tmp_path, server_tables, fast_retry)
    table = "nucleus_detection_v0"
    with fake:
        ds.download_tables([table])
    path = ds.layout.raw_table(table)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # same size, same row count: only the checksum sees it
    path.write_bytes(bytes(data))
    assert not is_complete(ds.layout, table)
    with pytest.raises(Exception) as err:
        ds.process()
    assert "corrupt" in str(err.value) and "napari-microns download" in str(err.value)
    fake.requests.clear()
    with fake:
        assert table in ds.download_tables([table])
    assert is_complete(ds.layout, table)
