"""Small ``file://`` precomputed EM layers for tests: an image and a root-id segmentation that
cloud-volume reads like minnie65's, around a point given in pia-aligned µm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_microns.core.transform import um_to_nm

RESOLUTION_NM = (40.0, 40.0, 40.0)


@dataclass(frozen=True)
class EmVolume:
    image_source: str
    segmentation_source: str
    offset_vx: np.ndarray  # the voxel offset of both layers (at RESOLUTION_NM)
    image: np.ndarray  # (x, y, z) uint8, as written
    segmentation: np.ndarray  # (x, y, z) uint64, as written


def image_pattern(shape, seed: int = 0) -> np.ndarray:
    """Grey texture with dark 'membranes' every 12 voxels: values vary voxel to voxel."""
    rng = np.random.default_rng(seed)
    i, j, k = np.indices(shape)
    img = 120 + 60 * np.sin(i / 3.0) * np.cos(j / 5.0) + rng.integers(0, 30, shape) + 2 * k
    img[(i % 12 == 0) | (j % 12 == 0)] = 20
    return np.clip(img, 1, 255).astype(np.uint8)


def write_em_volume(folder: Path, center_um, root_id: int, other_id: int, size_um: float = 24.0,
                    sections: int = 16, radius_um: float = 3.0) -> EmVolume:
    """Image + segmentation layers covering a ``size_um`` square (``sections`` deep) around
    ``center_um``; in the segmentation a disk of ``root_id`` (``radius_um``) at the centre, the
    ``+x`` half ``other_id`` and the rest unsegmented (0)."""
    from cloudvolume import CloudVolume

    res = np.asarray(RESOLUTION_NM)
    center_vx = np.floor(um_to_nm(np.asarray(center_um, dtype=float))[0] / res).astype(np.int64)
    n_xy = int(round(size_um * 1000 / res[0]))
    shape = (n_xy, n_xy, sections)
    offset = center_vx - np.array([n_xy // 2, n_xy // 2, sections // 2])
    image = image_pattern(shape)
    i, j, _ = np.indices(shape)
    c = center_vx - offset
    seg = np.zeros(shape, dtype=np.uint64)
    seg[i > c[0] + 3] = np.uint64(other_id)
    seg[(i - c[0]) ** 2 + (j - c[1]) ** 2 <= (radius_um * 1000 / res[0]) ** 2] = np.uint64(root_id)
    sources = []
    for name, layer_type, dtype, data in (("em", "image", "uint8", image), ("seg", "segmentation", "uint64", seg)):
        path = Path(folder) / name
        path.mkdir(parents=True, exist_ok=True)
        info = CloudVolume.create_new_info(num_channels=1, layer_type=layer_type, data_type=dtype, encoding="raw",
                                           resolution=list(res), voxel_offset=offset.tolist(), chunk_size=[64, 64, 8],
                                           volume_size=list(shape))
        source = f"precomputed://file://{path}"
        vol = CloudVolume(source, info=info, progress=False)
        vol.commit_info()
        vol[offset[0]:offset[0] + shape[0], offset[1]:offset[1] + shape[1], offset[2]:offset[2] + shape[2]] = data
        sources.append(source)
    return EmVolume(sources[0], sources[1], offset, image, seg)


def sample_em(info, folder: Path, other_id: int = 864691135000000007):
    """A volume around the sample's first showcase neuron's soma, and the sample's Dataset reading
    it: ``(dataset, volume, root_id, soma_um)``."""
    from napari_microns import Dataset

    units = Dataset(info.datadir, info.version).units()
    rid = int(info.root_ids[0])
    soma = units.loc[units["pt_root_id"] == rid, ["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()[0]
    vol = write_em_volume(folder, soma, rid, other_id)
    ds = Dataset(info.datadir, info.version, image_source=vol.image_source, segmentation_source=vol.segmentation_source)
    return ds, vol, rid, np.asarray(soma, dtype=float)
