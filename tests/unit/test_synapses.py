"""Synapse download, store and queries: the real caveclient against the fake server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table

from napari_microns import Dataset
from napari_microns.core.errors import AuthError, DataError, IncompleteError
from napari_microns.core.synapses import connectivity_matrix
from napari_microns.core.transform import voxels_to_um

PRE, POST = "pre_pt_root_id", "post_pt_root_id"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synapse_table(n_neurons=40, n_synapses=4000, seed=3, hub_synapses=300)


@pytest.fixture(scope="module")
def roots(table) -> np.ndarray:
    return np.unique(np.concatenate([table[PRE], table[POST]]))


def serve(table, **kwargs) -> FakeCAVE:
    return FakeCAVE(tables={SYNAPSE_TABLE: table}, **kwargs)


def dataset(tmp_path, fake, fast_retry) -> Dataset:
    return Dataset(tmp_path, version=1300, client=fake.client(1300), retry=fast_retry)


def expected(table, pre=None, post=None) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    if pre is not None:
        mask &= table[PRE].isin(pre).to_numpy()
    if post is not None:
        mask &= table[POST].isin(post).to_numpy()
    return table[mask].sort_values("id", ignore_index=True)


def expected_pairs(table, pre=None, post=None) -> pd.DataFrame:
    rows = expected(table, pre, post)
    return (rows.groupby([PRE, POST]).agg(n_synapses=("size", "size"), size=("size", "sum"))
            .reset_index().sort_values([PRE, POST], ignore_index=True))


def assert_same_synapses(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got["id"].tolist() == want["id"].tolist()
    assert got[PRE].tolist() == want[PRE].tolist()
    assert got[POST].tolist() == want[POST].tolist()
    assert got["size"].tolist() == want["size"].tolist()
    vx = want[["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]].to_numpy()
    np.testing.assert_array_equal(got[["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]].to_numpy(), vx)
    np.testing.assert_allclose(got[["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]].to_numpy(), voxels_to_um(vx))


def assert_one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc)


# -- downloads -------------------------------------------------------------------


def test_per_synapse_download_is_exact_and_queries_by_either_side(tmp_path, table, roots, fast_retry):
    post = roots[:25]
    fake = serve(table)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(post_ids=post, aggregate=False, workers=3, chunk_size=4)
    assert report.complete and report.chunks_total == 7 and report.chunks_done == 7
    assert report.rows == len(expected(table, post=post))
    assert set(report.covered_ids.tolist()) == set(post.tolist())

    assert_same_synapses(ds.synapses(post_ids=post), expected(table, post=post))
    one = post[5]
    assert_same_synapses(ds.synapses(post_ids=[one]), expected(table, post=[one]))
    # by pre: this download holds only the synapses onto the 25 post ids
    assert_same_synapses(ds.synapses(pre_ids=roots[30:33]), expected(table, pre=roots[30:33], post=post))
    assert_same_synapses(ds.synapses(pre_ids=roots[:10], post_ids=post[:3]), expected(table, pre=roots[:10], post=post[:3]))
    # autapses are kept, and can be dropped
    autapses = expected(table, post=post).query(f"{PRE} == {POST}")
    assert len(autapses) > 0
    assert set(autapses["id"]) <= set(ds.synapses(post_ids=post)["id"])
    dropped = ds.synapses(post_ids=post, drop_autapses=True)
    assert len(dropped) == len(expected(table, post=post)) - len(autapses)
    # aggregated answers from a per-synapse store
    pairs = ds.synapses(post_ids=post, aggregate=True)
    pd.testing.assert_frame_equal(pairs.astype({"n_synapses": "int64"}), expected_pairs(table, post=post))


def test_aggregated_download_with_both_sides(tmp_path, table, roots, fast_retry):
    pre, post = roots[::2], roots[5:20]
    fake = serve(table)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(pre_ids=pre, post_ids=post, workers=2, chunk_size=6)
    assert report.chunk_side == "pre"  # the longer list is chunked, the shorter sent whole
    got = ds.synapses(pre_ids=pre, post_ids=post, aggregate=True)
    pd.testing.assert_frame_equal(got.astype({"n_synapses": "int64"}), expected_pairs(table, pre, post))
    assert report.rows == len(got)
    with pytest.raises(DataError, match="aggregated connections only") as err:
        ds.synapses(pre_ids=pre)
    assert_one_line(err.value)


def test_faults_are_retried_and_the_result_is_exact(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    kinds = [503, 429, "drop", "truncate", 502]
    seen: dict[str, int] = {}

    def two_faults_per_query(table_name, body):
        # each distinct query first meets two faults of cycling kinds, then succeeds
        key = json.dumps(body, sort_keys=True)
        seen[key] = seen.get(key, 0) + 1
        return kinds[(len(seen) + seen[key]) % len(kinds)] if seen[key] <= 2 else None

    fake.fault_fn = two_faults_per_query
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(pre_ids=roots, aggregate=False, workers=4, chunk_size=3)
    assert report.complete
    assert len(fake.requests) == 3 * report.chunks_total
    assert_same_synapses(ds.synapses(pre_ids=roots), expected(table, pre=roots))


def test_capped_chunks_are_split_and_one_big_neuron_is_paged(tmp_path, table, roots, fast_retry):
    hub = roots[0]
    assert (table[POST] == hub).sum() > 300
    fake = serve(table, row_cap=150)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(post_ids=roots, aggregate=False, workers=2, chunk_size=10)
    assert report.complete
    assert_same_synapses(ds.synapses(post_ids=roots), expected(table, post=roots))
    assert_same_synapses(ds.synapses(post_ids=[hub]), expected(table, post=[hub]))
    records = [json.loads(p.read_text()) for p in sorted((report.folder / "chunks").glob("*.json"))]
    assert all(r["queries"] > 1 for r in records)  # every chunk was capped at least once
    # the hub alone is paged by synapse id ranges
    id_ranged = [r for r in fake.requests if "id" in (r["body"].get("filter_greater_equal_dict") or {}).get(SYNAPSE_TABLE, {})]
    assert id_ranged


def test_a_failing_chunk_is_reported_by_range_and_the_rest_is_kept(tmp_path, table, roots, fast_retry):
    post = roots[:20]
    bad = int(post[7])
    fake = serve(table)

    def refuse_bad(table_name, body):
        ids = body.get("filter_in_dict", {}).get(SYNAPSE_TABLE, {}).get(POST, [])
        return 503 if bad in ids else None

    fake.fault_fn = refuse_bad
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        with pytest.raises(IncompleteError) as err:
            ds.download_synapses(post_ids=post, aggregate=False, chunk_size=5)
    assert_one_line(err.value)
    report = err.value.report
    assert report.chunks_done == 3 and report.chunks_failed == 1
    assert report.failed[0]["first_id"] == int(post[5]) and report.failed[0]["last_id"] == int(post[9])
    assert str(post[5]) in str(err.value)
    assert set(report.missing_ids.tolist()) == set(post[5:10].tolist())
    kept = np.concatenate([post[:5], post[10:]])
    assert_same_synapses(ds.synapses(post_ids=post), expected(table, post=kept))

    assert ds.synapse_coverage(post_ids=post) == {
        "post": {"covered": sorted(int(i) for i in kept), "missing": [int(i) for i in post[5:10]]}}
    assert ds.synapse_coverage(pre_ids=post[:2])["pre"]["covered"] == []  # outputs were never asked for

    # the server recovers: a rerun fetches only the failed chunk
    fake.fault_fn = None
    before = len(fake.requests)
    with fake:
        report = ds.download_synapses(post_ids=post, aggregate=False, chunk_size=5)
    assert report.complete and report.chunks_resumed == 3
    assert len(fake.requests) - before == 1
    assert_same_synapses(ds.synapses(post_ids=post), expected(table, post=post))
    assert ds.synapse_coverage(post_ids=post)["post"]["missing"] == []


def test_rerun_resumes_and_changed_parameters_start_a_new_manifest(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        first = ds.download_synapses(post_ids=roots[:12], chunk_size=4)
        n = len(fake.requests)
        again = ds.download_synapses(post_ids=roots[:12], chunk_size=4)
        assert len(fake.requests) == n  # nothing fetched again
        assert again.key == first.key and again.chunks_resumed == 3 and again.rows == first.rows
        other = ds.download_synapses(post_ids=roots[:13], chunk_size=4)
        per_synapse = ds.download_synapses(post_ids=roots[:12], chunk_size=4, aggregate=False)
    keys = {first.key, other.key, per_synapse.key}
    assert len(keys) == 3
    folders = sorted(p.name for p in (tmp_path / "1300" / "synapses" / "downloads").iterdir())
    assert folders == sorted(keys)
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["chunks"] == [[int(i) for i in roots[k:k + 4]] for k in (0, 4, 8)]
    assert manifest["aggregate"] is True and manifest["chunk_side"] == "post"
    # the merged store answers for both requests, without duplicates
    pd.testing.assert_frame_equal(ds.synapses(post_ids=roots[:13], aggregate=True).astype({"n_synapses": "int64"}),
                                  expected_pairs(table, post=roots[:13]))


def test_a_corrupt_chunk_file_is_detected_and_fetched_again(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(post_ids=roots[:12], aggregate=False, chunk_size=4)
    chunk = report.folder / "chunks" / "chunk_00001.parquet"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    before = len(fake.requests)
    with fake:
        again = ds.download_synapses(post_ids=roots[:12], aggregate=False, chunk_size=4)
    assert again.chunks_refetched_corrupt == 1 and again.chunks_resumed == 2
    assert len(fake.requests) - before == 1
    assert_same_synapses(ds.synapses(post_ids=roots[:12]), expected(table, post=roots[:12]))


def test_a_finished_download_reruns_offline(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    with fake:
        dataset(tmp_path, fake, fast_retry).download_synapses(pre_ids=roots[:8], chunk_size=4)
    offline = Dataset(tmp_path, version=1300)  # no client, no token: nothing to fetch
    report = offline.download_synapses(pre_ids=roots[:8], chunk_size=4)
    assert report.complete and report.chunks_resumed == 2


def test_auth_failure_stops_at_once_with_one_line(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    fake.fault_fn = lambda table_name, body: 401
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        with pytest.raises(AuthError) as err:
            ds.download_synapses(post_ids=roots, chunk_size=2, workers=2)
    assert_one_line(err.value)
    assert len(fake.requests) <= 2  # the two chunks in flight (workers=2), none after the first 401


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give pre ids or post ids"),
    ({"pre_ids": ["abc"]}, "not an integer"),
    ({"pre_ids": []}, "no pre ids"),
    ({"post_ids": [-5]}, "is negative"),
    ({"post_ids": np.array([864691135101289504], dtype=float)}, "floating-point"),
    ({"post_ids": [1], "chunk_size": 0}, "chunk_size"),
    ({"post_ids": [1], "workers": 0}, "workers"),
])
def test_bad_requests_fail_with_one_line(tmp_path, kwargs, message):
    ds = Dataset(tmp_path, version=1300)
    with pytest.raises(DataError, match=message) as err:
        ds.download_synapses(**kwargs)
    assert_one_line(err.value)


def test_querying_an_empty_store_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="download_synapses") as err:
        Dataset(tmp_path, version=1300).synapses(pre_ids=[864691135000000001])
    assert_one_line(err.value)


# -- import ------------------------------------------------------------------------


def datacleaner_chunks(table, folder, aggregated: bool, per_file: int = 10):
    """Write the table the way microns_datacleaner's connectome_constructor does."""
    folder.mkdir(parents=True)
    posts = np.unique(table[POST])
    for part, start in enumerate(range(0, len(posts), per_file)):
        rows = table[table[POST].isin(posts[start:start + per_file])]
        if aggregated:
            rows = rows[[PRE, POST, "size"]].groupby([PRE, POST]).sum().reset_index()
        else:
            rows = rows[[PRE, POST, "size", "ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]]
        rows.to_csv(folder / f"connections_table_{part}.csv", index=False)


def test_import_datacleaner_aggregated_csv_folder(tmp_path, table, roots):
    raw = tmp_path / "dc" / "1300" / "raw"
    datacleaner_chunks(table, raw / "synapses", aggregated=True)
    ds = Dataset(tmp_path / "data", version=1300)
    result = ds.import_synapses(raw)  # datacleaner's raw/ folder, or raw/synapses/
    assert result["kind"] == "connections"
    want = expected_pairs(table)
    got = ds.synapses(aggregate=True)
    assert got[[PRE, POST, "size"]].equals(want[[PRE, POST, "size"]])
    assert got["n_synapses"].isna().all()  # datacleaner does not count synapses
    with pytest.raises(DataError, match="no synapse counts"):
        connectivity_matrix(got, value="count")
    # importing again adds nothing
    ds.import_synapses(raw / "synapses")
    assert len(ds.synapses(aggregate=True)) == len(want)


def test_import_datacleaner_per_synapse_merged_csv(tmp_path, table, roots):
    folder = tmp_path / "raw" / "synapses"
    datacleaner_chunks(table, folder, aggregated=False)
    merged = pd.concat([pd.read_csv(p) for p in sorted(folder.glob("*.csv"))])
    merged.to_csv(tmp_path / "raw" / "synapses.csv")  # the old merger kept the index column
    ds = Dataset(tmp_path / "data", version=1300)
    result = ds.import_synapses(tmp_path / "raw" / "synapses.csv")
    assert result == {"kind": "synapses", "rows": len(table), "origin": str(tmp_path / "raw" / "synapses.csv"),
                      "conflicting_ids": 0, "outside_volume": 0}  # the sample's positions lie in the volume
    got = ds.synapses(post_ids=roots[:5])
    want = expected(table, post=roots[:5])
    assert (got["id"] < 0).all()  # no synapse ids in datacleaner CSVs: stable negative ones
    key = [PRE, POST, "size", "ctr_pt_position_vx_x"]
    assert sorted(map(tuple, got[key].to_numpy().tolist())) == sorted(map(tuple, want[[PRE, POST, "size", "ctr_pt_position_x"]].to_numpy().tolist()))
    ds.import_synapses(folder)  # the same rows from the chunk files: nothing new
    assert len(ds.synapses()) == len(table)


def test_import_a_per_synapse_frame_with_ids(tmp_path, table, roots):
    frame = table[["id", PRE, POST, "size"]].copy()
    for axis in "xyz":  # the issue-5 sample passes voxel positions under the _vx_ names
        frame[f"ctr_pt_position_vx_{axis}"] = table[f"ctr_pt_position_{axis}"]
    ds = Dataset(tmp_path, version=1300)
    assert ds.import_synapses(frame)["rows"] == len(table)
    assert_same_synapses(ds.synapses(pre_ids=roots[3:6]), expected(table, pre=roots[3:6]))
    assert_same_synapses(ds.synapses(), expected(table))


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({PRE: [1], "size": [3]}), "missing column"),
    (pd.DataFrame({PRE: ["x"], POST: [1], "size": [3]}), "not an integer"),
    (pd.DataFrame({PRE: [1], POST: [1], "size": ["big"]}), "sizes must be numbers"),
    (pd.DataFrame({PRE: [864691135101289504.0], POST: [1], "size": [3]}), "floating-point"),
])
def test_bad_imports_fail_with_one_line(tmp_path, frame, message):
    with pytest.raises(DataError, match=message) as err:
        Dataset(tmp_path, version=1300).import_synapses(frame)
    assert_one_line(err.value)


def test_import_of_a_missing_path(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Dataset(tmp_path, version=1300).import_synapses(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="connections_table"):
        Dataset(tmp_path, version=1300).import_synapses(tmp_path / "empty")


# -- connectivity --------------------------------------------------------------------


def test_connectivity_matrix_by_hand():
    syn = pd.DataFrame({PRE: [1, 1, 1, 2, 3, 9], POST: [2, 2, 3, 1, 3, 1], "size": [10, 5, 7, 4, 2, 100]})
    size = connectivity_matrix(syn, root_ids=[1, 2, 3])
    assert size.index.tolist() == [1, 2, 3] and size.columns.tolist() == [1, 2, 3]
    assert size.to_numpy().tolist() == [[0, 15, 7], [4, 0, 0], [0, 0, 2]]
    count = connectivity_matrix(syn, root_ids=[3, 1], value="count")
    assert count.to_numpy().tolist() == [[1, 0], [1, 0]]
    units = pd.DataFrame({"pt_root_id": [1, 2, 3], "cell_type": ["23P", "BC", "23P"]})
    grouped = connectivity_matrix(syn, value="count", group_by="cell_type", units=units)
    assert grouped.index.tolist() == ["23P", "BC", "unknown"] and grouped.columns.tolist() == ["23P", "BC"]
    assert grouped.to_numpy().tolist() == [[2, 2], [1, 0], [1, 0]]
    with pytest.raises(DataError, match="units"):
        connectivity_matrix(syn, group_by="cell_type")


def test_dataset_connectivity_matches_the_table(tmp_path, table, roots):
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(table, covers={"pre": roots[:6], "post": "all"})  # every output of these six
    ids = roots[:6]
    matrix = ds.connectivity(ids, value="count", order_by=None).matrix  # in the order given
    want = expected(table, pre=ids, post=ids)
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            assert matrix.iloc[i, j] == ((want[PRE] == a) & (want[POST] == b)).sum()
    no_autapses = ds.connectivity(ids, value="size", drop_autapses=True).matrix
    assert (np.diag(no_autapses.to_numpy()) == 0).all()
    assert np.isnan(ds.connectivity(roots[5:8], order_by=None).matrix.to_numpy()[1:]).all()  # not covered


# -- command line --------------------------------------------------------------------


def test_cli_resumes_a_download_and_reports(tmp_path, table, roots, fast_retry, capsys):
    from napari_microns.cli import main

    fake = serve(table)
    with fake:
        dataset(tmp_path, fake, fast_retry).download_synapses(pre_ids=roots[:6], post_ids=None, chunk_size=3)
    ids_file = tmp_path / "pre.txt"
    ids_file.write_text("# presynaptic cells\n" + "\n".join(str(r) for r in roots[:3]) + "\n" + ",".join(str(r) for r in roots[3:6]) + "\n")
    # the same request from the command line: everything is on disk, so no server is needed
    code = main(["synapses", "--datadir", str(tmp_path), "--version", "1300", "--pre", str(ids_file),
                 "--post", "all", "--chunk-size", "3"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "in 2/2 chunks (2 resumed); 6 pre ids covered" in out.out
    assert "synapse chunks" in out.err  # the progress bar
    code = main(["synapses", "--datadir", str(tmp_path), "--pre", ",".join(str(r) for r in roots[:6]),
                 "--chunk-size", "3"])
    assert code == 0 and "2 resumed" in capsys.readouterr().out


def test_cli_imports_and_fails_with_one_line(tmp_path, table, capsys):
    from napari_microns.cli import main

    datacleaner_chunks(table, tmp_path / "raw" / "synapses", aggregated=True)
    assert main(["synapses", "--datadir", str(tmp_path / "d"), "--import", str(tmp_path / "raw")]) == 0
    assert "connections rows" in capsys.readouterr().out
    for bad in (["--pre", "12,abc"], ["--post", str(tmp_path / "missing.txt")], []):
        code = main(["synapses", "--datadir", str(tmp_path / "d"), *bad])
        err = capsys.readouterr().err.strip()
        assert code == 1 and err.startswith("error: ") and "\n" not in err


def test_small_merges_become_runs_then_compact(tmp_path, table, roots, monkeypatch):
    import napari_microns.core.synapses.store as synapses_store

    monkeypatch.setattr(synapses_store, "MAX_RUNS", 3)
    ds = Dataset(tmp_path, version=1300)
    store = ds.synapse_store
    posts = np.array_split(roots, 5)
    for i, part in enumerate(posts):
        ds.import_synapses(table[table[POST].isin(part)])
        runs, parts = store.runs("synapses"), store.parts("synapses")
        # 3 runs, then the 4th merge folds them into the buckets, then runs again
        assert (len(runs), bool(parts)) == [(1, False), (2, False), (3, False), (0, True), (1, True)][i]
        seen = np.concatenate(posts[:i + 1])
        assert_same_synapses(ds.synapses(post_ids=seen), expected(table, post=seen))
        assert_same_synapses(ds.synapses(pre_ids=roots[:7]), expected(table, pre=roots[:7], post=seen))
    ds.import_synapses(table)  # everything again, overlapping what is there: no repeats
    assert store.count("synapses") == len(table)
    assert_same_synapses(ds.synapses(), expected(table))


def test_import_positions_in_nm(tmp_path, table, roots):
    frame = table[["id", PRE, POST, "size"]].copy()
    for axis, res in zip("xyz", (4, 4, 40)):
        frame[f"ctr_pt_position_{axis}"] = table[f"ctr_pt_position_{axis}"] * res
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(frame, position_unit="nm")
    assert_same_synapses(ds.synapses(post_ids=roots[:4]), expected(table, post=roots[:4]))
    with pytest.raises(DataError, match="position_unit"):
        ds.import_synapses(frame, position_unit="um")


def test_ctrl_c_stops_without_starting_the_queued_chunks(tmp_path, table, roots, fast_retry):
    fake = serve(table)
    ds = dataset(tmp_path, fake, fast_retry)

    def interrupt_after_two(done, total, rows):
        if done >= 2:
            raise KeyboardInterrupt

    with fake:
        with pytest.raises(KeyboardInterrupt):
            ds.download_synapses(post_ids=roots, chunk_size=2, workers=2, progress=interrupt_after_two)
        asked = len(fake.requests)
        assert asked <= 2 + 2  # the two finished chunks and at most the two already running
        report = ds.download_synapses(post_ids=roots, chunk_size=2, workers=2)
    assert report.complete and report.chunks_resumed >= 2
    assert len(fake.requests) - asked == report.chunks_total - report.chunks_resumed
    pd.testing.assert_frame_equal(ds.synapses(post_ids=roots, aggregate=True).astype({"n_synapses": "int64"}),
                                  expected_pairs(table, post=roots))


def test_later_chunks_start_at_the_size_that_answered(tmp_path, table, roots, fast_retry):
    fake = serve(table, row_cap=150)
    ds = dataset(tmp_path, fake, fast_retry)
    with fake:
        report = ds.download_synapses(post_ids=roots, aggregate=False, workers=1, chunk_size=10)
    assert report.complete
    first_chunk = set(int(i) for i in roots[:10])
    capped_elsewhere = [
        r for r in fake.requests
        if len(fake.select(SYNAPSE_TABLE, r["body"])) >= 150
        and not set(r["body"]["filter_in_dict"][SYNAPSE_TABLE][POST]) <= first_chunk
    ]
    assert capped_elsewhere == []  # only the first chunk paid for learning the size
    assert_same_synapses(ds.synapses(post_ids=roots), expected(table, post=roots))
