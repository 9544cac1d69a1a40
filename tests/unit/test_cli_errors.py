"""Bad input to the ``napari-microns`` command ends in ONE ``error:`` line, a non-zero exit
code and no traceback, before any work starts where the input itself is wrong.

``BAD_INPUTS`` is the table of bad command lines (every subcommand but ``login``); the
tests below it add the failures only a file system or a second process can cause:
permission denied, a read-only folder, a full disk, a lock held by another process,
and a figure of a root id that cannot be shown. ``test_count_of_bad_inputs`` states
the total: "N bad inputs tried, N handled in one line".
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from napari_microns import cli
from napari_microns.sample.tables import raw_tables, synthetic_units

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
ROOT = "864691135101289504"
PROGRESS = re.compile(r"\d+%\|")  # a tqdm progress bar line

# (case id, argv with {placeholders}, words the one error line must contain)
BAD_INPUTS = [
    # a malformed command line: argparse, exit code 2
    ("no-command", [], "required: COMMAND"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("unknown-option", ["process", "--bogus"], "unrecognized arguments: --bogus"),
    ("morphology-no-ids", ["morphology"], "required: ROOT_ID"),
    ("workers-not-int", ["morphology", ROOT, "--workers", "x"], "invalid int value: 'x'"),
    ("lod-not-int", ["morphology", ROOT, "--lod", "x"], "invalid int value: 'x'"),
    ("chunk-size-float", ["synapses", "--pre", ROOT, "--chunk-size", "1.5"], "invalid int value: '1.5'"),
    ("max-faces-huge-float", ["morphology", ROOT, "--max-faces", "1e9"], "invalid int value: '1e9'"),
    ("figure-no-out", ["figure", "--root-ids", ROOT], "required: --out"),
    ("figure-bad-camera", ["figure", "--out", "{tmp}/x.png", "--camera", "bogus"], "invalid choice: 'bogus'"),
    ("process-bad-functional", ["process", "--functional", "bogus"], "invalid choice: 'bogus'"),
    ("demo-bad-camera", ["demo", "--camera", "sideways"], "invalid choice: 'sideways'"),
    ("download-tables-empty", ["download", "--tables"], "expected at least one argument"),
    # --version: a supported whole number
    ("version-abc", ["process", "--datadir", "{tmp}", "--version", "abc"], "version 'abc' is not a whole number"),
    ("version-float", ["process", "--datadir", "{tmp}", "--version", "1300.7"], "version '1300.7' is not a whole number"),
    ("version-float-zero", ["download", "--datadir", "{tmp}", "--version", "1300.0"], "version '1300.0' is not a whole number"),
    ("version-unsupported", ["process", "--datadir", "{tmp}", "--version", "4"], "version 4 is not supported"),
    ("version-negative", ["process", "--datadir", "{tmp}", "--version", "-1300"], "version -1300 is not supported"),
    ("version-empty", ["morphology", ROOT, "--version", ""], "version '' is not a whole number"),
    ("version-true", ["synapses", "--pre", ROOT, "--version", "True"], "version 'True' is not a whole number"),
    ("version-figure", ["figure", "--version", "abc", "--out", "{tmp}/x.png"], "version 'abc' is not a whole number"),
    # --datadir: a folder (or a path that can become one)
    ("datadir-file-process", ["process", "--datadir", "{file}"], "is a file, not a folder"),
    ("datadir-under-file", ["process", "--datadir", "{file}/sub"], "is a file, not a folder"),
    ("datadir-file-import", ["synapses", "--datadir", "{file}", "--import", "{syn_ok}"], "is a file, not a folder"),
    ("datadir-file-morphology", ["morphology", ROOT, "--datadir", "{file}"], "is a file, not a folder"),
    ("datadir-file-download", ["download", "--datadir", "{file}"], "is a file, not a folder"),
    ("datadir-file-figure", ["figure", "--datadir", "{file}", "--out", "{tmp}/x.png"], "is a file, not a folder"),
    ("datadir-file-view", ["view", "--datadir", "{file}"], "is a file, not a folder"),
    ("datadir-file-versions", ["versions", "--datadir", "{file}"], "is a file, not a folder"),
    ("sample-dir-file", ["demo", "--sample-dir", "{file}"], "--sample-dir {file} is a file, not a folder"),
    ("out-under-file", ["figure", "--out", "{file}/x.png"], "--out {file}/x.png: {file} is a file, not a folder"),
    ("out-is-folder", ["figure", "--out", "{tmp}"], "--out {tmp} is a folder; name the file to write"),
    ("screenshot-is-folder", ["demo", "--screenshot", "{tmp}"], "--screenshot {tmp} is a folder"),
    ("datadir-empty-process", ["process", "--datadir", "{tmp}"], "napari-microns download"),
    ("datadir-empty-view", ["view", "--datadir", "{tmp}"], "napari-microns process"),
    ("datadir-empty-figure", ["figure", "--datadir", "{tmp}", "--out", "{tmp}/x.png"], "napari-microns process"),
    # morphology: root ids and options, refused up front (not as per-id fetch failures)
    ("morph-id-letters", ["morphology", "12a"], "root id '12a' is not an integer"),
    ("morph-id-negative", ["morphology", "-1"], "root id -1 is negative"),
    ("morph-id-zero", ["morphology", "0"], "root id 0 is not a valid root id"),
    ("morph-id-2^63", ["morphology", str(2**63)], f"root id {2**63} is out of range"),
    ("morph-id-2^64-1", ["morphology", str(2**64 - 1)], f"root id {2**64 - 1} is out of range"),
    ("morph-id-2^64", ["morphology", ROOT, str(2**64)], f"item 2: root id {2**64} is out of range"),
    ("morph-id-huge", ["morphology", "9" * 30], "is out of range"),
    ("morph-id-fraction", ["morphology", "1.5"], "root id 1.5 is not an integer"),
    ("morph-id-float", ["morphology", "8.646911351012895e17"], "is a floating-point number"),
    ("morph-id-empty", ["morphology", ""], "no root ids given"),
    ("morph-id-list", ["morphology", f"{ROOT},abc"], "item 2: root id 'abc' is not an integer"),
    ("morph-workers-0", ["morphology", ROOT, "--workers", "0"], "--workers must be at least 1 (got 0)"),
    ("morph-workers-negative", ["morphology", ROOT, "--workers", "-3"], "--workers must be at least 1 (got -3)"),
    ("morph-max-faces-0", ["morphology", ROOT, "--mesh", "--max-faces", "0"], "--max-faces must be at least 1"),
    ("morph-max-faces-negative", ["morphology", ROOT, "--mesh", "--max-faces", "-5"], "--max-faces must be at least 1"),
    ("morph-lod-negative", ["morphology", ROOT, "--mesh", "--lod", "-1"], "--lod must be at least 0 (got -1)"),
    # synapses: --pre/--post as 'all', a list or a file of ids; options
    ("pre-letters", ["synapses", "--pre", "12a"], "--pre: root id '12a' is not an integer"),
    ("pre-negative", ["synapses", "--pre", "-5"], "--pre: root id -5 is negative"),
    ("pre-zero", ["synapses", "--pre", "0"], "--pre: root id 0 is not a valid"),
    ("pre-2^63", ["synapses", "--pre", str(2**63)], "is out of range"),
    ("pre-2^64-1", ["synapses", "--pre", f"{ROOT},{2**64 - 1}"], f"--pre, item 2: root id {2**64 - 1} is out of range"),
    ("pre-fraction", ["synapses", "--pre", "1.5"], "--pre: root id 1.5 is not an integer"),
    ("pre-float", ["synapses", "--pre", "8.646911351012895e17"], "is a floating-point number"),
    ("pre-empty", ["synapses", "--pre", ""], "--pre: no root ids given"),
    ("post-word-list", ["synapses", "--post", "12,abc"], "neither 'all', a list of root ids, nor an existing file"),
    ("post-missing-file", ["synapses", "--post", "{tmp}/missing.txt"], "neither 'all', a list of root ids, nor an existing file"),
    ("post-folder", ["synapses", "--post", "{tmp}"], "is a folder, not a file of root ids"),
    ("post-file-empty", ["synapses", "--post", "{ids_empty}"], "no root ids in"),
    ("post-file-letters", ["synapses", "--post", "{ids_letters}"], "line 3: root id '12a' is not an integer"),
    ("post-file-2^64-1", ["synapses", "--post", "{ids_2_64}"], f"line 2: root id {2**64 - 1} is out of range"),
    ("post-file-negative", ["synapses", "--post", "{ids_negative}"], "line 1: root id -1 is negative"),
    ("post-file-float", ["synapses", "--post", "{ids_float}"], "line 1: root id 8.646911351012895e+17 is a floating-point"),
    ("post-file-binary", ["synapses", "--post", "{ids_binary}"], "is not a text file of root ids"),
    ("no-pre-no-post", ["synapses", "--datadir", "{tmp}"], "give pre ids or post ids"),
    ("chunk-size-0", ["synapses", "--pre", ROOT, "--chunk-size", "0"], "--chunk-size must be at least 1 (got 0)"),
    ("chunk-size-negative", ["synapses", "--pre", ROOT, "--chunk-size", "-1"], "--chunk-size must be at least 1"),
    ("synapse-workers-0", ["synapses", "--pre", ROOT, "--workers", "0"], "--workers must be at least 1 (got 0)"),
    # synapses --import: ids in the imported file, refused naming file, line and column
    ("import-missing", ["synapses", "--datadir", "{tmp}", "--import", "{tmp}/nope.csv"], "nope.csv not found"),
    # synapses --import-dump: the dump and the engine's memory limit
    ("import-dump-missing", ["synapses", "--datadir", "{tmp}", "--import-dump", "{tmp}/nope.csv.gz"], "nope.csv.gz not found"),
    ("memory-limit-3", ["synapses", "--datadir", "{tmp}", "--import-dump", "{tmp}/nope.csv.gz", "--memory-limit", "3"],
     "memory limit '3' is below 128MB"),
    ("memory-limit-lots", ["synapses", "--datadir", "{tmp}", "--compact", "--memory-limit", "lots"],
     "memory limit 'lots' is not a size like 2GB"),
    ("import-empty-folder", ["synapses", "--datadir", "{tmp}", "--import", "{empty}"], "no connections_table_*.csv files"),
    ("import-blank-pre", ["synapses", "--datadir", "{tmp}", "--import", "{syn_blank}"], "line 3, column pre_pt_root_id: root id is blank"),
    ("import-2^64-1", ["synapses", "--datadir", "{tmp}", "--import", "{syn_2_64}"], f"column post_pt_root_id: root id {2**64 - 1} is out of range"),
    ("import-negative-id", ["synapses", "--datadir", "{tmp}", "--import", "{syn_negative_id}"], "reserved for the synthetic ids"),
    ("import-zero-root", ["synapses", "--datadir", "{tmp}", "--import", "{syn_zero}"], "root id 0 is not a valid root id"),
    ("import-letters", ["synapses", "--datadir", "{tmp}", "--import", "{syn_letters}"], "root id '12a' is not an integer"),
    ("import-float-root", ["synapses", "--datadir", "{tmp}", "--import", "{syn_float}"], "is a floating-point number"),
    ("import-parquet-uint64", ["synapses", "--datadir", "{tmp}", "--import", "{syn_uint64}"], "row 2, column pre_pt_root_id: root id 18446744073709551615 is out of range"),
    ("import-parquet-float", ["synapses", "--datadir", "{tmp}", "--import", "{syn_float_parquet}"], "row 1, column pre_pt_root_id"),
    ("import-missing-column", ["synapses", "--datadir", "{tmp}", "--import", "{syn_no_post}"], "missing column(s) post_pt_root_id"),
    ("import-not-a-table", ["synapses", "--datadir", "{tmp}", "--import", "{syn_binary}"], "cannot be read as a table"),
    # view / figure: --root-ids, refused before any window opens
    ("view-ids-letters", ["view", "--datadir", "{tmp}", "--root-ids", "12a"], "--root-ids: root id '12a' is not an integer"),
    ("view-ids-zero", ["view", "--datadir", "{tmp}", "--root-ids", "0"], "--root-ids: root id 0 is not a valid"),
    ("figure-ids-negative", ["figure", "--root-ids", "-1", "--out", "{tmp}/x.png"], "--root-ids: root id -1 is negative"),
    ("figure-ids-2^64-1", ["figure", "--root-ids", ROOT, str(2**64 - 1), "--out", "{tmp}/x.png"], "item 2: root id 18446744073709551615 is out of range"),
    ("figure-ids-fraction", ["figure", "--root-ids", "1.5", "--out", "{tmp}/x.png"], "root id 1.5 is not an integer"),
    ("figure-ids-float", ["figure", "--root-ids", "8.646911351012895e17", "--out", "{tmp}/x.png"], "floating-point"),
    # process: ids in the raw tables, and the layer method
    ("process-csv-2^64-1", ["process", "--datadir", "{raw_2_64}"], "line 4, column pt_root_id: root id 18446744073709551615 is out of range"),
    ("process-csv-letters", ["process", "--datadir", "{raw_letters}"], "column pt_root_id: root id '12a' is not an integer"),
    ("process-csv-negative", ["process", "--datadir", "{raw_negative}"], "column pt_root_id: root id -1 is negative"),
    ("process-csv-target-fraction", ["process", "--datadir", "{raw_target_fraction}"], "column target_id: nucleus id 1.5 is not an integer"),
    ("process-parquet-float", ["process", "--datadir", "{raw_parquet_float}"], "column pt_root_id: root id 8.64691135"),
    ("process-parquet-corrupt", ["process", "--datadir", "{raw_corrupt}"], "is corrupt"),
    ("process-layer-method", ["process", "--datadir", "{tmp}", "--layer-method", "bogus"], "--layer-method 'bogus' is not known"),
    # partners / connectivity: ids, options and output files, then an empty store
    ("partners-no-id", ["partners"], "required: ROOT_ID"),
    ("partners-id-letters", ["partners", "12a"], "ROOT_ID: root id '12a' is not an integer"),
    ("partners-id-float", ["partners", "8.646911351012895e17"], "floating-point"),
    ("partners-bad-direction", ["partners", ROOT, "--direction", "up"], "invalid choice: 'up'"),
    ("partners-bad-by", ["partners", ROOT, "--by", "volume"], "invalid choice: 'volume'"),
    ("partners-csv-folder", ["partners", ROOT, "--csv", "{tmp}"], "--csv {tmp} is a folder"),
    ("partners-csv-under-file", ["partners", ROOT, "--csv", "{file}/p.csv"], "{file} is a file, not a folder"),
    ("partners-empty-store", ["partners", "--datadir", "{tmp}", ROOT], "no synapses in"),
    ("connectivity-no-out", ["connectivity", "--ids", ROOT], "required: --out"),
    ("connectivity-no-ids", ["connectivity", "--out", "{tmp}/x.png"], "required: --ids"),
    ("connectivity-bad-suffix", ["connectivity", "--ids", ROOT, "--out", "{tmp}/x.txt"], "--out {tmp}/x.txt: write a"),
    ("connectivity-bad-value", ["connectivity", "--ids", ROOT, "--out", "{tmp}/x.png", "--value", "mean"], "invalid choice: 'mean'"),
    ("connectivity-ids-all", ["connectivity", "--ids", "all", "--out", "{tmp}/x.png"], "--ids all: name the neurons"),
    ("connectivity-ids-letters", ["connectivity", "--ids", "12,abc", "--out", "{tmp}/x.csv"], "neither 'all', a list"),
    ("connectivity-ids-2^64-1", ["connectivity", "--ids", "{ids_2_64}", "--out", "{tmp}/x.csv"], "line 2: root id 18446744073709551615"),
    ("connectivity-out-folder", ["connectivity", "--ids", ROOT, "--out", "{tmp}"], "write a .png"),
    ("connectivity-proofread-no-units", ["connectivity", "--datadir", "{tmp}", "--ids", "proofread", "--out", "{tmp}/x.csv"], "needs the processed units"),
    ("connectivity-empty-store", ["connectivity", "--datadir", "{tmp}", "--ids", ROOT, "--out", "{tmp}/x.png"], "no synapses in"),
    # neuroglancer: ids, options, the state file, an empty store, --shorten without a token (before any work)
    ("neuroglancer-no-ids", ["neuroglancer"], "required: ROOT_IDS"),
    ("neuroglancer-id-letters", ["neuroglancer", "12a"], "ROOT_IDS: root id '12a' is not an integer"),
    ("neuroglancer-id-2^64", ["neuroglancer", ROOT, "18446744073709551616"], "18446744073709551616"),
    ("neuroglancer-bad-synapses", ["neuroglancer", ROOT, "--synapses", "all"], "invalid choice: 'all'"),
    ("neuroglancer-bad-group-by", ["neuroglancer", ROOT, "--group-by", "layer"], "invalid choice: 'layer'"),
    ("neuroglancer-bad-base", ["neuroglancer", ROOT, "--base", "spelunker"], "--base 'spelunker'"),
    ("neuroglancer-out-folder", ["neuroglancer", ROOT, "--out", "{tmp}"], "--out {tmp} is a folder"),
    ("neuroglancer-out-under-file", ["neuroglancer", ROOT, "--out", "{file}/s.json"], "{file} is a file, not a folder"),
    ("neuroglancer-empty-store", ["neuroglancer", "--datadir", "{tmp}", ROOT], "no synapses in"),
    # emfigure: one centre (a synapse, a soma or a point), a size, a figure file; then an empty store
    ("emfigure-no-centre", ["emfigure", "--out", "{tmp}/x.png"], "one of the arguments --synapse-id --root-id --at is required"),
    ("emfigure-two-centres", ["emfigure", "--root-id", ROOT, "--at", "1", "2", "3", "--out", "{tmp}/x.png"], "not allowed with argument"),
    ("emfigure-id-letters", ["emfigure", "--root-id", "12a", "--out", "{tmp}/x.png"], "--root-id: root id '12a' is not an integer"),
    ("emfigure-synapse-negative", ["emfigure", "--synapse-id", "-4", "--out", "{tmp}/x.png"], "--synapse-id"),
    ("emfigure-at-letters", ["emfigure", "--at", "1", "two", "3", "--out", "{tmp}/x.png"], "--at needs three numbers"),
    ("emfigure-at-nan", ["emfigure", "--at", "1", "nan", "3", "--out", "{tmp}/x.png"], "three finite numbers"),
    ("emfigure-size-zero", ["emfigure", "--root-id", ROOT, "--size-um", "0", "--out", "{tmp}/x.png"], "--size-um must be above 0"),
    ("emfigure-size-letters", ["emfigure", "--root-id", ROOT, "--size-um", "ten", "--out", "{tmp}/x.png"], "--size-um must be a number"),
    ("emfigure-bad-suffix", ["emfigure", "--root-id", ROOT, "--out", "{tmp}/x.txt"], "a 2D figure is saved as"),
    ("emfigure-out-folder", ["emfigure", "--root-id", ROOT, "--out", "{tmp}"], "is a folder"),
    ("emfigure-root-ids-letters", ["emfigure", "--root-id", ROOT, "--root-ids", "1,x", "--out", "{tmp}/x.png"], "--root-ids"),
    ("emfigure-empty-store", ["emfigure", "--datadir", "{tmp}", "--synapse-id", "5", "--out", "{tmp}/x.png"], "no single synapses"),
    # roots: versions, ids and --how checked before any work; an unprocessed folder says so
    ("roots-no-ids", ["roots", "--from", "1181", "--to", "1300"], "required: IDS"),
    ("roots-no-from", ["roots", "--to", "1300", ROOT], "required: --from"),
    ("roots-bad-to", ["roots", "--from", "1181", "--to", "99", ROOT], "materialization version 99 is not supported"),
    ("roots-bad-how", ["roots", "--from", "1181", "--to", "1300", "--how", "soma", ROOT], "invalid choice: 'soma'"),
    ("roots-id-letters", ["roots", "--from", "1181", "--to", "1300", "12a"], "IDS"),
    ("roots-ids-all", ["roots", "--from", "1181", "--to", "1300", "all"], "IDS all: name the root ids"),
    ("roots-csv-folder", ["roots", "--from", "1181", "--to", "1300", ROOT, "--csv", "{tmp}"], "--csv {tmp} is a folder"),
    ("roots-unprocessed", ["roots", "--datadir", "{tmp}", "--from", "1181", "--to", "1300", ROOT], "run `napari-microns process"),
]


def csv_with(df: pd.DataFrame, path, row: int, column: str, text: str):
    """``df`` as CSV with one cell replaced by ``text`` (data row ``row``, 0-based)."""
    df.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    cells = lines[row + 1].split(",")
    cells[lines[0].split(",").index(column)] = text
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def synapse_frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(1, n + 1), PRE: int(ROOT) + np.arange(n), POST: np.full(n, int(ROOT)),
                         "size": np.arange(10, 10 + n), "ctr_pt_position_x": np.arange(n) * 1000.0 + 1e5,
                         "ctr_pt_position_y": np.arange(n) * 1000.0 + 1e5, "ctr_pt_position_z": np.arange(n) + 2e4})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the bad inputs point at (read only by the cases, never written)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "afile.txt").write_text("not a folder\n")
    (root / "empty").mkdir()
    ids = {"ids_empty": "# nothing here\n", "ids_letters": f"{ROOT}\n\n12a\n", "ids_2_64": f"{ROOT}\n{2**64 - 1}\n",
           "ids_negative": "-1\n", "ids_float": "8.646911351012895e+17\n"}
    for name, text in ids.items():
        (root / f"{name}.txt").write_text(text)
    (root / "ids_binary.txt").write_bytes(b"\xff\xfe\x00\x81binary")
    syn = synapse_frame()
    paths = {
        "syn_ok": syn.to_csv(root / "syn_ok.csv", index=False) or root / "syn_ok.csv",
        "syn_blank": csv_with(syn, root / "syn_blank.csv", 1, PRE, ""),
        "syn_2_64": csv_with(syn, root / "syn_2_64.csv", 2, POST, str(2**64 - 1)),
        "syn_negative_id": csv_with(syn, root / "syn_negative_id.csv", 0, "id", "-9"),
        "syn_zero": csv_with(syn, root / "syn_zero.csv", 3, PRE, "0"),
        "syn_letters": csv_with(syn, root / "syn_letters.csv", 1, POST, "12a"),
        "syn_float": csv_with(syn, root / "syn_float.csv", 1, PRE, "8.646911351012895e+17"),
    }
    uint = syn.copy()
    uint[PRE] = np.array([int(ROOT), 2**64 - 1, int(ROOT), int(ROOT)], dtype=np.uint64)
    uint.to_parquet(root / "syn_uint64.parquet", index=False)
    floats = syn.copy()
    floats[PRE] = floats[PRE].astype(float)
    floats.to_parquet(root / "syn_float_parquet.parquet", index=False)
    syn.drop(columns=[POST]).to_csv(root / "syn_no_post.csv", index=False)
    (root / "syn_binary.csv").write_bytes(b"\x00\x01\x02PAR1\xff\xfe" * 10)
    paths.update(syn_uint64=root / "syn_uint64.parquet", syn_float_parquet=root / "syn_float_parquet.parquet",
                 syn_no_post=root / "syn_no_post.csv", syn_binary=root / "syn_binary.csv")

    # rows 0 and 1 in every table, root ids like minnie65's (864691135...)
    tables = raw_tables(synthetic_units(40, proofread_share=0.2, root_id_base=864691135_000_000_000))

    def raw_folder(name, edit=None, fmt="csv"):
        folder = root / name / "1300" / "raw"
        folder.mkdir(parents=True)
        for table, df in tables.items():
            if fmt == "parquet":
                df.to_parquet(folder / f"{table}.parquet", index=False)
            elif edit and edit[0] == table:
                csv_with(df, folder / f"{table}.csv", *edit[1:])
            else:
                df.to_csv(folder / f"{table}.csv", index=False)
        return root / name

    paths.update(
        raw_2_64=raw_folder("raw_2_64", ("nucleus_detection_v0", 2, "pt_root_id", str(2**64 - 1))),
        raw_letters=raw_folder("raw_letters", ("nucleus_detection_v0", 0, "pt_root_id", "12a")),
        raw_negative=raw_folder("raw_negative", ("proofreading_status_and_strategy", 1, "pt_root_id", "-1")),
        raw_target_fraction=raw_folder("raw_target_fraction", ("aibs_metamodel_celltypes_v661", 5, "target_id", "1.5")),
        raw_parquet_float=raw_folder("raw_parquet_float", fmt="parquet"),
        raw_corrupt=raw_folder("raw_corrupt", fmt="parquet"),
    )
    nucleus = tables["nucleus_detection_v0"].copy()
    nucleus["pt_root_id"] = nucleus["pt_root_id"].astype(float)
    nucleus.to_parquet(paths["raw_parquet_float"] / "1300" / "raw" / "nucleus_detection_v0.parquet", index=False)
    (paths["raw_corrupt"] / "1300" / "raw" / "nucleus_detection_v0.parquet").write_bytes(b"PAR1 not really")
    return {"file": root / "afile.txt", "empty": root / "empty", **{k: root / f"{k}.txt" for k in ids},
            "ids_binary": root / "ids_binary.txt", **paths}


def run_main(argv, capsys) -> tuple[int, str, str]:
    """``napari-microns ARGV`` in this process; (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: a malformed command line
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, out: str, err: str, words: str = "") -> str:
    """Non-zero exit, exactly one ``error:`` line on stderr (progress bars aside), no traceback."""
    lines = [line for line in re.split(r"[\r\n]+", err) if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert code not in (0, None), (code, out, err)
    assert len(errors) == 1, err
    assert all(PROGRESS.search(line) for line in lines if not line.startswith("error: ")), err
    assert "Traceback" not in err and "Traceback" not in out
    assert words in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("argv, words", [pytest.param(a, w, id=i) for i, a, w in BAD_INPUTS])
def test_bad_input_ends_in_one_line(argv, words, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default ./napari-microns-data, if a case uses it, is this test's
    slots = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    code, out, err = run_main([a.format(**slots) for a in argv], capsys)
    assert_one_error_line(code, out, err, words.format(**slots))
    malformed = not argv or argv[0] == "frobnicate" or "invalid" in words or "required" in words \
        or "unrecognized" in words or "expected" in words or "not allowed with" in words
    assert code == (2 if malformed else 1)
    assert not (tmp_path / "napari-microns-data").exists()  # nothing was started
    assert not (tmp_path / "x.png").exists()


def test_ids_are_checked_before_any_work(files, tmp_path, capsys, monkeypatch):
    """A bad id among good ones: nothing fetched, no folder made, no network touched."""
    from napari_microns.core import dataset

    monkeypatch.setattr(dataset, "make_client", lambda *a, **k: pytest.fail("no client may be made"))
    for argv in (["morphology", ROOT, "99999999999999999999", "--datadir", tmp_path / "d"],
                 ["synapses", "--pre", f"{ROOT} -2", "--datadir", tmp_path / "d"],
                 ["synapses", "--post", files["ids_2_64"], "--datadir", tmp_path / "d"]):
        code, out, err = run_main(argv, capsys)
        assert_one_error_line(code, out, err)
    assert not (tmp_path / "d").exists()


# -- file-system failures: in this process, at the os level -------------------------------


def processable(tmp_path):
    raw = tmp_path / "data" / "1300" / "raw"
    raw.mkdir(parents=True)
    for name, df in raw_tables(synthetic_units(40)).items():
        df.to_csv(raw / f"{name}.csv", index=False)
    return tmp_path / "data"


def fail_under(monkeypatch, folder, name: str, code: int):
    """``os.<name>`` fails with ``code`` for paths under ``folder`` (as the kernel would)."""
    real = getattr(os, name)
    prefix = str(folder)

    def failing(path, *args, **kwargs):
        if str(path).startswith(prefix):
            raise OSError(code, os.strerror(code), str(path)) if code != errno.EACCES else \
                PermissionError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, failing)


def test_permission_denied_is_said_as_such(tmp_path, capsys, monkeypatch):
    datadir = processable(tmp_path)
    fail_under(monkeypatch, datadir / "1300", "mkdir", errno.EACCES)
    line = assert_one_error_line(*run_main(["process", "--datadir", datadir], capsys), "permission denied")
    assert "corrupt" not in line and "--datadir" in line


def test_a_full_disk_is_said_as_such(tmp_path, capsys, monkeypatch):
    datadir = processable(tmp_path)
    (datadir / "1300" / "processed").mkdir()
    (datadir / "1300" / ".locks").mkdir()
    fail_under(monkeypatch, datadir / "1300", "open", errno.ENOSPC)  # no new file can be made
    line = assert_one_error_line(*run_main(["process", "--datadir", datadir], capsys), "no space left")
    assert "corrupt" not in line and not list((datadir / "1300" / "processed").iterdir())


def test_an_unexpected_error_is_one_line_with_a_hint(tmp_path, capsys, monkeypatch):
    """The safety net: a bug still ends in one line, and says how to see the traceback."""
    from napari_microns.core import units

    datadir = processable(tmp_path)
    monkeypatch.setattr(units, "voxels_to_um", lambda v: 1 / 0)
    line = assert_one_error_line(*run_main(["process", "--datadir", datadir], capsys), "ZeroDivisionError")
    assert "-v" in line
    code, out, err = run_main(["-v", "process", "--datadir", datadir], capsys)
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


def test_import_prints_conflicting_ids(tmp_path, capsys):
    syn = synapse_frame()
    twice = pd.concat([syn, syn.iloc[[1]].assign(size=999), syn.iloc[[2]]], ignore_index=True)
    twice.to_csv(tmp_path / "syn.csv", index=False)
    code, out, err = run_main(["synapses", "--datadir", tmp_path / "d", "--import", tmp_path / "syn.csv"], capsys)
    assert code == 0 and "imported 4 synapses rows" in out
    assert "1 synapse ids came with conflicting rows" in err  # id 2; id 3's identical repeat is no conflict


# -- real processes: a read-only folder, a full disk, a second writer, a figure ------------


def run_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "napari_microns.cli", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def in_mount_namespace(script: str, *args) -> subprocess.CompletedProcess:
    """``sh -c script`` in a private mount namespace (a real read-only or full file system)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here (needs root or user namespaces)")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_a_read_only_data_folder_is_a_permission_error(tmp_path):
    datadir = processable(tmp_path)
    r = in_mount_namespace('mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" && '
                           'exec "$1" -m napari_microns.cli process --datadir "$2"', datadir)
    if "mount:" in r.stderr:
        pytest.skip(f"bind mounts not allowed here: {r.stderr.strip()}")
    line = assert_one_error_line(r.returncode, r.stdout, r.stderr, "permission denied")
    assert "read-only" in line and "corrupt" not in line


def test_a_full_disk_in_a_real_process(tmp_path):
    datadir = processable(tmp_path)
    r = in_mount_namespace('mkdir -p "$3" && mount -t tmpfs -o size=4m tmpfs "$3" && cp -r "$2" "$3/data" && '
                           '(dd if=/dev/zero of="$3/filler" bs=4k 2>/dev/null; true) && '
                           'exec "$1" -m napari_microns.cli process --datadir "$3/data"', datadir, tmp_path / "full")
    if "mount:" in r.stderr:
        pytest.skip(f"tmpfs mounts not allowed here: {r.stderr.strip()}")
    assert_one_error_line(r.returncode, r.stdout, r.stderr, "no space left")


HOLD_LOCK = textwrap.dedent("""
    import sys
    from napari_microns.core.layout import Layout, write_lock
    with write_lock(Layout(sys.argv[1], 1300).lock_file("processed"), "a test"):
        print("held", flush=True)
        sys.stdin.read()
""")


def test_a_second_writer_is_told_in_one_line(tmp_path):
    datadir = processable(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(datadir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = run_cli("process", "--datadir", datadir, env={"NAPARI_MICRONS_LOCK_TIMEOUT": "0"})
    finally:
        holder.communicate("", timeout=30)
    assert_one_error_line(r.returncode, r.stdout, r.stderr, "another napari-microns process is writing")


@pytest.mark.slow
def test_figure_of_an_unknown_root_id_fails_once_in_one_line(tmp_path_factory, tmp_path):
    """Not in the units table and not in the morphology source: `error:`, exit 1, each message
    once (it used to be logged and printed: twice, with exit 0), and no PNG."""
    if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
        pytest.skip("figure needs a display or Xvfb")
    from support.sample import session_sample

    info = session_sample(tmp_path_factory)
    unknown = "864691135999999999"
    env = {"QT_QPA_PLATFORM": "xcb"} if os.environ.get("DISPLAY") else {}
    r = run_cli("figure", "--datadir", info.datadir, "--version", info.version, "--root-ids", unknown,
                "--out", tmp_path / "fig.png", env=env, timeout=300)
    line = assert_one_error_line(r.returncode, r.stdout, r.stderr, "not written")
    assert r.returncode == 1 and unknown in line
    assert (r.stdout + r.stderr).count("has no skeleton") == 1
    assert not (tmp_path / "fig.png").exists()


#: the bad inputs tried outside the table, by test
EXTRA_BAD_INPUTS = {
    "test_ids_are_checked_before_any_work": 3,
    "test_permission_denied_is_said_as_such": 1,
    "test_a_full_disk_is_said_as_such": 1,
    "test_an_unexpected_error_is_one_line_with_a_hint": 1,
    "test_a_read_only_data_folder_is_a_permission_error": 1,
    "test_a_full_disk_in_a_real_process": 1,
    "test_a_second_writer_is_told_in_one_line": 1,
    "test_figure_of_an_unknown_root_id_fails_once_in_one_line": 1,
}


def test_count_of_bad_inputs():
    """The number the issue quotes: N bad inputs tried, N handled in one line."""
    assert all(name in globals() for name in EXTRA_BAD_INPUTS)
    assert len({i for i, _, _ in BAD_INPUTS}) == len(BAD_INPUTS)
    total = len(BAD_INPUTS) + sum(EXTRA_BAD_INPUTS.values())
    assert total >= 60
    print(f"{total} bad inputs tried, {total} handled in one line")
