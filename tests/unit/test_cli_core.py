"""The napari-microns command: download, process, login."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from support.fake_cave import FakeCAVE

from napari_microns import cli
from napari_microns.core import dataset as dataset_module
from napari_microns.sample.tables import raw_tables, synthetic_units


def test_process_prints_summary_and_writes_tables(tmp_path, capsys, layered):
    raw = tmp_path / "1300" / "raw"
    raw.mkdir(parents=True)
    for name, df in layered.items():
        df.to_csv(raw / f"{name}.csv", index=False)  # microns_datacleaner's layout
    assert cli.main(["process", "--datadir", str(tmp_path), "--version", "1300"]) == 0
    out = capsys.readouterr().out
    assert "units" in out and "removed" in out and "L2/3" in out and "multi-soma" in out
    layers = pd.read_parquet(tmp_path / "1300" / "processed" / "layers.parquet")
    assert list(layers["layer"]) == ["L1", "L2/3", "L4", "L5", "L6"]


def test_download_command_with_a_server(tmp_path, capsys, monkeypatch, fast_retry):
    fake = FakeCAVE(raw_tables(synthetic_units(200)), versions=[1300])
    client = fake.client(1300)
    monkeypatch.setattr(dataset_module, "make_client", lambda datastack, policy: client)
    monkeypatch.setattr(dataset_module, "DEFAULT_RETRY", fast_retry)
    with fake:
        code = cli.main(["download", "--datadir", str(tmp_path), "--version", "1300",
                         "--tables", "nucleus_detection_v0", "aibs_metamodel_celltypes_v661"])
    assert code == 0
    out = capsys.readouterr().out
    assert "nucleus_detection_v0: complete" in out and "aibs_metamodel_celltypes_v661: complete" in out


def test_download_auth_failure_is_one_line(tmp_path, capsys, monkeypatch):
    fake = FakeCAVE(raw_tables(synthetic_units(50)), versions=[1300])
    fake.faults["nucleus_detection_v0"] += [401]
    client = fake.client(1300)
    monkeypatch.setattr(dataset_module, "make_client", lambda datastack, policy: client)
    with fake:
        code = cli.main(["download", "--datadir", str(tmp_path), "--tables", "nucleus_detection_v0"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # above it: the progress bar
    assert code == 1 and last.startswith("error:") and "napari-microns login" in last
    assert "Traceback" not in err


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "napari_microns.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_expected_failures_end_in_one_line_without_traceback(tmp_path):
    r = run_cli("process", "--datadir", str(tmp_path), "--version", "1300")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert "napari-microns download" in r.stderr
    r = run_cli("process", "--datadir", str(tmp_path), "--version", "4")
    assert r.returncode == 1 and "supported versions" in r.stderr and r.stderr.count("\n") == 1


def test_login_saves_the_token_through_caveclient(tmp_path):
    r = run_cli("login", "--token", "abc123def", env={"HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / ".cloudvolume" / "secrets" / "cave-secret.json").read_text())
    assert saved["token"] == "abc123def"


def test_login_without_terminal_says_what_to_do(tmp_path):
    r = subprocess.run([sys.executable, "-m", "napari_microns.cli", "login"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env={**os.environ, "HOME": str(tmp_path)}, timeout=120)
    assert r.returncode == 1
    assert "create_token" in r.stdout and "--token" in r.stderr


@pytest.mark.parametrize("argv", [["--help"], ["download", "--help"], ["process", "--help"], ["login", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
