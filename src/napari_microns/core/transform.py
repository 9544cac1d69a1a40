"""The one coordinate transform of napari-microns.

Everything the plugin shows lives in the pia-aligned micrometre frame of the
``standard_transform`` package (minnie65): y is depth below the pia, x and z
lie along the pia. Units positions arrive in 4x4x40 nm voxels; skeletons,
meshes and synapse positions in nm or voxels. This module converts whole
arrays in one vectorized call (microns_datacleaner loops per row).
"""

from __future__ import annotations

import warnings

import numpy as np

#: Voxel size of minnie65 annotation positions, in nm (x, y, z).
VOXEL_RESOLUTION_NM = np.array([4.0, 4.0, 40.0])


def _transform(units: str):
    from standard_transform import minnie_ds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return minnie_ds.transform(units)


def _as_points(xyz) -> np.ndarray:
    pts = np.asarray(xyz, dtype=float)
    if pts.ndim == 1:
        pts = pts.reshape(1, 3)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"expected an (N, 3) array of positions, got shape {pts.shape}")
    return pts


def _apply(units: str, xyz, invert: bool = False) -> np.ndarray:
    pts = _as_points(xyz)
    if len(pts) == 0:
        return pts.copy()
    t = _transform(units)
    return np.asarray(t.invert(pts) if invert else t.apply(pts), dtype=float)


def voxels_to_um(xyz_vx) -> np.ndarray:
    """4x4x40 nm voxel positions -> pia-aligned µm, shape (N, 3)."""
    return _apply("vx", xyz_vx)


def nm_to_um(xyz_nm) -> np.ndarray:
    """Positions in nm -> pia-aligned µm, shape (N, 3)."""
    return _apply("nm", xyz_nm)


def um_to_voxels(xyz_um) -> np.ndarray:
    """Inverse of :func:`voxels_to_um` (used to build synthetic data)."""
    return _apply("vx", xyz_um, invert=True)


def um_to_nm(xyz_um) -> np.ndarray:
    """Inverse of :func:`nm_to_um`."""
    return _apply("nm", xyz_um, invert=True)


#: A generous box around minnie65's cells in nm, ``[[x, y, z] min, [x, y, z] max]``: the soma
#: positions of the v1300 cell table (``cell_info_1300.feather``, 91,423 cells: x 251,136-1,631,808,
#: y 294,080-1,158,144, z 603,080-1,105,200 nm) widened by 100 µm on each side. Positions
#: outside it are not in the volume (e.g. nanometres read as voxels).
VOLUME_EXTENT_NM = np.array([[150_000.0, 190_000.0, 500_000.0], [1_735_000.0, 1_260_000.0, 1_210_000.0]])


def outside_volume(xyz_nm) -> int:
    """How many of these nm positions lie outside :data:`VOLUME_EXTENT_NM` (NaN rows not counted)."""
    pts = _as_points(xyz_nm)
    known = ~np.isnan(pts).any(axis=1)
    inside = ((pts >= VOLUME_EXTENT_NM[0]) & (pts <= VOLUME_EXTENT_NM[1])).all(axis=1)
    return int((known & ~inside).sum())
