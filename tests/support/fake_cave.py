"""A fake CAVE materialization server for offline tests.

It answers the real caveclient's requests the way the MICrONS server does:
Arrow IPC stream bodies (``Content-Type: data.arrow``), the request's filters
applied to whole in-memory tables, a row cap marked with the server's
``Warning: 201 - "Limited query to N rows`` header, 410 for an expired
version, 404 for an unknown table, and faults injected on demand (HTTP status
codes, dropped connections, truncated bodies, added latency).

The client comes from ``caveclient.tools.testing.CAVEclientMock``; this
server then takes over with its own ``responses.RequestsMock`` (the mock's own
activation ends when it returns).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import requests
import responses
from caveclient.tools.testing import CAVEclientMock, default_info

LOCAL = "https://local.cave.com"
GLOBAL = "https://global.cave.com"
DATASTACK = "minnie65_public"

_MAT = LOCAL + "/materialize/api/v3/datastack/" + DATASTACK
_QUERY = re.compile(re.escape(_MAT) + r"/version/(\d+)/table/([^/]+)/query")
_META = re.compile(re.escape(_MAT) + r"/version/(\d+)/table/([^/]+)/metadata")
_VERSIONS = re.compile(re.escape(_MAT) + r"/versions")
_VERSION = re.compile(re.escape(_MAT) + r"/version/(\d+)$")
_VERSIONS_META = re.compile(re.escape(_MAT) + r"/metadata(\?.*)?$")
# get_tables() uses the v2 API even on a v3 client
_TABLES = re.compile(re.escape(LOCAL + "/materialize/api/v2/datastack/" + DATASTACK) + r"/version/(\d+)/tables$")


def arrow_body(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def split_position_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if re.search(r"_position_[xyz]$", c)]


@dataclass
class FakeCAVE:
    """Serve ``tables`` (name -> DataFrame with split ``*_position_x/y/z`` columns)."""

    tables: dict[str, pd.DataFrame]
    versions: list[int] = field(default_factory=lambda: [1300])
    row_cap: int = 200_000
    latency: float = 0.0
    #: per-table list of faults consumed one per query: an int status, "drop", "truncate" or None
    faults: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    #: a callable(table, body) -> fault or None, consulted after ``faults``
    fault_fn: object = None
    requests: list[dict] = field(default_factory=list)
    expired_versions: list[int] = field(default_factory=list)
    #: version -> (time_stamp, expires_on or None for never) in the server's format, for the versions metadata
    version_dates: dict[int, tuple] = field(default_factory=dict)
    #: how many times get_tables() was asked
    table_list_requests: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self.faults = defaultdict(list, self.faults)

    # -- the client ----------------------------------------------------------
    def client(self, version: int | None = None, **mock_kwargs):
        info = dict(default_info(LOCAL), synapse_table="synapses_pni_2")
        info.update(mock_kwargs.pop("info_overrides", {}))
        client = CAVEclientMock(
            datastack_name=DATASTACK,
            global_server=GLOBAL,
            local_server=LOCAL,
            info_file=info,
            materialization=True,
            available_materialization_versions=self.versions,
            set_version=version if version is not None else self.versions[-1],
            **mock_kwargs,
        )
        return client

    def __enter__(self):
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.start()
        self.mock.add_callback(responses.POST, _QUERY, callback=self._query)
        self.mock.add_callback(responses.GET, _META, callback=self._metadata)
        self.mock.add_callback(responses.GET, _VERSIONS, callback=self._versions)
        self.mock.add_callback(responses.GET, _VERSION, callback=self._version)
        self.mock.add_callback(responses.GET, _VERSIONS_META, callback=self._versions_metadata)
        self.mock.add_callback(responses.GET, _TABLES, callback=self._tables)
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        self.mock.reset()

    # -- endpoints -----------------------------------------------------------
    def _versions(self, request):
        return 200, {"Content-Type": "application/json"}, json.dumps(self.versions)

    def _version(self, request):
        version = int(_VERSION.search(request.url.split("?")[0]).group(1))
        if version not in self.versions:
            return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"version {version} not found"})
        md = {"version": version, "datastack": DATASTACK, "valid": True,
              "time_stamp": "2025-01-13T10:10:01.203215", "expires_on": "2080-06-05T10:10:01.203215"}
        return 200, {"Content-Type": "application/json"}, json.dumps(md)

    def _versions_metadata(self, request):
        """``get_versions_metadata``: the served versions, and with ``expired=True`` the expired ones too."""
        expired = "expired=true" in request.url.lower()
        listed = sorted(set(self.versions) | (set(self.expired_versions) if expired else set()))
        default = ("2025-01-13T10:10:01.203215", "2025-06-05T10:10:01.203215")
        md = [{"version": v, "datastack": DATASTACK, "valid": v in self.versions,
               "time_stamp": self.version_dates.get(v, default)[0],
               "expires_on": self.version_dates.get(v, default)[1]} for v in listed]
        return 200, {"Content-Type": "application/json"}, json.dumps(md)

    def _tables(self, request):
        """``get_tables()``: the names of the tables the server has (404 for a version it does not serve)."""
        version = int(_TABLES.search(request.url.split("?")[0]).group(1))
        if version not in self.versions:
            return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"version {version} not found"})
        with self._lock:
            self.table_list_requests += 1
        return 200, {"Content-Type": "application/json"}, json.dumps(sorted(self.tables))

    def _metadata(self, request):
        version, table = _META.search(request.url).groups()
        if table not in self.tables:
            return 404, {}, json.dumps({"message": f"table {table} not found"})
        md = {"table_name": table, "reference_table": None, "voxel_resolution_x": 4.0,
              "voxel_resolution_y": 4.0, "voxel_resolution_z": 40.0}
        return 200, {"Content-Type": "application/json"}, json.dumps(md)

    def _next_fault(self, table, body):
        with self._lock:
            if self.faults[table]:
                return self.faults[table].pop(0)
        if callable(self.fault_fn):
            return self.fault_fn(table, body)
        return None

    def _query(self, request):
        version, table = _QUERY.search(request.url).groups()
        body = json.loads(request.body)
        with self._lock:
            self.requests.append({"table": table, "version": int(version), "body": body})
        if self.latency:
            time.sleep(self.latency)
        fault = self._next_fault(table, body)
        if fault == "drop":
            raise requests.ConnectionError("connection dropped by the fake server")
        if isinstance(fault, int):
            headers = {"Content-Type": "application/json"}
            if fault == 429:
                headers["Retry-After"] = "0"
            return fault, headers, json.dumps({"message": f"injected {fault}"})
        if int(version) in self.expired_versions:
            return 410, {"Content-Type": "application/json"}, json.dumps({"message": "This materialization version is not available"})
        if table not in self.tables:
            return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"Cannot find table {table}"})
        df = self.select(table, body)
        limit = min(int(body.get("limit") or self.row_cap), self.row_cap)
        headers = {"Content-Type": "data.arrow", "dataframe_resolution": "4, 4, 40"}
        if len(df) >= limit:
            # like the server: the first `limit` rows in storage order, not sorted
            df = df.iloc[:limit]
            headers["Warning"] = f'201 - "Limited query to {limit} rows'
        payload = arrow_body(df)
        if fault == "truncate":
            payload = payload[: len(payload) // 2]
        return 200, headers, payload

    def select(self, table: str, body: dict) -> pd.DataFrame:
        """Apply the request's filters and column selection to a table."""
        df = self.tables[table]
        mask = np.ones(len(df), dtype=bool)

        def each(key):
            return (body.get(key) or {}).get(table, {}).items()

        for col, values in each("filter_in_dict"):
            mask &= df[col].isin(values).to_numpy()
        for col, values in each("filter_notin_dict"):
            mask &= ~df[col].isin(values).to_numpy()
        for col, value in each("filter_equal_dict"):
            mask &= (df[col] == value).to_numpy()
        for col, value in each("filter_greater_dict"):
            mask &= (df[col] > value).to_numpy()
        for col, value in each("filter_less_dict"):
            mask &= (df[col] < value).to_numpy()
        for col, value in each("filter_greater_equal_dict"):
            mask &= (df[col] >= value).to_numpy()
        for col, value in each("filter_less_equal_dict"):
            mask &= (df[col] <= value).to_numpy()
        out = df[mask]
        select = body.get("select_columns")
        if isinstance(select, dict):
            select = select.get(table)
        if select:
            cols = []
            for c in select:
                if c in out.columns:
                    cols.append(c)
                else:  # a position column goes over the wire split into _x/_y/_z
                    cols += [f"{c}_{a}" for a in "xyz" if f"{c}_{a}" in out.columns]
            out = out[cols]
        offset = int(body.get("offset") or 0)
        return out.iloc[offset:].reset_index(drop=True)


# -- synapse tables (issue 3) ---------------------------------------------------

SYNAPSE_TABLE = "synapses_pni_2"


def synapse_table(n_neurons: int = 40, n_synapses: int = 4000, seed: int = 0, hub_synapses: int = 0) -> pd.DataFrame:
    """A ``synapses_pni_2``-shaped table as the server keeps it (split voxel positions).

    Root ids look like MICrONS ones (``864691135xxxxxxxxx``); pre and post are
    drawn from the same neurons, so a few autapses occur. ``hub_synapses``
    extra synapses all go onto the first neuron (a cell with more inputs than
    one capped answer holds). Rows are shuffled: the server's storage order.
    """
    rng = np.random.default_rng(seed)
    roots = np.sort(864691135_000_000_000 + rng.choice(10**9, size=n_neurons, replace=False)).astype(np.int64)
    pre = roots[rng.integers(0, n_neurons, n_synapses)]
    post = roots[rng.integers(0, n_neurons, n_synapses)]
    if hub_synapses:
        pre = np.concatenate([pre, roots[rng.integers(1, n_neurons, hub_synapses)]])
        post = np.concatenate([post, np.full(hub_synapses, roots[0])])
    n = len(pre)
    ids = 150_000_000 + rng.choice(10**8, size=n, replace=False)
    ctr = np.column_stack([rng.uniform(150_000, 300_000, n), rng.uniform(80_000, 240_000, n),
                           rng.uniform(15_000, 27_000, n)]).round()
    df = pd.DataFrame({
        "id": ids.astype(np.int64),
        "valid": "t",
        "pre_pt_supervoxel_id": (89_000_000_000_000_000 + rng.integers(0, 10**12, n)).astype(np.int64),
        "pre_pt_root_id": pre,
        "post_pt_supervoxel_id": (89_000_000_000_000_000 + rng.integers(0, 10**12, n)).astype(np.int64),
        "post_pt_root_id": post,
        "size": rng.integers(40, 20_000, n).astype(np.int64),
    })
    for name, offset in (("pre_pt", -30.0), ("ctr_pt", 0.0), ("post_pt", 30.0)):
        for i, axis in enumerate("xyz"):
            df[f"{name}_position_{axis}"] = ctr[:, i] + (offset if axis == "x" else 0.0)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def serve_http(fake: FakeCAVE, host: str = "127.0.0.1", port: int = 0):
    """Serve ``fake`` over real HTTP (a threading ``http.server``), for benchmarks that need
    the server's work out of the client's process. Returns the server; its base URL is
    ``f"http://{host}:{server.server_port}"``; stop it with ``server.shutdown()``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    routes = [("POST", _QUERY, fake._query), ("GET", _META, fake._metadata),
              ("GET", _VERSIONS, fake._versions), ("GET", _VERSION, fake._version), ("GET", _TABLES, fake._tables)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait 40 ms for a delayed ACK

        def log_message(self, *args):
            pass

        def _dispatch(self, method: str):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = LOCAL + self.path  # the fake's routes are written for its usual address
            for verb, pattern, callback in routes:
                if verb == method and pattern.search(url.split("?")[0]):
                    break
            else:
                callback = lambda request: (404, {}, json.dumps({"message": "no such endpoint"}))  # noqa: E731
            try:
                status, headers, payload = callback(SimpleNamespace(url=url, body=body))
            except requests.ConnectionError:
                self.close_connection = True  # a dropped connection: no answer at all
                return
            payload = payload.encode() if isinstance(payload, str) else payload
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
