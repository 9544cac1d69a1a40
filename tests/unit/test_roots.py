"""Root ids across versions (core/roots.py): by nucleus, by lineage (caveclient's real
chunkedgraph calls against ``responses``), by nucleus position, the CLI and stale ids."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import responses
from caveclient.tools.testing import CAVEclientMock, default_info

from napari_microns.cli import main
from napari_microns.core.dataset import Dataset
from napari_microns.core.errors import AuthError, NotFoundError
from napari_microns.core.layout import Layout
from napari_microns.core.roots import StaleRootIdError, check_root_ids, map_by_lineage, map_by_position
from napari_microns.core.session import RetryPolicy
from napari_microns.core.units import UnitsResult

BIG = 864691135_000_000_000  # above 2**53: a float64 would round these
R = {k: BIG + v for k, v in dict(same=101, old=203, new=305, split=407, a=509, b=611, gone=713,
                                 m1=815, m2=917, merged=1019, nosoma=1121).items()}
assert all(v > 2**53 for v in R.values())


def write_units(datadir, version, pairs):
    units = pd.DataFrame({"nucleus_id": np.array([n for n, _ in pairs], np.int64),
                          "pt_root_id": np.array([r for _, r in pairs], np.int64),
                          "cell_type": "23P"})
    UnitsResult(units, pd.DataFrame({"layer": ["L1"], "top": [0.0], "bottom": [1.0]}), {}).write(Layout(datadir, version))


@pytest.fixture
def two_versions(tmp_path):
    # v1181 -> v1300: one the same, one edited, one split (two nuclei), one gone, two merged
    write_units(tmp_path, 1181, [(1, R["same"]), (2, R["old"]), (3, R["split"]), (4, R["split"]), (5, R["gone"]),
                                 (6, R["m1"]), (7, R["m2"])])
    write_units(tmp_path, 1300, [(1, R["same"]), (2, R["new"]), (3, R["a"]), (4, R["b"]), (6, R["merged"]),
                                 (7, R["merged"]), (8, BIG + 9999)])
    return tmp_path


def test_map_by_nucleus(two_versions):
    ids = [R["same"], R["old"], R["split"], R["gone"], R["m1"], R["nosoma"]]
    df = Dataset(two_versions, 1181).map_root_ids(ids, 1300, how="nucleus")
    assert df["root_id"].tolist() == ids and df["root_id"].dtype == np.int64
    assert df["status"].tolist() == ["same", "changed", "split/merged", "gone", "split/merged", "gone"]
    assert str(df["new_root_id"].dtype) == "Int64"
    assert df["new_root_id"].iloc[1] == R["new"] and df["new_root_id"].iloc[0] == R["same"]
    assert pd.isna(df["new_root_id"].iloc[2]) and pd.isna(df["new_root_id"].iloc[3])
    assert sorted(df["candidates"].iloc[2]) == [(R["a"], 0.5), (R["b"], 0.5)]
    assert df["candidates"].iloc[4] == [(R["merged"], 1.0)] and str(R["m2"]) in df["note"].iloc[4]
    assert df["nucleus_id"].iloc[1] == 2 and pd.isna(df["nucleus_id"].iloc[2])
    assert "how='lineage'" in df["note"].iloc[5]
    assert "not in the units at v1300" in df["note"].iloc[3]
    # back from v1300 to v1181: the split pieces both go to the one old root
    back = Dataset(two_versions, 1300).map_root_ids([R["a"], R["new"]], 1181)
    assert back["status"].tolist() == ["split/merged", "changed"]
    assert back["new_root_id"].tolist() == [R["split"], R["old"]]


def test_map_by_nucleus_needs_both_versions(tmp_path):
    write_units(tmp_path, 1181, [(1, R["same"])])
    with pytest.raises(Exception, match="process"):
        Dataset(tmp_path, 1181).map_root_ids([R["same"]], 1300)


# -- lineage: a fake chunkedgraph answering caveclient's own requests ------------------

LOCAL = "https://local.cave.com"
CG = LOCAL + "/segmentation/api/v1/table/test_v1"
MAT = LOCAL + "/materialize/api/v3/datastack/minnie65_public"
T = {1181: 1_000_000.0, 1300: 2_000_000.0}


class FakeChunkedgraph:
    """Segments (id -> created, retired, chunks) and their lineage, served in the server's wire formats."""

    def __init__(self):
        self.seg = {}  # id -> (created, retired or inf, set of level-2 chunk ids)
        self.links = []  # (old, new)
        self.calls = []

    def add(self, rid, created, retired=float("inf"), chunks=(), parents=()):
        self.seg[rid] = (created, retired, set(chunks))
        self.links += [(p, rid) for p in parents]

    def valid_at(self, t):
        return [r for r, (c, e, _) in self.seg.items() if c <= t < e]

    def register(self, rsps):
        def js(payload):
            return 200, {"Content-Type": "application/json"}, json.dumps(payload)

        def params(request):
            from urllib.parse import parse_qs, urlparse

            return {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}

        def root_timestamps(request):
            self.calls.append("root_timestamps")
            return js({"timestamp": [self.seg[int(i)][0] for i in json.loads(request.body)["node_ids"]]})

        def lineage(request):
            self.calls.append("lineage_graph_multiple")
            p = params(request)
            past, future = float(p.get("timestamp_past", 0)), float(p.get("timestamp_future", 1e12))
            todo, seen = [int(i) for i in json.loads(request.body)["root_ids"]], set()
            while todo:  # the component, cut one step beyond each time limit (caveclient trims it)
                node = todo.pop()
                if node in seen:
                    continue
                seen.add(node)
                if self.seg[node][0] <= future:
                    todo += [n for o, n in self.links if o == node]
                if self.seg[node][0] >= past:
                    todo += [o for o, n in self.links if n == node]
            nodes = [{"id": n, "timestamp": self.seg[n][0], "operation_id": 1} for n in sorted(seen)]
            links = [{"source": o, "target": n} for o, n in self.links if o in seen and n in seen]
            return js({"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "links": links})

        def past_ids(request):
            self.calls.append("past_id_mapping")
            t = float(params(request)["timestamp_past"])
            out = {}
            for rid in json.loads(request.body)["root_ids"]:
                todo, found = [int(rid)], set()
                while todo:
                    node = todo.pop()
                    c, e, _ = self.seg[node]
                    if c <= t < e:
                        found.add(node)
                    elif c > t:
                        todo += [o for o, n in self.links if n == node]
                out[str(rid)] = sorted(found)
            return js({"past_id_map": out, "future_id_map": {}})

        def leaves(request):
            self.calls.append("leaves")
            rid = int(re.search(r"/node/(\d+)/leaves", request.url).group(1))
            return js({"leaf_ids": sorted(self.seg[rid][2])})

        def roots_binary(request):
            self.calls.append("roots_binary")
            t = float(params(request)["timestamp"])
            chunks = np.frombuffer(request.body, dtype=np.uint64)
            valid = self.valid_at(t)
            roots = [next(r for r in valid if int(c) in self.seg[r][2]) for c in chunks]
            return 200, {"Content-Type": "application/octet-stream"}, np.array(roots, np.uint64).tobytes()

        def version(request):
            v = int(re.search(r"/version/(\d+)$", request.url.split("?")[0]).group(1))
            stamp = dt.datetime.fromtimestamp(T[v], dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
            return js({"version": v, "datastack": "minnie65_public", "valid": True, "time_stamp": stamp,
                       "expires_on": "2080-06-05T10:10:01.203215"})

        def is_latest(request):
            self.calls.append("is_latest_roots")
            valid = set(self.valid_at(float(params(request)["timestamp"])))
            return js({"is_latest": [int(i) in valid for i in json.loads(request.body)["node_ids"]]})

        rsps.add_callback(responses.POST, CG + "/is_latest_roots", callback=is_latest)
        rsps.add_callback(responses.POST, CG + "/root_timestamps", callback=root_timestamps)
        rsps.add_callback(responses.POST, CG + "/lineage_graph_multiple", callback=lineage)
        rsps.add_callback(responses.GET, CG + "/past_id_mapping", callback=past_ids)
        rsps.add_callback(responses.GET, re.compile(re.escape(CG) + r"/node/\d+/leaves"), callback=leaves)
        rsps.add_callback(responses.POST, CG + "/roots_binary", callback=roots_binary)
        rsps.add_callback(responses.GET, re.compile(re.escape(MAT) + r"/version/\d+$"), callback=version)
        rsps.add(responses.GET, LOCAL + "/segmentation/table/test_v1/info", json={"graph": {"n_layers": 4}})


@pytest.fixture
def lineage():
    cg = FakeChunkedgraph()
    t0, t1 = T[1181], T[1300]
    cg.add(R["same"], t0 - 10, chunks={1, 2})
    cg.add(R["old"], t0 - 10, t0 + 5, chunks={3, 4})
    cg.add(R["new"], t0 + 5, chunks={3, 4}, parents=[R["old"]])
    cg.add(R["split"], t0 - 10, t0 + 7, chunks={5, 6, 7, 8})
    cg.add(R["a"], t0 + 7, chunks={5, 6, 7}, parents=[R["split"]])
    cg.add(R["b"], t0 + 7, chunks={8}, parents=[R["split"]])
    cg.add(R["m1"], t0 - 10, t0 + 9, chunks={9})
    cg.add(R["m2"], t0 - 10, t0 + 9, chunks={10})
    cg.add(R["merged"], t0 + 9, chunks={9, 10}, parents=[R["m1"], R["m2"]])
    cg.add(R["nosoma"], t1 + 50, chunks={11})  # made after v1300: not there yet
    client = CAVEclientMock(datastack_name="minnie65_public", global_server="https://global.cave.com",
                            local_server=LOCAL, info_file=default_info(LOCAL), materialization=True,
                            chunkedgraph=True, available_materialization_versions=[1181, 1300])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        cg.register(rsps)
        yield cg, client


def test_map_by_lineage_forward(lineage, tmp_path):
    cg, client = lineage
    ids = [R["same"], R["old"], R["split"], R["m1"]]
    df = Dataset(tmp_path, 1181, client=client).map_root_ids(ids, 1300, how="lineage")
    assert df["status"].tolist() == ["same", "changed", "split/merged", "split/merged"]
    assert df["new_root_id"].iloc[1] == R["new"] and df["new_root_id"].iloc[0] == R["same"]
    assert pd.isna(df["new_root_id"].iloc[2])
    assert df["candidates"].iloc[2] == [(R["a"], 0.75), (R["b"], 0.25)]  # ranked by overlap
    assert df["candidates"].iloc[3] == [(R["merged"], 1.0)] and str(R["m2"]) in df["note"].iloc[3]
    assert "nucleus_id" not in df
    assert {"root_timestamps", "lineage_graph_multiple", "leaves", "roots_binary", "past_id_mapping"} <= set(cg.calls)


def test_map_by_lineage_back(lineage, tmp_path):
    cg, client = lineage
    df = Dataset(tmp_path, 1300, client=client).map_root_ids([R["new"], R["merged"], R["same"]], 1181, how="lineage")
    assert df["status"].tolist() == ["changed", "split/merged", "same"]
    assert df["new_root_id"].iloc[0] == R["old"]
    assert [c for c, _ in df["candidates"].iloc[1]] == sorted([R["m1"], R["m2"]])


def test_map_by_lineage_without_token(tmp_path, monkeypatch):
    from napari_microns.core import session

    def no_token(*a, **k):
        raise AuthError("no CAVE token is saved on this machine")

    monkeypatch.setattr(session, "make_client", no_token)
    with pytest.raises(AuthError, match="lineage needs the chunkedgraph.*no CAVE token"):
        Dataset(tmp_path, 1181).map_root_ids([R["old"]], 1300, how="lineage")


def test_map_by_lineage_not_found_is_one_line(lineage):
    cg, client = lineage
    cg.seg.pop(R["old"])  # the server then fails: a 500 after retries is one line
    with pytest.raises(Exception) as info:
        map_by_lineage(client, [R["old"]], dt.datetime.fromtimestamp(T[1181], dt.timezone.utc),
                       dt.datetime.fromtimestamp(T[1300], dt.timezone.utc), policy=RetryPolicy(attempts=1))
    assert "\n" not in str(info.value)


# -- by position -----------------------------------------------------------------------

def test_map_by_position():
    old = pd.DataFrame({"pt_position_x": [0.0, 1000, 2000, 5000, 9000.0], "pt_position_y": 0.0, "pt_position_z": 0.0,
                        "pt_root_id": np.array([R["same"], R["old"], R["split"], R["gone"], 0], np.int64)})
    new = pd.DataFrame({"pt_position_x": [0.0, 1000, 2300, 7000.0], "pt_position_y": 0.0, "pt_position_z": 0.0,
                        "pt_root_id": np.array([R["same"], R["new"], R["split"], R["a"]], np.int64)})
    pairs, counts = map_by_position(old, new, tolerance_nm=500)
    assert counts["matched_exact"] == 2 and counts["matched_nearest"] == 1
    assert counts["unmatched_old"] == 2 and counts["unmatched_new"] == 1
    assert counts["matched_same_root"] == 2 and counts["matched_root_changed"] == 1
    assert (counts["root_ids_shared"], counts["root_ids_gone"], counts["root_ids_new"]) == (2, 2, 2)
    row = pairs[pairs["old_root_id"] == R["old"]].iloc[0]
    assert row["new_root_id"] == R["new"] and row["match"] == "exact" and pairs["new_root_id"].dtype == np.int64
    assert pairs.loc[pairs["match"] == "nearest", "distance_nm"].tolist() == [300.0]


# -- CLI ---------------------------------------------------------------------------------

def test_cli_roots(two_versions, capsys):
    out = two_versions / "map.csv"
    code = main(["roots", "--datadir", str(two_versions), "--from", "1181", "--to", "1300",
                 f"{R['old']},{R['split']}", "--csv", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert f"{R['old']}" in text and f"{R['new']}" in text and "changed" in text and "split/merged" in text
    csv = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert csv["new_root_id"].tolist() == [str(R["new"]), ""]
    assert csv["candidates"].iloc[1] in (f"{R['a']}:0.5;{R['b']}:0.5", f"{R['b']}:0.5;{R['a']}:0.5")


@pytest.mark.parametrize("args, message", [
    (["--from", "1181", "--to", "9999", "1"], "version 9999 is not supported"),
    (["--from", "abc", "--to", "1300", "1"], "not a whole number"),
    (["--from", "1181", "--to", "1300", "1.5e17"], "root id"),
    (["--from", "1181", "--to", "1300", "all"], "IDS all"),
])
def test_cli_roots_bad_input(tmp_path, capsys, args, message):
    assert main(["roots", "--datadir", str(tmp_path), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# -- stale ids ---------------------------------------------------------------------------

def test_stale_id_message(two_versions):
    ds = Dataset(two_versions, 1300)
    with pytest.raises(StaleRootIdError) as info:
        check_root_ids(ds, [R["old"], R["same"], R["nosoma"]], "--root-ids")
    text = str(info.value)
    assert isinstance(info.value, NotFoundError) and "\n" not in text
    assert f"{R['old']} is not a root id at v1300 (it was at v1181; now {R['new']}: use that)" in text
    assert str(R["nosoma"]) not in text  # a segment without a soma is not stale
    assert check_root_ids(ds, [R["same"], R["new"], R["nosoma"]], "x") == []


def test_stale_id_warns_for_morphology(two_versions, caplog):
    ds = Dataset(two_versions, 1300)
    with caplog.at_level(logging.WARNING):
        messages = check_root_ids(ds, [R["split"]], "skeleton", strict=False)
    assert len(messages) == 1
    assert f"now {R['a']}, {R['b']}" in messages[0] or f"now {R['b']}, {R['a']}" in messages[0]
    assert any("use one of those" in r.getMessage() for r in caplog.records)


def test_stale_check_needs_processed_units(tmp_path):
    assert check_root_ids(Dataset(tmp_path, 1300), [R["old"]], "x") == []


def test_stale_ids_in_the_places_that_take_root_ids(two_versions, caplog):
    from napari_microns import app

    ds = Dataset(two_versions, 1300)
    # synapses: a stale id has no synapses at this version; refused before any network use
    with pytest.raises(StaleRootIdError, match=f"pre ids: {R['old']} is not a root id at v1300"):
        ds.download_synapses(pre_ids=[R["old"]], post_ids="all")
    assert ds._client is None
    # view / figure: refused before any window opens
    with pytest.raises(StaleRootIdError, match=f"--root-ids: {R['m1']} .*now {R['merged']}: use that"):
        app.view(two_versions, 1300, root_ids=[R["m1"]])

    # morphology: one warning line, then the fetch goes ahead (segments without a soma are fine)
    class Fetcher:
        def skeleton(self, root_id):
            return ("skeleton", root_id)

    ds._morphology = Fetcher()
    with caplog.at_level(logging.WARNING):
        assert ds.skeleton(R["old"]) == ("skeleton", R["old"])
        assert ds.skeleton(R["nosoma"]) == ("skeleton", R["nosoma"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"skeleton: {R['old']} is not a root id at v1300 (it was at v1181; now {R['new']}: use that)"]


def test_stale_id_by_lineage_only_with_a_client_at_hand(two_versions, lineage):
    cg, client = lineage
    axon_old, axon_new = BIG + 5001, BIG + 5002  # a segment without a soma, edited after v1181
    cg.add(axon_old, T[1181] - 10, T[1181] + 3, chunks={20})
    cg.add(axon_new, T[1181] + 3, chunks={20}, parents=[axon_old])
    cg.add(R["nosoma"], T[1181] - 10, chunks={21})
    assert check_root_ids(Dataset(two_versions, 1300), [axon_old], "x") == []  # no client: never online
    assert "is_latest_roots" not in cg.calls
    ds = Dataset(two_versions, 1300, client=client)
    with pytest.raises(StaleRootIdError) as info:
        check_root_ids(ds, [axon_old, R["nosoma"], R["old"]], "--root-ids")
    text = str(info.value)
    assert f"{axon_old} is not a root id at v1300 (edited since; by lineage now {axon_new}: use that)" in text
    assert f"{R['old']} is not a root id at v1300 (it was at v1181; now {R['new']}: use that)" in text
    assert str(R["nosoma"]) not in text and "is_latest_roots" in cg.calls


def test_map_root_ids_bad_how_and_version(two_versions):
    from napari_microns.core.errors import MicronsError, VersionError

    with pytest.raises(MicronsError, match="how='soma' is not known; choose one of: nucleus, lineage"):
        Dataset(two_versions, 1181).map_root_ids([R["old"]], 1300, how="soma")
    with pytest.raises(VersionError):
        Dataset(two_versions, 1181).map_root_ids([R["old"]], 1300.5)
