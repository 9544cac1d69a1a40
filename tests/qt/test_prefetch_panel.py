"""Prefetch for offline work from the window: synapses into the store and skeletons/meshes into
the cache for the chosen or shown proofread neurons, in workers with a bar in napari's Activity
dock, cancel part-way and resume, one notification per failure."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pandas as pd
import pytest
from support import FAST_RETRY
from support.fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table
from support.precomputed import make_neurons, write_neuron_layer

import napari_microns.core.synapses as core_synapses
from napari_microns import Dataset
from napari_microns.core.morphology import write_sources
from napari_microns.prefetch import Prefetch, prefetch_ids

TABLE = {"n_neurons": 12, "n_synapses": 600, "seed": 3}


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    yield w
    panel = w.prefetch_panel
    if panel.worker is not None:  # never leave a thread behind
        panel.cancel()
        qtbot.waitUntil(lambda: panel.worker is None, timeout=30_000)


def show(widget, info, roots, proofread) -> None:
    """Sample units with ``roots`` as their first root ids; ``proofread`` of them proofread."""
    units = pd.read_parquet(info.layout.units_path).head(40).copy()
    ids = units["pt_root_id"].to_numpy(dtype=np.int64)
    ids[: len(roots)] = roots
    units["pt_root_id"] = ids
    units["proofreading"] = ["axon and dendrite" if r in proofread else "not proofread" for r in ids]
    widget.scene.show_units(units, None)


def synapse_dataset(tmp_path, latency=0.0):
    fake = FakeCAVE(tables={SYNAPSE_TABLE: synapse_table(**TABLE)}, latency=latency)
    ds = Dataset(tmp_path / "data", version=1300, client=fake.client(1300), retry=FAST_RETRY)
    ds._version_checked = True
    return fake, ds


def chunks_said(status: str) -> int:
    """The chunks done in a status line such as "inputs: chunk 3 of 12, 150 synapses" (-1: none)."""
    if ": chunk " not in status:
        return -1
    return int(status.split(": chunk ")[1].split(" of ")[0])


def run(widget, qtbot, start):
    panel = widget.prefetch_panel
    worker = start()
    assert worker is not None and not panel.synapses_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=60_000)
    return panel.status.text()


def test_ids_are_the_chosen_or_the_shown_proofread_units(widget, info):
    roots = list(info.root_ids[:3])
    show(widget, info, roots, proofread=roots[:2])
    scene = widget.scene
    assert prefetch_ids(scene, "shown proofread").tolist() == roots[:2]
    assert len(prefetch_ids(scene, "shown")) == len(scene.features)
    cell_type = str(scene.features["cell_type"].iloc[1])
    scene.set_filters(cell_types=[cell_type])
    same = [r for i, r in enumerate(roots[:2]) if str(scene.features["cell_type"].iloc[i]) == cell_type]
    assert prefetch_ids(scene, "shown proofread").tolist() == same and roots[1] in same
    scene.choose(roots[2:])
    assert prefetch_ids(scene, "chosen").tolist() == roots[2:]


def test_download_synapses_of_the_shown_proofread_neurons(widget, qtbot, info, tmp_path, bars, notifications):
    fake, ds = synapse_dataset(tmp_path)
    table = synapse_table(**TABLE)
    roots = np.unique(table["post_pt_root_id"])[:4].tolist()
    widget.scene.set_dataset(ds)
    show(widget, info, roots, proofread=roots)
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("shown proofread")
    panel.direction_combo.setCurrentText("inputs")
    with fake:
        text = run(widget, qtbot, panel.download_synapses_clicked)
    stored = ds.synapses(post_ids=roots)
    expected = table[table["post_pt_root_id"].isin(roots)]
    assert len(stored) == len(expected) > 0
    assert set(stored["id"]) == set(expected["id"])
    assert text.startswith("inputs: ") and f"{len(expected)} synapses" in text and "\n" not in text
    assert widget.prefetch.summary == text
    assert len(bars["added"]) == 1 and bars["added"] == bars["removed"]  # made, then closed
    assert notifications == []
    # outputs, aggregated: one row per connection
    panel.direction_combo.setCurrentText("outputs")
    panel.aggregate_check.setChecked(True)
    with fake:
        text = run(widget, qtbot, panel.download_synapses_clicked)
    conns = ds.synapses(pre_ids=roots, aggregate=True)
    assert text.startswith("outputs: ") and "connections" in text
    outputs = table[table["pre_pt_root_id"].isin(roots)]
    assert int(conns["n_synapses"].sum()) == len(outputs)
    assert len(conns) == len(outputs.groupby(["pre_pt_root_id", "post_pt_root_id"]))
    assert len(bars["added"]) == 2 and sorted(bars["added"]) == sorted(bars["removed"])


def test_cancel_part_way_keeps_the_chunks_and_a_rerun_resumes(widget, qtbot, info, tmp_path, monkeypatch, bars):
    monkeypatch.setattr(core_synapses, "DEFAULT_CHUNK_SIZE", 1)  # one chunk per neuron
    fake, ds = synapse_dataset(tmp_path, latency=0.5)
    table = synapse_table(**TABLE)
    roots = np.unique(table["post_pt_root_id"]).tolist()
    widget.scene.set_dataset(ds)
    widget.scene.choose(roots)
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("chosen")
    panel.direction_combo.setCurrentText("inputs")
    with fake:
        panel.download_synapses_clicked()
        # cancel once a chunk is done, as a user watching the bar would
        qtbot.waitUntil(lambda: chunks_said(panel.status.text()) >= 1, timeout=30_000)
        panel.cancel_button.click()
        qtbot.waitUntil(lambda: panel.worker is None, timeout=30_000)
        cancelled = panel.status.text()
        assert cancelled.startswith("cancelled inputs after ") and "rerun resumes" in cancelled
        done = int(cancelled.split(" after ")[1].split(" of ")[0])
        assert 1 <= done < len(roots)
        assert bars["added"] == bars["removed"] and len(bars["added"]) == 1  # closed on cancel too
        text = run(widget, qtbot, panel.download_synapses_clicked)
    resumed = int(text.split("(")[1].split(" resumed")[0])
    assert resumed >= done and f"{len(roots)}/{len(roots)} chunks" in text
    assert len(ds.synapses(post_ids=roots)) == len(table)
    assert len(bars["added"]) == 2 and sorted(bars["added"]) == sorted(bars["removed"])


def test_prefetch_morphology_then_work_offline(widget, qtbot, info, tmp_path, bars, notifications):
    neurons = make_neurons(3)
    layer = tmp_path / "layer"
    url = write_neuron_layer(layer, neurons)
    ds = Dataset(tmp_path / "data", version=1300)
    write_sources(ds.layout, skeleton_source=url, mesh_source=url)
    roots = [n.root_id for n in neurons]
    widget.scene.set_dataset(ds)
    show(widget, info, roots, proofread=roots)
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("shown proofread")
    panel.meshes_check.setChecked(True)
    text = run(widget, qtbot, panel.prefetch_morphology_clicked)
    assert text.startswith("3 skeletons and 3 meshes cached in ") and notifications == []
    morph = ds.morphology
    for r in roots:
        assert morph.cache.skeleton_path(r, morph.sources.skeleton).exists()
    assert len(bars["added"]) == 1 and bars["added"] == bars["removed"]
    # offline: the source is gone, yet a second run finds everything in the cache
    shutil.rmtree(layer)
    again = Dataset(tmp_path / "data", version=1300)
    widget.scene.set_dataset(again)
    text = run(widget, qtbot, panel.prefetch_morphology_clicked)
    assert text.startswith("3 skeletons and 3 meshes cached in ") and notifications == []
    assert widget.scene.fetch_now(roots, kinds=["skeleton", "mesh"]) == []  # the scene's fetch: all cached
    assert {f"skeleton {r}" for r in roots} <= {lyr.name for lyr in widget.viewer.layers}


def test_a_failed_prefetch_is_one_notification_and_keeps_the_rest(widget, qtbot, info, tmp_path, bars,
                                                                    notifications):
    neurons = make_neurons(2)
    url = write_neuron_layer(tmp_path / "layer", neurons)
    ds = Dataset(tmp_path / "data", version=1300)
    write_sources(ds.layout, skeleton_source=url, mesh_source=url)
    missing = 864691135999999999
    roots = [n.root_id for n in neurons] + [missing]
    widget.scene.set_dataset(ds)
    widget.scene.choose(roots)
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("chosen")
    text = run(widget, qtbot, panel.prefetch_morphology_clicked)
    assert len(notifications) == 1
    message = str(notifications[0].message)
    assert "\n" not in message and "1 of 3 skeletons failed" in message and text == f"failed: {message}"
    morph = ds.morphology
    assert all(morph.cache.skeleton_path(n.root_id, morph.sources.skeleton).exists() for n in neurons)
    assert len(bars["added"]) == 1 and bars["added"] == bars["removed"]  # closed on error too
    # nothing to prefetch: one notification, no worker, no bar
    widget.scene.choose([])
    assert panel.prefetch_morphology_clicked() is None
    assert len(notifications) == 2 and "choose some" in str(notifications[1].message)
    assert len(bars["added"]) == 1


def test_cancel_from_the_activity_dock(widget, qtbot, info, tmp_path, monkeypatch):
    """The bar's Cancel button (napari's Activity dock) cancels the prefetch."""
    from napari.utils.progress import cancelable_progress

    monkeypatch.setattr(core_synapses, "DEFAULT_CHUNK_SIZE", 1)
    fake, ds = synapse_dataset(tmp_path, latency=0.15)
    roots = np.unique(synapse_table(**TABLE)["post_pt_root_id"]).tolist()
    widget.scene.set_dataset(ds)
    widget.scene.choose(roots)
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("chosen")
    with fake:
        panel.download_synapses_clicked()
        bar = panel.activity.bar
        assert isinstance(bar, cancelable_progress)
        bar.cancel()  # what the dock's Cancel button calls
        qtbot.waitUntil(lambda: panel.worker is None, timeout=30_000)
    assert panel.status.text().startswith("cancelled") and panel.activity.closed


def test_prefetch_request_runs_without_a_window(tmp_path, monkeypatch):
    """The model alone (a notebook's path): progress lines, cancel from the progress, resume."""
    monkeypatch.setattr(core_synapses, "DEFAULT_CHUNK_SIZE", 2)
    fake, ds = synapse_dataset(tmp_path)
    roots = np.unique(synapse_table(**TABLE)["pre_pt_root_id"]).tolist()

    class FakeScene:
        dataset, chosen = ds, roots

        def shown_features(self):
            return None

    request = Prefetch(FakeScene()).request("synapses", "chosen", direction="outputs")
    assert request.describe() == f"outputs synapses of {len(roots)} chosen neurons"
    cancel, lines = threading.Event(), []

    def progress(done, total, text):
        lines.append(text)
        if done >= 2:
            cancel.set()

    with fake:
        said = request.run(progress, cancel, workers=1)
        # the chunk running when the cancel came finishes (atomic writes), then the download stops
        assert said.startswith("cancelled outputs after 3 of 6 chunks") and "rerun resumes" in said
        assert lines[0] == "outputs: chunk 0 of 6, 0 synapses"
        said = request.run(workers=1)
    assert said.startswith("outputs: ") and "6/6 chunks (3 resumed)" in said
