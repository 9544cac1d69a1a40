"""Neuroglancer out and in (issue 13): states built offline from the synthetic sample, read back
from their link, JSON text, dict and file; CAVE short links through caveclient's real
StateClient (the token only to its own host); one-line errors; the ``neuroglancer`` command."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import responses
from caveclient.tools.testing import CAVEclientMock, default_info

from napari_microns import cli
from napari_microns.core.credentials import TOKEN_HOSTS_ENV
from napari_microns.core.dataset import Dataset
from napari_microns.core.errors import AuthError, DataError, MicronsError
from napari_microns.core.neuroglancer import EM_IMAGE_SOURCE, FLAT_SEGMENTATIONS, GRAPHENE_SEGMENTATION, parse_neuroglancer
from napari_microns.core.palettes import NEURON_CYCLE
from napari_microns.core.transform import um_to_voxels, voxels_to_um

VX = ["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]
UM = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z"]
TOKEN = "just_a_test"  # CAVEclientMock's token
BIG = 2**63 - 1


def hexes(rgba) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])


@pytest.fixture(scope="module")
def built(info):
    ds = Dataset(info.datadir, version=info.version)
    ids = [int(i) for i in info.root_ids[:2]]
    return ds, ids, ds.neuroglancer_state(ids)


def layer(state: dict, name: str) -> dict:
    return next(lay for lay in state["layers"] if lay["name"] == name)


def big_numbers(value) -> list:
    """The numbers above 2**53 anywhere in a JSON value."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in big_numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in big_numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > 2**53 else []


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and TOKEN not in text
    return text


# -- out --------------------------------------------------------------------------------------


def test_state_holds_the_neurons_their_colours_the_em_and_the_camera(built):
    ds, ids, ng = built
    assert all(i > 2**53 for i in ids)
    seg = layer(ng.state, "segmentation")
    assert seg["segments"] == [str(i) for i in ids]  # exact strings
    assert seg["segmentColors"] == {str(i): hexes(NEURON_CYCLE[k]) for k, i in enumerate(ids)}
    sources = json.loads((ds.layout.root / "sources.json").read_text())  # the sample's own EM layers
    assert seg["source"][0]["url"] == sources["segmentation_source"]
    assert layer(ng.state, "em")["source"][0]["url"] == sources["image_source"]
    assert any("cannot read local files" in n for n in ng.notes)
    assert ng.state["dimensions"] == {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}
    units = ds.units().set_index("pt_root_id")
    assert ng.state["position"] == units.loc[ids[0], ["pt_position_vx_x", "pt_position_vx_y", "pt_position_vx_z"]].tolist()
    text = ng.json()
    assert json.loads(text) == ng.state
    assert big_numbers(ng.state) == []  # ids never as JSON numbers, which JavaScript would round
    assert str(ids[0]) in str(layer(ng.state, "inputs")["annotations"][0]["segments"])
    assert ng.segment_properties["inline"]["ids"] == sorted(str(i) for i in ids)


def test_synapse_points_are_the_store_positions_exactly(built):
    ds, ids, ng = built
    for name, mine, other in (("inputs", "post_pt_root_id", "pre_pt_root_id"),
                              ("outputs", "pre_pt_root_id", "post_pt_root_id")):
        rows = ds.synapses(**{"post_ids" if name == "inputs" else "pre_ids": ids}).set_index("id")
        annos = layer(ng.state, name)["annotations"]
        assert len(annos) == len(rows) > 0
        assert layer(ng.state, name)["linkedSegmentationLayer"] == {"segments": "segmentation"}
        for a in annos:
            i = int(a["id"])
            assert a["point"] == [rows.at[i, c] for c in VX]  # float64, not rounded to float32
            assert a["segments"] == [[str(rows.at[i, mine]), str(rows.at[i, other])]]
    off_grid = [a for a in layer(ng.state, "inputs")["annotations"]
                if float(np.float32(a["point"][1])) != a["point"][1]]
    assert off_grid  # the sample has positions float32 cannot hold: the test above can fail


def test_colours_camera_and_grouping_by_cell_type(built):
    ds, ids, _ = built
    ng = ds.neuroglancer_state(ids, synapses="inputs", group_by="cell_type",
                               colors={ids[0]: "#123456", ids[1]: (1.0, 0.0, 0.0, 0.5)}, position_um=[600.0, 300.0, 800.0])
    assert layer(ng.state, "segmentation")["segmentColors"] == {str(ids[0]): "#123456", str(ids[1]): "#ff0000"}
    assert np.allclose(ng.state["position"], um_to_voxels([600.0, 300.0, 800.0])[0], rtol=0, atol=1e-6)
    rows = ds.synapses(post_ids=ids)
    types = ds.units().drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"].astype(object)
    want = rows["pre_pt_root_id"].map(types).fillna("unknown").value_counts()
    got = {lay["name"]: len(lay["annotations"]) for lay in ng.state["layers"] if lay["type"] == "annotation"}
    assert got == {f"inputs: {t}": n for t, n in want.items()}
    assert not [n for n in got if n.startswith("outputs")]
    none = ds.neuroglancer_state(ids, synapses=None)
    assert [lay["type"] for lay in none.state["layers"]] == ["image", "segmentation"]


@pytest.mark.parametrize("version, own, image, segmentation", [
    (1300, None, EM_IMAGE_SOURCE, FLAT_SEGMENTATIONS[1300]),
    (1412, None, EM_IMAGE_SOURCE, GRAPHENE_SEGMENTATION),
    (1412, {"image_source": "precomputed://https://em.example.org/em", "segmentation_source": "cave"},
     "precomputed://https://em.example.org/em", GRAPHENE_SEGMENTATION),
    (1507, {"segmentation_source": "precomputed://https://em.example.org/seg"}, EM_IMAGE_SOURCE,
     "precomputed://https://em.example.org/seg"),
])
def test_sources_are_the_datasets_own_else_the_versions_defaults_offline(tmp_path, version, own, image, segmentation):
    if own is not None:
        (tmp_path / str(version)).mkdir()
        (tmp_path / str(version) / "sources.json").write_text(json.dumps(own))
    with responses.RequestsMock() as rsps:  # any request would fail: none may be made
        ng = Dataset(tmp_path, version=version).neuroglancer_state([BIG], synapses=None, position_um=[1, 2, 3])
        assert len(rsps.calls) == 0
    assert layer(ng.state, "em")["source"][0]["url"] == image
    got = layer(ng.state, "segmentation")["source"][0]["url"]
    assert got == segmentation.replace("graphene://https://", "graphene://middleauth+https://")
    assert layer(ng.state, "segmentation")["segments"] == [str(BIG)]
    assert any("graphene" in n for n in ng.notes) == segmentation.startswith("graphene://")


def test_bad_arguments_say_one_line(built):
    ds, ids, _ = built
    with pytest.raises(MicronsError, match="synapses='all'"):
        ds.neuroglancer_state(ids, synapses="all")
    with pytest.raises(MicronsError, match="group_by='layer'"):
        ds.neuroglancer_state(ids, group_by="layer")
    with pytest.raises(DataError, match="not an integer"):
        ds.neuroglancer_state(["12a"])
    with pytest.raises(MicronsError, match="not a colour"):
        ds.neuroglancer_state(ids, colors={ids[0]: "not-a-colour"})


# -- in ---------------------------------------------------------------------------------------


def test_round_trip_through_the_url_the_json_and_a_file(built, tmp_path):
    ds, ids, ng = built
    path = tmp_path / "state.json"
    path.write_text(ng.json())
    raw_url = "https://spelunker.cave-explorer.org/#!" + json.dumps(ng.state)  # not URL-encoded
    store = pd.concat([ds.synapses(post_ids=ids), ds.synapses(pre_ids=ids)]).drop_duplicates("id").set_index("id")
    soma = ds.units().set_index("pt_root_id").loc[ids[0], ["pt_position_x", "pt_position_y", "pt_position_z"]]
    for source in (ng.url(), raw_url, ng.json(), ng.state, path, str(path)):
        parsed = parse_neuroglancer(source)
        assert parsed.root_ids.dtype == np.int64 and parsed.root_ids.tolist() == ids
        assert np.allclose(parsed.position_um, soma.to_numpy(float), rtol=0, atol=1e-6)
        assert parsed.layout == "xy-3d"
        points = parsed.points
        assert len(points) == sum(len(lay.get("annotations", [])) for lay in ng.state["layers"])
        syn = points["description"].str.extract(r"synapse (\d+):")[0].astype(np.int64)
        assert np.abs(points[["x", "y", "z"]].to_numpy() - store.loc[syn, UM].to_numpy()).max() < 1e-6
        assert set(points["layer"]) == {"inputs", "outputs"}
        assert all(ids[0] in s or ids[1] in s for s in points["segments"])


def test_8x8x40_states_and_annotation_transforms_convert_to_4x4x40():
    vx = np.array([[180_000.5, 120_000.25, 21_000.0], [200_000.0, 140_000.0, 22_000.0]])
    state = {
        "dimensions": {"x": [8e-9, "m"], "y": [8e-9, "m"], "z": [4e-8, "m"]},
        "position": [vx[0, 0] / 2, vx[0, 1] / 2, vx[0, 2]],
        "layers": [
            {"type": "segmentation", "source": "precomputed://x", "segments": ["864691135101289504", "!5", str(BIG)]},
            {"type": "annotation", "name": "global frame",
             "annotations": [{"type": "point", "point": [vx[0, 0] / 2, vx[0, 1] / 2, vx[0, 2]], "id": "a"}]},
            {"type": "annotation", "name": "own frame",
             "source": {"url": "local://annotations",
                        "transform": {"outputDimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}}},
             "annotations": [{"type": "point", "point": vx[1].tolist(), "id": "b", "segments": [["7", "!8"]]},
                             {"type": "line", "pointA": [0, 0, 0], "pointB": [1, 1, 1], "id": "c"}]},
        ],
    }
    parsed = parse_neuroglancer(state)
    assert parsed.root_ids.tolist() == [864691135101289504, BIG]
    want = voxels_to_um(vx)
    assert np.abs(parsed.points[["x", "y", "z"]].to_numpy() - want).max() < 1e-9
    assert parsed.points["layer"].tolist() == ["global frame", "own frame"]
    assert parsed.points["segments"].tolist() == [(), (7, 8)]
    assert np.abs(parsed.position_um - want[0]).max() < 1e-9


def test_root_ids_in_order_without_repeats_or_hidden_segments():
    state = {"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]},
             "layers": [{"type": "segmentation", "segments": ["3", "!5", "2", str(BIG)]},
                        {"type": "image", "segments": ["99"]},
                        {"type": "segmentation_with_graph", "segments": ["3", 7, "864691135101289504"],
                         "hiddenSegments": ["7"]}]}
    parsed = parse_neuroglancer(state)
    assert parsed.root_ids.tolist() == [3, 2, BIG, 864691135101289504]
    assert parsed.position_um is None and parsed.points.empty and list(parsed.points.columns)[:3] == ["x", "y", "z"]


@pytest.mark.parametrize("source, words", [
    ("hello world", "neither a Neuroglancer link"),
    ("{not json", "not valid JSON"),
    ("https://spelunker.cave-explorer.org/#!%7Bbroken", "not valid JSON"),
    ("https://spelunker.cave-explorer.org/", "holds no Neuroglancer state"),
    ("[1, 2]", "neither a Neuroglancer link"),
    ('{"layers": [{"type": "image", "source": "precomputed://x"}]}', "no segmentation layer"),
    ('{"layers": [{"type": "segmentation", "segments": ["1"]}]}', "has no dimensions"),
    ('{"dimensions": {"x": [4e-9, "m"]}, "layers": [{"type": "segmentation", "segments": ["1"]}]}', "dimension 'y'"),
    ('{"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}, '
     '"layers": [{"type": "segmentation", "segments": ["1.5e18"]}]}', "floating-point"),
    ('{"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}, "position": 5, '
     '"layers": [{"type": "segmentation", "segments": ["1"]}]}', "position 5 is not x, y, z"),
    ('{"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}, "layers": [{"type": "segmentation"}, '
     '{"type": "annotation", "name": "a", "annotations": [{"type": "point", "point": ["x", 1, 2]}]}]}', "point"),
    ('{"dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}, "layers": [{"type": "segmentation"}, '
     '{"type": "annotation", "name": "a", "annotations": [{"type": "point", "point": [0, 1, 2], "segments": [["x"]]}]}]}',
     "annotation layer 'a'"),
    ('{"navigation": 3, "layers": [{"type": "segmentation", "segments": ["1"]}]}', "has no dimensions"),
    ("", "empty"),
])
def test_bad_states_say_one_line(source, words):
    with pytest.raises(MicronsError) as exc:
        parse_neuroglancer(source)
    assert words in one_line(exc)


@pytest.mark.parametrize("link", ["https://global.daf-apis.com/nglstate/api/v1/5560000195854336",
                                  "https://spelunker.cave-explorer.org/#!middleauth+https://global.daf-apis.com/nglstate/api/v1/5560000195854336"])
def test_a_short_link_without_a_client_says_to_sign_in(link):
    with pytest.raises(AuthError) as exc:
        parse_neuroglancer(link)
    assert "sign in" in one_line(exc) and "napari-microns login" in str(exc.value)


# -- short links and the state server ---------------------------------------------------------


class StateServer:
    """A real CAVE state server on 127.0.0.1: serves ``states`` at ``/nglstate/api/v1/<id>`` and
    records each request's path and headers."""

    def __init__(self, states: dict[int, dict]):
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers.items())))
                m = re.fullmatch(r"/nglstate/api/v1/(\d+)", self.path)
                state = states.get(int(m.group(1))) if m else None
                body = json.dumps(state if state is not None else {"message": "no"}).encode()
                self.send_response(200 if state is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def state_client(global_server: str):
    """A real CAVEclient whose global (state) server is ``global_server``."""
    local = "https://local.cave.com"
    return CAVEclientMock(datastack_name="minnie65_public", global_server=global_server, local_server=local,
                          info_file=default_info(local), json_service=True)


def test_a_short_link_is_fetched_from_the_clients_state_server_only(built, monkeypatch):
    _, ids, ng = built
    monkeypatch.delenv(TOKEN_HOSTS_ENV, raising=False)
    own, foreign = StateServer({42: ng.state}), StateServer({42: ng.state})
    try:
        client = state_client(own.url)
        for link in (f"{own.url}/nglstate/api/v1/42",
                     f"https://spelunker.cave-explorer.org/#!middleauth+{own.url}/nglstate/api/v1/42"):
            assert parse_neuroglancer(link, client=client).root_ids.tolist() == ids
        assert [p for p, _ in own.requests] == ["/nglstate/api/v1/42"] * 2
        assert all(TOKEN in " ".join(h.values()) for _, h in own.requests)
        with pytest.raises(AuthError) as exc:
            parse_neuroglancer(f"https://spelunker.cave-explorer.org/#!middleauth+{foreign.url}/nglstate/api/v1/42",
                               client=client)
        assert "refusing to send your CAVE token" in one_line(exc) and TOKEN_HOSTS_ENV in str(exc.value)
        assert foreign.requests == []  # nothing reached the foreign host
        monkeypatch.setenv(TOKEN_HOSTS_ENV, urllib.parse.urlsplit(foreign.url).netloc)
        assert parse_neuroglancer(f"{foreign.url}/nglstate/api/v1/42", client=client).root_ids.tolist() == ids
        assert len(foreign.requests) == 1  # the user allowed it
        with pytest.raises(MicronsError) as exc:
            parse_neuroglancer(f"{own.url}/nglstate/api/v1/7", client=client)
        assert "404" in one_line(exc)
    finally:
        own.close()
        foreign.close()


def test_shorten_uploads_the_state_and_the_segment_properties():
    g = "https://global.cave.com"
    ds_state = {"layers": [{"type": "segmentation", "name": "segmentation", "source": [{"url": "precomputed://s"}],
                            "segments": [str(BIG)]}]}
    from napari_microns.core.neuroglancer import NeuroglancerState

    ng = NeuroglancerState(state=ds_state, segment_properties={"@type": "neuroglancer_segment_properties",
                                                               "inline": {"ids": [str(BIG)], "properties": []}})
    client = state_client(g)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{g}/nglstate/api/v1/property/post", body=f'"{g}/nglstate/api/v1/property/77"')
        rsps.add(responses.POST, f"{g}/nglstate/api/v1/post", body=f'"{g}/nglstate/api/v1/4242"')
        link = ng.shorten(client)
        assert link == f"https://spelunker.cave-explorer.org/#!middleauth+{g}/nglstate/api/v1/4242"
        assert all(urllib.parse.urlsplit(c.request.url).netloc == "global.cave.com" for c in rsps.calls)
        assert all(TOKEN in str(c.request.headers) for c in rsps.calls)
        props, state = (json.loads(c.request.body) for c in rsps.calls)
    assert props["inline"]["ids"] == [str(BIG)]
    assert state["layers"][0]["source"][1] == f"precomputed://middleauth+{g}/nglstate/api/v1/property/77"
    assert state["layers"][0]["segments"] == [str(BIG)]
    assert ng.state["layers"][0]["source"] == [{"url": "precomputed://s"}]  # the state itself is unchanged
    for no_token in (None, SimpleNamespace(auth=SimpleNamespace(token=None))):
        with pytest.raises(AuthError) as exc:
            ng.shorten(no_token)
        assert "needs a CAVE token" in one_line(exc)


# -- the command ------------------------------------------------------------------------------


def test_the_command_prints_the_link_and_writes_the_state_offline(info, tmp_path, capsys):
    ids = [int(i) for i in info.root_ids[:2]]
    out = tmp_path / "states" / "s.json"
    with responses.RequestsMock() as rsps:  # any request would fail: none may be made
        code = cli.main(["neuroglancer", "--datadir", str(info.datadir), "--version", str(info.version),
                         f"{ids[0]},{ids[1]}", "--synapses", "outputs", "--out", str(out)])
        assert len(rsps.calls) == 0
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("https://spelunker.cave-explorer.org/#!%7B")
    assert parse_neuroglancer(lines[0]).root_ids.tolist() == ids
    state = json.loads(out.read_text())
    assert state == parse_neuroglancer(lines[0]).state
    assert [lay["name"] for lay in state["layers"]] == ["em", "segmentation", "outputs"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["s.json"]  # written atomically, no temp left


def test_shorten_without_a_token_is_one_line_before_any_work(info, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # caveclient looks for ~/.cloudvolume/secrets/
    out = tmp_path / "s.json"
    with responses.RequestsMock() as rsps:
        code = cli.main(["neuroglancer", "--datadir", str(info.datadir), str(info.root_ids[0]), "--shorten",
                         "--out", str(out)])
        assert len(rsps.calls) == 0
    stdout, stderr = capsys.readouterr()
    assert code == 1 and stdout == "" and not out.exists()
    assert stderr.count("error: ") == 1 and "no CAVE token" in stderr and "Traceback" not in stderr


def test_the_command_prints_the_short_link(info, capsys, monkeypatch):
    from napari_microns.core import session

    g = "https://global.cave.com"
    client = state_client(g)
    monkeypatch.setattr(session, "make_client", lambda *a, **k: client)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{g}/nglstate/api/v1/property/post", body=f'"{g}/nglstate/api/v1/property/5"')
        rsps.add(responses.POST, f"{g}/nglstate/api/v1/post", body=f'"{g}/nglstate/api/v1/6"')
        code = cli.main(["neuroglancer", "--datadir", str(info.datadir), str(info.root_ids[0]), "--shorten"])
        uploaded = json.loads(rsps.calls[-1].request.body)
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    long_url, short = stdout.splitlines()
    assert short == f"https://spelunker.cave-explorer.org/#!middleauth+{g}/nglstate/api/v1/6"
    assert parse_neuroglancer(long_url).root_ids.tolist() == [int(info.root_ids[0])]
    assert uploaded["layers"][1]["segments"] == [str(info.root_ids[0])]


def test_a_seunglab_state_with_voxel_size_and_layers_by_name():
    vx = np.array([180_000.5, 120_000.25, 21_000.0])
    state = {"navigation": {"pose": {"position": {"voxelSize": [8, 8, 40], "voxelCoordinates": [vx[0] / 2, vx[1] / 2, vx[2]]}}},
             "layers": {"seg": {"type": "segmentation_with_graph", "segments": ["864691135101289504"]},
                        "syn": {"type": "annotation", "voxelSize": [4, 4, 40],
                                "annotations": [{"type": "point", "point": vx.tolist(), "segments": ["864691135101289504"]}]}}}
    parsed = parse_neuroglancer("https://neuromancer-seung-import.appspot.com/#!" + urllib.parse.quote(json.dumps(state)))
    assert parsed.root_ids.tolist() == [864691135101289504]
    assert np.abs(parsed.position_um - voxels_to_um(vx)[0]).max() < 1e-9
    assert np.abs(parsed.points[["x", "y", "z"]].to_numpy()[0] - voxels_to_um(vx)[0]).max() < 1e-9
    assert parsed.points["layer"].tolist() == ["syn"] and parsed.points["segments"].tolist() == [(864691135101289504,)]
