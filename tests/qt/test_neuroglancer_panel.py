"""The Neuroglancer panel in a real napari viewer (offscreen): a link of the chosen neurons in the
scene's colours (copy, save, browser, short link), and a link opened in the scene (its neurons
chosen, its synapses as points where the store puts them, the camera at its position); failures
as one notification, nothing sent without a token."""

from __future__ import annotations

import json

import numpy as np
import pytest
import responses
from qtpy.QtWidgets import QApplication

from napari_microns import Dataset
from napari_microns import layer_data as ld
from napari_microns.camera import camera_of
from napari_microns.core.neuroglancer import parse_neuroglancer
from napari_microns.core.palettes import NEURON_CYCLE
from napari_microns.core.neuroglancer.build import NeuroglancerState, hex_color
from napari_microns.neuroglancer_scene import KIND_NEUROGLANCER_POINTS, POINTS_LAYER


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    yield w
    qtbot.waitUntil(lambda: w.neuroglancer_panel.job.worker is None, timeout=20_000)


def load(widget, qtbot, info, chosen):
    widget.data_panel.load(info.datadir, info.version)
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=30_000)
    widget.scene.choose(chosen)


def wait(panel, qtbot, worker):
    assert worker is not None
    qtbot.waitUntil(lambda: panel.job.worker is None, timeout=20_000)


def build(widget, qtbot, synapses="both", group="direction"):
    panel = widget.neuroglancer_panel
    panel.synapses_combo.setCurrentText(synapses)
    panel.group_combo.setCurrentText(group)
    wait(panel, qtbot, panel.build_clicked())
    assert widget.neuroglancer.link is not None
    return widget.neuroglancer.link


def errors(notifications):
    return [n.message for n in notifications if n.severity.name == "ERROR"]


def test_a_link_shows_the_chosen_neurons_in_the_scene_colours(widget, qtbot, info, tmp_path, notifications):
    chosen = [int(r) for r in info.root_ids[:2]]
    widget.scene.color_of(int(info.root_ids[3]))  # the scene's colours are not the default cycle's
    load(widget, qtbot, info, chosen)
    panel = widget.neuroglancer_panel
    link = build(widget, qtbot)
    assert panel.url_edit.text() == link.url and panel.url_edit.isReadOnly()
    parsed = parse_neuroglancer(panel.url_edit.text())
    assert parsed.root_ids.dtype == np.int64 and parsed.root_ids.tolist() == chosen
    seg = next(layer for layer in parsed.state["layers"] if layer["name"] == "segmentation")
    assert seg["segmentColors"] == {str(r): hex_color(widget.scene.color_of(r)) for r in chosen}
    assert widget.scene.color_of(chosen[0]) != widget.scene.color_of(chosen[1])
    assert seg["segmentColors"][str(chosen[0])] != hex_color(NEURON_CYCLE[0])
    store = Dataset(info.datadir, version=info.version)
    n_syn = len(store.synapses(pre_ids=chosen).merge(store.synapses(post_ids=chosen), how="outer"))
    assert len(parsed.points) == n_syn > 0
    assert panel.copy_button.isEnabled() and panel.short_button.isEnabled()
    # Copy puts the link on the clipboard
    panel.copy_clicked()
    assert QApplication.clipboard().text() == link.url
    # Save JSON writes the state; it parses back to the same neurons
    out = tmp_path / "state.json"
    panel.save_clicked(str(out))
    assert parse_neuroglancer(out).root_ids.tolist() == chosen
    assert json.loads(out.read_text()) == link.state.state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary file left
    # Open in browser hands the link to the browser (injected here: no browser in tests)
    opened = []
    panel.open_url = opened.append
    panel.browser_clicked()
    assert opened == [link.url]
    # no synapses: the state holds only the EM and the segmentation
    link = build(widget, qtbot, synapses="none")
    assert [layer["name"] for layer in link.state.state["layers"]] == ["em", "segmentation"]
    # other neurons chosen: the old link is gone
    widget.scene.choose(chosen[:1])
    assert widget.neuroglancer.link is None and panel.url_edit.text() == "" and not panel.copy_button.isEnabled()
    assert errors(notifications) == []


def test_a_pasted_link_chooses_its_neurons_shows_its_synapses_and_moves_the_camera(widget, qtbot, info):
    chosen = [int(r) for r in info.root_ids[:2]]
    load(widget, qtbot, info, chosen)
    link = build(widget, qtbot, synapses="inputs")
    url = link.url
    widget.scene.choose([int(info.root_ids[3])])
    panel = widget.neuroglancer_panel
    panel.open_edit.setPlainText(url)
    wait(panel, qtbot, panel.open_clicked())
    assert widget.scene.chosen == chosen and all(type(r) is int for r in widget.scene.chosen)
    layer = widget.viewer.layers[POINTS_LAYER]
    assert ld.layer_kind(layer) == KIND_NEUROGLANCER_POINTS
    inputs = Dataset(info.datadir, version=info.version).synapses(post_ids=chosen)
    assert len(layer.data) == len(inputs) > 0
    # each point where the synapse layer draws that synapse (the store's µm in the scene's order)
    ids = [int(d.split(":")[0].split()[1]) for d in layer.features["description"]]
    expected = ld.to_display(inputs.set_index("id").loc[ids, ld.SYNAPSE_POSITION].to_numpy(dtype=float))
    np.testing.assert_allclose(layer.data, expected, atol=1e-6)
    np.testing.assert_allclose(layer.data[:, 0], inputs.set_index("id").loc[ids, "ctr_pt_position_z"], atol=1e-6)
    assert set(layer.features["layer"]) == {"inputs"}
    segs = [s.split() for s in layer.features["segments"]]
    assert all(int(s[0]) in chosen for s in segs)
    # the camera at the state's position (the first neuron's soma), in the scene's frame
    parsed = parse_neuroglancer(url)
    np.testing.assert_allclose(camera_of(widget.viewer).center, ld.to_display(parsed.position_um)[0], atol=1e-6)
    units = widget.scene.features.set_index("pt_root_id")
    np.testing.assert_allclose(parsed.position_um, units.loc[chosen[0], ld.POSITION_COLUMNS].to_numpy(float),
                               atol=0.01)
    assert panel.open_note.text() == (f"2 neurons chosen, {len(inputs)} points, camera at "
                                      "({:.0f}, {:.0f}, {:.0f}) µm".format(*parsed.position_um))
    # a state (JSON) without points takes the old points away
    bare = build(widget, qtbot, synapses="none")
    widget.scene.choose([int(info.root_ids[3])])
    wait(panel, qtbot, panel.open_clicked(bare.state.json()))
    assert widget.scene.chosen == chosen and POINTS_LAYER not in widget.viewer.layers


def test_open_file_reads_a_saved_state(widget, qtbot, info, tmp_path):
    chosen = [int(r) for r in info.root_ids[1:3]]
    load(widget, qtbot, info, chosen)
    build(widget, qtbot, synapses="outputs")
    panel = widget.neuroglancer_panel
    out = tmp_path / "s.json"
    panel.save_clicked(str(out))
    widget.scene.choose([int(info.root_ids[0])])
    wait(panel, qtbot, panel.file_clicked(str(out)))
    assert widget.scene.chosen == chosen
    n = len(Dataset(info.datadir, version=info.version).synapses(pre_ids=chosen))
    assert len(widget.viewer.layers[POINTS_LAYER].data) == n


def test_garbage_is_one_notification_and_changes_nothing(widget, qtbot, info, notifications):
    chosen = [int(r) for r in info.root_ids[:1]]
    load(widget, qtbot, info, chosen)
    panel = widget.neuroglancer_panel
    panel.open_edit.setPlainText("this is no link at all")
    wait(panel, qtbot, panel.open_clicked())
    qtbot.waitUntil(lambda: len(errors(notifications)) == 1, timeout=5_000)
    assert "neither a Neuroglancer link" in errors(notifications)[0] and "\n" not in errors(notifications)[0]
    assert widget.scene.chosen == chosen and POINTS_LAYER not in widget.viewer.layers
    assert panel.open_note.text() == "nothing opened" and panel.open_button.isEnabled()
    # nothing pasted, or no link built yet: one line each, before any work
    assert panel.open_clicked("  ") is None
    panel.copy_clicked()
    assert len(errors(notifications)) == 3 and "build a link" in errors(notifications)[-1]


def test_a_short_link_without_a_token_is_one_notification_and_nothing_is_sent(widget, qtbot, info, tmp_path,
                                                                             monkeypatch, notifications):
    monkeypatch.setenv("HOME", str(tmp_path))  # caveclient looks for ~/.cloudvolume/secrets/: none there
    uploads = []
    monkeypatch.setattr(NeuroglancerState, "shorten",
                        lambda self, client, base=None: uploads.append(client) or "https://x/nglstate/api/v1/1")
    load(widget, qtbot, info, [int(info.root_ids[0])])
    link = build(widget, qtbot, synapses="none")
    panel = widget.neuroglancer_panel
    with responses.RequestsMock() as rsps:
        wait(panel, qtbot, panel.short_clicked())
        qtbot.waitUntil(lambda: len(errors(notifications)) == 1, timeout=5_000)
        # a pasted short link cannot be fetched either: the parser says to sign in
        panel.open_edit.setPlainText("https://global.daf-apis.com/nglstate/api/v1/5678")
        wait(panel, qtbot, panel.open_clicked())
        qtbot.waitUntil(lambda: len(errors(notifications)) == 2, timeout=5_000)
        assert len(rsps.calls) == 0
    assert uploads == []
    first, second = errors(notifications)
    assert "no CAVE token" in first and "napari-microns login" in first and "\n" not in first
    assert "short link" in second and "napari-microns login" in second
    assert widget.neuroglancer.link == link and panel.url_edit.text() == link.url
