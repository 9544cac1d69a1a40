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
    fit_cortical_layers_to_view(viewer, view)
    if zoom_to_fit:  # room for the layer labels beside the planes (and the oblique box's corners)
        camera.zoom *= 0.85 if preset == "pia_up" else 0.92


def fit_cortical_layers_to_view(viewer, view) -> None:
    """The cortical layer planes and labels as a view direction reads them: looking (nearly)
    down the depth axis the stacked fills would veil the units and the labels fall on one spot,
    so both are hidden (the outlines stay); otherwise they come back, the fills' opacity
    scaled down the more face-on they are. What was hidden here is all that is shown again."""
    from . import layer_data as ld

    face_on = abs(float(view[1])) / max(float(np.linalg.norm(view)), 1e-9)
    for layer in viewer.layers:
        kind = ld.layer_kind(layer)
        if kind not in (ld.KIND_CORTICAL_PLANES, ld.KIND_CORTICAL_LABELS):
            continue
        meta = layer.metadata
        base = meta.setdefault("opacity_before_view", float(layer.opacity))
        if face_on > 0.9:
            if layer.visible:
                meta["hidden_by_view"] = True
                layer.visible = False
            continue
        if meta.pop("hidden_by_view", False):
            layer.visible = True
        if kind == ld.KIND_CORTICAL_PLANES:
            layer.opacity = base * (1.0 - face_on)


def _canvas_size(viewer) -> np.ndarray:
    """The canvas's (height, width) in pixels."""
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None)
    if size is None:  # napari before 0.9
        size = getattr(viewer, "_canvas_size", (600, 800))
    return np.maximum(np.asarray(size, dtype=float)[-2:], 1.0)


def _world_points(layer, displayed) -> np.ndarray:
    """The displayed world coordinates a layer draws: a skeleton's edge ends, mesh vertices,
    points; else the corners of its extent."""
    kind = type(layer).__name__
    data = layer.data
    if kind == "Vectors":
        data = np.concatenate([data[:, 0], data[:, 0] + data[:, 1]]) if len(data) else np.empty((0, layer.ndim))
    elif kind == "Surface":
        data = data[0]
    if kind in ("Vectors", "Surface", "Points") and len(data):
        try:
            return np.asarray(layer._data_to_world(np.asarray(data, dtype=float)), dtype=float)[:, displayed]
        except Exception:  # noqa: BLE001 - napari's transforms changed: its extent will do
            pass
    lo, hi = np.asarray(layer.extent.world, dtype=float)[:, displayed]
    return np.array([[(lo, hi)[(k >> i) & 1][i] for i in range(len(lo))] for k in range(2 ** len(lo))])


def frame_layers(viewer, layers, margin: float = 0.1) -> None:
    """Centre the camera on what ``layers`` draw (e.g. the chosen neurons) and zoom so it fills
    the canvas but for ``margin`` (a fraction of it), keeping the view direction."""
    layers = [lyr for lyr in layers if lyr in viewer.layers]
    if not layers:
        raise MicronsError("nothing to frame: fetch a neuron (skeleton or mesh) first")
    if not 0 <= margin < 1:
        raise MicronsError(f"the margin must be at least 0 and below 1 (got {margin})")
    displayed = list(viewer.dims.displayed)
    points = np.concatenate([_world_points(lyr, displayed) for lyr in layers])
    camera = camera_of(viewer)
    if len(displayed) == 3:  # seen along the view direction: up and right on the screen, depth
        up, view = np.asarray(camera.up_direction, dtype=float), np.asarray(camera.view_direction, dtype=float)
        axes = np.array([up, np.cross(view, up), view])
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    else:
        axes = np.eye(len(displayed))
    seen = points @ axes.T
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    camera.center = tuple(float(c) for c in ((lo + hi) / 2) @ axes)
    shown = np.maximum((hi - lo)[:2], 1.0)  # (height, width) on the screen
    camera.zoom = float((1 - margin) * np.min(_canvas_size(viewer) / shown))
