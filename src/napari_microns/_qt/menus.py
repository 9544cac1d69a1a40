"""npe2 menu commands (File > IO Utilities): open a data folder in the MICrONS explorer, or open
the explorer on its Get data tab. napari passes the viewer (by the annotation)."""

from __future__ import annotations

from pathlib import Path

from napari.viewer import Viewer

from ..core.errors import DataError
from ..fetching import one_line
from .notify import notify_error

PLUGIN, WIDGET = "napari-microns", "MICrONS explorer"


def processed_version(folder) -> tuple[Path, int]:
    """``(datadir, version)`` of a data folder (its newest processed version) or of a version
    folder ``<datadir>/<version>``; a one-line error when it holds none."""
    folder = Path(folder)
    if folder.name.isdigit() and (folder / "processed" / "units.parquet").exists():
        return folder.parent, int(folder.name)
    versions = [int(p.name) for p in folder.glob("*") if p.name.isdigit() and (p / "processed" / "units.parquet").exists()]
    if not versions:
        raise DataError(f"{folder} holds no processed version (<version>/processed/units.parquet): "
                        "get one on the explorer's Get data tab")
    return folder, max(versions)


def explorer(viewer: Viewer, tab: str | None = None):
    """The MICrONS explorer docked in ``viewer`` (opened if needed), on ``tab`` if given."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if tab is not None:
        tabs = widget.tabs
        for i in range(tabs.count()):
            if tabs.tabText(i) == tab:
                tabs.setCurrentIndex(i)
    return widget


def open_data_folder(viewer: Viewer, folder: str | None = None):
    """Ask for a data folder (unless given), open the explorer and load its newest processed
    version in a worker; the explorer, or None."""
    if folder is None:
        from qtpy.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(None, "MICrONS data folder")
        if not folder:
            return None
    try:
        datadir, version = processed_version(folder)
    except DataError as exc:
        notify_error(one_line(exc))
        return None
    widget = explorer(viewer, "Scene")
    widget.data_panel.load(datadir, version)
    return widget


def get_data(viewer: Viewer):
    """Open the explorer on its Get data tab (sign in, download and process, prefetch)."""
    return explorer(viewer, "Get data")
