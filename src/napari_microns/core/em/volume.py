"""Reading boxes of an EM layer with cloud-volume: opening (the CAVE token only for
graphene layers on CAVE's own hosts), mip choice, and voxel boxes padded with zeros where
they leave the volume's bounds."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError
from ..morphology.readers import open_volume as open_volume  # the one opener (morphology's), used by cutout
from ..morphology.remote import Remote
from ..transform import nm_to_um


def mips(vol) -> list[int]:
    """The volume's mips, finest first."""
    return sorted(int(m) for m in vol.available_mips)


def resolution(vol, mip: int) -> np.ndarray:
    return np.asarray(vol.meta.resolution(mip), dtype=np.float64)


def pixels_for(size_um: float, res_nm: float) -> int:
    """How many pixels of ``res_nm`` cover ``size_um`` (at least 1)."""
    return max(1, int(round(size_um * 1000.0 / res_nm)))


def choose_mip(vol, size_um: float, max_pixels: int, mip: int | None, source: str) -> int:
    """``mip`` checked, or the finest mip whose x/y pixel count of ``size_um`` is <= ``max_pixels``."""
    available = mips(vol)
    if mip is not None:
        if int(mip) not in available:
            raise DataError(f"mip {mip} does not exist in {source}; its mips are {available[0]}-{available[-1]}")
        return int(mip)
    for m in available:
        res = resolution(vol, m)
        if max(pixels_for(size_um, res[0]), pixels_for(size_um, res[1])) <= max_pixels:
            return m
    coarsest = resolution(vol, available[-1])
    raise DataError(
        f"a {size_um:g} µm cutout needs {pixels_for(size_um, coarsest[0])} pixels even at the coarsest mip "
        f"({available[-1]}, {coarsest[0]:g} nm) of {source}; lower size_um or raise max_pixels above {max_pixels}"
    )


def bounds_text(vol, mip: int) -> str:
    """The volume's bounds in nm and pia-aligned µm, for messages."""
    b, res = vol.meta.bounds(mip), resolution(vol, mip)
    lo, hi = np.asarray(b.minpt) * res, np.asarray(b.maxpt) * res
    ulo, uhi = nm_to_um(lo)[0], nm_to_um(hi)[0]
    nm = ", ".join(f"{a:.0f}-{z:.0f}" for a, z in zip(lo, hi))
    um = ", ".join(f"{min(a, z):.1f}-{max(a, z):.1f}" for a, z in zip(ulo, uhi))
    return f"nm (x, y, z) {nm}; about µm {um}"


def volume_bounds(vol, mip: int) -> tuple[np.ndarray, np.ndarray]:
    b = vol.meta.bounds(mip)
    return np.asarray(b.minpt, dtype=np.int64), np.asarray(b.maxpt, dtype=np.int64)


def read_box(remote: Remote, vol, start, stop, mip: int, *, what: str, source: str, dtype,
             agglomerate: bool = False, timestamp=None) -> np.ndarray:
    """Voxels ``[start, stop)`` (voxel units of ``mip``) as an (x, y, z) array; zeros outside the bounds."""
    start, stop = np.asarray(start, np.int64), np.asarray(stop, np.int64)
    out = np.zeros(tuple(int(v) for v in stop - start), dtype=dtype)
    lo, hi = volume_bounds(vol, mip)
    a, z = np.maximum(start, lo), np.minimum(stop, hi)
    if np.any(z <= a):
        return out
    from cloudvolume import Bbox

    # the box is in voxels of ``mip``: say so, else cloud-volume reads it at the volume's own mip
    kwargs = dict(mip=mip, coord_resolution=resolution(vol, mip).tolist())
    if agglomerate:
        kwargs.update(agglomerate=True, timestamp=timestamp)

    def get():
        try:
            return vol.download(Bbox(a, z), **kwargs)
        except Exception as exc:  # noqa: BLE001
            name = type(exc).__name__
            if name in ("EmptyVolumeException", "OutOfBoundsError", "EmptyFileException"):
                raise DataError(f"{source} has no {what} data in voxels {a.tolist()}-{z.tolist()} at mip {mip} "
                                f"({name}); pick a point inside the imaged volume ({bounds_text(vol, mip)})") from None
            raise

    data = remote.call_cv(get, what=f"the {what} cutout {a.tolist()}-{z.tolist()} (mip {mip})", service=source)
    data = np.asarray(data)
    if data.ndim == 4:
        data = data[..., 0]
    if np.dtype(dtype) == np.uint8 and data.dtype != np.uint8:
        raise DataError(f"{source} holds {data.dtype} voxels, not 8-bit EM imagery; is it an image layer?")
    sl = tuple(slice(int(p - s), int(q - s)) for p, q, s in zip(a, z, start))
    out[sl] = data.astype(dtype, copy=False)
    return out


def seg_mip_for(vol, image_res: np.ndarray) -> int:
    """The coarsest segmentation mip no coarser than the image in any axis (else the finest)."""
    available = mips(vol)
    fits = [m for m in available if np.all(resolution(vol, m) <= image_res + 1e-9)]
    return fits[-1] if fits else available[0]


def resample_indices(origin_nm: np.ndarray, image_res: np.ndarray, shape, seg_res: np.ndarray):
    """For each axis: the segmentation voxel holding each image voxel's centre, and the
    segmentation box ``[start, stop)`` that covers them."""
    idx, start, stop = [], [], []
    for ax in range(3):
        centres = origin_nm[ax] + (np.arange(shape[ax]) + 0.5) * image_res[ax]
        v = np.floor(centres / seg_res[ax]).astype(np.int64)
        idx.append(v)
        start.append(int(v.min()))
        stop.append(int(v.max()) + 1)
    return idx, np.array(start), np.array(stop)


def z_range(center_vx_z: float, n: int) -> tuple[int, int]:
    """``n`` sections centred on the section holding ``center_vx_z`` (extra one after for even n)."""
    k = int(math.floor(center_vx_z))
    first = k - (n - 1) // 2
    return first, first + n
