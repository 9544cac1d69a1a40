"""The synthetic sample's EM-like image and segmentation layers (file:// precomputed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_microns import sample
from napari_microns.core.transform import nm_to_um, um_to_nm
from napari_microns.sample import em as sample_em

CloudVolume = pytest.importorskip("cloudvolume").CloudVolume


@pytest.fixture(scope="module")
def marker(info):
    return json.loads((info.layout.root / sample.MARKER_FILE).read_text())


@pytest.fixture(scope="module")
def sources(info):
    return json.loads((info.layout.root / "sources.json").read_text())


@pytest.fixture(scope="module")
def volumes(sources):
    image = CloudVolume(sources["image_source"], progress=False)
    seg = CloudVolume(sources["segmentation_source"], progress=False)
    img = np.asarray(image[image.bounds.to_slices()][..., 0])
    return image, seg, img, np.asarray(seg[seg.bounds.to_slices()][..., 0])


def test_sources_keep_morphology_and_name_the_em_layers(info, sources):
    assert sources["skeleton_source"] == sources["mesh_source"]
    assert sources["skeleton_source"].startswith("precomputed://file://")
    root = info.layout.root.resolve()
    for key, name in (("image_source", "image"), ("segmentation_source", "segmentation")):
        assert sources[key] == "precomputed://" + (root / sample_em.EM_DIR / name).as_uri()


def test_layers_have_the_em_grid_and_types(volumes, marker):
    image, seg, img, lab = volumes
    assert image.layer_type == "image" and image.dtype == np.uint8
    assert seg.layer_type == "segmentation" and seg.dtype == np.uint64
    for vol in (image, seg):
        assert list(vol.resolution) == list(sample_em.EM_RESOLUTION_NM)
        assert list(vol.voxel_offset) == marker["em"]["voxel_offset"]
        assert list(vol.volume_size) == marker["em"]["shape"]
        assert vol.info["napari_microns"]["synthetic"] is True
        assert "not MICrONS data" in vol.info["napari_microns"]["description"]
    n_xy = marker["em"]["shape"][0]
    assert marker["em"]["shape"] == [n_xy, n_xy, sample_em.EM_SECTIONS]
    assert img.shape == lab.shape == tuple(marker["em"]["shape"])
    # mip 1: 16 x 16 x 40 nm, the 2 x 2 mean of mip 0
    mip1 = CloudVolume(image.cloudpath, mip=1, progress=False)
    assert list(mip1.resolution) == [16, 16, 40]
    half = np.asarray(mip1[mip1.bounds.to_slices()][..., 0], float)
    want = np.asarray(img, float).reshape(n_xy // 2, 2, n_xy // 2, 2, -1).mean((1, 3))
    assert half.shape == want.shape
    assert np.abs(half - want).mean() < 6.0 and np.corrcoef(half.ravel(), want.ravel())[0, 1] > 0.9  # jpeg


def test_soma_voxel_holds_the_neurons_root_id(volumes, marker, info):
    _, seg, _, lab = volumes
    em = marker["em"]
    root = int(em["root_id"])
    pyramidal = [r for r, ct in zip(info.root_ids, marker["cell_types"]) if ct not in ("BC", "MC", "BPC", "NGC")]
    assert root == pyramidal[0]
    soma_vx = np.floor(um_to_nm(np.array(em["soma_um"]))[0] / np.array(sample_em.EM_RESOLUTION_NM)).astype(int)
    i, j, k = soma_vx - np.array(seg.voxel_offset)
    assert 0 <= i < lab.shape[0] and 0 <= j < lab.shape[1] and 0 <= k < lab.shape[2]
    assert lab.dtype == np.uint64 and int(lab[i, j, k]) == root  # exact 64-bit id
    # and the whole soma section: the neuron's pixels near the soma centre are its own
    assert (lab[i - 30:i + 30, j - 30:j + 30, k] == np.uint64(root)).all()


def test_block_centre_maps_to_the_recorded_position(volumes, marker):
    image, _, _, _ = volumes
    em = marker["em"]
    centre_vx = np.array(image.voxel_offset) + np.array(em["shape"]) // 2
    centre_um = nm_to_um(centre_vx * np.array(image.resolution, float))[0]
    assert np.abs(centre_um - em["center_um"]).max() < 0.008 + 1e-6  # one voxel
    # and back: the recorded centre in µm -> nm -> voxels is the centre voxel
    back = um_to_nm(np.array(em["center_um"]))[0] / np.array(image.resolution, float)
    assert np.abs(back - centre_vx).max() < 1.0


def test_a_cutout_around_the_soma_fits_in_the_block(volumes, marker):
    image, _, _, _ = volumes
    em = marker["em"]
    soma_nm = um_to_nm(np.array(em["soma_um"]))[0]
    lo = np.array(image.voxel_offset) * np.array(image.resolution, float)
    hi = lo + np.array(image.volume_size) * np.array(image.resolution, float)
    half = 5_000.0  # the EM cutouts' default 10 µm square
    assert (soma_nm[:2] - half >= lo[:2]).all() and (soma_nm[:2] + half <= hi[:2]).all()
    assert lo[2] <= soma_nm[2] < hi[2]


def test_segmentation_has_neighbours_and_gaps(volumes, info):
    _, _, _, lab = volumes
    ids = np.unique(lab)
    assert ids[0] == 0  # extracellular gaps
    assert len(ids) > 100  # neurites of many cells
    assert (lab == 0).mean() < 0.15
    others = set(ids[1:].tolist()) - set(info.root_ids)
    assert all(r > 2**40 for r in others)  # MICrONS-size root ids of the sample's units


def test_membranes_are_darker_than_cytoplasm(volumes):
    _, _, img, lab = volumes
    from scipy import ndimage

    k = lab.shape[2] // 2
    gap = lab[:, :, k] == 0
    far = ~ndimage.binary_dilation(gap, iterations=6)
    membrane = img[:, :, k][gap].astype(float).mean()
    cytoplasm = img[:, :, k][far].astype(float).mean()
    assert membrane < cytoplasm - 40, (membrane, cytoplasm)


def test_block_is_deterministic_and_small():
    from napari_microns.sample import morphology as sample_morphology
    from napari_microns.sample import tables as sample_tables

    cells = sample_tables.synthetic_units(3000, seed=4)
    units = cells.rename(columns={"x": "pt_position_x", "y": "pt_position_y", "z": "pt_position_z"})
    root, cell_type, soma = sample_morphology.pick_showcase(units)[0]
    neuron = sample_morphology.build_neuron(root, cell_type, soma, seed=4)
    a = sample_em.build_block(neuron, [neuron], units, 4, size_um=3.0, sections=4)
    b = sample_em.build_block(neuron, [neuron], units, 4, size_um=3.0, sections=4)
    assert a.image.shape == (368, 368, 4) and a.segmentation.dtype == np.uint64
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.segmentation, b.segmentation)
    c = sample_em.build_block(neuron, [neuron], units, 5, size_um=3.0, sections=4)
    assert not np.array_equal(a.image, c.image)
