"""What the rendering tests share: a shown scene of the sample, and colour counting."""

from __future__ import annotations

import numpy as np

from napari_microns import Dataset


def sample_scene(make_napari_viewer, info, size: tuple[int, int]):
    """A shown napari window of ``size`` with the sample's units and layer planes loaded."""
    from napari_microns.scene import Scene

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*size)
    scene = Scene(viewer)
    scene.load(Dataset(info.datadir, version=info.version))
    return scene


def near(image: np.ndarray, rgb, tol: float = 40.0) -> int:
    """Pixels within ``tol`` (RGB distance) of a colour."""
    diff = image[..., :3].astype(float) - np.asarray(rgb[:3]) * 255
    return int((np.linalg.norm(diff, axis=-1) < tol).sum())


def sample_dock(make_napari_viewer, qtbot, info, size: tuple[int, int]):
    """The MICrONS dock widget in a shown window of ``size``, the sample's units loaded."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*size)
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    widget.data_panel.load(info.datadir, info.version)
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=30_000)
    return widget
