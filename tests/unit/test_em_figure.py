"""EM without a window: the layer builders (napari's axis order, the affine, root ids as labels,
colours) and the 2D EM figure (the section drawn, the scale bar in µm, the synapse ring, the
SYNTHETIC mark and the credit), on cutouts made by hand and on a file:// volume through
``Dataset.em_cutout``; ``napari-microns emfigure`` end to end (its bad inputs: ``test_cli_errors.BAD_INPUTS``)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_microns import cli
from napari_microns import em_layers as el
from napari_microns.core.em import Cutout, voxel_affine
from napari_microns.em_figure import CREDIT, SYNTHETIC, em_figure, nice_length, segmentation_rgba, voxel_size_um

BIG = 864691135101289504  # a MICrONS-size root id: exact only as an integer
OTHER = 864691135000000007


def cutout(shape=(60, 40, 3), res=(8.0, 8.0, 40.0), origin=(700_000.0, 500_000.0, 800_000.0), seg=True):
    rng = np.random.default_rng(1)
    image = rng.integers(10, 250, shape).astype(np.uint8)
    segmentation = None
    if seg:
        segmentation = np.zeros(shape, dtype=np.uint64)
        segmentation[10:30, 5:25] = BIG
        segmentation[40:, :] = OTHER
    aff = voxel_affine(origin, res)
    centre = tuple(float(v) for v in (np.array([shape[0] // 2, shape[1] // 2, shape[2] // 2]) @ aff[:3, :3].T
                                      + aff[:3, 3]))
    return Cutout(image=image, segmentation=segmentation, masks={}, affine=aff, resolution_nm=res, mip=0,
                  center_um=centre, origin_nm=origin, image_source="precomputed://file:///em",
                  segmentation_source="precomputed://file:///seg" if seg else None)


# -- layer builders -----------------------------------------------------------------------
def test_layers_put_each_voxel_where_the_cutout_says_in_napari_order():
    cut = cutout()
    image, labels = el.em_layer_data(cut, {BIG: (1.0, 0.0, 0.0, 1.0)})
    data, kwargs, kind = image
    assert kind == "image" and data.shape == (3, 40, 60) and data.dtype == np.uint8
    assert kwargs["metadata"][el.KIND_KEY] == el.KIND_EM_IMAGE
    rng = np.random.default_rng(0)
    for i, j, k in zip(rng.integers(0, 60, 20), rng.integers(0, 40, 20), rng.integers(0, 3, 20)):
        assert data[k, j, i] == cut.image[i, j, k]
        world = kwargs["affine"] @ np.array([k, j, i, 1.0])
        np.testing.assert_allclose(world[:3][::-1], cut.voxel_to_um([[i, j, k]])[0], atol=1e-9)
    assert labels[2] == "labels"
    np.testing.assert_array_equal(labels[1]["affine"], kwargs["affine"])


def test_contrast_limits_are_percentiles_of_the_inside():
    image = np.zeros((100, 100, 1), np.uint8)
    image[10:] = np.arange(90, dtype=np.uint8)[:, None, None] + 100
    lo, hi = el.contrast_limits(image)
    inside = image[image > 0]
    assert (lo, hi) == tuple(np.percentile(inside, [1, 99]))
    assert el.contrast_limits(np.full((4, 4, 1), 7, np.uint8)) == (6.0, 8.0)  # never an empty range


def test_root_ids_become_small_labels_and_keep_their_exact_ids():
    cut = cutout()
    data, kwargs, _ = el.em_segmentation_data(cut, {BIG: (0.2, 0.4, 0.6, 1.0)})
    assert data.dtype == np.uint32 and data.max() == 2
    assert "features" not in kwargs  # napari 0.9.2's Labels status fails in 3D on features
    ids = np.asarray(kwargs["metadata"]["root_ids"], dtype=np.uint64)
    assert kwargs["metadata"]["root_ids"][1:] == sorted([BIG, OTHER])  # exact Python ints
    # every voxel's label names its root id exactly
    np.testing.assert_array_equal(ids[data].transpose(2, 1, 0), cut.segmentation)
    label = el.label_of(kwargs["metadata"], BIG)
    assert kwargs["colormap"][label] == (0.2, 0.4, 0.6, 1.0)
    assert kwargs["colormap"][0] == el.NO_SEGMENT
    assert el.label_of(kwargs["metadata"], OTHER) not in kwargs["colormap"]  # others: the None default
    assert kwargs["colormap"][None] == el.OTHER_SEGMENTS
    assert kwargs["metadata"]["coloured_root_ids"] == [BIG]


def test_no_segmentation_no_labels_layer():
    layers = el.em_layer_data(cutout(seg=False), {BIG: (1, 0, 0, 1)})
    assert [kind for _, _, kind in layers] == ["image"]


# -- the figure ------------------------------------------------------------------------------
def test_figure_draws_the_centre_section_with_a_true_scale_bar_and_the_ring():
    cut = cutout()
    marker_voxel = (12, 30, 1)
    marker_um = cut.voxel_to_um([marker_voxel])[0]
    drawn = em_figure(cut, {BIG: (1.0, 0.0, 0.0, 1.0)}, marker_um=marker_um, title="synapse 1", scale_um=0.2)
    assert drawn.section == 1
    np.testing.assert_array_equal(drawn.image.get_array(), cut.image[:, :, 1].T)
    dx, dy, _ = voxel_size_um(cut)
    assert dx == pytest.approx(0.008) and dy == pytest.approx(0.008)
    # data units are µm: the bar's width is 0.2 µm, 25 voxels of 8 nm
    assert drawn.scale_bar.get_width() == pytest.approx(0.2)
    assert drawn.scale_bar.get_width() / dx == pytest.approx(25)
    cx, cy = drawn.marker.center
    assert (cx / dx, cy / dy) == (pytest.approx(12), pytest.approx(30))
    # the ring sits on that pixel of the image drawn: voxel (12, 30) is row 30, column 12
    x0, x1, y1, y0 = drawn.image.get_extent()
    col = (cx - x0) / (x1 - x0) * cut.image.shape[0]
    row = (cy - y0) / (y1 - y0) * cut.image.shape[1]
    assert (int(col), int(row)) == (12, 30)
    texts = [t.get_text() for t in drawn.ax.texts]
    assert CREDIT in texts and SYNTHETIC not in " ".join(texts) + drawn.ax.get_title()


def test_synthetic_is_marked():
    drawn = em_figure(cutout(), title="soma of 1", synthetic=True)
    assert drawn.ax.get_title().startswith(SYNTHETIC)
    assert SYNTHETIC in [t.get_text() for t in drawn.ax.texts] and CREDIT not in [t.get_text() for t in drawn.ax.texts]


def test_segments_coloured_and_others_outlined():
    cut = cutout()
    rgba = segmentation_rgba(cut.segmentation[:, :, 0].T, {BIG: (0.0, 1.0, 0.0, 1.0)})
    inside = rgba[15, 20]  # row j=15, column i=20: inside BIG's box
    assert tuple(inside[:3]) == (0.0, 1.0, 0.0) and 0 < inside[3] < 1
    assert rgba[20, 50, 3] == 0  # inside OTHER, away from its edge: transparent
    assert rgba[20, 40, 3] > 0 and rgba[20, 39, 3] == 0  # OTHER's edge, on its side: a faint outline
    assert rgba[35, 2, 3] == 0  # unsegmented


def test_nice_length():
    assert nice_length(10.0) == 2.0 and nice_length(0.48) == pytest.approx(0.05) and nice_length(60) == 10.0


# -- through the dataset and the command ----------------------------------------------------
@pytest.fixture(scope="module")
def em_dataset(tmp_path_factory, info):
    from support.em_volume import sample_em

    ds, vol, rid, _ = sample_em(info, tmp_path_factory.mktemp("em"), OTHER)
    return ds, vol, rid


def test_figure_of_a_soma_in_a_volume(em_dataset, tmp_path):
    from napari_microns.em_figure import dataset_em_figure
    from napari_microns.figure2d import save

    ds, vol, rid = em_dataset
    drawn, cut = dataset_em_figure(ds, root_id=rid, size_um=8.0)
    np.testing.assert_array_equal(drawn.image.get_array(), cut.image[:, :, drawn.section].T)
    start = (np.asarray(cut.origin_nm) / 40.0).astype(int) - vol.offset_vx
    i, j, k = cut.image.shape
    np.testing.assert_array_equal(cut.image, vol.image[start[0]:start[0] + i, start[1]:start[1] + j,
                                                       start[2]:start[2] + k])
    assert drawn.ax.get_title().startswith(SYNTHETIC)  # the sample's folder
    out = save(drawn.figure, tmp_path / "soma.png", 80)
    assert out.stat().st_size > 10_000


def test_emfigure_command(em_dataset, tmp_path, capsys):
    """A point in a data folder of its own whose sources.json names the volume: the real credit."""
    from napari_microns import Dataset
    from napari_microns.core.em import write_em_sources

    ds, vol, rid = em_dataset
    write_em_sources(Dataset(tmp_path / "data", ds.version).layout, vol.image_source, vol.segmentation_source)
    soma = ds.units().set_index("pt_root_id").loc[rid, ["pt_position_x", "pt_position_y", "pt_position_z"]]
    out = tmp_path / "em.svg"
    code = cli.main(["emfigure", "--datadir", str(tmp_path / "data"), "--version", str(ds.version),
                     "--at", *(str(v) for v in soma), "--root-ids", str(rid), "--size-um", "6", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    assert "scale-bar" in text and "synapse-ring" not in text and str(rid) in text
    assert CREDIT in text and SYNTHETIC not in text
