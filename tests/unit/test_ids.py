"""Root ids and synapse ids are 64-bit integers end to end (core/ids.py and every reader).

The values tried at every entry: ids at and beyond the int64 range (2**63-1, 2**63,
2**64-1), -1, 0, 1.5, "12a", "" and 8.646911351012895e17 (a root id that went through
a float), through the Python API, the raw-table readers (CSV and Parquet) of
``process`` and the synapse import (CSV, Parquet, DataFrame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from napari_microns import Dataset
from napari_microns.core.errors import DataError, VersionError
from napari_microns.core.ids import MAX_ID, id_column, ids_argument, parse_id, parse_ids, read_ids_file
from napari_microns.core.synapses import connectivity_matrix
from napari_microns.core.units import format_summary
from napari_microns.sample.tables import ROOT_ID_BASE, raw_tables, synthetic_units

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
ROOT = 864691135101289504
FLOAT_ROOT = 8.646911351012895e17  # ROOT after a trip through float64: 864691135101289472

#: (value, words of the one-line refusal)
BAD_VALUES = [
    (2**63, "out of range"),
    (2**64 - 1, "out of range"),
    (2**64, "out of range"),
    (np.uint64(2**64 - 1), "out of range"),
    ("18446744073709551615", "out of range"),
    (-1, "is negative"),
    ("-1", "is negative"),
    (0, "not a valid root id"),
    ("0", "not a valid root id"),
    (1.5, "not an integer"),
    ("1.5", "not an integer"),
    ("12a", "not an integer"),
    ("", "blank"),
    ("   ", "blank"),
    (None, "blank"),
    (float("nan"), "blank"),
    ("nan", "not an integer"),
    (float("inf"), "not an integer"),
    (FLOAT_ROOT, "floating-point"),
    ("8.646911351012895e17", "floating-point"),
    (np.float64(FLOAT_ROOT), "floating-point"),
    (True, "not an integer"),
    ("1,2", "not an integer"),  # one id expected
    ("²", "not an integer"),
    ([1], "not an integer"),
]


def one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text and text
    return text


# -- core/ids.py -------------------------------------------------------------------------


@pytest.mark.parametrize("value, words", BAD_VALUES, ids=[repr(v) for v, _ in BAD_VALUES])
def test_parse_id_refuses_in_one_line(value, words):
    with pytest.raises(DataError, match=words) as err:
        parse_id(value)
    one_line(err.value)


@pytest.mark.parametrize("value, expected", [
    (ROOT, ROOT), (str(ROOT), ROOT), (f" {ROOT}\n", ROOT), (np.int64(ROOT), ROOT), (np.uint64(ROOT), ROOT),
    (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID), (np.uint64(MAX_ID), MAX_ID), ("+12", 12),
    (12.0, 12), ("12.0", 12), ("1e3", 1000), (2.0**53 - 1, 2**53 - 1),
])
def test_parse_id_accepts_exact_integers(value, expected):
    got = parse_id(value)
    assert got == expected and type(got) is int


def test_floats_are_exact_only_below_2_53():
    assert parse_id(float(2**53 - 1)) == 2**53 - 1
    with pytest.raises(DataError, match="floating-point"):
        parse_id(float(2**53))  # may be 2**53 + 1 rounded
    with pytest.raises(DataError, match="floating-point"):
        parse_ids(np.array([ROOT], dtype=float))
    assert int(np.float64(ROOT)) != ROOT  # why: the float is another id


def test_zero_only_where_allowed():
    assert parse_id(0, allow_zero=True) == 0
    assert parse_id("0", "nucleus id", allow_zero=True) == 0
    with pytest.raises(DataError, match="nucleus id 0 is not a valid nucleus id"):
        parse_id(0, "nucleus id")


def test_a_string_is_one_id_or_a_text_list_never_its_characters():
    assert parse_ids(str(ROOT)).tolist() == [ROOT]
    assert parse_ids(f"{ROOT}, {ROOT + 1}\n{ROOT + 2};[{ROOT + 3}] ({ROOT + 4})").tolist() == [ROOT + i for i in range(5)]
    assert parse_ids([str(ROOT), ROOT + 1, np.int64(ROOT + 2)]).tolist() == [ROOT, ROOT + 1, ROOT + 2]
    assert parse_ids(pd.Series([ROOT, ROOT])).tolist() == [ROOT, ROOT]
    assert parse_ids(pd.Index([ROOT + 1, ROOT]), sort=True).tolist() == [ROOT, ROOT + 1]
    assert parse_ids([ROOT + 1, ROOT, ROOT + 1], unique=True).tolist() == [ROOT + 1, ROOT]
    assert parse_ids(pa.array([ROOT, MAX_ID])).tolist() == [ROOT, MAX_ID]
    assert parse_ids(np.array([MAX_ID], dtype=np.uint64)).dtype == np.int64
    assert parse_ids(f"{ROOT} {ROOT},{ROOT + 1}", unique=True).tolist() == [ROOT, ROOT + 1]
    assert parse_ids("", unique=True).tolist() == []


@pytest.mark.parametrize("values, words", [
    ([ROOT, 2**63], "item 2: root id 9223372036854775808 is out of range"),  # np.asarray would make it float
    ([ROOT, -1, "x"], "item 2: root id -1 is negative (root ids are positive) (and 1 more bad item)"),
    (pd.Series([1.0, np.nan]), "item 2: root id is blank"),
    (pd.Series([ROOT, None], dtype="Int64"), "item 2: root id is blank"),
    (pd.Series([2**64 - 1], dtype="uint64"), "item 1: root id 18446744073709551615 is out of range"),
    (pa.array([ROOT, None]), "item 2: root id is blank"),
    (np.array([True]), "not an integer"),
    (f"{ROOT} 12a", "item 2: root id '12a' is not an integer"),
])
def test_lists_name_the_bad_item(values, words):
    with pytest.raises(DataError) as err:
        parse_ids(values, where="pre ids")
    assert one_line(err.value).startswith("pre ids, ") and words in str(err.value)


def test_id_column_raises_naming_origin_line_and_column_or_drops_and_counts():
    values = pd.Series([str(ROOT), None, "12a", "-4", str(MAX_ID), "18446744073709551615"], dtype=object)
    with pytest.raises(DataError) as err:
        id_column(values, what="root id", origin="nucleus.csv", column="pt_root_id", row_label="line", first_row=2)
    assert one_line(err.value) == ("nucleus.csv, line 3, column pt_root_id: root id is blank (and 3 more bad lines)")
    kept = id_column(values, what="root id", blank="drop", on_bad="drop")
    assert kept.ids.tolist() == [ROOT, MAX_ID] and kept.blank == 1 and kept.invalid == 3
    assert kept.dropped_rows.tolist() == [1, 2, 3, 5] and kept.values.dtype == np.int64
    assert list(kept.nullable()) == [ROOT, pd.NA, pd.NA, pd.NA, MAX_ID, pd.NA]


def test_ids_files_name_the_line(tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text(f"# my neurons\n{ROOT}, {ROOT + 1}\n\n{ROOT + 2}  # a comment\n{ROOT}\n")
    assert read_ids_file(f).tolist() == [ROOT, ROOT + 1, ROOT + 2]
    assert ids_argument(str(f), "--post").tolist() == [ROOT, ROOT + 1, ROOT + 2]
    for bad, words in (("12a", "line 3: root id '12a' is not an integer"),
                       ("18446744073709551615", "line 3: root id 18446744073709551615 is out of range"),
                       ("-1", "line 3: root id -1 is negative"), ("0", "line 3: root id 0 is not a valid"),
                       ("1.5", "line 3: root id '1.5' is not an integer"),
                       ("8.646911351012895e17", "line 3: root id '8.646911351012895e17' is a floating-point")):
        f.write_text(f"{ROOT}\n\n{ROOT + 1} {bad}\n")
        with pytest.raises(DataError) as err:
            ids_argument(str(f), "--post")
        assert one_line(err.value).startswith(f"--post: {f}, ") and words.replace("'", "") in str(err.value).replace("'", "")
    f.write_text("# nothing\n")
    with pytest.raises(DataError, match="no root ids in"):
        ids_argument(str(f), "--post")
    assert ids_argument("all", "--pre") is None


# -- the Python API ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["abc", 1300.7, 1300.0, True, None, "1300.0", "", [1300]])
def test_dataset_version_must_be_a_whole_number(tmp_path, version):
    with pytest.raises(VersionError, match="is not a whole number; supported versions: .*1300") as err:
        Dataset(tmp_path, version=version)
    one_line(err.value)


def test_dataset_version_accepts_ints_and_digit_strings(tmp_path):
    assert Dataset(tmp_path, version="1300").version == 1300
    assert Dataset(tmp_path, version=np.int64(1718)).version == 1718
    with pytest.raises(VersionError, match="version 4 is not supported"):
        Dataset(tmp_path, version="4")


def synapse_frame(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(1, n + 1), PRE: ROOT + np.arange(n) % 3, POST: np.full(n, MAX_ID, dtype=np.int64),
        "size": rng.integers(10, 500, n),
        "ctr_pt_position_x": rng.uniform(1e5, 2e5, n), "ctr_pt_position_y": rng.uniform(1e5, 2e5, n),
        "ctr_pt_position_z": rng.uniform(1e3, 2e4, n),
    })


def test_a_string_id_queries_that_one_neuron(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    frame = synapse_frame()
    ds.import_synapses(frame)
    got = ds.synapses(pre_ids=str(ROOT + 1))  # one id, not 18 ids of one digit each
    assert got["id"].tolist() == frame.loc[frame[PRE] == ROOT + 1, "id"].tolist()
    got = ds.synapses(post_ids=str(MAX_ID))  # the largest id survives the round trip exactly
    assert len(got) == len(frame) and got[POST].tolist() == [MAX_ID] * len(frame) and got[POST].dtype == np.int64
    with pytest.raises(DataError, match="post ids: root id 9223372036854775808 is out of range"):
        ds.synapses(post_ids=str(2**63))
    with pytest.raises(DataError, match="floating-point"):
        ds.synapses(pre_ids=[FLOAT_ROOT])
    with pytest.raises(DataError, match="floating-point"):
        connectivity_matrix(ds.synapses(), root_ids=np.array([ROOT], dtype=float))


def test_morphology_options_are_refused_once_not_per_id(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    with pytest.raises(DataError, match="max_faces must be a positive number of faces, not 0") as err:
        ds.meshes([ROOT, ROOT + 1], max_faces=0)
    assert type(err.value) is DataError  # not an IncompleteError listing each id
    with pytest.raises(DataError, match="lod must be 0"):
        ds.meshes([ROOT], lod=-1)
    with pytest.raises(DataError, match="workers must be"):
        ds.skeletons([ROOT], workers=0)
    with pytest.raises(DataError, match="root id 18446744073709551615 is out of range"):
        ds.skeleton(2**64 - 1)
    with pytest.raises(DataError, match="floating-point"):
        ds.skeletons([FLOAT_ROOT])
    assert not list(tmp_path.rglob("*.npz"))


# -- raw tables: process ----------------------------------------------------------------


@pytest.fixture(scope="module")
def raw():
    return raw_tables(synthetic_units(120))


def write_csv_tables(folder, tables, edit=None):
    """The tables as microns_datacleaner's CSVs; ``edit=(table, column, row, text)`` sets one cell."""
    raw_dir = folder / "1300" / "raw"
    raw_dir.mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(raw_dir / f"{name}.csv", index=False)
    if edit is not None:
        table, column, row, text = edit
        path = raw_dir / f"{table}.csv"
        lines = path.read_text().splitlines()
        col = lines[0].split(",").index(column)
        cells = lines[row + 1].split(",")
        cells[col] = text
        lines[row + 1] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
    return Dataset(folder, version=1300)


def test_a_blank_root_id_in_a_csv_changes_no_other_unit(tmp_path, raw):
    whole, _ = write_csv_tables(tmp_path / "whole", raw).process()
    nucleus = raw["nucleus_detection_v0"]
    ds = write_csv_tables(tmp_path / "blank", raw, edit=("nucleus_detection_v0", "pt_root_id", 7, ""))
    units, _ = ds.process()
    assert units["pt_root_id"].dtype == np.int64 and units["nucleus_id"].dtype == np.int64
    blank_nucleus = int(nucleus["id"].iloc[7])
    assert blank_nucleus not in set(units["nucleus_id"]) and len(units) == len(whole) - 1
    # every other unit keeps its exact 18-digit root id (datacleaner's float column rounded 99% of them)
    expected = whole[whole["nucleus_id"] != blank_nucleus].set_index("nucleus_id")["pt_root_id"]
    got = units.set_index("nucleus_id")["pt_root_id"]
    assert got.sort_index().tolist() == expected.sort_index().tolist()
    assert set(got) <= set(nucleus["pt_root_id"])
    summary = ds.summary()
    assert summary["removed"]["blank_id"] == 1 and summary["nuclei"] == len(nucleus)
    assert summary["blank_ids"] == {"nucleus_detection_v0": {"rows": 1, "columns": {"pt_root_id": 1}}}
    text = format_summary(summary)
    assert "removed       1  blank root id or nucleus id" in text
    assert "blank ids in nucleus_detection_v0: pt_root_id (1)" in text


def test_blank_target_ids_are_left_out_and_counted(tmp_path, raw):
    ds = write_csv_tables(tmp_path, raw, edit=("aibs_metamodel_celltypes_v661", "target_id", 3, ""))
    units, _ = ds.process()
    summary = ds.summary()
    assert summary["blank_ids"]["aibs_metamodel_celltypes_v661"]["columns"] == {"target_id": 1}
    assert summary["removed"]["no_cell_type"] == 1 and len(units) == len(raw["nucleus_detection_v0"]) - 1


def test_root_id_0_is_still_counted_as_no_segment(tmp_path, raw):
    ds = write_csv_tables(tmp_path, raw, edit=("nucleus_detection_v0", "pt_root_id", 2, "0"))
    ds.process()
    assert ds.summary()["removed"]["root_id_0"] == 1 and "blank_ids" not in ds.summary()


@pytest.mark.parametrize("table, column, text, words", [
    ("nucleus_detection_v0", "pt_root_id", "18446744073709551615", "root id 18446744073709551615 is out of range"),
    ("nucleus_detection_v0", "pt_root_id", "9223372036854775808", "is out of range"),
    ("nucleus_detection_v0", "pt_root_id", "-1", "root id -1 is negative"),
    ("nucleus_detection_v0", "pt_root_id", "12a", "root id '12a' is not an integer"),
    ("nucleus_detection_v0", "pt_root_id", "1.5", "root id 1.5 is not an integer"),
    ("nucleus_detection_v0", "pt_root_id", "8.646911351012895e+17", "is a floating-point number"),
    ("nucleus_detection_v0", "id", "x", "id 'x' is not an integer"),
    ("aibs_metamodel_celltypes_v661", "target_id", "1.5", "nucleus id 1.5 is not an integer"),
    ("proofreading_status_and_strategy", "pt_root_id", "-5", "root id -5 is negative"),
])
def test_bad_ids_in_a_csv_are_refused_naming_file_line_and_column(tmp_path, raw, table, column, text, words):
    ds = write_csv_tables(tmp_path, raw, edit=(table, column, 1, text))
    with pytest.raises(DataError) as err:
        ds.process()
    message = one_line(err.value)
    assert message.startswith(f"{ds.layout.raw_csv(table)}, line 3, column {column}: ") and words in message
    assert not ds.layout.units_path.exists()


def test_exact_decimal_cells_are_read_exactly(tmp_path, raw):
    ds = write_csv_tables(tmp_path, raw, edit=("aibs_metamodel_celltypes_v661", "target_id", 0,
                                              f"{raw['aibs_metamodel_celltypes_v661']['target_id'].iloc[0]}.0"))
    units, _ = ds.process()  # "10012.0" (pandas wrote a float column) is 10012 exactly
    assert len(units) == len(raw["nucleus_detection_v0"])


def write_parquet_tables(folder, tables):
    raw_dir = folder / "1300" / "raw"
    raw_dir.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(raw_dir / f"{name}.parquet", index=False)
    return Dataset(folder, version=1300)


@pytest.mark.parametrize("column_values, words", [
    (lambda n: np.where(np.arange(n) == 4, 2**64 - 1, ROOT_ID_BASE + np.arange(n)).astype(np.uint64),
     "row 5, column pt_root_id: root id 18446744073709551615 is out of range"),
    (lambda n: (ROOT_ID_BASE + np.arange(n)).astype(float), "row 1, column pt_root_id: root id 8.64691135e+17"),
])
def test_parquet_ids_out_of_int64_or_in_float_are_refused(tmp_path, raw, column_values, words):
    tables = dict(raw)
    nucleus = tables["nucleus_detection_v0"].copy()
    nucleus["pt_root_id"] = column_values(len(nucleus))
    tables["nucleus_detection_v0"] = nucleus
    ds = write_parquet_tables(tmp_path, tables)
    with pytest.raises(DataError) as err:
        ds.process()
    message = one_line(err.value)
    assert message.startswith(str(ds.layout.raw_table("nucleus_detection_v0")))
    assert words.split(": root id")[0] in message and ("out of range" in message or "floating-point" in message)


def test_parquet_nullable_ids_keep_every_digit(tmp_path, raw):
    tables = dict(raw)
    nucleus = tables["nucleus_detection_v0"].copy()
    nucleus["pt_root_id"] = pd.array(list(nucleus["pt_root_id"][:-1]) + [None], dtype="Int64")
    tables["nucleus_detection_v0"] = nucleus
    ds = write_parquet_tables(tmp_path, tables)
    units, _ = ds.process()
    assert set(units["pt_root_id"]) == set(nucleus["pt_root_id"].dropna().astype(np.int64))
    assert ds.summary()["removed"]["blank_id"] == 1


# -- synapse import ---------------------------------------------------------------------


def write_source(df: pd.DataFrame, path, fmt: str):
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        pa_table = pa.Table.from_pandas(df, preserve_index=False)
        import pyarrow.parquet as pq

        pq.write_table(pa_table, path)
    return path


BAD_IMPORT_VALUES = [  # (column, value as text, words)
    (PRE, "", "root id is blank"),
    (PRE, "18446744073709551615", "root id 18446744073709551615 is out of range"),
    (POST, "9223372036854775808", "root id 9223372036854775808 is out of range"),
    (PRE, "-1", "root id -1 is negative"),
    (POST, "0", "root id 0 is not a valid root id"),
    (PRE, "1.5", "root id 1.5 is not an integer"),
    (PRE, "12a", "root id '12a' is not an integer"),
    (PRE, "8.646911351012895e+17", "is a floating-point number"),
    ("id", "-3", "synapse ids are reserved for the synthetic ids"),
    ("id", "", "id is blank"),
    ("id", "18446744073709551615", "id 18446744073709551615 is out of range"),
]


@pytest.mark.parametrize("column, text, words", BAD_IMPORT_VALUES, ids=[f"{c}={t!r}" for c, t, _ in BAD_IMPORT_VALUES])
def test_bad_ids_in_an_imported_csv_are_refused(tmp_path, column, text, words):
    path = write_source(synapse_frame(), tmp_path / "syn.csv", "csv")
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[lines[0].split(",").index(column)] = text
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    ds = Dataset(tmp_path / "d", version=1300)
    with pytest.raises(DataError) as err:
        ds.import_synapses(path)
    message = one_line(err.value)
    assert message.startswith(f"{path}, line 4, column {column}: ") and words in message
    assert not ds.synapse_store.has("synapses")


@pytest.mark.parametrize("column, value, row, words", [
    (PRE, np.array([ROOT, 2**64 - 1], dtype=np.uint64), 1, "root id 18446744073709551615 is out of range"),
    (POST, np.array([ROOT, 0], dtype=np.int64), 1, "root id 0 is not a valid root id"),
    (PRE, np.array([ROOT, -1], dtype=np.int64), 1, "root id -1 is negative"),
    (PRE, np.array([ROOT, ROOT], dtype=float), 0, "root id 8.646911351012895e+17 is a floating-point number"),
    (PRE, pd.array([ROOT, None], dtype="Int64"), 1, "root id is blank"),
    (PRE, np.array([str(ROOT), "12a"], dtype=object), 1, "root id '12a' is not an integer"),
    ("id", np.array([5, -7]), 1, "id -7 is negative"),
])
def test_bad_ids_in_an_imported_frame_or_parquet_are_refused(tmp_path, column, value, row, words):
    frame = synapse_frame(2)
    frame[column] = value
    ds = Dataset(tmp_path / "d", version=1300)
    with pytest.raises(DataError) as err:
        ds.import_synapses(frame)
    assert one_line(err.value).startswith(f"DataFrame, index {row}, column {column}: {words}")
    if frame[column].dtype != object:
        path = write_source(frame, tmp_path / "syn.parquet", "parquet")
        with pytest.raises(DataError) as err:
            ds.import_synapses(path)
        assert one_line(err.value).startswith(f"{path}, row {row + 1}, column {column}: {words}")
    assert not ds.synapse_store.has("synapses")


def test_extreme_valid_ids_import_exactly(tmp_path):
    frame = synapse_frame(3)
    frame[PRE] = [1, ROOT, MAX_ID]
    path = write_source(frame, tmp_path / "syn.csv", "csv")
    ds = Dataset(tmp_path / "d", version=1300)
    ds.import_synapses(path)
    got = ds.synapses().sort_values("id")
    assert got[PRE].tolist() == [1, ROOT, MAX_ID] and got[PRE].dtype == np.int64


def test_conflicting_rows_for_one_synapse_id_are_counted(tmp_path):
    frame = synapse_frame(6)
    repeats = frame.iloc[[0, 1]].copy()  # identical copies: not conflicts
    changed = frame.iloc[[2, 3, 3]].copy()
    changed["size"] = [1, 2, 3]  # id 3 once more with another size; id 4 twice more, differing
    ds = Dataset(tmp_path, version=1300)
    result = ds.import_synapses(pd.concat([frame, repeats, changed], ignore_index=True))
    assert result["conflicting_ids"] == 2 and result["rows"] == 6
    result = Dataset(tmp_path / "other", version=1300).import_synapses(pd.concat([frame, repeats], ignore_index=True))
    assert result["conflicting_ids"] == 0 and result["rows"] == 6
    moved = frame.iloc[[5]].copy()
    moved["ctr_pt_position_x"] += 1.0  # same id, another position
    result = Dataset(tmp_path / "third", version=1300).import_synapses(pd.concat([frame, moved], ignore_index=True))
    assert result["conflicting_ids"] == 1


def test_import_in_chunk_files_names_the_file(tmp_path):
    folder = tmp_path / "raw" / "synapses"
    folder.mkdir(parents=True)
    frame = synapse_frame(6)[[PRE, POST, "size"]]
    frame.iloc[:3].to_csv(folder / "connections_table_0.csv", index=False)
    bad = frame.iloc[3:].astype(object)
    bad.iloc[1, 0] = ""
    bad.to_csv(folder / "connections_table_1.csv", index=False)
    with pytest.raises(DataError) as err:
        Dataset(tmp_path / "d", version=1300).import_synapses(tmp_path / "raw")
    assert one_line(err.value).startswith(f"{folder / 'connections_table_1.csv'}, line 3, column {PRE}: root id is blank")


def test_the_fixture_values_cover_the_brief():
    """Keep the tried values visible: each of these goes through parse_id, tables and imports."""
    values = {v if not isinstance(v, np.generic) else v.item() for v, _ in BAD_VALUES if not isinstance(v, list)}
    for needed in (2**63, 2**64 - 1, -1, 0, 1.5, "12a", "", FLOAT_ROOT):
        assert needed in values
