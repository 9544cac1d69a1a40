"""The EM slab is drawn where it was cut: seen from the ``front`` preset (along z, depth down the
screen) the slab cut around a synapse is a square centred on the synapse's projected pixel, and
the neuron's skeleton runs through it; from the ``side`` it is a thin line at the synapse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_microns import em_layers as el
from napari_microns import layer_data as ld

from support.render import sample_scene

pytestmark = pytest.mark.render

SIZE_UM = 6.0
ZOOM = 40.0  # screen pixels per µm


@pytest.fixture
def em_scene(make_napari_viewer, info, tmp_path):
    from support.em_volume import sample_em

    from napari_microns.em_scene import EmScene

    ds, _, rid, soma = sample_em(info, tmp_path)
    scene = sample_scene(make_napari_viewer, info, (1000, 800))
    scene.set_dataset(ds)
    scene.choose([rid])
    assert not scene.fetch_now([rid], kinds=[ld.KIND_SKELETON])
    return EmScene(scene), rid, soma


def _shot(viewer) -> np.ndarray:
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).sum(axis=-1) > 30


def _box(mask: np.ndarray) -> tuple[float, float, int, int]:
    rows, cols = np.nonzero(mask)
    return (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2, np.ptp(rows) + 1, np.ptp(cols) + 1


def test_slab_is_drawn_at_the_synapse_it_was_cut_around(em_scene, tmp_path):
    from napari.layers import Layer

    from napari_microns.camera import camera_of, set_camera

    em, rid, soma = em_scene
    viewer = em.scene.viewer
    at = soma + np.array([1.2, 0.9, 0.0])  # a synapse on the soma, off the box's round numbers
    synapses = pd.DataFrame({"ctr_pt_position_x": [at[0]], "ctr_pt_position_y": [at[1]], "ctr_pt_position_z": [at[2]],
                             "pre_pt_root_id": [rid + 1], "post_pt_root_id": [rid], "size": [500]})
    marker = Layer.create(*ld.synapse_layer_data(synapses, [rid], name="the synapse"))
    viewer.add_layer(marker)
    marker.selected_data = {0}
    cutout = em.cutout_of(em.centre("synapse"), size_um=SIZE_UM)
    em.show(cutout)
    for layer in viewer.layers:  # the units and planes aside: the slab, the skeleton and the synapse
        layer.visible = ld.layer_kind(layer) not in (ld.KIND_UNITS, ld.KIND_CORTICAL_PLANES, ld.KIND_CORTICAL_OUTLINES,
                                                     ld.KIND_CORTICAL_LABELS, ld.KIND_SOMATA)
    set_camera(viewer, "front", zoom_to_fit=False)
    camera = camera_of(viewer)
    camera.center = tuple(ld.to_display(soma)[0])
    camera.zoom = ZOOM

    full = _shot(viewer)
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "em-front.png", full.astype(np.uint8))  # to look at (pytest --basetemp)
    image = viewer.layers[el.EM_IMAGE_LAYER]
    marker.size = 0.4
    shown = [layer for layer in viewer.layers if layer.visible]

    def alone(layer) -> np.ndarray:  # the canvas with only this layer drawn (None: nothing)
        for other in shown:
            other.visible = other is layer
        return _shot(viewer)

    bare, slab, ring = alone(None), alone(image), alone(marker)

    # where the front view puts a point: x to the right, depth down, ZOOM pixels a µm from the centre
    height, width = full.shape[:2]

    def pixel(xyz_um):
        d = (np.asarray(xyz_um, dtype=float).reshape(-1, 3) - soma) * ZOOM
        return d[:, 1] + height / 2, d[:, 0] + width / 2  # rows, columns

    syn_row, syn_col, syn_h, _ = _box(_changed(ring, bare))
    want_row, want_col = (v[0] for v in pixel(at))
    assert abs(syn_row - want_row) <= 3 and abs(syn_col - want_col) <= 3  # the view is as assumed
    slab_row, slab_col, slab_h, slab_w = _box(_changed(slab, bare))
    assert syn_h < 0.3 * slab_h  # the marker is small beside the slab
    # the slab's outline is the cut square's corners (turned by the pia-aligned frame), seen from the front
    n = cutout.image.shape
    corners = cutout.voxel_to_um([[i, j, 0] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5)])
    rows, cols = pixel(corners)
    assert slab_h == pytest.approx(np.ptp(rows), abs=4) and slab_w == pytest.approx(np.ptp(cols), abs=4)
    assert np.ptp(rows) > SIZE_UM * ZOOM  # turned: its bounding box is larger than its side
    # ... centred on the synapse's pixel: at its depth (row) and across (column)
    assert abs(slab_row - syn_row) <= 3 and abs(slab_col - syn_col) <= 3
