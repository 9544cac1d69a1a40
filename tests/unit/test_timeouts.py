"""HTTP timeouts: a server that accepts the connection and never answers (issue "Reliability
and security", item 4).

The silent server is a real socket on 127.0.0.1 that accepts and never replies. The CAVE
handshakes are answered by ``responses`` (``CAVEclientMock``), and only the query is let
through to the socket (``add_passthru``); cloud-volume talks to the socket directly. Each test
shrinks ``http.HTTP_TIMEOUT`` so it ends in about a second. Without a timeout the client
would wait forever: after ``GUARD_S`` the silent server drops its connections and refuses new
ones, so such a test fails (slow, and with the wrong message) instead of hanging.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import caveclient
import pytest
import responses
from caveclient.tools.testing import CAVEclientMock, default_info

from napari_microns import Dataset
from napari_microns.core import http
from napari_microns.core.errors import ServiceError
from napari_microns.core.query import SERVICE, query_page

DATASTACK = "minnie65_public"
TABLE = "nucleus_detection_v0"
ROOT_ID = 864691135000000001
#: the tests' timeouts: connect, read (seconds)
SMALL = (1.0, 0.2)
#: after this many seconds the silent server hangs up: a hung test fails instead of hanging
GUARD_S = 10


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        deadline = time.monotonic() + GUARD_S
        while not self._stop and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._conns.append(conn)  # held open, never read, never answered
        self._hang_up()

    def _hang_up(self):
        for conn in self._conns:
            conn.close()
        self.sock.close()

    def close(self):
        self._stop = True
        self._thread.join(5)


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def small_timeouts(monkeypatch):
    monkeypatch.setattr(http, "HTTP_TIMEOUT", SMALL)
    return SMALL


@pytest.fixture
def no_urllib3_retries():
    """Like ``make_client`` (``max_retries=0``): retries are counted in core/session only."""
    caveclient.set_session_defaults(max_retries=0)
    yield
    caveclient.set_session_defaults()


def client_on(local: str):
    """A real CAVEclient whose local server (materialization) is ``local``."""
    return CAVEclientMock(
        datastack_name=DATASTACK, global_server="https://global.cave.com", local_server=local,
        info_file=dict(default_info(local), synapse_table="synapses_pni_2"), materialization=True,
        available_materialization_versions=[1300], set_version=1300,
    )


def cave_routes(rsps: responses.RequestsMock, local: str) -> None:
    """Everything but the query answered by ``responses``; the query goes to the silent socket."""
    mat = re.escape(f"{local}/materialize/api/v3/datastack/{DATASTACK}")
    rsps.add(responses.GET, re.compile(mat + r"/version/\d+/table/[^/]+/metadata"),
             json={"table_name": TABLE, "reference_table": None, "voxel_resolution_x": 4.0,
                   "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0})
    rsps.add(responses.GET, re.compile(mat + r"/versions"), json=[1300])
    rsps.add_passthru(re.compile(mat + r"/version/\d+/table/[^/]+/query"))


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text
    return text


def test_requests_without_timeout_get_the_default(silent, small_timeouts):
    """The mechanism itself, as caveclient and cloud-volume call it: a bare ``requests.get``."""
    import requests

    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(silent.url + "/anything")
    assert time.monotonic() - start < 3 and silent.accepted == 1
    # an explicit timeout is the caller's, not replaced by the default
    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(silent.url + "/anything", timeout=(1.0, 0.05))
    assert time.monotonic() - start < SMALL[1]


def test_materialization_query_that_never_answers_ends_in_one_line(silent, small_timeouts, no_urllib3_retries,
                                                                   fast_retry):
    client = client_on(silent.url)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        cave_routes(rsps, silent.url)
        start = time.monotonic()
        with pytest.raises(ServiceError) as err:
            query_page(client, TABLE, version=1300, policy=fast_retry)
        elapsed = time.monotonic() - start
    msg = one_line(err.value)
    assert SERVICE in msg and "did not answer in time" in msg and f"after {fast_retry.attempts} attempts" in msg
    assert silent.accepted == fast_retry.attempts  # each attempt reached the server and waited one read timeout
    assert elapsed < fast_retry.attempts * (SMALL[1] + 0.5)


def test_download_tables_on_a_silent_server_ends_in_one_line(tmp_path, silent, small_timeouts, no_urllib3_retries,
                                                             fast_retry):
    client = client_on(silent.url)
    ds = Dataset(tmp_path, version=1300, client=client, retry=fast_retry)
    ds._version_checked = True  # the version check is answered elsewhere; here the query hangs
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        cave_routes(rsps, silent.url)
        start = time.monotonic()
        with pytest.raises(ServiceError) as err:
            ds.download_tables([TABLE])
        elapsed = time.monotonic() - start
    msg = one_line(err.value)
    assert SERVICE in msg and "did not answer in time" in msg
    assert silent.accepted >= 1 and elapsed < 10


def test_mesh_source_that_never_answers_ends_in_one_line(tmp_path, silent, fast_retry, monkeypatch):
    import tenacity
    from cloudfiles.interfaces import HttpInterface

    timeouts = (1.0, 0.1)
    monkeypatch.setattr(http, "HTTP_TIMEOUT", timeouts)

    # cloudfiles retries each storage read 7 times with up to a minute of random backoff; the
    # attempts stay, only its waiting goes (as fast_retry does for ours)
    monkeypatch.setattr(HttpInterface.get_file.retry, "wait", tenacity.wait_none())
    source = f"precomputed://{silent.url}/segmentation"
    ds = Dataset(tmp_path, version=1300, mesh_source=source, retry=fast_retry)
    start = time.monotonic()
    with pytest.raises(ServiceError) as err:
        ds.mesh(ROOT_ID)
    elapsed = time.monotonic() - start
    msg = one_line(err.value)
    assert source in msg and "did not answer in time" in msg
    assert silent.accepted >= 2  # cloud-volume asked, and asked again
    assert elapsed < 2 * 7 * (timeouts[1] + 0.2)
