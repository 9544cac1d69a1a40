"""Local ``file://`` precomputed EM layers at a real MICrONS location, with known voxels.

* image (uint8, 8x8x40 nm at mip 0, 16x16x40 nm at mip 1): voxel ``v`` of mip ``m`` holds
  :func:`image_value` ``(v, m)`` (absolute voxel coordinates of that mip);
* segmentation (uint64 MICrONS-size root ids): the id of a voxel depends only on the nm
  position of its centre (:func:`seg_value`), in 320 nm squares per 40 nm section, so a layer
  at 16x16x40 nm resampled to 8 nm equals the 8 nm layer exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: nm position of the layers' first voxel corner (in minnie65's cells, about 100 µm deep).
OFFSET_NM = np.array([700_000, 500_000, 800_000])
BASE_ID = 864691135101289504
SQUARE_NM = 320


def image_value(vx, mip: int = 0) -> np.ndarray:
    """The uint8 value at absolute voxels ``vx`` (..., 3) of ``mip``."""
    v = np.asarray(vx, dtype=np.int64)
    return ((v[..., 0] * 7 + v[..., 1] * 3 + v[..., 2] * 11 + 50 * mip) % 251 + 1).astype(np.uint8)


def seg_value(nm) -> np.ndarray:
    """The root id whose territory holds the nm positions ``nm`` (..., 3)."""
    p = np.floor(np.asarray(nm, dtype=np.float64)).astype(np.int64)
    sx, sy, sz = p[..., 0] // SQUARE_NM % 4, p[..., 1] // SQUARE_NM % 4, p[..., 2] // 40
    return (np.uint64(BASE_ID) + (sx + 4 * sy + 16 * (sz % 1000)).astype(np.uint64)).astype(np.uint64)


def _grid(offset_vx, shape):
    axes = [np.arange(o, o + n) for o, n in zip(offset_vx, shape)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def write_image(path: Path, shape=(256, 256, 4), mips: int = 2, chunk=(128, 128, 1)) -> str:
    """An image layer of ``shape`` voxels at 8x8x40 nm (and coarser mips, 2x in x/y each)."""
    from cloudvolume import CloudVolume

    res = np.array([8, 8, 40])
    offset = OFFSET_NM // res
    info = CloudVolume.create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
                                       resolution=res.tolist(), voxel_offset=offset.tolist(), chunk_size=list(chunk),
                                       volume_size=list(shape))
    url = Path(path).resolve().as_uri()
    vol = CloudVolume(url, info=info, progress=False)
    for _ in range(1, mips):
        vol.add_scale((2 ** _, 2 ** _, 1), chunk_size=list(chunk))
    vol.commit_info()
    for m in range(mips):
        v = CloudVolume(url, mip=m, progress=False)
        b = v.bounds
        v[b.minpt[0]:b.maxpt[0], b.minpt[1]:b.maxpt[1], b.minpt[2]:b.maxpt[2]] = \
            image_value(_grid(b.minpt, b.size3()), m)[..., None]
    return "precomputed://" + url


def write_segmentation(path: Path, shape=(256, 256, 4), resolution=(8, 8, 40), chunk=(128, 128, 1)) -> str:
    """A segmentation layer over the same nm box as :func:`write_image`'s ``shape`` at 8 nm."""
    from cloudvolume import CloudVolume

    res = np.array(resolution)
    offset = OFFSET_NM // res
    size = (np.array(shape) * np.array([8, 8, 40]) // res).astype(int)
    info = CloudVolume.create_new_info(num_channels=1, layer_type="segmentation", data_type="uint64",
                                       encoding="raw", resolution=res.tolist(), voxel_offset=offset.tolist(),
                                       chunk_size=list(chunk), volume_size=size.tolist())
    url = Path(path).resolve().as_uri()
    vol = CloudVolume(url, info=info, progress=False)
    vol.commit_info()
    centres = (_grid(offset, size) + 0.5) * res
    vol[offset[0]:offset[0] + size[0], offset[1]:offset[1] + size[1], offset[2]:offset[2] + size[2]] = \
        seg_value(centres)[..., None]
    return "precomputed://" + url
