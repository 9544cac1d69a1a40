"""npe2 menus: File > IO Utilities > MICrONS opens a data folder in the explorer, or the explorer
on its Get data tab."""

from __future__ import annotations

import shutil


def _menu_ids(app, menu_id) -> list[str]:
    """The command and submenu ids in one of napari's menus."""
    from app_model.types import MenuItem, SubmenuItem

    ids = []
    for item in app.menus.get_menu(menu_id):
        if isinstance(item, MenuItem):
            ids.append(item.command.id)
        elif isinstance(item, SubmenuItem):
            ids.append(str(item.submenu))
    return ids


def test_the_file_menu_holds_the_microns_commands(make_napari_viewer):
    from napari._app_model import get_app_model

    make_napari_viewer()
    app = get_app_model()
    assert "napari-microns.file" in _menu_ids(app, "napari/file/io_utilities")
    assert _menu_ids(app, "napari-microns.file") == ["napari-microns.open_data_folder", "napari-microns.get_data"]


def test_open_data_folder_loads_the_newest_processed_version(make_napari_viewer, qtbot, info, tmp_path,
                                                             notifications):
    from napari_microns._qt.menus import get_data, open_data_folder

    viewer = make_napari_viewer()
    assert open_data_folder(viewer, str(tmp_path)) is None  # no processed version: one line, no widget
    assert len(notifications) == 1 and "Get data tab" in str(notifications[0].message)
    widget = open_data_folder(viewer, str(info.datadir))
    assert widget is not None and widget.tabs.tabText(widget.tabs.currentIndex()) == "Scene"
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=30_000)
    assert widget.scene.dataset.version == info.version and "units" in viewer.layers
    # a version folder works too, and the same explorer is used
    assert open_data_folder(viewer, str(info.datadir / str(info.version))) is widget
    qtbot.waitUntil(lambda: widget.data_panel.load_worker is None, timeout=30_000)
    assert get_data(viewer) is widget and widget.tabs.tabText(widget.tabs.currentIndex()) == "Get data"


def test_processed_version_is_the_newest(info, tmp_path):
    from napari_microns._qt.menus import processed_version

    newest = 1412
    shutil.copytree(info.datadir / str(info.version) / "processed", tmp_path / str(newest) / "processed")
    shutil.copytree(info.datadir / str(info.version) / "processed", tmp_path / "943" / "processed")
    (tmp_path / "1500").mkdir()  # not processed: not a candidate
    assert processed_version(tmp_path) == (tmp_path, newest)
    assert processed_version(tmp_path / "943") == (tmp_path, 943)
