"""EM in the scene, in real napari viewers (offscreen): the EM panel reads a cutout in a worker
and the EM scene adds the image and the segmentation where the cutout's voxels are among the
neurons (napari's (z, y, x) order), the chosen neuron's segment in its scene colour; centred at
the soma, a selected synapse or the camera; cancel drops the result; failures are one
notification."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from napari_microns import em_layers as el
from napari_microns import layer_data as ld
from napari_microns.camera import camera_of

OTHER = 864691135000000007


@pytest.fixture(scope="module")
def em_data(tmp_path_factory, info):
    from support.em_volume import sample_em

    return sample_em(info, tmp_path_factory.mktemp("em"), OTHER)


@pytest.fixture
def widget(make_napari_viewer, qtbot, info, em_data):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    w.data_panel.load(info.datadir, info.version)
    qtbot.waitUntil(lambda: w.scene.features is not None and w.data_panel.load_worker is None, timeout=30_000)
    w.scene.set_dataset(em_data[0])  # the sample, reading the test's EM volume
    yield w
    w.em_panel.job.cancel()


def show(widget, qtbot, centre: str, **settings):
    panel = widget.em_panel
    panel.centre_combo.setCurrentIndex(panel.centre_combo.findData(centre))
    for name, value in settings.items():
        getattr(panel, f"{name}_spin").setValue(value)
    with qtbot.waitSignal(widget.em.events.cutout_changed, timeout=30_000):
        assert panel.show_clicked() is not None
    qtbot.waitUntil(lambda: panel.job.worker is None, timeout=10_000)
    return widget.em.cutout


def test_soma_slab_lands_on_the_cutout_voxels_in_the_scene_frame(widget, qtbot, em_data):
    _, vol, rid, soma = em_data
    widget.scene.choose([rid])
    cutout = show(widget, qtbot, "soma", size=6.0)
    viewer = widget.viewer
    image, labels = viewer.layers[el.EM_IMAGE_LAYER], viewer.layers[el.EM_SEGMENTATION_LAYER]
    assert ld.layer_kind(image) == el.KIND_EM_IMAGE and ld.layer_kind(labels) == el.KIND_EM_SEGMENTATION
    # drawn first (the bottom of the list), so translucent meshes around the slab blend over it
    assert (viewer.layers.index(image), viewer.layers.index(labels)) == (0, 1)
    assert cutout.image.shape == (150, 150, 1) and image.data.shape == (1, 150, 150)
    for ijk in ([0, 0, 0], [149, 0, 0], [17, 101, 0], [75, 75, 0]):
        i, j, k = ijk
        world = np.asarray(image.data_to_world([k, j, i]))
        np.testing.assert_allclose(ld.from_display(world)[0], cutout.voxel_to_um([ijk])[0], atol=1e-6)
        np.testing.assert_allclose(labels.data_to_world([k, j, i]), world, atol=1e-9)
        assert image.data[k, j, i] == cutout.image[i, j, k]
    # the soma the cutout is centred on is inside the slab, and the units' soma point is there too
    centre_vx = cutout.um_to_voxel(soma)[0]
    assert np.all(np.abs(centre_vx - [75, 75, 0]) <= 1.0)
    units_world = widget.scene.units_layer.data[widget.scene.features["pt_root_id"].to_numpy() == rid][0]
    np.testing.assert_allclose(image.world_to_data(units_world), centre_vx[::-1], atol=1.0)
    # the neuron's segment in its scene colour, other segments faint, background clear
    label = el.label_of(labels.metadata, rid)
    assert labels.data[0, 75, 75] == label
    np.testing.assert_allclose(labels.get_color(label), widget.scene.color_of(rid))
    other = el.label_of(labels.metadata, OTHER)
    assert labels.get_color(other)[3] == pytest.approx(el.OTHER_SEGMENTS[3])
    assert "EM at" in widget.em_panel.status.text() and "150 × 150 × 1" in widget.em_panel.status.text()


def test_a_second_cutout_goes_into_the_layers_shown(widget, qtbot, em_data):
    _, _, rid, soma = em_data
    widget.scene.choose([rid])
    show(widget, qtbot, "soma", size=6.0)
    image, labels = (widget.viewer.layers[n] for n in (el.EM_IMAGE_LAYER, el.EM_SEGMENTATION_LAYER))
    moved = widget.em.cutout_of({"center": (soma[0] + 1.0, soma[1], soma[2])}, size_um=4.0)
    inserted = []
    widget.viewer.layers.events.inserted.connect(inserted.append)
    widget.em.show(moved)
    assert inserted == []  # the same two layers, new data: no layer made or removed
    assert image.data.shape == (1, 100, 100) and np.array_equal(image.data[0].T, moved.image[:, :, 0])
    world = np.asarray(image.data_to_world([0, 10, 20]))
    np.testing.assert_allclose(ld.from_display(world)[0], moved.voxel_to_um([[20, 10, 0]])[0], atol=1e-6)
    np.testing.assert_allclose(labels.data_to_world([0, 10, 20]), world, atol=1e-9)
    label = el.label_of(labels.metadata, rid)
    assert label is not None and label in np.unique(labels.data)  # the neuron is in the new labels
    np.testing.assert_allclose(labels.get_color(label), widget.scene.color_of(rid))


def test_a_new_chosen_neuron_takes_its_colour_in_the_segmentation(widget, qtbot, em_data):
    _, _, rid, _ = em_data
    widget.scene.choose([rid])
    show(widget, qtbot, "soma", size=8.0)
    labels = widget.viewer.layers[el.EM_SEGMENTATION_LAYER]
    other = el.label_of(labels.metadata, OTHER)
    assert labels.get_color(other)[3] < 0.5
    widget.scene.choose([rid, OTHER])
    np.testing.assert_allclose(labels.get_color(other), widget.scene.color_of(OTHER))


def test_block_of_sections_and_no_segmentation(widget, qtbot, em_data):
    widget.scene.choose([em_data[2]])
    widget.em_panel.segmentation_check.setChecked(False)
    cutout = show(widget, qtbot, "soma", size=4.0, sections=4)
    assert cutout.image.shape[2] == 4 and cutout.segmentation is None
    assert widget.viewer.layers[el.EM_IMAGE_LAYER].data.shape[0] == 4
    assert el.EM_SEGMENTATION_LAYER not in widget.viewer.layers


def test_selected_synapse_centres_the_cutout_and_colours_both_cells(widget, qtbot, em_data):
    _, _, rid, soma = em_data
    at = soma + [1.5, -0.5, 0.0]
    synapses = pd.DataFrame({"ctr_pt_position_x": [at[0], soma[0] + 50], "ctr_pt_position_y": [at[1], soma[1]],
                             "ctr_pt_position_z": [at[2], soma[2]], "pre_pt_root_id": [OTHER, OTHER],
                             "post_pt_root_id": [rid, rid], "size": [300, 400]})
    from napari.layers import Layer

    layer = Layer.create(*ld.synapse_layer_data(synapses, [rid]))
    widget.viewer.add_layer(layer)
    layer.selected_data = {0}
    where = widget.em.centre("synapse")
    np.testing.assert_allclose(where["center"], at)
    assert where["root_ids"] == [OTHER, rid]
    cutout = show(widget, qtbot, "synapse", size=4.0)
    np.testing.assert_allclose(cutout.center_um, at)
    labels = widget.viewer.layers[el.EM_SEGMENTATION_LAYER]
    for root in (rid, OTHER):
        label = el.label_of(labels.metadata, root)
        np.testing.assert_allclose(labels.get_color(label), widget.scene.color_of(root))


def test_every_centre_is_offered():
    from napari_microns._qt.em_panel import CENTRE_LABELS
    from napari_microns.em_scene import CENTRES

    assert sorted(CENTRE_LABELS.values()) == sorted(CENTRES)


def test_camera_centre_in_micrometres(widget, em_data):
    _, _, _, soma = em_data
    widget.viewer.dims.ndisplay = 3
    camera_of(widget.viewer).center = tuple(ld.to_display(soma)[0])
    np.testing.assert_allclose(widget.em.centre("camera")["center"], soma, atol=1e-6)


def test_cancel_drops_the_cutout(widget, qtbot, em_data, monkeypatch):
    widget.scene.choose([em_data[2]])
    release = threading.Event()
    real = widget.em.cutout_of

    def slow(*args):
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(widget.em, "cutout_of", slow)
    panel = widget.em_panel
    panel.centre_combo.setCurrentIndex(panel.centre_combo.findData("soma"))
    worker = panel.show_clicked()
    assert worker is not None and panel.cancel_button.isEnabled() and not panel.show_button.isEnabled()
    assert "reading" in panel.status.text()
    panel.cancel_button.click()
    assert panel.show_button.isEnabled() and panel.job.worker is None
    release.set()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=20_000)
    qtbot.wait(100)
    assert widget.em.cutout is None and el.EM_IMAGE_LAYER not in widget.viewer.layers
    assert panel.status.text() == "no EM shown"


def test_failures_are_one_notification(widget, qtbot, notifications):
    panel = widget.em_panel
    widget.scene.choose([])
    panel.centre_combo.setCurrentIndex(panel.centre_combo.findData("soma"))
    assert panel.show_clicked() is None
    assert [n.message for n in notifications] == ["choose a neuron first (Neurons panel)"]
    panel.centre_combo.setCurrentIndex(panel.centre_combo.findData("synapse"))
    assert panel.show_clicked() is None and len(notifications) == 2 and "select a synapse" in notifications[1].message
    # a camera far outside the volume: the worker's error, in one line
    widget.viewer.dims.ndisplay = 3
    camera_of(widget.viewer).center = (5.0, 5.0, 5.0)
    panel.centre_combo.setCurrentIndex(panel.centre_combo.findData("camera"))
    assert panel.show_clicked() is not None
    qtbot.waitUntil(lambda: len(notifications) == 3, timeout=30_000)
    qtbot.waitUntil(lambda: panel.job.worker is None, timeout=10_000)
    assert "outside the EM volume" in notifications[2].message and "\n" not in notifications[2].message
    assert widget.em.cutout is None and panel.show_button.isEnabled()
