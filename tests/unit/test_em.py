"""EM cutouts (issue 13): image and root-id segmentation around a point, from local
``file://`` precomputed layers written at a real MICrONS location (tests/support/em.py).

Checked against the layers' known voxels: the voxels of a cutout, its affine (a voxel's
centre lands on ``transform.nm_to_um`` of its nm position), the segmentation resampled from
16 nm, exact uint64 root ids, masks, centring on a soma or a synapse, the mip choice, the
on-disk cache (a hit with the layers gone and no client), and one-line errors.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from support import FAST_RETRY
from support.em import BASE_ID, OFFSET_NM, image_value, seg_value, write_image, write_segmentation
from support.fake_cave import FakeCAVE

from napari_microns import Dataset
from napari_microns.core.em import FLAT_SEGMENTATIONS, Cutout, nm_to_um_matrix, write_em_sources
from napari_microns.core.errors import AuthError, DataError, NotFoundError
from napari_microns.core.morphology import resolve_sources, write_sources
from napari_microns.core.transform import nm_to_um, um_to_nm, voxels_to_um

IMAGE_BOUNDS_VX = (OFFSET_NM // [8, 8, 40], OFFSET_NM // [8, 8, 40] + [256, 256, 4])  # mip 0, [lo, hi)


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    root = tmp_path_factory.mktemp("em-layers")
    return dict(image=write_image(root / "image"), seg8=write_segmentation(root / "seg8"),
                seg16=write_segmentation(root / "seg16", resolution=(16, 16, 40)), root=root)


def make_ds(tmp_path, layers, seg="seg8", **kwargs) -> Dataset:
    return Dataset(tmp_path / "data", 1300, image_source=layers["image"], segmentation_source=layers[seg],
                   retry=FAST_RETRY, **kwargs)


def point_um(dx_nm, dy_nm, dz_nm):
    return tuple(nm_to_um(OFFSET_NM + np.array([dx_nm, dy_nm, dz_nm], float))[0])


def grid(cut: Cutout, mip_factor=(1, 1, 1)):
    """Absolute voxel coordinates of every voxel of ``cut``."""
    lo = np.round(np.asarray(cut.origin_nm) / cut.resolution_nm).astype(np.int64)
    axes = [np.arange(o, o + n) for o, n in zip(lo, cut.image.shape)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_cutout_holds_the_layer_voxels_and_an_exact_affine(tmp_path, layers):
    center = point_um(1003.0, 997.0, 85.0)  # nm inside voxel (125, 124, 2) of the layer
    cut = make_ds(tmp_path, layers).em_cutout(center, size_um=0.4, z_sections=1)
    assert cut.mip == 0 and cut.resolution_nm == (8.0, 8.0, 40.0)
    assert cut.image.dtype == np.uint8 and cut.image.shape == (50, 50, 1)
    assert cut.segmentation.dtype == np.uint64 and cut.segmentation.shape == cut.image.shape
    np.testing.assert_array_equal(cut.image, image_value(grid(cut)))
    # the centre's voxel is in the middle of the box, and z is the section through the centre
    center_vx = (OFFSET_NM + [1003, 997, 85]) // np.array([8, 8, 40])
    ijk = center_vx - np.asarray(cut.origin_nm) / cut.resolution_nm
    np.testing.assert_array_equal(ijk, [25, 25, 0])
    assert cut.image[25, 25, 0] == image_value(center_vx)
    # affine: voxel index -> µm of the voxel centre, exactly the core transform of its nm position
    idx = np.array([[0, 0, 0], [25, 25, 0], [49, 3, 0], [7, 49, 0]], float)
    centres_nm = np.asarray(cut.origin_nm) + (idx + 0.5) * cut.resolution_nm
    np.testing.assert_allclose(cut.voxel_to_um(idx), nm_to_um(centres_nm), rtol=0, atol=1e-6)
    homo = np.c_[idx, np.ones(len(idx))] @ cut.affine.T
    np.testing.assert_allclose(homo[:, :3], nm_to_um(centres_nm), rtol=0, atol=1e-6)
    # the asked point maps back into its voxel, and µm -> voxel inverts voxel -> µm
    np.testing.assert_array_equal(np.round(cut.um_to_voxel(center))[0], [25, 25, 0])
    np.testing.assert_allclose(cut.um_to_voxel(cut.voxel_to_um(idx)), idx, atol=1e-9)
    assert cut.center_um == center and cut.image_source == layers["image"]
    assert cut.segmentation_source == layers["seg8"]


def test_nm_to_um_matrix_is_the_core_transform():
    m = nm_to_um_matrix()
    pts = np.array([[0, 0, 0], [251_136, 294_080, 603_080], [1_631_808, 1_158_144, 1_105_200.0]])
    np.testing.assert_allclose(pts @ m[:3, :3].T + m[:3, 3], nm_to_um(pts), rtol=0, atol=1e-7)


def test_segmentation_is_exact_root_ids_and_resampled_from_a_coarser_grid(tmp_path, layers):
    center = point_um(1000.0, 1000.0, 100.0)
    cut8 = make_ds(tmp_path / "a", layers, "seg8").em_cutout(center, size_um=1.0, z_sections=3)
    cut16 = make_ds(tmp_path / "b", layers, "seg16").em_cutout(center, size_um=1.0, z_sections=3)
    assert cut8.image.shape == cut16.image.shape == (125, 125, 3)
    centres_nm = np.asarray(cut8.origin_nm) + (grid(cut8) - np.asarray(cut8.origin_nm) / cut8.resolution_nm + 0.5) \
        * cut8.resolution_nm
    want = seg_value(centres_nm)
    np.testing.assert_array_equal(cut8.segmentation, want)
    np.testing.assert_array_equal(cut16.segmentation, want)  # nearest resampling of 16 nm onto 8 nm
    assert cut16.meta["segmentation_resolution_nm"] == [16.0, 16.0, 40.0]
    ids = np.unique(cut8.segmentation)
    assert ids.dtype == np.uint64 and len(ids) == 16 * 3
    # above 2**53: a float would merge neighbouring ids, uint64 keeps each one
    assert int(ids[1]) - int(ids[0]) == 1 and int(ids[0]) >= BASE_ID


def test_masks_per_root_id(tmp_path, layers):
    center = point_um(1000.0, 1000.0, 100.0)
    ds = make_ds(tmp_path, layers)
    full = ds.em_cutout(center, size_um=1.0)
    present = int(full.segmentation[10, 20, 0])
    absent = BASE_ID + 999_999
    cut = ds.em_cutout(center, size_um=1.0, segmentation=False, root_ids=[present, str(absent)])
    assert cut.segmentation is None
    assert set(cut.masks) == {present, absent}
    np.testing.assert_array_equal(cut.masks[present], full.segmentation == np.uint64(present))
    assert cut.masks[present].dtype == bool and 0 < cut.masks[present].sum() < cut.masks[present].size
    assert not cut.masks[absent].any()
    assert full.masks == {}


def test_mip_follows_size_and_max_pixels(tmp_path, layers):
    ds = make_ds(tmp_path, layers)
    center = point_um(1024.0, 1024.0, 40.0)
    assert ds.em_cutout(center, size_um=2.0, max_pixels=250, segmentation=False).mip == 0  # 250 px at 8 nm
    coarse = ds.em_cutout(center, size_um=2.0, max_pixels=249, segmentation=False)
    assert coarse.mip == 1 and coarse.resolution_nm == (16.0, 16.0, 40.0) and coarse.image.shape == (125, 125, 1)
    np.testing.assert_array_equal(coarse.image, image_value(grid(coarse), mip=1))
    with_seg = ds.em_cutout(center, size_um=2.0, max_pixels=249)  # 8 nm segmentation onto the 16 nm grid
    centres_nm = (grid(with_seg) + 0.5) * with_seg.resolution_nm
    np.testing.assert_array_equal(with_seg.segmentation, seg_value(centres_nm))
    assert ds.em_cutout(center, size_um=0.5, mip=1, segmentation=False).image.shape == (31, 31, 1)
    with pytest.raises(DataError) as err:
        ds.em_cutout(center, size_um=2.0, max_pixels=100)
    assert "lower size_um or raise max_pixels" in one_line(err)
    with pytest.raises(DataError) as err:
        ds.em_cutout(center, mip=4)
    assert "mip 4 does not exist" in one_line(err)


def test_box_partly_outside_the_volume_is_zero_there(tmp_path, layers):
    center = point_um(4.0, 1000.0, 20.0)  # near the layer's x edge
    cut = make_ds(tmp_path, layers).em_cutout(center, size_um=0.4)
    vx = grid(cut)
    inside = ((vx >= IMAGE_BOUNDS_VX[0]) & (vx < IMAGE_BOUNDS_VX[1])).all(axis=-1)
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(cut.image[inside], image_value(vx[inside]))
    assert (cut.image[~inside] == 0).all() and (cut.segmentation[~inside] == 0).all()


def write_units(ds: Dataset, rows: list[tuple[int, tuple]]):
    from napari_microns.core.units import UnitsResult

    units = pd.DataFrame({"pt_root_id": pd.array([r for r, _ in rows], dtype="Int64"),
                          "pt_position_x": [p[0] for _, p in rows], "pt_position_y": [p[1] for _, p in rows],
                          "pt_position_z": [p[2] for _, p in rows]})
    UnitsResult(units, pd.DataFrame({"layer": ["L1"], "y_top": [0.0], "y_bottom": [100.0]})).write(ds.layout)


def test_centre_on_a_soma_or_a_synapse(tmp_path, layers):
    ds = make_ds(tmp_path, layers)
    soma = point_um(800.0, 1200.0, 60.0)
    rid = BASE_ID + 7
    with pytest.raises(DataError) as err:
        ds.em_cutout(root_id=rid, size_um=0.4)
    assert "run process() first" in one_line(err)
    write_units(ds, [(BASE_ID + 1, point_um(0.0, 0.0, 0.0)), (rid, soma)])
    by_root = ds.em_cutout(root_id=rid, size_um=0.4)
    assert by_root.center_um == soma
    np.testing.assert_array_equal(by_root.image, ds.em_cutout(soma, size_um=0.4).image)
    with pytest.raises(NotFoundError) as err:
        ds.em_cutout(root_id=BASE_ID + 123, size_um=0.4)
    assert f"root id {BASE_ID + 123} is not in the units table of version 1300" in one_line(err)

    with pytest.raises(DataError) as err:
        ds.em_cutout(synapse_id=5)
    assert "no single synapses" in one_line(err)
    ctr_vx = (OFFSET_NM + [1500.0, 700.0, 120.0]) / [4, 4, 40]  # annotation voxels (4x4x40 nm)
    syn = pd.DataFrame({"id": [5, 6], "pre_pt_root_id": [BASE_ID + 1, BASE_ID + 2],
                        "post_pt_root_id": [rid, rid], "size": [100, 200],
                        "ctr_pt_position_x": [ctr_vx[0], ctr_vx[0] + 10], "ctr_pt_position_y": [ctr_vx[1]] * 2,
                        "ctr_pt_position_z": [ctr_vx[2]] * 2})
    ds.import_synapses(syn)
    by_syn = ds.em_cutout(synapse_id=5, size_um=0.4)
    np.testing.assert_allclose(by_syn.center_um, voxels_to_um(ctr_vx)[0], atol=1e-9)
    np.testing.assert_array_equal(np.round(by_syn.um_to_voxel(by_syn.center_um))[0], [25, 25, 0])
    with pytest.raises(NotFoundError) as err:
        ds.em_cutout(synapse_id=77)
    assert "synapse id 77 is not in the local synapse store" in one_line(err)


def test_cache_hit_needs_no_layer_and_no_client(tmp_path, layers, monkeypatch):
    root = tmp_path / "layers"
    image, seg = write_image(root / "image", mips=1), write_segmentation(root / "seg")
    ds = Dataset(tmp_path / "data", 1300, image_source=image, segmentation_source=seg, retry=FAST_RETRY)
    center = point_um(900.0, 900.0, 40.0)
    first = ds.em_cutout(center, size_um=0.5, z_sections=2, root_ids=[BASE_ID])
    files = list((ds.layout.root / "em").rglob("*.npz"))
    assert len(files) == 1
    shutil.rmtree(root)  # the "network" is gone

    def no_client(self):
        raise AssertionError("a cache hit must not need the CAVE client")

    monkeypatch.setattr(Dataset, "client", property(no_client))
    again = Dataset(tmp_path / "data", 1300, image_source=image, segmentation_source=seg).em_cutout(
        center, size_um=0.5, z_sections=2, root_ids=[BASE_ID])
    for name in ("image", "segmentation"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert getattr(again, name).dtype == getattr(first, name).dtype
    np.testing.assert_array_equal(again.masks[BASE_ID], first.masks[BASE_ID])
    np.testing.assert_array_equal(again.affine, first.affine)
    assert (again.mip, again.origin_nm, again.resolution_nm) == (first.mip, first.origin_nm, first.resolution_nm)
    # a damaged cache file is not trusted: it is dropped and read again (here: the layer is gone)
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    files[0].write_bytes(bytes(raw))
    fresh = Dataset(tmp_path / "data", 1300, image_source=image, segmentation_source=seg, retry=FAST_RETRY)
    with pytest.raises(DataError) as err:
        fresh.em_cutout(center, size_um=0.5, z_sections=2, root_ids=[BASE_ID])
    assert f"cannot open the EM image source {image}" in one_line(err)
    assert not files[0].exists()  # the damaged file was removed


def test_point_outside_the_volume_and_bad_arguments_fail_in_one_line(tmp_path, layers):
    ds = make_ds(tmp_path, layers)
    far = point_um(-50_000.0, 1000.0, 40.0)
    with pytest.raises(DataError) as err:
        ds.em_cutout(far)
    msg = one_line(err)
    assert f"({far[0]:.2f}, {far[1]:.2f}, {far[2]:.2f}) µm" in msg and "outside the EM volume" in msg
    assert "700000-702048" in msg  # the volume's bounds in nm
    for kwargs, text in [(dict(center=(1, 2)), "three finite numbers"),
                         (dict(center=(1, 2, float("nan"))), "three finite numbers"),
                         (dict(center=point_um(0, 0, 0), size_um=-1), "size_um must be"),
                         (dict(center=point_um(0, 0, 0), z_sections=0), "z_sections must be"),
                         (dict(center=point_um(0, 0, 0), z_sections=1.5), "z_sections must be"),
                         (dict(center=point_um(0, 0, 0), max_pixels=0), "max_pixels must be"),
                         (dict(center=point_um(0, 0, 0), root_id=BASE_ID), "exactly one of"),
                         (dict(), "exactly one of"),
                         (dict(center=point_um(0, 0, 0), root_ids=["x"]), "root id"),
                         (dict(root_id=-3), "root id")]:
        with pytest.raises(DataError) as err:
            ds.em_cutout(**kwargs)
        assert text in one_line(err), (kwargs, str(err.value))


def test_layer_that_is_not_the_right_kind(tmp_path, layers):
    ds = Dataset(tmp_path, 1300, image_source=layers["image"], segmentation_source=layers["image"])
    with pytest.raises(DataError) as err:
        ds.em_cutout(point_um(1000, 1000, 40), size_um=0.2)
    assert "is a image layer, not a segmentation" in one_line(err)
    ds = Dataset(tmp_path, 1300, image_source=layers["seg8"])
    with pytest.raises(DataError) as err:
        ds.em_cutout(point_um(1000, 1000, 40), size_um=0.2, segmentation=False)
    assert "not 8-bit EM imagery" in one_line(err)


def cave_dataset(tmp_path, version=1300, token="0123456789abcdef0123456789abcdef", image_source=None, **info):
    """A Dataset on CAVEclientMock whose datastack info names ``image_source`` and ``info``."""
    if image_source is not None:
        info["aligned_volume"] = dict(name="minnie65_phase3", id=1, image_source=image_source)
    client = FakeCAVE(tables={}, versions=[1300, 1412]).client(version, info_overrides=info)
    client.auth.token = token
    ds = Dataset(tmp_path, version=version, client=client, retry=FAST_RETRY)
    ds._version_checked = True
    return ds


def test_sources_from_arguments_file_or_cave(tmp_path, layers):
    graphene = "graphene://https://minnie.microns-daf.com/segmentation/table/minnie65_public"
    ds = cave_dataset(tmp_path, image_source=layers["image"], segmentation_source=graphene)
    got = ds.em_sources()
    assert got.image == layers["image"] and got.segmentation == FLAT_SEGMENTATIONS[1300]
    assert FLAT_SEGMENTATIONS[1300] == "precomputed://gs://iarpa_microns/minnie/minnie65/seg_m1300"
    # sources.json: the EM keys merge with the morphology keys, and arguments win over the file
    write_sources(ds.layout, skeleton_source="precomputed://gs://bucket/skel")
    write_em_sources(ds.layout, image_source=str(layers["root"] / "image"))
    doc = json.loads((ds.layout.root / "sources.json").read_text())
    assert doc == {"skeleton_source": "precomputed://gs://bucket/skel", "image_source": str(layers["root"] / "image")}
    assert resolve_sources(ds.layout).skeleton == "precomputed://gs://bucket/skel"
    assert ds.em_sources().image == layers["image"]  # the plain folder became precomputed://file://
    ds.image_source = "precomputed://gs://elsewhere/em"
    assert ds.em_sources().image == "precomputed://gs://elsewhere/em"
    # a version without a static segmentation: the datastack's graphene source
    other = cave_dataset(tmp_path / "v1412", version=1412, segmentation_source=graphene)
    assert other.em_sources().segmentation == graphene


def test_graphene_segmentation_without_a_token_says_login(tmp_path, layers):
    graphene = "graphene://https://minnie.microns-daf.com/segmentation/table/minnie65_public"
    ds = cave_dataset(tmp_path, version=1412, token=None, segmentation_source=graphene)
    ds.image_source = layers["image"]
    with pytest.raises(AuthError) as err:
        ds.em_cutout(point_um(1000, 1000, 40), size_um=0.2)
    msg = one_line(err)
    assert "needs a CAVE token" in msg and "napari-microns login" in msg
    # the imagery alone needs no token
    assert ds.em_cutout(point_um(1000, 1000, 40), size_um=0.2, segmentation=False).image.shape == (25, 25, 1)


def test_um_to_nm_round_trip_of_the_layer_offset():
    np.testing.assert_allclose(um_to_nm(nm_to_um(OFFSET_NM.astype(float)))[0], OFFSET_NM, atol=1e-6)


def test_graphene_segmentation_is_read_as_root_ids_at_the_version_timestamp(tmp_path, layers, monkeypatch):
    """The datastack's graphene segmentation (a version without a static one) is read with
    ``agglomerate=True`` at the version's timestamp; a stand-in volume records the call."""
    import datetime as dt

    from cloudvolume import CloudVolume

    from napari_microns.core.em import volume as em_volume

    graphene = "graphene://https://local.cave.com/segmentation/table/minnie65_public"
    ds = cave_dataset(tmp_path, version=1412, segmentation_source=graphene)
    ds.image_source = layers["image"]
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(ds.client.materialize, "get_timestamp", lambda version: when if version == 1412 else None)
    calls = []

    class GrapheneStandIn:
        """The local 8 nm layer behind a graphene path: answers only agglomerated reads."""

        def __init__(self):
            self._vol = CloudVolume(layers["seg8"], progress=False, fill_missing=False)
            self.meta, self.available_mips, self.layer_type = self._vol.meta, self._vol.available_mips, "segmentation"

        def download(self, bbox, **kwargs):
            calls.append(kwargs)
            assert kwargs.pop("agglomerate") is True and kwargs.pop("timestamp") == when
            return self._vol.download(bbox, **kwargs)

    real_open = em_volume.open_volume
    monkeypatch.setattr(em_volume, "open_volume",
                        lambda remote, source, what: GrapheneStandIn() if source == graphene else real_open(remote, source, what))
    cut = ds.em_cutout(point_um(1000, 1000, 40), size_um=0.2)
    assert len(calls) == 1 and cut.segmentation_source == graphene
    assert cut.meta["timestamp"] == str(when)
    centres_nm = (grid(cut) + 0.5) * cut.resolution_nm
    np.testing.assert_array_equal(cut.segmentation, seg_value(centres_nm))


def test_cave_image_without_a_token_is_the_public_minnie65_imagery(tmp_path, monkeypatch):
    from napari_microns.core import dataset as dataset_module
    from napari_microns.core.em import MINNIE65_IMAGE

    def no_token(*args, **kwargs):
        raise AuthError("no CAVE token is saved on this machine: save it with `napari-microns login`")

    monkeypatch.setattr(dataset_module, "make_client", no_token)
    got = Dataset(tmp_path, 1300).em_sources()
    assert got.image == MINNIE65_IMAGE and got.segmentation == FLAT_SEGMENTATIONS[1300]


def test_a_service_that_is_down_is_a_service_error(tmp_path, layers, monkeypatch):
    """A read that keeps failing with connection errors (after cloudfiles' own retries) is
    retried once more, then reported in one line as a ServiceError."""
    import requests

    from napari_microns.core.em import volume as em_volume
    from napari_microns.core.errors import ServiceError

    real_open = em_volume.open_volume
    attempts = []

    def down(bbox, **kwargs):
        attempts.append(bbox)
        raise requests.exceptions.ConnectionError("Connection refused")

    def opener(remote, source, what):
        vol = real_open(remote, source, what)
        monkeypatch.setattr(vol, "download", down)
        return vol

    monkeypatch.setattr(em_volume, "open_volume", opener)
    with pytest.raises(ServiceError) as err:
        make_ds(tmp_path, layers).em_cutout(point_um(1000, 1000, 40), size_um=0.2)
    msg = one_line(err)
    assert f"could not reach {layers['image']}" in msg and "gave up after 2 attempts" in msg
    assert len(attempts) == 2
    assert not list((tmp_path / "data").rglob("*.npz"))  # nothing cached from a failed read
