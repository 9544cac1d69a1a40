"""The CAVE token goes only where it belongs, and is saved privately (issue "Reliability and
security", item 1).

* A data folder's ``sources.json`` cannot send the token to a host of its choosing: a real
  local HTTP server records every request's headers, and sees none (or sees the token only
  when the user allowed that host in their own environment).
* ``napari-microns login`` reads the token from stdin or a hidden prompt (a real pseudo-
  terminal), never prints it, and leaves the token files 0600 in a 0700 folder (real
  subprocesses with their own HOME, under umask 022).
"""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import FAST_RETRY
from support.fake_cave import LOCAL, FakeCAVE
from support.precomputed import ROOT_IDS

from napari_microns import Dataset
from napari_microns.core.errors import AuthError, MicronsError
from napari_microns.core.morphology import write_sources
from napari_microns.core.credentials import TOKEN_HOSTS_ENV, check_token_host, token_destination

#: hexadecimal, as cloud-volume requires of a graphene token
TOKEN = "0123456789abcdef0123456789abcdef"


class RecordingServer:
    """A real HTTP server on 127.0.0.1 that records each request's path and headers (answers 404)."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _record(self):
                outer.requests.append((self.path, dict(self.headers.items())))
                body = b'{"message": "not here"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authorizations(self) -> list[str]:
        return [h["Authorization"] for _, h in self.requests if "Authorization" in h]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = RecordingServer()
    yield server
    server.close()


def dataset(tmp_path, **client_kwargs):
    """A Dataset on a real CAVEclient (CAVEclientMock) holding :data:`TOKEN`."""
    client = FakeCAVE(tables={}).client(1300, **client_kwargs)
    client.auth.token = TOKEN
    ds = Dataset(tmp_path, version=1300, client=client, retry=FAST_RETRY)
    ds._version_checked = True
    return ds


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and TOKEN not in text
    return text


# -- where the token may go -------------------------------------------------------------


@pytest.mark.parametrize("kind, scheme", [("mesh", "graphene://http://{host}/segmentation/table/x"),
                                          ("skeleton", "graphene://http://{host}/segmentation/table/x"),
                                          ("mesh", "precomputed://middleauth+http://{host}/layer")])
def test_a_data_folder_cannot_send_the_token_to_its_own_host(tmp_path, recorder, monkeypatch, kind, scheme):
    monkeypatch.delenv(TOKEN_HOSTS_ENV, raising=False)
    ds = dataset(tmp_path)
    source = scheme.format(host=recorder.host)
    write_sources(ds.layout, **{f"{kind}_source": source})
    with pytest.raises(AuthError) as err:
        getattr(ds, kind)(ROOT_IDS[0])
    msg = one_line(err.value)
    assert f"refusing to send your CAVE token to {recorder.host}" in msg
    assert f"{TOKEN_HOSTS_ENV}={recorder.host}" in msg  # says how to allow it
    assert recorder.requests == []  # nothing at all reached the host


@pytest.mark.parametrize("allowed", ["{host}", "127.0.0.1", "other.example.org, {host}"])
def test_a_host_the_user_allows_gets_the_token(tmp_path, recorder, monkeypatch, allowed):
    monkeypatch.setenv(TOKEN_HOSTS_ENV, allowed.format(host=recorder.host))
    ds = dataset(tmp_path)
    write_sources(ds.layout, mesh_source=f"graphene://http://{recorder.host}/segmentation/table/x")
    with pytest.raises(MicronsError) as err:  # the recorder is no graphene server: opening fails after
        ds.mesh(ROOT_IDS[0])
    one_line(err.value)
    assert recorder.authorizations() and set(recorder.authorizations()) == {f"Bearer {TOKEN}"}
    assert recorder.requests[0][0] == "/segmentation/table/x/info"


def test_allowing_another_port_does_not_allow_this_one(tmp_path, recorder, monkeypatch):
    monkeypatch.setenv(TOKEN_HOSTS_ENV, "127.0.0.1:1")
    ds = dataset(tmp_path)
    write_sources(ds.layout, mesh_source=f"graphene://http://{recorder.host}/segmentation/table/x")
    with pytest.raises(AuthError, match="refusing to send your CAVE token"):
        ds.mesh(ROOT_IDS[0])
    assert recorder.requests == []


def test_the_datastacks_own_graphene_server_needs_no_configuration(tmp_path, recorder, monkeypatch):
    monkeypatch.delenv(TOKEN_HOSTS_ENV, raising=False)
    own = f"graphene://http://{recorder.host}/segmentation/table/minnie65_public"
    ds = dataset(tmp_path, info_overrides={"segmentation_source": own})  # what the CAVE info service names
    write_sources(ds.layout, mesh_source=own)
    with pytest.raises(MicronsError):
        ds.mesh(ROOT_IDS[0])
    assert set(recorder.authorizations()) == {f"Bearer {TOKEN}"}


def test_datastack_hosts_over_https_only_unless_the_datastack_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_HOSTS_ENV, raising=False)
    client = dataset(tmp_path).client  # its info names https://local.cave.com
    host = LOCAL.split("://")[1]
    check_token_host(f"graphene://{LOCAL}/segmentation/table/other", client)  # no error
    check_token_host(f"precomputed://middleauth+{LOCAL}:8443/skeletons", client)
    with pytest.raises(AuthError, match="plain http"):
        check_token_host(f"graphene://http://{host}/segmentation/table/x", client)
    with pytest.raises(AuthError, match="not a server of datastack minnie65_public"):
        check_token_host("graphene://https://local.cave.com.evil.org/segmentation/table/x", client)


@pytest.mark.parametrize("source, host", [
    ("graphene://https://minnie.microns-daf.com/segmentation/table/minnie65_public", "minnie.microns-daf.com"),
    ("graphene://middleauth+https://Cave.Example.org:8443/segmentation/table/x", "cave.example.org:8443"),
    ("precomputed://middleauth+https://h.org/skeletons", "h.org"),
    ("precomputed://gs://iarpa_microns/minnie/minnie65/seg_m1300", None),
    ("precomputed://https://storage.googleapis.com/bucket/layer", None),
    ("precomputed://file:///data/layer", None),
])
def test_which_sources_carry_the_token(source, host):
    assert token_destination(source) == host


# -- napari-microns login ------------------------------------------------------------------


def secrets_dir(home: Path) -> Path:
    return home / ".cloudvolume" / "secrets"


def login(home: Path, *args, stdin: str | None = None):
    """``python -m napari_microns.cli login`` in a subprocess with its own HOME, umask 022."""
    return subprocess.run(
        [sys.executable, "-m", "napari_microns.cli", "login", *args], input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True, text=True,
        env={**os.environ, "HOME": str(home)}, preexec_fn=lambda: os.umask(0o022), timeout=120,
    )


def assert_private_token_files(home: Path, token: str = TOKEN) -> None:
    folder = secrets_dir(home)
    files = sorted(folder.iterdir())
    # caveclient's default file and the default global server's file
    assert {f.name for f in files} >= {"cave-secret.json", "global.daf-apis.com-cave-secret.json"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert json.loads(f.read_text())["token"] == token


def test_login_from_stdin_saves_private_files_and_prints_no_token(tmp_path):
    r = login(tmp_path, stdin=TOKEN + "\n")
    assert r.returncode == 0, r.stderr
    assert TOKEN not in r.stdout + r.stderr and "readable only by you" in r.stdout
    assert_private_token_files(tmp_path)
    # caveclient, as napari-microns uses it, finds the token
    check = subprocess.run([sys.executable, "-c", "from caveclient.auth import AuthClient; "
                            f"assert AuthClient().token == {TOKEN!r}"], env={**os.environ, "HOME": str(tmp_path)},
                           timeout=120)
    assert check.returncode == 0


def test_login_tightens_files_an_older_login_left_open(tmp_path):
    folder = secrets_dir(tmp_path)
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    old = folder / "cave-secret.json"
    old.write_text(json.dumps({"token": "0ld"}))
    os.chmod(old, 0o644)
    r = login(tmp_path, stdin=TOKEN)
    assert r.returncode == 0, r.stderr
    assert_private_token_files(tmp_path)


def test_login_token_option_warns_about_history(tmp_path):
    r = login(tmp_path, "--token", TOKEN)
    assert r.returncode == 0, r.stderr
    assert "shell history" in r.stderr and TOKEN not in r.stdout + r.stderr
    assert_private_token_files(tmp_path)


def test_login_with_nothing_on_stdin_says_what_to_do(tmp_path):
    r = login(tmp_path)  # stdin is /dev/null: no terminal, no token
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "napari-microns login < token.txt" in r.stderr
    assert not secrets_dir(tmp_path).exists() or not any(secrets_dir(tmp_path).iterdir())


def test_login_prompt_on_a_terminal_does_not_echo(tmp_path):
    """A real pseudo-terminal as the controlling terminal: what the user types is not shown."""
    master, slave = pty.openpty()

    def child_setup():
        os.umask(0o022)
        os.login_tty(slave)  # new session, the pty as controlling terminal and stdio

    proc = subprocess.Popen([sys.executable, "-m", "napari_microns.cli", "login"], preexec_fn=child_setup,
                            env={**os.environ, "HOME": str(tmp_path)}, pass_fds=(slave,))
    os.close(slave)
    screen = b""

    def read_until(done, timeout=60.0):
        nonlocal screen
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    return
                if not chunk:
                    return
                screen += chunk

    try:
        read_until(lambda: b"Paste the token (hidden):" in screen)
        assert b"Paste the token (hidden):" in screen, screen
        os.write(master, TOKEN.encode() + b"\n")
        read_until(lambda: False, timeout=30)  # everything until the child closes the terminal
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, screen
    assert b"token saved to" in screen and TOKEN.encode() not in screen
    assert_private_token_files(tmp_path)
