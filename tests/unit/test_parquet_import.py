"""A large Parquet file imported by the engine alone (core/synapses/parquet_import.py) against
the reader's path on the same rows; the engine's SQL twin of the bucket hash; bad files named
by the reader; a killed engine import resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.synapse_dump import synapse_table

import napari_microns.core.synapses.parquet_import as parquet_import
import napari_microns.core.synapses.store as synapses_store
from napari_microns import Dataset
from napari_microns.core.errors import DataError
from napari_microns.core.synapses import engine
from napari_microns.core.synapses.schema import bucket_of
from napari_microns.core.synapses.staging import STAGING
from napari_microns.core.transform import voxels_to_um

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
XYZ = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]
VX = ["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]


def test_the_engine_bucket_hash_is_the_stores():
    rng = np.random.default_rng(0)
    ids = np.concatenate([rng.integers(1, 2**63 - 1, 20000, dtype=np.int64),
                          864691135000000000 + rng.integers(0, 10**9, 20000),
                          np.array([1, 2, 2**32 - 1, 2**32, 2**63 - 1], dtype=np.int64)])
    con = engine.connect(os.environ.get("TMPDIR", "/tmp") + "/napari-microns-test-spill", "256MB")
    con.execute("SET preserve_insertion_order = true")
    con.register("t", pa.table({"x": ids}))
    for n in (16, 64, 7):
        got = con.sql(f"SELECT {engine.bucket_sql('x', n)} AS b FROM t").to_arrow_table().column("b").to_numpy()
        np.testing.assert_array_equal(got, bucket_of(ids, n))
    con.close()


def awkward_table() -> pd.DataFrame:
    """Rows the merge must resolve: identical repeats, conflicting rows of the same id with
    other root ids (another bucket on both sides), autapses, half sizes (rounded to even) and
    positions outside the volume; the last row of an id is the truth."""
    df = synapse_table(3000, n_roots=40, seed=3)
    df.loc[df.index[::13], POST] = df.loc[df.index[::13], PRE]  # autapses
    df["size"] = df["size"].astype(float)
    df.loc[df.index[::7], "size"] += 0.5
    df.loc[df.index[:25], "ctr_pt_position_x"] *= 40  # outside the volume
    repeats = df.sample(200, random_state=1)
    moved = df.sample(300, random_state=2).copy()  # the same ids, other roots, size and place: they win
    moved[[PRE, POST]] = moved[[POST, PRE]].to_numpy()
    moved[PRE] += 1
    moved["size"] += 11
    moved["ctr_pt_position_y"] += 5
    return pd.concat([df, repeats, moved], ignore_index=True)


def stored(ds: Dataset) -> pd.DataFrame:
    return ds.synapse_store.read_all("synapses").to_pandas().sort_values("id", ignore_index=True)


@pytest.mark.parametrize("unit", ["voxel", "nm"])
def test_the_engine_import_equals_the_readers(tmp_path, small_engine, monkeypatch, caplog, unit):
    df = awkward_table()
    if unit == "nm":
        df[XYZ] = df[XYZ] * [4, 4, 40]
    path = tmp_path / "syn.parquet"
    df.to_parquet(path, index=False)
    assert parquet_import.plan(path, 1000) is not None

    ds = Dataset(tmp_path / "engine", version=1300)
    calls = []
    real = parquet_import.StagedMerge.add_query
    monkeypatch.setattr(parquet_import.StagedMerge, "add_query",
                        lambda self, *a, **kw: calls.append(a[0]) or real(self, *a, **kw))
    with caplog.at_level("WARNING"):
        got = ds.import_synapses(path, position_unit=unit)
    assert calls == [0]  # the engine took the whole file as one staged batch
    assert f"{got['outside_volume']} of 3500 synapse positions fall outside the volume" in caplog.text
    assert got["outside_volume"] >= 25

    monkeypatch.setattr(synapses_store, "RUN_MAX_ROWS", 10**9)  # the reader: the frame in memory
    ref_ds = Dataset(tmp_path / "reader", version=1300)
    ref = ref_ds.import_synapses(df, position_unit=unit)
    for key in ("kind", "rows", "conflicting_ids", "outside_volume"):
        assert got[key] == ref[key], key
    assert got["conflicting_ids"] == 300 and got["rows"] == 3000

    a, b = stored(ds), stored(ref_ds)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    want = df.drop_duplicates("id", keep="last").sort_values("id", ignore_index=True)
    np.testing.assert_array_equal(a["size"], np.rint(want["size"]).astype(np.int64))  # half to even
    # both copies agree: every synapse once by pre and once by post
    assert len(ds.synapses(pre_ids=np.unique(want[PRE]))) == len(ds.synapses(post_ids=np.unique(want[POST]))) == 3000
    assert not [p for p in (ds.synapse_store.root / STAGING).glob("*") if p.name != "spill"]


def test_positions_named_in_um_columns_and_narrow_integer_types(tmp_path, small_engine, monkeypatch):
    """datacleaner's names (ctr_pt_position_x/y/z, in voxels), int32 ids and sizes, no positions."""
    df = synapse_table(1500, n_roots=30, seed=4)
    table = pa.table({"id": pa.array(df["id"], pa.int32()), PRE: df[PRE], POST: df[POST],
                      "size": pa.array(df["size"], pa.int32()), **{c: pa.array(df[c], pa.int32()) for c in XYZ}})
    pq.write_table(table, tmp_path / "narrow.parquet")
    ds = Dataset(tmp_path / "d", version=1300)
    calls = []
    real = parquet_import.StagedMerge.add_query
    monkeypatch.setattr(parquet_import.StagedMerge, "add_query",
                        lambda self, *a, **kw: calls.append(a[::2]) or real(self, *a, **kw))
    assert ds.import_synapses(tmp_path / "narrow.parquet")["rows"] == 1500
    assert calls == [(0, 600), (1, 600), (2, 300)]  # every id once: staged in chunks of rows
    got = stored(ds)
    np.testing.assert_array_equal(got[VX].to_numpy(), df.sort_values("id")[XYZ].to_numpy(float))
    np.testing.assert_array_equal(got[XYZ].to_numpy(), voxels_to_um(got[VX].to_numpy()))

    pq.write_table(table.select(["id", PRE, POST, "size"]), tmp_path / "bare.parquet")
    bare = Dataset(tmp_path / "bare", version=1300)
    assert bare.import_synapses(tmp_path / "bare.parquet")["rows"] == 1500
    assert stored(bare)[XYZ + VX].isna().all().all()


@pytest.mark.parametrize("column, value, words", [
    (PRE, 0, "pre_pt_root_id"), ("id", -5, "negative synapse ids are reserved"), ("size", None, "size")])
def test_a_bad_file_is_named_by_the_reader_and_changes_nothing(tmp_path, small_engine, column, value, words):
    df = synapse_table(1500, n_roots=30, seed=5)
    ds = Dataset(tmp_path / "d", version=1300)
    ds.import_synapses(df.iloc[:100])
    df[column] = df[column].astype(object if value is None else df[column].dtype)
    df.loc[1234, column] = value
    path = tmp_path / "bad.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(DataError) as err:
        ds.import_synapses(path)
    assert words in str(err.value) and "\n" not in str(err.value)
    if column != "size":
        assert "1235" in str(err.value)  # the row, counted from 1
    assert len(ds.synapses()) == 100


KILLED = """
import sys, time
import napari_microns.core.synapses.store as store_module
import napari_microns.core.synapses.engine as engine
import napari_microns.core.synapses.parquet_import as parquet_import
import napari_microns.core.synapses.staging as staging
from napari_microns import Dataset
store_module.RUN_MAX_ROWS = 1000
parquet_import.CHUNK_ROWS = 600
def slowed(real):
    def slow(*args, **kw):
        out = real(*args, **kw)
        print("writing", flush=True)
        time.sleep(0.3)
        return out
    return slow
if sys.argv[3] == "compaction":
    engine.write_merged = slowed(engine.write_merged)  # each bucket file of the compaction
else:
    staging.StagedMerge.add_query = slowed(staging.StagedMerge.add_query)  # each staged chunk
Dataset(sys.argv[1], version=1300).import_synapses(sys.argv[2])
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["compaction", "staging"])
def test_a_killed_engine_import_resumes_with_exactly_the_files_rows(tmp_path, small_engine, where):
    # repeated ids (one batch) killed while compacting; every id once (chunks) killed after a chunk
    df = awkward_table() if where == "compaction" else synapse_table(3000, n_roots=40, seed=6)
    path = tmp_path / "syn.parquet"
    df.to_parquet(path, index=False)
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), str(path), where],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, engine.MEMORY_ENV: "128MB"})
    assert proc.stdout.readline().startswith("writing"), proc.stderr.read()[-2000:]  # compacting
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ds = Dataset(tmp_path / "data", version=1300)
    staged = list((ds.synapse_store.root / STAGING).glob("import-*-engine-c*/batches/*.json"))
    assert staged  # the staged file survived the kill
    result = ds.import_synapses(path)
    want = df.drop_duplicates("id", keep="last")
    assert result["rows"] == len(want) == 3000
    got = stored(ds)
    np.testing.assert_array_equal(got["id"], np.sort(want["id"]))
    assert ds.synapse_store.verify() == {"missing": [], "corrupt": []}
    assert not [p for p in (ds.synapse_store.root / STAGING).glob("*") if p.name != "spill"]
