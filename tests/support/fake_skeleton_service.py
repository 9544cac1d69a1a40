"""A fake CAVE skeleton service (+ the chunkedgraph and l2cache calls it needs).

The real caveclient ``SkeletonClient`` talks to it through ``responses``:
skeletons go over the wire as ``SkeletonClient.compressDictToBytes`` bodies
(gzip of the JSON dict), the bulk endpoint answers hex-encoded bodies, and
the chunkedgraph answers ``valid_nodes``, ``is_latest_roots``,
``root_timestamps`` and ``lineage_graph_multiple`` for the root-id diagnosis.
The client comes from :class:`fake_cave.FakeCAVE` (``skeleton_service=True,
l2cache=True``); ``client.info.segmentation_cloudvolume`` is patched by the
tests, as the caveclient test-suite does.
"""

from __future__ import annotations

import binascii
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import requests
import responses
from caveclient.skeletonservice import SkeletonClient

from support.fake_cave import DATASTACK, LOCAL

TABLE = "test_v1"  # the chunkedgraph table of default_info's graphene segmentation source
_SK = LOCAL + "/skeletoncache/api"
_SK_ONE = re.compile(re.escape(_SK) + r"/v1/" + DATASTACK + r"/(?:async/get_skeleton|precomputed/skeleton)/(\d+)/(\d+)/flatdict")
_SK_BULK = re.compile(re.escape(_SK) + r"/v1/" + DATASTACK + r"/bulk/get_cached_skeletons/(\d+)/flatdict")
_PCG = LOCAL + "/segmentation/api/v1/table/" + TABLE


@dataclass
class FakeSkeletonService:
    #: {root_id: skeleton-service dict}; every key is a valid root at the version
    skeletons: dict
    #: root ids the bulk endpoint has cached (default: all)
    cached: set | None = None
    #: {old_root_id: [new ids]}: roots edited after the version
    edited: dict = field(default_factory=dict)
    #: root ids valid at the version but without a skeleton
    extra_valid: set = field(default_factory=set)
    #: per-root-id list of faults for the single endpoint: int status or "drop"
    faults: dict = field(default_factory=lambda: defaultdict(list))
    #: every request: (kind, detail)
    requests: list = field(default_factory=list)
    down: bool = False  # every skeleton request answers 503
    latency: float = 0.0

    def __post_init__(self):
        self._lock = threading.Lock()
        self.faults = defaultdict(list, self.faults)

    def valid(self) -> set[int]:
        return set(self.skeletons) | set(self.edited) | set(self.extra_valid)

    def __enter__(self):
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.start()
        js = {"Content-Type": "application/json"}
        self.mock.add(responses.GET, _SK + "/version", json="999.0.0")
        self.mock.add(responses.GET, _SK + "/versions", json=[-1, 0, 1, 2, 3, 4])
        self.mock.add(responses.GET, LOCAL + "/l2cache/api/v1/table_mapping", json={TABLE: "test_l2cache"}, headers=js)
        self.mock.add_callback(responses.GET, _SK_ONE, callback=self._one)
        self.mock.add_callback(responses.POST, _SK_BULK, callback=self._bulk)
        self.mock.add_callback(responses.GET, _PCG + "/valid_nodes", callback=self._valid_nodes)
        self.mock.add_callback(responses.POST, _PCG + "/is_latest_roots", callback=self._is_latest)
        self.mock.add_callback(responses.POST, _PCG + "/root_timestamps", callback=self._root_timestamps)
        self.mock.add_callback(responses.POST, _PCG + "/lineage_graph_multiple", callback=self._lineage)
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        self.mock.reset()

    def _log(self, kind, detail):
        with self._lock:
            self.requests.append((kind, detail))

    # -- skeleton service ------------------------------------------------------
    def _one(self, request):
        _, root_id = (int(x) for x in _SK_ONE.search(request.url).groups())
        self._log("skeleton", root_id)
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            fault = self.faults[root_id].pop(0) if self.faults[root_id] else None
        if self.down:
            fault = 503
        if fault == "drop":
            raise requests.ConnectionError("connection dropped by the fake skeleton service")
        if isinstance(fault, int):
            return fault, {"Content-Type": "application/json"}, json.dumps({"message": f"injected {fault}"})
        if root_id not in self.skeletons:
            return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"no skeleton for {root_id}"})
        return 200, {"Content-Type": "application/octet-stream"}, SkeletonClient.compressDictToBytes(self.skeletons[root_id])

    def _bulk(self, request):
        body = json.loads(request.body)
        ids = [int(r) for r in body["root_ids"]]
        self._log("bulk", ids)
        assert len(ids) <= 500, "the bulk endpoint takes at most 500 ids"
        if self.down:
            return 503, {"Content-Type": "application/json"}, json.dumps({"message": "down"})
        cached = self.cached if self.cached is not None else set(self.skeletons)
        out = {
            str(r): binascii.hexlify(SkeletonClient.compressDictToBytes(self.skeletons[r])).decode()
            for r in ids if r in cached and r in self.skeletons
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(out)

    # -- chunkedgraph --------------------------------------------------------------
    def _valid_nodes(self, request):
        ids = [int(x) for x in json.loads(request.body)["node_ids"]]
        self._log("valid_nodes", ids)
        return 200, {"Content-Type": "application/json"}, json.dumps({"valid_roots": [i for i in ids if i in self.valid()]})

    def _is_latest(self, request):
        ids = [int(x) for x in json.loads(request.body)["node_ids"]]
        self._log("is_latest_roots", ids)
        latest = [i in self.valid() and i not in self.edited for i in ids]
        return 200, {"Content-Type": "application/json"}, json.dumps({"is_latest": latest})

    def _root_timestamps(self, request):
        ids = [int(x) for x in json.loads(request.body)["node_ids"]]
        self._log("root_timestamps", ids)
        if not all(i in self.valid() or any(i in new for new in self.edited.values()) for i in ids):
            return 400, {"Content-Type": "application/json"}, json.dumps({"message": "invalid root id"})
        return 200, {"Content-Type": "application/json"}, json.dumps({"timestamp": [1_600_000_000.0] * len(ids)})

    def _lineage(self, request):
        root_ids = [int(x) for x in json.loads(request.body)["root_ids"]]
        self._log("lineage_graph", root_ids)
        nodes, links = [], []
        for old in root_ids:
            nodes.append({"id": old, "timestamp": 1_600_000_000.0})
            for new in self.edited.get(old, []):
                nodes.append({"id": new, "timestamp": 1_700_000_000.0})
                links.append({"source": old, "target": new})
        graph = {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "links": links}
        return 200, {"Content-Type": "application/json"}, json.dumps(graph)
