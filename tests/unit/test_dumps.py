"""Expired versions read from their static dumps (a ``file://`` mirror in the documented format)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import FakeCAVE

from napari_microns import Dataset, DataError, VersionError
from napari_microns.core import dumps
from napari_microns.core.layout import write_lock
from napari_microns.core.tables import is_complete
from napari_microns.sample.tables import raw_tables, synthetic_units

EXPIRED = 1181
BIG = 2**62 + 12345  # far past 2**53: a float would round it


def pg_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    return "text"


def csv_cell(value, kind: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if kind == "boolean":
        return "t" if value else "f"
    if kind == "text":
        return '"' + str(value).replace('"', '""') + '"'
    return repr(float(value)) if kind == "double precision" else str(int(value))


def write_dump(folder, tables: dict[str, pd.DataFrame], header_fix=None) -> None:
    """``<table>_merged.csv.gz`` (no header row) and ``<table>_merged_header.csv`` (name, type)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        kinds = [pg_type(df[c]) for c in df.columns]
        header = [f"{c},{k}" for c, k in zip(df.columns, kinds)]
        if header_fix:
            header = header_fix(header)
        (folder / f"{name}_merged_header.csv").write_text("\n".join(header) + "\n")
        lines = [",".join(csv_cell(v, k) for v, k in zip(row, kinds)) for row in df.itertuples(index=False)]
        (folder / f"{name}_merged.csv.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


@pytest.fixture
def tables():
    t = raw_tables(synthetic_units(300), version=EXPIRED)
    nucleus = t["nucleus_detection_v0"]
    nucleus.loc[0, "pt_root_id"] = BIG
    nucleus.loc[1, "pt_supervoxel_id"] = BIG + 1
    return t


@pytest.fixture
def mirror(tmp_path, tables):
    base = tmp_path / "mirror"
    write_dump(base / f"v{EXPIRED}", tables)
    return f"file://{base}"


def api_download(tmp_path, tables, fast_retry):
    fake = FakeCAVE(tables, versions=[EXPIRED])
    ds = Dataset(tmp_path / "api", version=EXPIRED, client=fake.client(EXPIRED), retry=fast_retry)
    with fake:
        ds.download_tables(list(tables))
    return ds


def test_expired_version_is_read_from_the_dump_like_the_api(tmp_path, tables, mirror, fast_retry):
    api = api_download(tmp_path, tables, fast_retry)
    fake = FakeCAVE(tables, versions=[1300, 1412], expired_versions=[EXPIRED])
    ds = Dataset(tmp_path / "dump", version=EXPIRED, client=fake.client(1300), retry=fast_retry, dump_source=mirror)
    with fake:
        got = ds.download_tables(list(tables))
    assert got == {name: len(df) for name, df in tables.items()}
    assert fake.requests == []  # no table was queried from the server
    for name in tables:
        assert is_complete(ds.layout, name)
        from_dump = pd.read_parquet(ds.layout.raw_table(name))
        pd.testing.assert_frame_equal(from_dump, pd.read_parquet(api.layout.raw_table(name)))
    raw = pd.read_parquet(ds.layout.raw_table("nucleus_detection_v0"))
    assert raw["pt_root_id"].dtype == np.int64 and BIG in set(raw["pt_root_id"].tolist())
    assert BIG + 1 in set(raw["pt_supervoxel_id"].tolist())
    side = json.loads(ds.layout.raw_sidecar("nucleus_detection_v0").read_text())
    assert side["source"] == "static dump" and side["version"] == EXPIRED
    assert side["url"] == f"{mirror}/v{EXPIRED}/nucleus_detection_v0_merged.csv.gz"
    assert "unconfirmed" in side["positions"]["unit"] and side["rows"] == len(tables["nucleus_detection_v0"])
    assert not (ds.layout.root / ".partial" / "dump" / "nucleus_detection_v0").exists()

    units, _ = ds.process()
    api_units, _ = api.process()
    pd.testing.assert_frame_equal(units, api_units)
    assert BIG in set(units["pt_root_id"].tolist())


def test_from_dump_needs_no_server(tmp_path, tables, mirror, monkeypatch):
    def no_server(*a, **k):
        raise AssertionError("the server was asked")

    monkeypatch.setattr("napari_microns.core.dataset.make_client", no_server)
    monkeypatch.setenv(dumps.DUMP_URL_ENV, mirror)  # the environment names the mirror
    ds = Dataset(tmp_path / "d", version=EXPIRED)
    got = ds.download_tables(list(tables), from_dump=True)
    assert set(got) == set(tables)
    assert ds.download_tables(list(tables), from_dump=True) == {}  # complete: skipped
    assert len(ds.process().units) == len(tables["nucleus_detection_v0"])


def test_a_version_neither_served_nor_expired_still_fails(tmp_path, tables, mirror, fast_retry):
    fake = FakeCAVE(tables, versions=[1300], expired_versions=[])
    ds = Dataset(tmp_path / "d", version=EXPIRED, client=fake.client(1300), retry=fast_retry, dump_source=mirror)
    with fake, pytest.raises(VersionError, match="no longer served"):
        ds.download_tables(list(tables))
    assert not ds.layout.raw_table("nucleus_detection_v0").exists()


def test_an_interrupted_dump_download_resumes_after_its_last_part(tmp_path, tables, mirror, monkeypatch):
    monkeypatch.setattr(dumps, "BLOCK_BYTES", 2048)  # many small batches
    monkeypatch.setattr(dumps, "READ_BYTES", 512)  # many ranged reads
    ds = Dataset(tmp_path / "d", version=EXPIRED, dump_source=mirror)
    name, expected = "nucleus_detection_v0", tables["nucleus_detection_v0"]
    added = []
    real_add = dumps.DumpParts.add

    def add_then_die(self, table):
        real_add(self, table)
        added.append(table.num_rows)
        if len(added) == 2:
            raise KeyboardInterrupt  # killed mid-stream, after two finished parts

    monkeypatch.setattr(dumps.DumpParts, "add", add_then_die)
    with write_lock(ds.layout.lock_file("raw"), "test"), pytest.raises(KeyboardInterrupt):
        dumps.download_dump_table(ds.layout, name, datastack="minnie65_public", base=mirror, part_rows=40)
    assert not ds.layout.raw_table(name).exists() and not ds.layout.raw_sidecar(name).exists()
    journal = json.loads((ds.layout.root / ".partial" / "dump" / name / "journal.json").read_text())
    assert [p["rows"] for p in journal["parts"]] == added and sum(added) < len(expected)

    resumed = []
    monkeypatch.setattr(dumps.DumpParts, "add", lambda self, t: (resumed.append(t.num_rows), real_add(self, t)))
    with write_lock(ds.layout.lock_file("raw"), "test"):
        n = dumps.download_dump_table(ds.layout, name, datastack="minnie65_public", base=mirror, part_rows=40)
    assert n == len(expected) and sum(resumed) == len(expected) - sum(added)  # earlier parts not parsed again
    raw = pd.read_parquet(ds.layout.raw_table(name))
    assert raw["id"].tolist() == sorted(expected["id"].tolist()) and raw["id"].is_unique
    pd.testing.assert_series_equal(raw["pt_root_id"], expected.sort_values("id")["pt_root_id"].reset_index(drop=True))
    assert is_complete(ds.layout, name)


def _no_leftovers(ds, name):
    assert not ds.layout.raw_table(name).exists() and not ds.layout.raw_sidecar(name).exists()
    assert not [p for p in ds.layout.raw_dir.iterdir() if p.name.endswith(".parquet") or ".tmp" in p.name]


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "header"])
def test_a_damaged_dump_fails_in_one_line_writing_nothing(tmp_path, tables, damage):
    base = tmp_path / "mirror"
    name = "nucleus_detection_v0"
    fix = (lambda h: h[:-1]) if damage == "header" else None  # one column fewer than the data has
    write_dump(base / f"v{EXPIRED}", {name: tables[name]}, header_fix=fix)
    data = base / f"v{EXPIRED}" / f"{name}_merged.csv.gz"
    blob = bytearray(data.read_bytes())
    if damage == "corrupt":
        blob[len(blob) // 2: len(blob) // 2 + 40] = bytes(40)
    elif damage == "truncated":
        blob = blob[: len(blob) * 2 // 3]
    data.write_bytes(bytes(blob))
    ds = Dataset(tmp_path / "d", version=EXPIRED, dump_source=f"file://{base}")
    with pytest.raises(DataError) as info:
        ds.download_tables([name], from_dump=True)
    message = str(info.value)
    assert "\n" not in message and f"v{EXPIRED}/{name}_merged.csv.gz" in message
    _no_leftovers(ds, name)


def test_a_table_missing_from_the_dump_is_named(tmp_path, tables, mirror):
    ds = Dataset(tmp_path / "d", version=EXPIRED, dump_source=mirror)
    with pytest.raises(Exception, match="coregistration_manual_v4_merged") as info:
        ds.download_tables(["coregistration_manual_v4"], from_dump=True)
    assert "\n" not in str(info.value)


def test_cli_download_from_dump(tmp_path, tables, mirror, capsys):
    from napari_microns.cli import main

    code = main(["download", "--datadir", str(tmp_path / "d"), "--version", str(EXPIRED), "--from-dump",
                 "--dump-url", mirror, "--tables", *tables])
    out = capsys.readouterr().out
    assert code in (0, None) and all(f"{name}: complete" in out for name in tables)


def test_dump_location_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv(dumps.DUMP_URL_ENV, raising=False)
    assert dumps.dump_location(1181) == "https://storage.googleapis.com/mat_dbs/public/minnie65_phase3_v1/v1181"
    monkeypatch.setenv(dumps.DUMP_URL_ENV, "gs://mirror/x/")
    assert dumps.dump_location(1181) == "gs://mirror/x/v1181"
    assert dumps.dump_location(943, "file:///data/dumps") == "file:///data/dumps/v943"


def test_a_table_without_merged_in_its_name_is_found(tmp_path, tables):
    base, name = tmp_path / "mirror", "proofreading_status_and_strategy"
    write_dump(base / f"v{EXPIRED}", {name: tables[name]})
    for old, new in (("_merged.csv.gz", ".csv.gz"), ("_merged_header.csv", "_header.csv")):
        (base / f"v{EXPIRED}" / f"{name}{old}").rename(base / f"v{EXPIRED}" / f"{name}{new}")
    ds = Dataset(tmp_path / "d", version=EXPIRED, dump_source=f"file://{base}")
    assert ds.download_tables([name], from_dump=True) == {name: len(tables[name])}
    side = json.loads(ds.layout.raw_sidecar(name).read_text())
    assert side["url"].endswith(f"v{EXPIRED}/{name}.csv.gz")


CHILD = """
import sys, time
from napari_microns import Dataset
from napari_microns.core import dumps
dumps.BLOCK_BYTES, dumps.READ_BYTES = 2048, 512
real_add = dumps.DumpParts.add
def slow_add(self, table):
    real_add(self, table)
    print("part", flush=True)
    time.sleep(0.4)
dumps.DumpParts.add = slow_add
ds = Dataset(sys.argv[1], version=int(sys.argv[2]), dump_source=sys.argv[3])
dumps.PART_ROWS = 30
ds.download_tables([sys.argv[4]], from_dump=True)
"""


def test_a_killed_download_process_resumes(tmp_path, tables, mirror, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    name, expected = "nucleus_detection_v0", tables["nucleus_detection_v0"]
    datadir = tmp_path / "d"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(datadir), str(EXPIRED), mirror, name],
                             stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(2):  # two parts written, then killed without warning
            assert child.stdout.readline().strip() == "part"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    ds = Dataset(datadir, version=EXPIRED, dump_source=mirror)
    assert not ds.layout.raw_table(name).exists() and not ds.layout.raw_sidecar(name).exists()
    journal = json.loads((ds.layout.root / ".partial" / "dump" / name / "journal.json").read_text())
    done = sum(p["rows"] for p in journal["parts"])
    assert 0 < done < len(expected)

    monkeypatch.setattr(dumps, "BLOCK_BYTES", 2048)
    parsed = []
    real_add = dumps.DumpParts.add
    monkeypatch.setattr(dumps.DumpParts, "add", lambda self, t: (parsed.append(t.num_rows), real_add(self, t)))
    assert ds.download_tables([name], from_dump=True) == {name: len(expected)}
    assert sum(parsed) == len(expected) - done
    raw = pd.read_parquet(ds.layout.raw_table(name))
    assert raw["id"].tolist() == sorted(expected["id"].tolist())
    assert set(raw["pt_root_id"].tolist()) == set(expected["pt_root_id"].tolist())
    assert not list(ds.layout.raw_dir.glob("*tmp*"))
