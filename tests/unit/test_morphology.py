"""Skeletons and meshes: sources, frame, cache, errors, batches, CLI (all offline).

The skeleton service is the real caveclient ``SkeletonClient`` against
:class:`FakeSkeletonService`; precomputed layers are written by cloud-volume's
own writers (legacy meshes, sharded multi-resolution Draco meshes, skeletons)
and read back through cloud-volume from ``file://``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import responses
from support import FAST_RETRY
from support.fake_cave import FakeCAVE
from support.fake_skeleton_service import FakeSkeletonService
from support.precomputed import ROOT_IDS, make_neurons, write_neuron_layer

from napari_microns import Dataset
from napari_microns.cli import main as cli_main
from napari_microns.core.errors import AuthError, DataError, IncompleteError, NotFoundError, ServiceError
from napari_microns.core.morphology import CAVE, decimate, resolve_sources, write_sources
from napari_microns.core.transform import VOXEL_RESOLUTION_NM, nm_to_um, voxels_to_um

EDITED_ID = 864691135999999991
NEW_IDS = [864691135999999992, 864691135999999993]
UNKNOWN_ID = 864691135888888888


@pytest.fixture(scope="module")
def neurons():
    return make_neurons(3)


@pytest.fixture(scope="module")
def layers(tmp_path_factory, neurons):
    """Two file:// layers: legacy meshes + skeletons, and sharded multi-resolution Draco meshes."""
    base = tmp_path_factory.mktemp("layers")
    return {
        "legacy": write_neuron_layer(base / "legacy", neurons, mesh_format="legacy"),
        "multires": write_neuron_layer(base / "multires", neurons, mesh_format="multires", lods=3),
    }


def cave_dataset(datadir, **kwargs):
    """A Dataset on a real CAVEclient built by CAVEclientMock (skeleton service + l2cache)."""
    client = FakeCAVE(tables={}).client(1300, skeleton_service=True, l2cache=True)
    client.info.segmentation_cloudvolume = lambda *a, **k: None  # as caveclient's own tests do
    ds = Dataset(datadir, version=1300, client=client, retry=FAST_RETRY, **kwargs)
    ds._version_checked = True  # the version check is core/session's business, tested there
    return ds


@pytest.fixture
def service(neurons):
    svc = FakeSkeletonService({n.root_id: n.skeleton for n in neurons}, edited={EDITED_ID: NEW_IDS})
    with svc:
        yield svc


def unit_position_um(soma_nm):
    """The units table's position of a soma: voxels -> µm, as core/units does."""
    return voxels_to_um(np.asarray(soma_nm) / VOXEL_RESOLUTION_NM)[0]


def no_network():
    """A RequestsMock with nothing registered: any HTTP request fails the test."""
    return responses.RequestsMock(assert_all_requests_are_fired=False)


# -- skeletons from the CAVE skeleton service ------------------------------------------


def test_service_skeleton_round_trip_lands_on_the_unit(tmp_path, neurons, service):
    ds = cave_dataset(tmp_path)
    n = neurons[0]
    sk = ds.skeleton(n.root_id)
    assert sk.root_id == n.root_id == 864691135101289504
    np.testing.assert_allclose(sk.vertices_nm, np.asarray(n.skeleton["vertices"]))
    np.testing.assert_array_equal(sk.edges, np.asarray(n.skeleton["edges"]))
    np.testing.assert_allclose(sk.radius_nm, n.skeleton["radius"])
    np.testing.assert_array_equal(sk.compartment, n.skeleton["compartment"])
    assert sk.root == n.skeleton["root"] and sk.compartment[sk.root] == 1
    assert set(np.unique(sk.compartment)) == {1, 2, 3, 4}
    # the soma vertex lands on the unit's position (units come from 4x4x40 nm voxels)
    np.testing.assert_allclose(sk.soma_um, unit_position_um(n.soma_nm), atol=1e-6)
    np.testing.assert_allclose(sk.vertices_um, nm_to_um(sk.vertices_nm))
    # apical dendrite points to the pia: smaller depth (y) than the soma
    assert sk.vertices_um[sk.compartment == 4, 1].max() < sk.soma_um[1]
    mp = sk.meshparty()
    assert mp.root == sk.root and mp.n_vertices == sk.n_vertices
    np.testing.assert_array_equal(mp.vertex_properties["compartment"], sk.compartment)
    assert ("skeleton", n.root_id) in service.requests


def test_skeleton_cache_answers_with_the_network_gone(tmp_path, neurons, service):
    ds = cave_dataset(tmp_path)
    first = ds.skeleton(neurons[1].root_id)
    service.__exit__()  # the server is gone
    with no_network() as rsps:
        again = ds.skeleton(neurons[1].root_id)
        assert len(rsps.calls) == 0
        # a fresh Dataset on the folder needs no client at all
        offline = Dataset(tmp_path, version=1300, retry=FAST_RETRY)
        cached = offline.skeleton(str(neurons[1].root_id))
        assert offline._client is None and len(rsps.calls) == 0
    service.__enter__()
    for got in (again, cached):
        np.testing.assert_array_equal(got.vertices_um, first.vertices_um)
        np.testing.assert_array_equal(got.edges, first.edges)
        assert got.root == first.root
    files = list((tmp_path / "1300" / "morphology" / "minnie65_public" / "skeletons").rglob("*.npz"))
    assert [f.name for f in files] == [f"{neurons[1].root_id}.npz"]
    assert "cave-skeleton-v4" in str(files[0])


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "rewritten"])
def test_corrupt_skeleton_cache_is_fetched_again(tmp_path, neurons, service, damage):
    ds = cave_dataset(tmp_path)
    rid = neurons[0].root_id
    good = ds.skeleton(rid)
    path = ds.morphology.cache.skeleton_path(rid, CAVE)
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz file")
    elif damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "rewritten":  # a valid npz whose arrays no longer match the stored checksum
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["vertices_um"] = arrays["vertices_um"] + 1.0
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
    else:  # same size, one bit of one vertex coordinate flipped (the CRC / checksum notice)
        arr = np.frombuffer(raw, dtype=np.uint8).copy()
        i = raw.index(np.float64(good.vertices_nm[3, 0]).tobytes())
        arr[i + 7] ^= 0x01
        path.write_bytes(arr.tobytes())
    fetched_before = service.requests.count(("skeleton", rid))
    again = ds.skeleton(rid)
    assert service.requests.count(("skeleton", rid)) == fetched_before + 1
    np.testing.assert_array_equal(again.vertices_nm, good.vertices_nm)
    assert ds.morphology.cache.read(path) is not None  # rewritten whole


def test_edited_root_id_names_the_latest_ids(tmp_path, service):
    ds = cave_dataset(tmp_path)
    with pytest.raises(NotFoundError) as err:
        ds.skeleton(EDITED_ID)
    msg = str(err.value)
    assert str(EDITED_ID) in msg and "1300" in msg and "split or merged" in msg
    assert all(str(i) in msg for i in NEW_IDS) and "\n" not in msg


def test_unknown_root_id_says_so(tmp_path, service):
    ds = cave_dataset(tmp_path)
    with pytest.raises(NotFoundError, match=rf"root id {UNKNOWN_ID} does not exist at materialization version 1300"):
        ds.skeleton(UNKNOWN_ID)
    with pytest.raises(DataError, match="not an integer"):
        ds.skeleton("86469113510128950x")
    assert not list(tmp_path.rglob("*.npz"))


def test_service_down_and_bad_token_name_the_service(tmp_path, neurons, service):
    ds = cave_dataset(tmp_path)
    service.down = True
    with pytest.raises(ServiceError, match="CAVE skeleton service failed with HTTP 503.*gave up after 5 attempts"):
        ds.skeleton(neurons[0].root_id)
    service.down = False
    service.faults[neurons[0].root_id] = [401]
    with pytest.raises(AuthError, match="napari-microns login"):
        ds.skeleton(neurons[0].root_id)
    ds.client.auth.token = None  # no token saved
    with pytest.raises(AuthError, match="skeleton service needs a CAVE token.*napari-microns login"):
        ds.skeleton(neurons[0].root_id)
    with pytest.raises(AuthError, match="segmentation source.*napari-microns login"):
        ds.mesh(neurons[0].root_id)
    ds.client.auth.token = "just_a_test"
    service.faults[neurons[0].root_id] = [503, "drop"]  # transient: retried, then served
    assert ds.skeleton(neurons[0].root_id).n_vertices == len(neurons[0].skeleton["vertices"])


def test_missing_token_fails_a_batch_once(tmp_path, neurons, monkeypatch):
    import napari_microns.core.dataset as dataset_module

    attempts = []

    def no_token(*args, **kwargs):  # what core/session.make_client says on a machine without a token
        attempts.append(1)
        raise AuthError("no CAVE token is saved on this machine: save one with `napari-microns login`")

    monkeypatch.setattr(dataset_module, "make_client", no_token)
    ids = [n.root_id for n in neurons]
    ds = Dataset(tmp_path, version=1300, retry=FAST_RETRY)
    for fetch in (ds.skeletons, ds.meshes):
        attempts.clear()
        with pytest.raises(IncompleteError, match="3 of 3 .* failed .*napari-microns login") as err:
            fetch(ids, workers=3)
        assert all(isinstance(e, AuthError) for e in err.value.failures.values())
        assert len(attempts) == 1  # one client attempt for the batch, not one per id


def test_bulk_skeletons_keep_successes_when_one_fails(tmp_path, neurons, service):
    ds = cave_dataset(tmp_path)
    ids = [n.root_id for n in neurons] + [UNKNOWN_ID]
    service.cached = {neurons[0].root_id}  # the bulk endpoint has one; the others are fetched one by one
    service.faults[neurons[2].root_id] = [503] * 100  # keeps failing past every retry
    seen = []
    with pytest.raises(IncompleteError) as err:
        ds.skeletons(ids, workers=3, progress=lambda done, total: seen.append((done, total)))
    exc = err.value
    assert set(exc.results) == {neurons[0].root_id, neurons[1].root_id}
    assert set(exc.failures) == {neurons[2].root_id, UNKNOWN_ID}
    assert isinstance(exc.failures[UNKNOWN_ID], NotFoundError)
    assert isinstance(exc.failures[neurons[2].root_id], ServiceError)
    assert "2 of 4 skeletons failed" in str(exc)
    assert sorted(seen)[-1] == (4, 4) and len(seen) == 4
    bulk = [d for kind, d in service.requests if kind == "bulk"]
    assert len(bulk) == 1 and sorted(bulk[0]) == sorted(ids)
    assert ("skeleton", neurons[0].root_id) not in service.requests  # served by the bulk answer
    # a rerun fetches only what failed
    service.requests.clear()
    service.faults.clear()
    got = ds.skeletons([n.root_id for n in neurons])
    assert list(got) == [n.root_id for n in neurons]
    assert [d for kind, d in service.requests if kind == "skeleton"] == [neurons[2].root_id]


def test_bulk_requests_respect_the_endpoint_limit(tmp_path, neurons, service, monkeypatch):
    import caveclient.skeletonservice as skeletonservice

    monkeypatch.setattr(skeletonservice, "MAX_BULK_CACHED_SKELETONS", 2)  # 500 on the real service
    ds = cave_dataset(tmp_path)
    got = ds.skeletons([n.root_id for n in neurons])
    assert len(got) == 3
    bulk = [d for kind, d in service.requests if kind == "bulk"]
    assert [len(b) for b in bulk] == [2, 1]
    assert not [d for kind, d in service.requests if kind == "skeleton"]


# -- precomputed sources ---------------------------------------------------------------


def test_precomputed_skeletons_from_a_file_layer(tmp_path, neurons, layers):
    ds = Dataset(tmp_path, version=1300, skeleton_source=layers["legacy"], retry=FAST_RETRY)
    got = ds.skeletons([n.root_id for n in neurons], workers=2)
    assert ds._client is None
    for n in neurons:
        sk = got[n.root_id]
        np.testing.assert_allclose(sk.vertices_nm, np.asarray(n.skeleton["vertices"], np.float32))
        np.testing.assert_array_equal(sk.compartment, n.skeleton["compartment"])
        np.testing.assert_allclose(sk.radius_nm, n.skeleton["radius"])
        assert sk.root == n.skeleton["root"]
        np.testing.assert_allclose(sk.soma_um, unit_position_um(n.soma_nm), atol=1e-2)  # float32 storage
    with pytest.raises(NotFoundError, match=rf"root id {UNKNOWN_ID} has no skeleton in precomputed://file://.*version 1300"):
        ds.skeleton(UNKNOWN_ID)


class StaticBucket:
    """A layer served over https like MICrONS' public seg_m1300 (``precomputed://gs://...``,
    read with ``use_https``): GETs with byte ranges, 404 for missing files, 503 when down."""

    URL = "precomputed://gs://fake-bucket/seg"
    _PATTERN = re.compile(r"https://storage\.googleapis\.com/fake-bucket/seg/(.*)")

    def __init__(self, folder):
        self.folder = Path(folder)
        self.down = False
        self.calls = 0

    def serve(self, request):
        self.calls += 1
        path = self._PATTERN.match(request.url.split("?")[0]).group(1)
        if self.down and path.startswith("mesh/"):
            return 503, {}, b"service unavailable"
        file = self.folder / path
        if not file.is_file():
            return 404, {}, b"No such object"
        data = file.read_bytes()
        wanted = re.match(r"bytes=(\d+)-(\d+)", request.headers.get("Range", ""))
        if wanted:
            start, end = int(wanted.group(1)), int(wanted.group(2))
            return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start:end + 1]
        return 200, {}, data

    def __enter__(self):
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.mock.start()
        for method in (responses.GET, responses.HEAD):
            self.mock.add_callback(method, self._PATTERN, callback=self.serve)
        return self

    def __exit__(self, *exc):
        self.mock.stop()
        self.mock.reset()


def test_static_https_multires_layer_like_seg_m1300(tmp_path, neurons, layers, monkeypatch):
    import tenacity
    from cloudfiles.interfaces import HttpInterface

    for fn in (HttpInterface.get_file, HttpInterface.head, HttpInterface.exists):  # cloudfiles' own retries, fast
        monkeypatch.setattr(fn.retry, "wait", tenacity.wait_none())
        monkeypatch.setattr(fn.retry, "stop", tenacity.stop_after_attempt(2))
    folder = layers["multires"].replace("precomputed://file://", "")
    with StaticBucket(folder) as bucket:
        ds = Dataset(tmp_path, version=1300, mesh_source=StaticBucket.URL, retry=FAST_RETRY)
        n = neurons[0]
        mesh = ds.mesh(n.root_id, max_faces=300)
        assert mesh.n_faces <= 300 and mesh.lod is not None
        assert 6.5 < np.linalg.norm(mesh.vertices_um - unit_position_um(n.soma_nm), axis=1).min() < 8.0
        with pytest.raises(NotFoundError, match=rf"root id {UNKNOWN_ID} has no mesh in {StaticBucket.URL}"):
            ds.mesh(UNKNOWN_ID)
        bucket.down = True
        with pytest.raises(ServiceError, match=rf"{StaticBucket.URL} failed with HTTP 503 .*root id {neurons[1].root_id}"):
            ds.mesh(neurons[1].root_id)
        calls = bucket.calls
        np.testing.assert_array_equal(ds.mesh(n.root_id, max_faces=300).faces, mesh.faces)  # cached
        assert bucket.calls == calls


def test_legacy_mesh_round_trip_and_frame(tmp_path, neurons, layers):
    ds = Dataset(tmp_path, version=1300, mesh_source=layers["legacy"], retry=FAST_RETRY)
    n = neurons[0]
    mesh = ds.mesh(n.root_id)
    assert mesh.root_id == n.root_id and mesh.lod is None
    assert mesh.n_faces == len(n.mesh_faces) == mesh.n_faces_source
    # cloud-volume merges duplicate vertices: compare the vertex sets
    np.testing.assert_allclose(np.unique(mesh.vertices_nm, axis=0),
                               np.unique(n.mesh_vertices_nm.astype(np.float32), axis=0), atol=0.01)
    np.testing.assert_allclose(mesh.vertices_um, nm_to_um(mesh.vertices_nm), atol=1e-3)
    # the soma sphere (radius 7.5 µm) is centred on the unit's position
    unit = unit_position_um(n.soma_nm)
    dist = np.linalg.norm(mesh.vertices_um - unit, axis=1)
    assert 7.4 < dist.min() < 7.6
    tm = mesh.trimesh(um=True)
    assert len(tm.faces) == mesh.n_faces
    assert mesh.meshparty().n_vertices == len(mesh.vertices_nm)
    # a damaged mesh cache file is read again from the layer
    path = ds.morphology.cache.mesh_path(n.root_id, layers["legacy"], None, None)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    again = ds.mesh(n.root_id)
    np.testing.assert_array_equal(again.faces, mesh.faces)
    assert ds.morphology.cache.read(path) is not None


def test_multires_draco_mesh_levels_and_decimation(tmp_path, neurons, layers):
    ds = Dataset(tmp_path, version=1300, mesh_source=layers["multires"], retry=FAST_RETRY)
    n = neurons[1]
    finest = ds.mesh(n.root_id, lod=0)
    assert finest.lod == 0 and finest.n_faces == len(n.mesh_faces)
    levels = [ds.mesh(n.root_id, lod=lod).n_faces for lod in range(3)]
    assert levels[0] > levels[1] > levels[2]
    coarsest = ds.mesh(n.root_id)  # no lod, no budget: the coarsest level
    assert coarsest.lod == 2 and coarsest.n_faces == levels[2]
    # the coarsest level with at least the budget, then decimated to it
    budget = (levels[1] + levels[2]) // 2
    fitted = ds.mesh(n.root_id, max_faces=budget)
    assert fitted.lod == 1 and budget * 0.8 < fitted.n_faces <= budget
    assert fitted.n_faces_source == levels[1]
    assert ds.mesh(n.root_id, max_faces=levels[0] * 2).lod == 0  # no level is big enough: the finest
    unit = unit_position_um(n.soma_nm)
    for mesh in (finest, coarsest, fitted):
        assert 6.5 < np.linalg.norm(mesh.vertices_um - unit, axis=1).min() < 8.0
    # Draco repeats no vertex after merging
    assert len(np.unique(finest.vertices_nm, axis=0)) == len(finest.vertices_nm)
    with pytest.raises(DataError, match="levels of detail 0-2"):
        ds.mesh(n.root_id, lod=5)
    with pytest.raises(NotFoundError, match=str(UNKNOWN_ID)):
        ds.mesh(UNKNOWN_ID)
    names = sorted(p.name for p in ds.morphology.cache.dir.rglob("*.npz"))
    keys = [(0, "all"), (1, "all"), (2, "all"), ("auto", "all"), ("auto", budget), ("auto", levels[0] * 2)]
    assert names == sorted(f"{n.root_id}_lod-{lod}_faces-{f}.npz" for lod, f in keys)


def test_decimation_bound():
    from support.precomputed import big_mesh

    verts, faces = big_mesh(50_000)
    for budget in (40_000, 5_000, 777, 50):
        v, f = decimate(verts, faces, budget)
        assert 0 < len(f) <= budget
        assert f.max() < len(v)
    v, f = decimate(verts, faces, len(faces) + 1)
    assert len(f) == len(faces)
    # a tiny budget is met or refused in one clear line, never exceeded
    try:
        v, f = decimate(verts, faces, 4)
    except DataError as exc:
        assert "could not decimate" in str(exc)
    else:
        assert 0 < len(f) <= 4


def test_concurrent_decimation_matches_sequential():
    """fast-simplification is not thread-safe by itself; batches decimate in threads."""
    from concurrent.futures import ThreadPoolExecutor

    from support.precomputed import big_mesh

    meshes = []
    for i, n in enumerate((30_000, 20_000, 25_000, 15_000)):
        verts, faces = big_mesh(n)
        meshes.append((verts * (1 + 0.1 * i), faces))
    sequential = [decimate(v, f, 2_000)[1] for v, f in meshes]
    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            concurrent = list(pool.map(lambda m: decimate(m[0], m[1], 2_000)[1], meshes))
        for a, b in zip(sequential, concurrent):
            np.testing.assert_array_equal(a, b)


def test_mesh_from_the_datastack_segmentation_source(tmp_path, neurons, layers):
    from cloudvolume import CloudVolume

    ds = cave_dataset(tmp_path)
    ds.client.info.segmentation_cloudvolume = lambda *a, **k: CloudVolume(layers["legacy"], progress=False)
    mesh = ds.mesh(neurons[2].root_id, max_faces=300)
    assert mesh.source == CAVE and mesh.n_faces <= 300
    assert "cave-segmentation" in str(ds.morphology.cache.mesh_path(neurons[2].root_id, CAVE, None, 300))
    with no_network():
        offline = Dataset(tmp_path, version=1300)
        np.testing.assert_array_equal(offline.mesh(neurons[2].root_id, max_faces=300).faces, mesh.faces)
        assert offline._client is None


def test_batch_meshes_one_missing(tmp_path, neurons, layers):
    ds = Dataset(tmp_path, version=1300, mesh_source=layers["multires"], retry=FAST_RETRY)
    ids = [neurons[0].root_id, UNKNOWN_ID, neurons[1].root_id]
    with pytest.raises(IncompleteError, match="1 of 3 meshes failed") as err:
        ds.meshes(ids, max_faces=400, workers=2)
    assert set(err.value.results) == {neurons[0].root_id, neurons[1].root_id}
    assert all(m.n_faces <= 400 for m in err.value.results.values())


# -- sources.json and the cache key ---------------------------------------------------------


def test_sources_json_lets_a_folder_work_alone(tmp_path, neurons, layers):
    copy = tmp_path / "layer"
    shutil.copytree(layers["legacy"].replace("precomputed://file://", ""), copy)
    ds = Dataset(tmp_path / "data", version=1300)
    url = "precomputed://" + copy.as_uri()
    write_sources(ds.layout, skeleton_source=url, mesh_source=str(copy))  # a plain folder works too
    assert resolve_sources(ds.layout).skeleton == url
    rid = neurons[0].root_id
    sk, mesh = ds.skeleton(rid), ds.mesh(rid, max_faces=200)
    shutil.rmtree(copy)  # the source is gone: the cache answers
    again = Dataset(tmp_path / "data", version=1300)
    np.testing.assert_array_equal(again.skeleton(rid).vertices_um, sk.vertices_um)
    np.testing.assert_array_equal(again.mesh(rid, max_faces=200).faces, mesh.faces)
    assert again._client is None
    # another source is another cache entry: the CAVE default is not answered from the file layer's cache
    assert again.morphology.cache.skeleton_path(rid, CAVE) != again.morphology.cache.skeleton_path(rid, url)


def test_missing_layer_is_a_data_error(tmp_path):
    ds = Dataset(tmp_path, version=1300, mesh_source=str(tmp_path / "no-such-layer"), retry=FAST_RETRY)
    with pytest.raises(DataError, match="cannot open the morphology source precomputed://file://.*no-such-layer"):
        ds.mesh(ROOT_IDS[0])


def test_bad_sources_json_is_one_line(tmp_path):
    ds = Dataset(tmp_path, version=1300)
    (tmp_path / "1300").mkdir()
    (tmp_path / "1300" / "sources.json").write_text(json.dumps({"skeleton_source": "relative/dir"}))
    with pytest.raises(DataError, match="absolute folder or a precomputed"):
        ds.skeleton(ROOT_IDS[0])
    (tmp_path / "1300" / "sources.json").write_text("{not json")
    with pytest.raises(DataError, match="corrupt"):
        ds.skeleton(ROOT_IDS[0])


# -- CLI -----------------------------------------------------------------------------------


def test_cli_fills_the_cache(tmp_path, neurons, layers, capsys):
    ds = Dataset(tmp_path, version=1300)
    write_sources(ds.layout, skeleton_source=layers["legacy"], mesh_source=layers["multires"])
    ids = [str(n.root_id) for n in neurons[:2]]
    code = cli_main(["morphology", "--datadir", str(tmp_path), "--version", "1300", *ids, "--mesh", "--max-faces", "500"])
    out = capsys.readouterr().out
    assert code == 0
    for rid in ids:
        assert f"{rid}: skeleton" in out and f"{rid}: mesh" in out
    assert len(list(ds.morphology.cache.dir.rglob("*.npz"))) == 4
    code = cli_main(["morphology", "--datadir", str(tmp_path), "--version", "1300", str(UNKNOWN_ID)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error: 1 fetch(es) failed")
    assert any(line.startswith(f"{UNKNOWN_ID}: skeleton failed: root id {UNKNOWN_ID} has no skeleton") for line in err)
