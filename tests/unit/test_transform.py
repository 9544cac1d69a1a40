"""The one coordinate transform: voxels/nm <-> pia-aligned µm."""

import numpy as np
import pytest

from napari_microns.core.transform import nm_to_um, um_to_nm, um_to_voxels, voxels_to_um


def test_voxels_and_nm_agree_and_invert():
    vx = np.array([[200_000.0, 150_000.0, 20_000.0], [180_000.0, 90_000.0, 21_000.0]])
    um = voxels_to_um(vx)
    np.testing.assert_allclose(nm_to_um(vx * [4, 4, 40]), um)
    np.testing.assert_allclose(um_to_voxels(um), vx, rtol=1e-9)
    np.testing.assert_allclose(um_to_nm(um), vx * [4, 4, 40], rtol=1e-9)
    # y is depth below the pia: deeper voxels (larger y) are deeper in µm
    assert um[0, 1] > um[1, 1]


def test_shapes():
    assert voxels_to_um(np.zeros((0, 3))).shape == (0, 3)
    assert voxels_to_um([200_000.0, 150_000.0, 20_000.0]).shape == (1, 3)
    with pytest.raises(ValueError, match="N, 3"):
        voxels_to_um(np.zeros((4, 2)))
