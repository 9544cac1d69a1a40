"""The circuit: partners, partner summaries, the connectivity matrix and per-pair coverage,
against answers worked out by hand on a small store; and the CLI commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table

from napari_microns import Dataset, cli
from napari_microns.core.errors import DataError
from napari_microns.core.synapses import (Connectivity, Partners, connectivity, coverage, pair_coverage, partner_summary,
                                          partners)

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
BASE = 864691135_000_000_000
R, P1, P2, P3, Q = BASE + 9504, BASE + 1001, BASE + 1002, BASE + 1003, BASE + 1999  # Q is not in the units
S = [R, P1, P2, P3, Q]

# (id, pre, post, size)
ROWS = [(1, P1, R, 10), (2, P1, R, 20), (3, P2, R, 5), (4, Q, R, 7), (5, P3, R, 7),
        (6, R, P1, 4), (7, R, P2, 6), (8, R, P2, 2),
        (9, P1, P2, 3), (10, P2, P1, 1), (11, P1, P1, 9)]


def synapses() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["id", PRE, POST, "size"])
    for i, axis in enumerate("xyz"):  # voxel positions inside the volume
        df[f"ctr_pt_position_vx_{axis}"] = [150_000.0, 120_000.0, 20_000.0][i] + df["id"]
    return df


def units() -> pd.DataFrame:
    return pd.DataFrame({
        "pt_root_id": np.array([R, P1, P2, P3, BASE + 5], dtype=np.int64),
        "cell_type": pd.Categorical(["4P", "23P", "BC", "23P", "MC"]),
        "classification_system": ["excitatory_neuron", "excitatory_neuron", "inhibitory_neuron",
                                  "excitatory_neuron", "inhibitory_neuron"],
        "layer": ["L4", "L5", "L2/3", "L2/3", "L6"], "brain_area": ["V1"] * 5,
        "proofreading": ["axon and dendrite", "not proofread", "dendrite only", "not proofread", "axon only"],
        "pt_position_y": [400.0, 300.0, 100.0, 200.0, 600.0],
    })


@pytest.fixture
def store(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(synapses(), covers={"pre": "all", "post": [R]})  # all inputs of R, nothing more
    return ds.synapse_store


# -- partners ------------------------------------------------------------------------------


def test_inputs_of_a_neuron_by_hand(store):
    got = partners(store, units(), R, "inputs")
    assert isinstance(got, Partners) and got.root_id == R and got.direction == "inputs"
    t = got.table
    # P1: 2 synapses (10 + 20); then one synapse each: Q and P3 both size 7 (by id: P3 first), P2 size 5
    assert t["partner_root_id"].tolist() == [P1, P3, Q, P2]
    assert t["partner_root_id"].dtype == np.int64 and t["n_synapses"].dtype == np.int64
    assert t["n_synapses"].tolist() == [2, 1, 1, 1]
    assert t["size_sum"].tolist() == [30, 7, 7, 5] and t["size_sum"].dtype == np.int64
    assert t["size_mean"].tolist() == [15.0, 7.0, 7.0, 5.0]
    assert t["cell_type"].tolist()[:2] == ["23P", "23P"] and pd.isna(t["cell_type"][2]) and t["cell_type"][3] == "BC"
    assert t["layer"].tolist()[:2] == ["L5", "L2/3"] and t["proofreading"][3] == "dendrite only"
    assert t["in_units"].tolist() == [True, True, False, True]
    assert got.n_synapses == 5 and got.complete
    assert sorted(got.synapses["id"]) == [1, 2, 3, 4, 5] and (got.synapses[POST] == R).all()
    assert got.note == f"5 inputs of {R} from 4 partners (all of its inputs)"


def test_outputs_are_incomplete_without_a_source_saying_so(store):
    got = partners(store, units(), R, "outputs")
    assert got.table["partner_root_id"].tolist() == [P2, P1]  # 2 synapses (8), then 1 (4)
    assert got.table["n_synapses"].tolist() == [2, 1] and got.table["size_sum"].tolist() == [8, 4]
    assert not got.complete and "INCOMPLETE" in got.note and "lower bounds" in got.note
    assert got.note.startswith(f"3 outputs of {R} to 2 partners")


def test_partner_summary_groups_and_shares(store):
    summary = partner_summary(partners(store, units(), R, "inputs"))
    assert summary["cell_type"].tolist() == ["23P", "BC", "not in units"]
    assert summary["n_partners"].tolist() == [2, 1, 1]
    assert summary["n_synapses"].tolist() == [3, 1, 1]
    assert summary["size_sum"].tolist() == [37, 5, 7]
    assert summary["share"].tolist() == pytest.approx([0.6, 0.2, 0.2])
    assert summary.attrs["complete"] is True
    by_class = partner_summary(partners(store, units(), R, "inputs"), by="classification_system")
    assert by_class.set_index("classification_system")["n_synapses"].to_dict() == {
        "excitatory_neuron": 3, "inhibitory_neuron": 1, "not in units": 1}
    no_units = partner_summary(partners(store, None, R, "outputs"))
    assert no_units["cell_type"].tolist() == ["not in units"] and no_units.attrs["complete"] is False
    with pytest.raises(DataError, match="cannot group partners by 'volume'"):
        partner_summary(partners(store, units(), R), by="volume")


def test_partners_of_a_neuron_without_synapses_and_bad_input(store, tmp_path):
    got = partners(store, units(), BASE + 5, "inputs")
    assert got.table.empty and got.n_synapses == 0 and not got.complete
    assert list(got.table.columns) == ["partner_root_id", "n_synapses", "size_sum", "size_mean", "cell_type",
                                       "classification_system", "layer", "brain_area", "proofreading", "in_units"]
    with pytest.raises(DataError, match="direction must be"):
        partners(store, None, R, "both")
    with pytest.raises(DataError, match="floating-point"):
        partners(store, None, float(R))
    with pytest.raises(DataError, match="no synapses in"):
        Dataset(tmp_path / "empty", version=1300).partners(R)


def test_aggregated_rows_count_once(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(pd.DataFrame({PRE: [P1, P2], POST: [R, R], "n_synapses": [4, 1], "size": [40, 3]}))
    got = ds.partners(R)
    assert got.table["partner_root_id"].tolist() == [P1, P2] and got.table["n_synapses"].tolist() == [4, 1]
    assert got.synapses.empty and "id" in got.synapses.columns
    ds.import_synapses(pd.DataFrame({PRE: [P3], POST: [R], "size": [9]}))  # no counts: said in one line
    with pytest.raises(DataError, match="no synapse counts"):
        ds.partners(R)


# -- coverage ---------------------------------------------------------------------------------


def test_covers_are_per_pair_and_whole_side(store, tmp_path):
    cov = pair_coverage(store, [R, P1], [R, P2])
    assert cov.tolist() == [[True, False], [True, False]]
    assert coverage(store, pre_ids=[R], post_ids=[R, P1]) == {
        "pre": {"covered": [], "missing": [R]}, "post": {"covered": [R], "missing": [P1]}}
    # the same rows again, declared to hold every synapse among S: a second record, both count
    Dataset(tmp_path, version=1300).import_synapses(synapses(), covers={"pre": S, "post": S})
    assert pair_coverage(store, S, S).all()
    assert pair_coverage(store, [BASE + 5], S).tolist() == [[True, False, False, False, False]]  # onto R only
    assert pair_coverage(store, S, [BASE + 5]).tolist() == [[False]] * 5
    assert not partners(store, None, R, "outputs").complete  # among S is not all of R's outputs


@pytest.mark.parametrize("covers, message", [
    ({"pre": [R]}, "keys 'pre' and 'post'"),
    ("all", "keys 'pre' and 'post'"),
    ({"pre": "12a", "post": "all"}, "root id '12a' is not an integer"),
    ({"pre": [float(R)], "post": "all"}, "floating-point"),
    ({"pre": [R], "post": None}, r"covers\['post'\] is None"),
    ({"pre": [], "post": "all"}, "no pre ids given"),
])
def test_bad_covers_fail_in_one_line_before_importing(tmp_path, covers, message):
    ds = Dataset(tmp_path, version=1300)
    with pytest.raises(DataError, match=message) as err:
        ds.import_synapses(synapses(), covers=covers)
    assert "\n" not in str(err.value)
    assert not ds.synapse_store.has("synapses")


def test_a_download_covers_its_chunks(tmp_path, fast_retry):
    table = synapse_table(n_neurons=12, n_synapses=600, seed=5)
    roots = np.unique(np.concatenate([table[PRE], table[POST]]))
    fake = FakeCAVE(tables={SYNAPSE_TABLE: table})
    ds = Dataset(tmp_path, version=1300, client=fake.client(1300), retry=fast_retry)
    with fake:
        ds.download_synapses(pre_ids=roots[:4], post_ids=roots[4:6], aggregate=False, chunk_size=2)
        ds.download_synapses(post_ids=roots[6:7], aggregate=False)
    cov = pair_coverage(ds.synapse_store, roots, roots)
    want = np.zeros((12, 12), dtype=bool)
    want[:4, 4:6] = True
    want[:, 6] = True
    assert (cov == want).all()
    got = ds.partners(int(roots[6]), "inputs")
    assert got.complete and got.n_synapses == int((table[POST] == roots[6]).sum())
    assert not ds.partners(int(roots[4]), "inputs").complete  # only from roots[:4]
    conn = ds.connectivity(roots, value="count", order_by=None)
    assert conn.covered.tolist() == want.tolist()
    for i, j in zip(*np.nonzero(want)):
        assert conn.matrix.iloc[i, j] == ((table[PRE] == roots[i]) & (table[POST] == roots[j])).sum()


# -- connectivity ------------------------------------------------------------------------------

# ordered by cell type in palette order (23P, 4P, ..., BC, ...), then depth; Q (not in units) last
ORDER = [P3, P1, R, P2, Q]
# counts and summed sizes, rows = pre, columns = post, in ORDER
COUNT = [[0, 0, 1, 0, 0], [0, 1, 2, 1, 0], [0, 1, 0, 2, 0], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0]]
SIZE = [[0, 0, 7, 0, 0], [0, 9, 30, 3, 0], [0, 4, 0, 8, 0], [0, 1, 5, 0, 0], [0, 0, 7, 0, 0]]


def test_matrix_order_nan_and_zero(store):
    conn = connectivity(store, units(), S, value="count")
    assert isinstance(conn, Connectivity) and conn.value == "count" and conn.order_by == "cell_type"
    assert conn.root_ids.tolist() == ORDER and conn.root_ids.dtype == np.int64
    assert conn.matrix.columns.tolist() == ORDER and conn.matrix.dtypes.eq(np.float64).all()
    assert conn.labels.tolist() == ["23P", "23P", "4P", "BC", "unknown"] and conn.labels.index.tolist() == ORDER
    m = conn.matrix.to_numpy()
    # only the column of R is covered (covers: every input of R)
    assert conn.covered.tolist() == [[j == 2 for j in range(5)] for _ in range(5)]
    assert m[:, 2].tolist() == [1.0, 2.0, 0.0, 1.0, 1.0]  # R -> R: covered, no synapse: 0
    assert np.isnan(np.delete(m, 2, axis=1)).all()
    grouped = conn.grouped()
    assert grouped.index.tolist() == ["23P", "4P", "BC", "unknown"]
    assert grouped["4P"].tolist() == [3.0, 0.0, 1.0, 1.0] and np.isnan(grouped.drop(columns="4P").to_numpy()).all()


def test_matrix_values_when_every_pair_is_covered(store, tmp_path):
    Dataset(tmp_path, version=1300).import_synapses(synapses(), covers={"pre": S, "post": S})
    count = connectivity(store, units(), S, value="count")
    assert count.matrix.to_numpy().tolist() == COUNT
    size = connectivity(store, units(), S, value="size")
    assert size.matrix.to_numpy().tolist() == SIZE
    log = connectivity(store, units(), S, value="log_size")
    np.testing.assert_allclose(log.matrix.to_numpy(), np.log10(1 + np.array(SIZE, dtype=float)))
    assert sorted(count.connection_sizes().tolist()) == sorted(v for row in SIZE for v in row if v)
    no_autapses = connectivity(store, units(), S, value="count", drop_autapses=True)
    assert np.diag(no_autapses.matrix.to_numpy()).tolist() == [0.0] * 5
    grouped = count.grouped()  # 23P = {P3, P1}, 4P = {R}, BC = {P2}, unknown = {Q}
    assert grouped.to_numpy().tolist() == [[1, 3, 1, 0], [1, 0, 2, 0], [1, 1, 0, 0], [0, 1, 0, 0]]
    # as given, without units; and by another column
    plain = connectivity(store, None, [Q, R], value="size", order_by=None)
    assert plain.root_ids.tolist() == [Q, R] and plain.matrix.to_numpy().tolist() == [[0, 7], [0, 0]]
    assert plain.labels is None
    with pytest.raises(DataError, match="no labels"):
        plain.grouped()
    by_layer = connectivity(store, units(), S, order_by="layer")
    assert by_layer.root_ids.tolist() == [P2, P3, R, P1, Q]  # L2/3 (depth 100, 200), L4, L5, unknown


def test_connectivity_refuses_bad_input_in_one_line(store):
    for kwargs, message in (({"value": "mean"}, "value must be one of"), ({"order_by": "colour"}, "no column 'colour'")):
        with pytest.raises(DataError, match=message) as err:
            connectivity(store, units(), S, **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="no root ids"):
        connectivity(store, units(), [])
    with pytest.raises(DataError, match="floating-point"):
        connectivity(store, units(), np.array(S, dtype=float))


def test_dataset_wrappers_use_the_processed_units(tmp_path, monkeypatch):
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(synapses(), covers={"pre": S, "post": S})
    assert ds.connectivity(S).labels.tolist() == ["unknown"] * 5  # not processed: no units
    ds.layout.units_path.parent.mkdir(parents=True)
    ds.layout.units_path.touch()
    monkeypatch.setattr(Dataset, "units", lambda self: units())
    assert ds.connectivity(S).root_ids.tolist() == ORDER
    assert ds.partner_summary(R, "inputs")["cell_type"].tolist() == ["23P", "BC", "not in units"]


# -- the CLI ------------------------------------------------------------------------------


def run(argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def processed(tmp_path, monkeypatch) -> Dataset:
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(synapses(), covers={"pre": "all", "post": [R]})
    ds.layout.units_path.parent.mkdir(parents=True)
    units().to_parquet(ds.layout.units_path)
    monkeypatch.setattr(Dataset, "units", lambda self: units())
    return ds


def test_cli_partners_prints_groups_and_writes_the_table(tmp_path, capsys, monkeypatch):
    processed(tmp_path, monkeypatch)
    code, out, err = run(["partners", "--datadir", tmp_path, str(R), "--csv", tmp_path / "out" / "p.csv"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"5 inputs of {R} from 4 partners (all of its inputs)"
    assert lines[2].split() == ["23P", "2", "3", "37", "60.0%"] and "not in units" in lines[4]
    table = pd.read_csv(tmp_path / "out" / "p.csv", dtype={"partner_root_id": "int64"})
    assert table["partner_root_id"].tolist() == [P1, P3, Q, P2] and table["n_synapses"].tolist() == [2, 1, 1, 1]
    assert f"{P1},2,30,15.0,23P" in (tmp_path / "out" / "p.csv").read_text()  # ids written as integers
    code, out, err = run(["partners", "--datadir", tmp_path, str(R), "--direction", "outputs", "--by", "layer"], capsys)
    assert code == 0 and "INCOMPLETE" in out.splitlines()[0] and out.splitlines()[1].split()[0] == "layer"


def test_cli_connectivity_csv_and_figure(tmp_path, capsys, monkeypatch):
    processed(tmp_path, monkeypatch)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(i) for i in S) + "\n")
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", ids, "--out", tmp_path / "m.csv"], capsys)
    assert code == 0, err
    assert "connectivity among 5 neurons: 5 of 25 pairs covered" in out
    got = pd.read_csv(tmp_path / "m.csv", index_col=0)
    assert got.index.tolist() == ORDER and got["cell_type"].tolist() == ["23P", "23P", "4P", "BC", "unknown"]
    assert got.columns.tolist()[1:] == [str(i) for i in ORDER]
    assert got[str(R)].tolist() == [1, 2, 0, 1, 1] and got[str(P1)].isna().all()  # empty = not covered
    assert f"{P3},23P,,,1,,\n" in (tmp_path / "m.csv").read_text()
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", ids, "--order-by", "none",
                          "--out", tmp_path / "given.csv"], capsys)
    assert code == 0 and pd.read_csv(tmp_path / "given.csv", index_col=0).index.tolist() == S  # the file's order
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", "proofread", "--value", "log_size",
                          "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    assert "3 of 3 proofread neurons" in out  # each has a covered pair: its synapses onto R
    assert pd.read_csv(tmp_path / "p.csv", index_col=0).index.tolist() == [R, P2, BASE + 5]
    # R not proofread: P2 and BASE + 5 are; only P2 -> P2 is covered (below), so BASE + 5 is left out
    monkeypatch.setattr(Dataset, "units", lambda self: units().assign(proofreading=lambda u: u["proofreading"].where(
        u["pt_root_id"] != R, "not proofread")))
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", "proofread", "--out", tmp_path / "p.csv"], capsys)
    assert code == 1 and "none of the 2 proofread neurons has a pair covered" in err
    Dataset(tmp_path, version=1300).import_synapses(synapses(), covers={"pre": [P1, P2], "post": [P2]})
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", "proofread", "--out", tmp_path / "p.csv"], capsys)
    assert code == 0 and "1 of 2 proofread neurons" in out
    assert pd.read_csv(tmp_path / "p.csv", index_col=0).to_numpy().tolist() == [["BC", 0.0]]  # P2 -> P2: none
    monkeypatch.setattr(Dataset, "units", lambda self: units().assign(proofreading="not proofread"))
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", "proofread", "--out", tmp_path / "p.csv"], capsys)
    assert code == 1 and err == "error: no proofread units in this version's units table\n"
    code, out, err = run(["connectivity", "--datadir", tmp_path, "--ids", ",".join(map(str, S)),
                          "--out", tmp_path / "m.png"], capsys)
    assert code == 0, err
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the store's column reads --------------------------------------------------------------


@pytest.mark.parametrize("n_ids", [5, 300])  # 300: the files are read in threads
def test_lookup_of_some_columns_matches_the_whole_rows(tmp_path, n_ids):
    table = synapse_table(n_neurons=400, n_synapses=5000, seed=7)
    table = table.rename(columns={f"ctr_pt_position_{a}": f"ctr_pt_position_vx_{a}" for a in "xyz"})
    keep = ["id", PRE, POST, "size", "ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]
    ds = Dataset(tmp_path, version=1300)
    ds.import_synapses(table[keep].iloc[:3000])
    ds.import_synapses(table[keep].iloc[2000:])  # a second run, 1000 rows repeated: dropped by synapse id
    store = ds.synapse_store
    assert len(store.runs("synapses")) == 2 and store.count("synapses") == len(table)  # runs, deduplicated
    roots = np.unique(table[PRE])[:n_ids]
    for side, col in (("pre", PRE), ("post", POST)):
        ids = np.unique(table[col])[:n_ids]
        whole = store.lookup("synapses", side, ids).to_pandas()
        some = store.lookup("synapses", side, ids, columns=[POST, "size"]).to_pandas()
        assert list(some.columns) == [POST, "size"]
        assert some.equals(whole[[POST, "size"]])
        want = table[table[col].isin(ids)]
        assert sorted(whole["id"]) == sorted(want["id"])
    with pytest.raises(DataError, match="no column"):
        store.lookup("synapses", "pre", roots, columns=["weight"])
    assert store.lookup("synapses", "pre", [], columns=[PRE]).column_names == [PRE]


def test_cli_import_complete_declares_what_the_file_covers(tmp_path, capsys):
    path = tmp_path / "outputs_of_r.csv"
    synapses()[lambda d: d[PRE] == R].to_csv(path, index=False)
    code, out, err = run(["synapses", "--datadir", tmp_path, "--import", path, "--complete", "--pre", R,
                          "--post", "all"], capsys)
    assert code == 0, err
    store = Dataset(tmp_path, version=1300).synapse_store
    got = partners(store, units(), R, "outputs")
    assert got.complete and got.table["n_synapses"].tolist() == [2, 1]
    assert not partners(store, units(), P1, "outputs").complete  # only R's outputs were declared
    assert pair_coverage(store, [R, P1], [P2]).ravel().tolist() == [True, False]
    code, out, err = run(["synapses", "--datadir", tmp_path, "--complete", "--pre", R], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--complete goes with --import" in err
    code, out, err = run(["synapses", "--datadir", tmp_path, "--import", path, "--complete", "--pre", "12x"], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--pre" in err
