"""What an EM cutout is: :class:`Cutout` (image, root-id segmentation, masks, the voxel -> µm
affine) and :class:`EmSources` (where the imagery and the segmentation come from).

Voxel convention: index ``(i, j, k)`` of a cutout array names the voxel whose **corner** is at
``origin_nm + (i, j, k) * resolution_nm`` and whose **centre** is half a voxel further on.
``affine`` maps an index to the voxel's centre (napari draws pixel ``i`` centred on ``i``),
so a point at nm ``p`` lies in voxel ``floor((p - origin_nm) / resolution_nm)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..transform import nm_to_um, um_to_nm


def nm_to_um_matrix() -> np.ndarray:
    """The (4, 4) homogeneous matrix of :func:`~napari_microns.core.transform.nm_to_um`.

    minnie65's transform is a rotation, a translation and a scale, so it is affine: its
    matrix is read off the images of the origin and the unit vectors (1 mm long, for
    precision), and checked against the transform on a few points.
    """
    base = np.zeros((1, 3))
    scale = 1e6
    pts = np.vstack([base, np.eye(3) * scale])
    img = nm_to_um(pts)
    m = np.eye(4)
    m[:3, 3] = img[0]
    m[:3, :3] = ((img[1:] - img[0]) / scale).T
    probe = np.array([[700_000.0, 500_000.0, 800_000.0], [1_500_000.0, 1_100_000.0, 1_100_000.0]])
    if not np.allclose(probe @ m[:3, :3].T + m[:3, 3], nm_to_um(probe), rtol=0, atol=1e-7):
        raise AssertionError("the nm -> µm transform is not affine")
    return m


def voxel_affine(origin_nm, resolution_nm) -> np.ndarray:
    """(4, 4) float64: voxel index ``(i, j, k, 1)`` -> pia-aligned µm of the voxel's centre."""
    res = np.asarray(resolution_nm, dtype=np.float64)
    to_nm = np.diag([*res, 1.0])
    to_nm[:3, 3] = np.asarray(origin_nm, dtype=np.float64) + res / 2.0
    return nm_to_um_matrix() @ to_nm


@dataclass(frozen=True)
class EmSources:
    """Where EM imagery and segmentation come from (resolved cloud-volume paths)."""

    image: str
    segmentation: str | None


@dataclass(frozen=True)
class Cutout:
    """A box of EM imagery (and its segmentation) around a point, in the plugin's µm frame.

    ``image`` is uint8 with axes (x, y, z) at ``mip``; ``segmentation`` holds uint64 root ids
    (never supervoxels) on the same grid, or None when not asked; ``masks`` one bool array per
    asked root id. ``affine`` maps a homogeneous voxel index to the pia-aligned µm of the
    voxel's centre (the frame of the units' ``pt_position_*`` and the synapses'
    ``ctr_pt_position_*``); ``origin_nm`` is the nm position of voxel (0, 0, 0)'s **corner**.
    Voxels outside the volume's bounds are 0 in both arrays.
    """

    image: np.ndarray
    segmentation: np.ndarray | None
    masks: dict[int, np.ndarray]
    affine: np.ndarray
    resolution_nm: tuple[float, float, float]
    mip: int
    center_um: tuple[float, float, float]
    origin_nm: tuple[float, float, float]
    image_source: str
    segmentation_source: str | None
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.image.shape)

    def voxel_to_um(self, ijk) -> np.ndarray:
        """(N, 3) voxel indices (fractional allowed) -> pia-aligned µm, shape (N, 3)."""
        pts = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
        return pts @ self.affine[:3, :3].T + self.affine[:3, 3]

    def um_to_voxel(self, xyz_um) -> np.ndarray:
        """(N, 3) pia-aligned µm -> fractional voxel indices (voxel centres are whole numbers)."""
        pts = np.asarray(xyz_um, dtype=np.float64).reshape(-1, 3)
        inv = np.linalg.inv(self.affine)
        return pts @ inv[:3, :3].T + inv[:3, 3]

    def voxel_to_nm(self, ijk) -> np.ndarray:
        """(N, 3) voxel indices -> nm of the voxel centres."""
        pts = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
        res = np.asarray(self.resolution_nm)
        return np.asarray(self.origin_nm) + (pts + 0.5) * res

    def center_nm(self) -> np.ndarray:
        """The asked centre in nm."""
        return um_to_nm(np.asarray(self.center_um, dtype=np.float64))[0]
