"""Camera presets of a napari scene, pia at the top.

napari shows positions as ``(z, y, x)`` with ``y`` the depth below the pia
(see :mod:`napari_microns.layer_data`), so "up" on screen is ``-y``.
"""

from __future__ import annotations

import numpy as np

from .core.errors import MicronsError


def _oblique(azimuth_deg: float, elevation_deg: float):
    """napari's default 3D view (along -z: x to the right, depth down) turned
    ``azimuth`` about the depth axis and tilted ``elevation`` to look down from
    above the pia; up on screen stays towards the pia."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    view = (-np.cos(e) * np.cos(a), np.sin(e), np.cos(e) * np.sin(a))
    up = (-np.sin(e) * np.cos(a), -np.cos(e), np.sin(e) * np.sin(a))
    return tuple(map(float, view)), tuple(map(float, up))


#: name -> (view direction, up direction) in napari's displayed (z, y, x) order.
#: y is depth below the pia, so "up" on screen is -y: the pia is at the top.
CAMERA_PRESETS = {
    "pia_up": _oblique(30.0, 18.0),  # the default: 3D, pia at the top
    "front": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),  # along z: x to the right, depth down
    "side": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),  # along x: z across, depth down
    "top": ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),  # down from the pia onto x-z
}


def camera_of(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9 on)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def set_camera(viewer, preset: str = "pia_up", zoom_to_fit: bool = True) -> None:
    """Point the 3D camera: ``pia_up`` (default, oblique), ``front``, ``side`` or ``top``."""
    if preset not in CAMERA_PRESETS:
        raise MicronsError(f"unknown camera preset {preset!r}; choose one of: {', '.join(CAMERA_PRESETS)}")
    viewer.dims.ndisplay = 3
    view, up = CAMERA_PRESETS[preset]
    camera = camera_of(viewer)
    camera.perspective = 0.0  # orthographic: the scale bar stays true
    if zoom_to_fit:
        viewer.reset_view()
    camera.set_view_direction(view, up)
    if zoom_to_fit:  # room for the layer labels beside the planes (and the oblique box's corners)
        camera.zoom *= 0.85 if preset == "pia_up" else 0.92
