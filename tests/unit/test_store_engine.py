"""The store's engine path (DuckDB, staged batches) against the in-memory path, the locks,
the store as plain Parquet that DuckDB, polars and dask read, and connectivity by cell type
on the engine, on a dask cluster and by hand (issue 15; bounded memory: test_synapse_dump.py).

Thresholds are made small (``store.RUN_MAX_ROWS``, ``store.STAGE_BATCH_ROWS``,
``importing.IMPORT_BATCH_ROWS``; all read at call time) so a few thousand rows take the
engine path in several batches."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from support.synapse_dump import synapse_table

import napari_microns.core.synapses.importing as importing
import napari_microns.core.synapses.store as synapses_store
from napari_microns import Dataset
from napari_microns.core.errors import BusyError, DataError
from napari_microns.core.synapses import engine
from napari_microns.core.synapses.by_type import summary_matrix
from napari_microns.core.synapses.staging import STAGING, StagedMerge, grouped
from napari_microns.core.transform import voxels_to_um

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
XYZ = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]
VX = ["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]


#: every synapse the tests draw from: an id always has the same pre and post root ids (as
#: within one materialization); rows of the same id differ in size and position
UNIVERSE = synapse_table(6000, n_roots=60, seed=1)
UNIVERSE.loc[UNIVERSE.index[::17], POST] = UNIVERSE.loc[UNIVERSE.index[::17], PRE]  # autapses


def quirky(rows: slice, seed: int, conflicts_from: pd.DataFrame | None = None) -> pd.DataFrame:
    """The universe's ``rows`` with identical repeats and conflicting rows (same id, another
    size and position, later in the table: the later row is the truth)."""
    df = UNIVERSE.iloc[rows].reset_index(drop=True)
    n = len(df)
    repeats = df.sample(n // 10, random_state=seed)  # identical repeats, at the end
    changed = df.sample(n // 8, random_state=seed + 1).copy()  # conflicting: the last copy wins
    changed["size"] += 1000
    changed["ctr_pt_position_x"] += 7
    parts = [df, repeats, changed]
    if conflicts_from is not None:  # rows of another table, changed: they win over it
        other = conflicts_from.drop_duplicates("id").sample(frac=0.5, random_state=seed + 2).copy()
        other["size"] += 3
        parts.append(other)
    return pd.concat(parts, ignore_index=True)


def truth(*tables: pd.DataFrame) -> pd.DataFrame:
    """What the store must hold after importing ``tables`` in order: the last row of each id."""
    return pd.concat(tables, ignore_index=True).drop_duplicates("id", keep="last").sort_values("id", ignore_index=True)


def assert_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values("id", ignore_index=True)
    assert len(got) == len(want)
    for col in ("id", PRE, POST, "size"):
        np.testing.assert_array_equal(got[col].to_numpy(np.int64), want[col].to_numpy(np.int64), err_msg=col)
    vx = want[XYZ].to_numpy(float)
    np.testing.assert_array_equal(got[VX].to_numpy(float), vx)
    np.testing.assert_allclose(got[XYZ].to_numpy(float), voxels_to_um(vx))


def assert_store(ds: Dataset, want: pd.DataFrame) -> None:
    """Both copies (lookups by pre and by post) and the whole store hold exactly ``want``."""
    pre, post = np.unique(want[PRE]), np.unique(want[POST])
    assert_rows(ds.synapses(pre_ids=pre), want)
    assert_rows(ds.synapses(post_ids=post), want)
    some = pre[:5]
    assert_rows(ds.synapses(pre_ids=some), want[want[PRE].isin(some)].reset_index(drop=True))
    assert_rows(ds.synapse_store.read_all("synapses").to_pandas(), want)
    assert ds.synapse_store.count("synapses") == len(want)


def staging_left(ds: Dataset) -> list[Path]:
    folder = ds.synapse_store.root / STAGING
    return [p for p in folder.iterdir() if p.name != "spill"] if folder.exists() else []


# -- 1. import equivalence ---------------------------------------------------------------


def test_engine_import_equals_the_in_memory_import(tmp_path, small_engine, monkeypatch):
    df = quirky(slice(0, 4000), seed=1)
    path = tmp_path / "syn.parquet"
    df.to_parquet(path, index=False)
    want = truth(df)
    assert (want[PRE] == want[POST]).any() and len(df) > len(want)

    # the engine: a Parquet file read 900 rows at a time, several batches, the last copy winning
    # across batches; the bucket files written by DuckDB, no runs
    engine_ds = Dataset(tmp_path / "engine", version=1300)
    result = engine_ds.import_synapses(path)
    assert len(want) <= result["rows"] <= len(df)  # rows staged (deduplicated within each batch)
    store = engine_ds.synapse_store
    assert store.parts("synapses") and not store.runs("synapses")
    assert not staging_left(engine_ds)
    assert_store(engine_ds, want)

    # in memory: the whole table as one batch (dedup_sorted), a run
    monkeypatch.setattr(synapses_store, "RUN_MAX_ROWS", 10**9)
    memory_ds = Dataset(tmp_path / "memory", version=1300)
    assert memory_ds.import_synapses(df)["rows"] == len(want)
    assert memory_ds.synapse_store.runs("synapses") and not memory_ds.synapse_store.parts("synapses")
    assert_store(memory_ds, want)
    a = engine_ds.synapse_store.read_all("synapses").to_pandas().sort_values("id", ignore_index=True)
    b = memory_ds.synapse_store.read_all("synapses").to_pandas().sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)

    # the same file again: nothing changes (same files, same rows)
    before = json.loads(store.index_path.read_text())["files"]
    engine_ds.import_synapses(path)
    assert json.loads(store.index_path.read_text())["files"] == before
    assert_store(engine_ds, want)
    assert not staging_left(engine_ds)


def test_a_large_frame_goes_through_the_engine_in_slices(tmp_path, small_engine):
    df = quirky(slice(1000, 4000), seed=2)
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(df)  # one frame, deduplicated, then >= RUN_MAX_ROWS: sliced into 700-row batches
    assert ds.synapse_store.parts("synapses") and not ds.synapse_store.runs("synapses")
    assert_store(ds, truth(df))


def test_precedence_old_parts_then_runs_then_new_batches(tmp_path, small_engine):
    first = quirky(slice(0, 3000), seed=3)
    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    ds.import_synapses(first)  # bucket files
    assert store.parts("synapses") and not store.runs("synapses")
    # a small merge (a run) changing some of the first rows, and adding its own
    second = pd.concat([UNIVERSE.iloc[3000:3300], first.drop_duplicates("id").sample(200, random_state=5)
                        .assign(size=lambda d: d["size"] + 11)], ignore_index=True)
    ds.import_synapses(second)
    assert len(store.runs("synapses")) == 1
    assert_store(ds, truth(first, second))
    # a large import through the engine: it wins over both; ids only in the run keep the run's rows
    third = quirky(slice(1500, 4500), seed=6, conflicts_from=second)  # overlaps first's ids too
    path = tmp_path / "third.parquet"
    third.to_parquet(path, index=False)
    ds.import_synapses(path)
    assert not store.runs("synapses")
    want = truth(first, second, third)
    untouched = set(second["id"]) - set(third["id"])
    assert untouched & set(first["id"])  # rows where the run beat the old part, and still does
    assert_store(ds, want)


def test_aggregated_rows_engine_equals_in_memory(tmp_path, small_engine, monkeypatch):
    rng = np.random.default_rng(8)
    roots = 864691135000000000 + np.arange(80, dtype=np.int64) * 1013
    pairs = pd.DataFrame({PRE: rng.choice(roots, 3000), POST: rng.choice(roots, 3000),
                          "n_synapses": rng.integers(1, 9, 3000), "size": rng.integers(100, 90000, 3000)})
    pairs = pd.concat([pairs, pairs.sample(400, random_state=1).assign(size=lambda d: d["size"] + 5)], ignore_index=True)
    want = pairs.drop_duplicates([PRE, POST], keep="last").sort_values([PRE, POST], ignore_index=True)
    path = tmp_path / "pairs.parquet"
    pairs.to_parquet(path, index=False)

    def held(ds):
        got = ds.synapses(pre_ids=roots, aggregate=True).sort_values([PRE, POST], ignore_index=True)
        by_post = ds.synapses(post_ids=roots, aggregate=True).sort_values([PRE, POST], ignore_index=True)
        pd.testing.assert_frame_equal(got, by_post)
        return got

    engine_ds = Dataset(tmp_path / "engine", version=1300)
    assert engine_ds.import_synapses(path)["kind"] == "connections"
    assert engine_ds.synapse_store.parts("connections") and not engine_ds.synapse_store.runs("connections")
    monkeypatch.setattr(synapses_store, "RUN_MAX_ROWS", 10**9)
    memory_ds = Dataset(tmp_path / "memory", version=1300)
    memory_ds.import_synapses(pairs)
    got = held(engine_ds)
    pd.testing.assert_frame_equal(got, held(memory_ds))
    for col in (PRE, POST, "n_synapses", "size"):
        np.testing.assert_array_equal(got[col].to_numpy(np.int64), want[col].to_numpy(np.int64))


# -- 4. the store as plain Parquet ---------------------------------------------------------


def test_duckdb_polars_and_dask_read_the_store_as_its_queries_do(tmp_path, small_engine):
    import dask.dataframe as dd
    import duckdb
    import polars as pl

    ds = Dataset(tmp_path, version=1300)
    first = quirky(slice(0, 3000), seed=9)
    ds.import_synapses(first)  # bucket files
    second = UNIVERSE.iloc[2500:2900].assign(size=lambda d: d["size"] + 5)
    ds.import_synapses(second)  # a run, changing some rows
    store = ds.synapse_store
    with pytest.raises(DataError) as err:
        store.files()
    assert "\n" not in str(err.value) and "--compact" in str(err.value)

    files = ds.synapse_files()  # compacts first
    assert not store.runs("synapses") and files == [str(p) for p in store.files()]
    want = ds.synapses(pre_ids=np.unique(truth(first, second)[PRE])).sort_values("id", ignore_index=True)
    assert_rows(want, truth(first, second))
    stored_columns = [c for c in want.columns if c not in XYZ]  # the files hold the voxel positions

    def same(got: pd.DataFrame, columns=stored_columns) -> None:
        assert sorted(got.columns) == sorted(columns)
        got = got[columns].sort_values("id", ignore_index=True)
        pd.testing.assert_frame_equal(got, want[columns], check_dtype=False)

    same(duckdb.sql(f"SELECT * FROM read_parquet({engine.sql_files(files)})").df())
    same(pl.read_parquet(files).to_pandas())
    same(pl.scan_parquet(files).collect().to_pandas())
    same(dd.read_parquet(files).compute(scheduler="synchronous").reset_index(drop=True))
    # with the µm positions, as the store's queries give them
    from napari_microns.dask import synapse_frame

    same(synapse_frame(ds).compute(scheduler="synchronous").reset_index(drop=True), list(want.columns))
    got = synapse_frame(ds, columns=["id", XYZ[1]]).compute(scheduler="synchronous")
    same(got.reset_index(drop=True), ["id", XYZ[1]])
    assert ds.synapse_files("synapses", "post") and len(ds.synapse_files("synapses", "post")) == len(files)


# -- 7. locks and damaged staged files -----------------------------------------------------


def test_a_second_staged_merge_of_the_same_job_waits_then_fails_in_one_line(tmp_path, monkeypatch):
    from napari_microns.core import layout

    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    holding, release = threading.Event(), threading.Event()

    def first_job():
        with StagedMerge(store, "synapses", "import-held"):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=first_job)
    thread.start()
    try:
        assert holding.wait(30)
        monkeypatch.setattr(layout, "LOCK_TIMEOUT", 0.3)
        with pytest.raises(BusyError) as err:
            with StagedMerge(store, "synapses", "import-held"):
                pass
        assert "\n" not in str(err.value) and "staged merge" in str(err.value)
        with StagedMerge(store, "synapses", "import-other"):  # another job is not held up
            pass
    finally:
        release.set()
        thread.join()
    with StagedMerge(store, "synapses", "import-held") as job:  # free again
        assert job.done() == {}


def test_a_staged_file_damaged_before_the_merge_is_one_line_and_staged_again(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    rows = truth(quirky(slice(0, 2000), seed=12))
    tables = [importing._store_rows(rows.iloc[i:i + 700], "voxel")[1] for i in range(0, len(rows), 700)]
    with StagedMerge(store, "synapses", "import-damaged") as job:
        for number, table in enumerate(tables):
            job.add(number, table)
    record = json.loads((job.folder / "batches" / "batch-000001.json").read_text())
    victim = job.folder / next(iter(record["files"]))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))

    with StagedMerge(store, "synapses", "import-damaged") as job:
        assert set(job.done()) == {0, 1, 2}
        with pytest.raises(DataError) as err:
            job.finish({"key": "import:damaged", "kind": "synapses", "rows": len(rows)})
        assert "\n" not in str(err.value) and victim.name in str(err.value) and "again" in str(err.value)
    assert not store.has("synapses")  # nothing committed
    # the rerun: batch 1 is staged anew, then the merge goes through
    with StagedMerge(store, "synapses", "import-damaged") as job:
        assert set(job.done()) == {0, 2}
        for number, table in enumerate(tables):
            if number not in job.done():
                job.add(number, table)
        assert job.finish({"key": "import:damaged", "kind": "synapses", "rows": len(rows)}) == len(rows)
    assert_store(ds, rows)
    assert not staging_left(ds)


def test_a_batch_staged_by_an_earlier_layout_is_staged_again(tmp_path):
    """A job killed under the earlier staging layout (``by_<side>/bucket=N/``, records without a
    layout number) is resumed by this version: those batches are staged anew, none is misread."""
    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    rows = truth(quirky(slice(0, 1400), seed=13))
    tables = [importing._store_rows(rows.iloc[i:i + 700], "voxel")[1] for i in range(0, len(rows), 700)]
    folder = store.root / STAGING / "import-old"
    old = folder / "by_pre" / "bucket=3" / "batch-000000_0.parquet"
    old.parent.mkdir(parents=True)
    tables[0].slice(0, 10).to_pandas().to_parquet(old)
    (folder / "batches").mkdir()
    (folder / "batches" / "batch-000000.json").write_text(json.dumps(
        {"number": 0, "rows": 700, "files": {"by_pre/bucket=3/batch-000000_0.parquet": "0" * 64}}))
    with StagedMerge(store, "synapses", "import-old") as job:
        assert job.done() == {}
        for number, table in enumerate(tables):
            job.add(number, table)
        assert job.finish({"key": "import:old", "kind": "synapses", "rows": len(rows)}) == len(rows)
    assert_store(ds, rows)
    assert not staging_left(ds)


def test_files_written_with_the_um_columns_are_read_and_merged(tmp_path, small_engine):
    """Store files of earlier versions also hold the µm positions: lookups, whole reads and the
    engine's merges read them as the stored columns, and the µm positions come out the same."""
    import pyarrow.parquet as pq

    from napari_microns.core.layout import write_content_named
    from napari_microns.core.synapses.schema import WRITE_OPTIONS, with_um

    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    first = truth(quirky(slice(0, 1500), seed=14))
    ds.import_synapses(first)  # bucket files (1,000+ rows)
    ds.import_synapses(UNIVERSE.iloc[5000:5100])  # and a run
    want = ds.synapses().sort_values("id", ignore_index=True)
    with store.writing():  # every file rewritten as an earlier version wrote it: with the µm columns
        doc = store._working_index()
        for rel, meta in list(doc["files"].items()):
            path = store.root / rel
            full = with_um(pq.read_table(path), "synapses")
            assert "ctr_pt_position_x" in full.column_names
            new, digest, blocks = write_content_named(path.parent, path.name.rsplit("-", 1)[0], ".parquet",
                                                      lambda tmp, t=full: pq.write_table(t, tmp, **WRITE_OPTIONS))
            doc["files"].pop(rel)
            doc["files"][store._rel(new)] = {**meta, "sha256": digest, "bytes": new.stat().st_size, "blocks": blocks}
            path.unlink()
        store._commit(doc)
    pd.testing.assert_frame_equal(ds.synapses().sort_values("id", ignore_index=True), want)
    base = truth(first, UNIVERSE.iloc[5000:5100])
    assert_store(ds, base)
    second = quirky(slice(1200, 2600), seed=15, conflicts_from=first)
    ds.import_synapses(second)  # the engine merges the old files with new rows
    assert_store(ds, truth(base, second))


def test_grouped_batches_and_memory_sizes():
    tables = [pa.table({"a": np.arange(n)}) for n in (3, 4, 2, 6, 1)]
    assert [t.num_rows for t in grouped(tables, 5)] == [7, 8, 1]
    assert [t.num_rows for t in grouped([], 5)] == []
    assert engine.parse_memory("2GB") == 2 * 10**9 and engine.parse_memory("1536MiB") == 1536 * 2**20
    assert engine.parse_memory(128 * 2**20) == 128 * 2**20
    for bad in ("3", "lots", "0", -5, "64KB"):
        with pytest.raises(DataError) as err:
            engine.parse_memory(bad)
        assert "\n" not in str(err.value)


def test_the_engine_keeps_its_memory_limit(tmp_path, monkeypatch):
    monkeypatch.setenv(engine.MEMORY_ENV, "200MB")
    assert engine.memory_limit() == 200 * 10**6
    assert engine.memory_limit("1GB") == 10**9
    monkeypatch.delenv(engine.MEMORY_ENV)
    total = engine.machine_memory()
    assert engine.memory_limit() == min(engine.DEFAULT_MEMORY_CAP, total // 4 if total else engine.DEFAULT_MEMORY_CAP)
    con = engine.connect(tmp_path / "spill", "256MiB", threads=1)
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit.replace(" ", "").startswith(("256.0MiB", "256MiB", "268.4MB", "268MB")), limit
        assert Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0]) == tmp_path / "spill"
    finally:
        con.close()


# -- 5. connectivity by cell type: the engine, dask on a cluster, pandas by hand -----------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small synthetic sample of this module's own (compaction writes to its store)."""
    from napari_microns.sample import make_sample

    return make_sample(tmp_path_factory.mktemp("sample"), n_cells=3000)


def by_hand(ds: Dataset, units: pd.DataFrame, drop_autapses: bool = False) -> pd.DataFrame:
    """The summary from the rows in pandas: per (pre, post) pair, then per group pair."""
    rows = ds.synapses(pre_ids=ds.synapse_store.read_all("synapses").column(PRE).to_numpy())
    if drop_autapses:
        rows = rows[rows[PRE] != rows[POST]]
    pairs = rows.groupby([PRE, POST]).agg(n=("id", "size"), size=("size", "sum")).reset_index()
    labels = units.drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"].astype("string").fillna("unknown")
    pairs["pre_group"] = pairs[PRE].map(labels).fillna("not in units").astype(str)
    pairs["post_group"] = pairs[POST].map(labels).fillna("not in units").astype(str)
    out = pairs.groupby(["pre_group", "post_group"]).agg(n_connections=(PRE, "size"), n_synapses=("n", "sum"),
                                                          size_sum=("size", "sum")).reset_index()
    return out.astype({c: np.int64 for c in ("n_connections", "n_synapses", "size_sum")}) \
        .sort_values(["pre_group", "post_group"], ignore_index=True)


def test_dask_on_a_local_cluster_equals_the_engine(sample):
    from distributed import Client, LocalCluster

    import napari_microns.dask as nm_dask

    ds = Dataset(sample.datadir, version=sample.version)
    assert ds.synapse_store.runs("synapses")  # the sample's imports are runs: the engine reads them too
    local = ds.connectivity_by_type()
    local_no_autapses = ds.connectivity_by_type(drop_autapses=True)
    assert local["n_synapses"].sum() == ds.synapse_store.count("synapses") > 1000
    assert local["pre_group"].nunique() > 3
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster):
        remote = nm_dask.connectivity_by_type(ds)  # compacts, then reads the bucket files
        remote_no_autapses = nm_dask.connectivity_by_type(ds, drop_autapses=True)
        frame = nm_dask.synapse_frame(ds, columns=["id", PRE])
        assert frame.npartitions >= 1 and len(frame) == ds.synapse_store.count("synapses")
    assert not ds.synapse_store.runs("synapses")
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(remote_no_autapses, local_no_autapses)
    pd.testing.assert_frame_equal(ds.connectivity_by_type(), local)  # after the compaction: the same
    units = ds.units_if_processed()
    pd.testing.assert_frame_equal(local, by_hand(ds, units))
    pd.testing.assert_frame_equal(local_no_autapses, by_hand(ds, units, drop_autapses=True))
    matrix = summary_matrix(local)
    assert matrix.to_numpy().sum() == local["n_synapses"].sum()


def test_connectivity_by_type_of_a_tiny_store_by_hand(tmp_path, monkeypatch):
    import napari_microns.dask as nm_dask

    rows = UNIVERSE.iloc[:400]
    roots = np.unique(np.concatenate([rows[PRE], rows[POST]]))
    # three types, one cell without a type, and the last few cells not in the units at all
    units = pd.DataFrame({"pt_root_id": roots[:-4],
                          "cell_type": (["23P", "BC", "4P"] * len(roots))[:len(roots) - 5] + [None]})
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(rows)
    monkeypatch.setattr(ds, "units_if_processed", lambda: units)
    local = ds.connectivity_by_type()
    want = by_hand(ds, units)
    assert {"not in units", "unknown"} <= set(want["pre_group"]) | set(want["post_group"])
    pd.testing.assert_frame_equal(local, want)
    pd.testing.assert_frame_equal(nm_dask.connectivity_by_type(ds), want)  # threads, no cluster
    some = roots[:10]
    sub = ds.connectivity_by_type(pre_ids=some)
    assert sub["n_synapses"].sum() == int(rows[PRE].isin(some).sum())


# -- 6. the command line ------------------------------------------------------------------


def test_compact_on_the_command_line(tmp_path, capsys):
    from napari_microns import cli

    ds = Dataset(tmp_path, version=1300)
    rows = UNIVERSE.iloc[:600]
    ds.import_synapses(rows.iloc[:300])
    ds.import_synapses(rows.iloc[300:])
    assert len(ds.synapse_store.runs("synapses")) == 2
    argv = ["synapses", "--datadir", str(tmp_path), "--version", "1300", "--compact", "--memory-limit", "256MB"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("compacted: ") and "files by pre root id" in out
    store = Dataset(tmp_path, version=1300).synapse_store
    assert not store.runs("synapses") and store.parts("synapses")
    assert_store(Dataset(tmp_path, version=1300), truth(rows))
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("already compact: ")


# -- precedence across merges ---------------------------------------------------------------

def test_importing_a_file_again_after_other_rows_makes_it_win_again(tmp_path, small_engine):
    """A, then B changing some of A's ids, then A again (the engine path each time): A's rows
    are the truth again, as on the in-memory path (a recorded source is no reason to skip)."""
    a = UNIVERSE.iloc[:2000].reset_index(drop=True)
    b = a.sample(600, random_state=3).copy()
    b["size"] += 11
    a_file, b_file = tmp_path / "a.parquet", tmp_path / "b.parquet"
    a.to_parquet(a_file)
    b.to_parquet(b_file)
    ds = Dataset(tmp_path / "data", version=1300)
    ds.import_synapses(a_file)
    ds.import_synapses(b_file)
    assert_store(ds, truth(a, b))
    again = ds.import_synapses(a_file)
    assert again["rows"] == len(a)
    assert_store(ds, truth(a, b, a))
    assert not staging_left(ds)


def test_the_latest_of_several_small_merges_wins(tmp_path, monkeypatch):
    """Runs are numbered in merge order (not by their content's hash): where two runs disagree
    about a synapse, the later one wins in lookups and after the compaction."""
    monkeypatch.setenv(engine.MEMORY_ENV, "128MB")
    ds = Dataset(tmp_path / "data", version=1300)
    base = UNIVERSE.iloc[:500].reset_index(drop=True)
    versions = []
    for i in range(4):  # four small merges of the same ids, each with other sizes
        v = base.copy()
        v["size"] = base["size"] + 100 * (i + 1)
        versions.append(v)
        ds.import_synapses(v)
        assert_store(ds, truth(*versions))
    assert len(ds.synapse_store.runs("synapses")) == 4
    ds.compact_synapses()
    assert not ds.synapse_store.runs("synapses")
    assert_store(ds, truth(*versions))
