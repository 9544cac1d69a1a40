"""The dock widget with real napari viewers (offscreen or Xvfb): loading, colour, filters,
choosing neurons, fetching in workers, and failures as one notification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import QItemSelectionModel, Qt

from support import FAST_RETRY
from support.fake_cave import FakeCAVE
from support.fake_skeleton_service import FakeSkeletonService
from napari_microns import Dataset
from napari_microns import layer_data as ld
from napari_microns.core import palettes
from napari_microns.core.ids import parse_ids




@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    yield w
    if w.neurons_panel.worker is not None:  # never leave a thread behind
        w.neurons_panel.cancel_fetch()
        qtbot.waitUntil(lambda: w.neurons_panel.worker is None, timeout=10_000)


def load(widget, qtbot, info):
    widget.data_panel.load(info.datadir, info.version)
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=30_000)
    return widget.viewer.layers["units"]


def test_widget_is_the_plugins_dock_widget(widget):
    from napari_microns._qt.dock_widget import MicronsWidget

    assert isinstance(widget, MicronsWidget)
    assert widget.data_panel.status_label.text() == "no units loaded"


def test_load_shows_units_and_layer_planes_pia_up(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    units = pd.read_parquet(info.layout.units_path)
    assert len(layer.data) == len(units)
    assert layer.features["pt_root_id"].tolist() == units["pt_root_id"].tolist()
    assert {"cortical layers", "layer boundaries", "layer labels"} <= {lyr.name for lyr in widget.viewer.layers}
    viewer = widget.viewer
    assert viewer.dims.ndisplay == 3
    from napari_microns.camera import camera_of

    assert camera_of(viewer).up_direction[1] < -0.9  # up on screen = towards the pia (smaller depth)
    assert f"{len(units):,} units" in widget.data_panel.status_label.text()
    legend_list = widget.units_panel.legend_list
    legend = [legend_list.item(i).text() for i in range(legend_list.count())]
    assert legend[0].startswith("23P") and any(t.startswith("astrocyte") for t in legend)


def test_colour_by_switch_recolours_and_relabels(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    feats = layer.features
    widget.units_panel.color_combo.setCurrentText("layer")
    expected = palettes.colors_for(feats["layer"], "layer")
    np.testing.assert_allclose(layer.face_color, expected, atol=1e-6)
    assert widget.units_panel.legend_list.item(0).text().startswith("L1")
    widget.units_panel.color_combo.setCurrentText("proofreading")
    proofread = (feats["proofreading"] != "not proofread").to_numpy()
    np.testing.assert_allclose(layer.face_color[~proofread][0], palettes.PROOFREADING["not proofread"], atol=1e-6)


def test_colour_by_a_numeric_column_lists_it_and_shows_a_colour_bar(widget, qtbot, info):
    from napari_microns.core.errors import DataError

    layer = load(widget, qtbot, info)
    panel = widget.units_panel
    choices = [panel.color_combo.itemText(i) for i in range(panel.color_combo.count())]
    assert choices[:len(ld.COLOR_BY_CHOICES)] == ld.COLOR_BY_CHOICES  # categories first
    numeric = choices[len(ld.COLOR_BY_CHOICES):]
    assert "volume" in numeric and "pt_position_y" in numeric
    assert not {"pt_root_id", "nucleus_id"} & set(choices)
    type_filter = [panel.filter_lists["type"].item(i).text() for i in range(panel.filter_lists["type"].count())]
    panel.color_combo.setCurrentText("volume")
    assert widget.scene.color_by == "volume"
    np.testing.assert_allclose(layer.face_color, ld.units_colors(layer.features, "volume"), atol=1e-6)
    lo, hi = np.percentile(layer.features["volume"], [2, 98])
    legend = [panel.legend_list.item(i).text() for i in range(panel.legend_list.count())]
    assert len(legend) == 1 and legend[0].startswith("volume: ")  # one colour bar, no category swatches
    shown_lo, shown_hi = (float(x) for x in legend[0].removeprefix("volume: ").split(" … "))
    assert shown_lo == pytest.approx(lo, rel=0.02) and shown_hi == pytest.approx(hi, rel=0.02)
    assert panel.legend_list.iconSize().width() > 50  # the gradient
    # the filters (categorical) stay as they were
    assert type_filter == [panel.filter_lists["type"].item(i).text() for i in range(panel.filter_lists["type"].count())]
    with pytest.raises(DataError, match="id column; choose one of") as err:
        widget.scene.set_color_by("pt_root_id")
    assert "\n" not in str(err.value) and widget.scene.color_by == "volume"
    panel.color_combo.setCurrentText("cell_type")  # back to swatches
    assert panel.legend_list.item(0).text().startswith("23P")


def test_filters_hide_units_and_update_the_legend(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    feats = layer.features
    classes = widget.units_panel.filter_lists["class"]
    for i in range(classes.count()):
        item = classes.item(i)
        if item.data(Qt.ItemDataRole.UserRole) == "nonneuron":
            item.setCheckState(Qt.CheckState.Unchecked)
    shown = layer.shown
    np.testing.assert_array_equal(shown, (feats["classification_system"] != "nonneuron").to_numpy())
    legend_list = widget.units_panel.legend_list
    legend = [legend_list.item(i).text() for i in range(legend_list.count())]
    assert not any(t.startswith(("astrocyte", "oligo")) for t in legend)
    widget.units_panel.proofread_check.setChecked(True)
    assert layer.shown.sum() == ((feats["classification_system"] != "nonneuron")
                                 & (feats["proofreading"] != "not proofread")).sum() > 0
    assert f"{layer.shown.sum():,} of" in widget.data_panel.status_label.text()


def test_hovering_a_unit_shows_its_ids_type_layer_and_area(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    i = int(np.argmin(layer.data[:, 0]))  # the front-most unit along the ray: nothing hides it
    row = layer.features.iloc[i]
    status = layer.get_status(layer.data[i], view_direction=np.array([1.0, 0, 0]), dims_displayed=[0, 1, 2],
                              world=True)
    text = status["coordinates"]
    for key in ("pt_root_id", "nucleus_id", "cell_type", "layer", "brain_area"):
        assert f"{key}: {row[key]}" in text
    assert text.index("pt_root_id") < text.index("pt_position_x")


def test_choose_ids_by_typing_selecting_points_and_table(widget, qtbot, info, notifications):
    layer = load(widget, qtbot, info)
    roots = layer.features["pt_root_id"].to_numpy()
    neurons = widget.neurons_panel
    neurons.ids_edit.setPlainText(f"{roots[0]}, {roots[1]}\n[{roots[2]}]")
    assert neurons.root_ids() == [int(r) for r in roots[:3]]
    layer.selected_data = {5, 7}
    neurons.add_selected_points()
    assert neurons.root_ids() == [int(r) for r in roots[[0, 1, 2, 5, 7]]]
    neurons.table.show_table()
    assert neurons.table.view.model().rowCount() == len(roots)
    sel = neurons.table.view.selectionModel()
    model = neurons.table.view.model()
    sel.select(model.index(9, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    neurons.table.add_selection()
    assert neurons.root_ids()[-1] == int(roots[9])
    neurons.ids_edit.setPlainText("12345 not-an-id")
    neurons.fetch_clicked()
    assert len(notifications) == 1 and "root id 'not-an-id' is not an integer" in str(notifications[0].message)


def test_parse_root_ids():
    assert parse_ids("1,2 3\n4;[5]\t(6) 2", unique=True).tolist() == [1, 2, 3, 4, 5, 6]
    assert parse_ids("", unique=True).tolist() == []


def test_fetch_adds_skeletons_meshes_and_synapses(widget, qtbot, info, notifications):
    load(widget, qtbot, info)
    roots = list(info.root_ids[:2])
    neurons = widget.neurons_panel
    worker = neurons.start_fetch(roots)
    assert worker is not None and not neurons.fetch_button.isEnabled() and neurons.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    names = {lyr.name for lyr in widget.viewer.layers}
    for r in roots:
        assert f"skeleton {r}" in names and f"mesh {r}" in names
    assert "synapses" in names and "somata" in names
    ds = Dataset(info.datadir, version=info.version)
    skel = ds.skeleton(roots[0])
    vectors = widget.viewer.layers[f"skeleton {roots[0]}"].data
    assert len(vectors) == len(skel.edges)
    somata = widget.viewer.layers["somata"]  # one layer, one marker per fetched skeleton
    assert len(somata.data) == len(roots) and list(somata.features["pt_root_id"]) == roots
    for i, r in enumerate(roots):
        np.testing.assert_allclose(ld.from_display(somata.data)[i], ds.skeleton(r).soma_um, atol=1e-6)
    syn = widget.viewer.layers["synapses"]
    n_expected = len(pd.concat([ds.synapses(pre_ids=roots), ds.synapses(post_ids=roots)]).drop_duplicates("id"))
    assert len(syn.data) == n_expected
    mesh = widget.viewer.layers[f"mesh {roots[1]}"]
    np.testing.assert_allclose(mesh.vertex_colors[0], widget.scene.color_of(roots[1]))
    assert notifications == [] and neurons.fetch_button.isEnabled()


def test_fetched_neurons_fade_the_units_and_the_opacity_slider_follows(widget, qtbot, info):
    """With ~91k real units a fetched neuron is lost in the cloud: the scene fades the units
    when the first neuron arrives; the Units panel's slider shows and changes it, a style
    chosen there is kept for later neurons, and new units are drawn as loaded again."""
    layer = load(widget, qtbot, info)
    loaded, slider = layer.opacity, widget.units_panel.opacity_slider
    assert loaded == 1.0 and slider.isEnabled() and slider.value() == 100
    neurons = widget.neurons_panel
    neurons.start_fetch([info.root_ids[0]], kinds=["skeleton"])
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    assert layer.opacity < loaded and layer.blending == "translucent_no_depth"
    assert np.all(layer.size < ld.DEFAULT_UNIT_SIZE)
    assert slider.value() == round(100 * layer.opacity) < 100
    slider.setValue(80)  # the user's choice
    assert layer.opacity == pytest.approx(0.8) and widget.scene.units_style.opacity == pytest.approx(0.8)
    assert widget.units_panel.opacity_label.text() == "80%"
    neurons.start_fetch([info.root_ids[1]], kinds=["skeleton"])
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    assert layer.opacity == pytest.approx(0.8)  # kept: the scene fades only until a style is chosen
    widget.scene.set_context(opacity=0.2)  # a script: the slider follows
    assert slider.value() == 20 and widget.units_panel.opacity_label.text() == "20%"
    shown = []
    widget.scene.events.units_changed.connect(lambda: shown.append(1))
    widget.data_panel.load(info.datadir, info.version)  # new units start afresh
    qtbot.waitUntil(lambda: bool(shown) and widget.data_panel.load_worker is None, timeout=30_000)
    fresh = widget.viewer.layers["units"]
    assert fresh.opacity == loaded and fresh.blending == "translucent" and slider.value() == 100
    assert widget.scene.units_style.opacity == loaded


def test_a_long_progress_line_keeps_the_dock_narrow(widget, qtbot, info):
    """The progress line names the ids being fetched; it wraps instead of widening the panel
    (and the dock with it) past the window: docs/widget.png once showed every panel cut off."""
    load(widget, qtbot, info)
    neurons = widget.neurons_panel
    narrow = neurons.sizeHint().width()
    neurons.progress.setText("fetching 5 of 9… (synapses " + ", ".join(map(str, info.root_ids)) + ")")
    neurons.progress.setVisible(True)  # as a fetch shows it
    assert neurons.sizeHint().width() <= narrow, (neurons.sizeHint().width(), narrow)


def test_synapses_coloured_by_partner_cell_type(widget, qtbot, info):
    load(widget, qtbot, info)
    root = int(info.root_ids[0])
    neurons = widget.neurons_panel
    neurons.synapse_color_combo.setCurrentIndex(neurons.synapse_color_combo.findData("cell_type"))
    neurons.start_fetch([root], kinds=["synapses"])
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    syn = widget.viewer.layers["synapses"]
    partner_types = syn.features["partner_cell_type"].astype(str)
    np.testing.assert_allclose(syn.face_color, palettes.colors_for(partner_types, "cell_type"), atol=1e-6)
    assert partner_types.isin(list(palettes.CELL_TYPE)).all()


def test_long_jobs_show_in_the_activity_dock(widget, qtbot, info, bars):
    """The load, a fetch (one step per piece, so napari shows an ETA) and a cancelled fetch each
    make one napari progress bar, closed when the job ends."""
    load(widget, qtbot, info)
    assert [d for _, d in bars["added"]] == [f"loading units of version {info.version}"]
    assert bars["removed"] == bars["added"]
    neurons = widget.neurons_panel
    roots = list(info.root_ids[:2])
    neurons.start_fetch(roots, kinds=["skeleton", "mesh"])
    bar = widget.neurons_panel.fetcher.activity.bar
    assert bar.total == 4 and bars["added"][-1][1] == f"fetching {roots[0]}, {roots[1]}"
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    assert bar.n == 4 and bars["removed"][-1] == bars["added"][-1]
    neurons.start_fetch(list(info.root_ids))
    neurons.fetcher.activity.bar.cancel()  # the Activity dock's Cancel button
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    assert len(bars["added"]) == 3 and sorted(bars["removed"]) == sorted(bars["added"])
    assert neurons.fetch_button.isEnabled()


def test_cancel_stops_a_fetch_between_pieces(widget, qtbot, info):
    load(widget, qtbot, info)
    neurons = widget.neurons_panel
    neurons.start_fetch(list(info.root_ids))
    neurons.cancel_fetch()
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    assert neurons.fetch_button.isEnabled() and not neurons.progress.isVisible()


def test_failing_server_gives_one_notification_and_a_usable_viewer(widget, qtbot, info, tmp_path, notifications):
    """A folder without its own sources uses the CAVE skeleton service, which is down."""
    units = pd.read_parquet(info.layout.units_path)
    client = FakeCAVE(tables={}).client(1300, skeleton_service=True, l2cache=True)
    client.info.segmentation_cloudvolume = lambda *a, **k: None
    ds = Dataset(tmp_path, version=1300, client=client, retry=FAST_RETRY)
    ds._version_checked = True
    widget.scene.set_dataset(ds)
    widget.scene.show_units(units, None)
    root = int(info.root_ids[0])
    service = FakeSkeletonService({}, extra_valid={root}, down=True)
    with service:
        widget.neurons_panel.start_fetch([root], kinds=["skeleton"])
        qtbot.waitUntil(lambda: widget.neurons_panel.worker is None, timeout=60_000)
    assert len(notifications) == 1
    message = str(notifications[0].message)
    assert "\n" not in message and "skeleton service" in message and str(root) in message
    assert not any(lyr.name.startswith("skeleton") for lyr in widget.viewer.layers)
    # still usable: colour and filters work, and another fetch can start
    widget.units_panel.color_combo.setCurrentText("brain_area")
    assert widget.scene.color_by == "brain_area"
    assert widget.neurons_panel.fetch_button.isEnabled()


def test_open_sample_button_loads_the_synthetic_sample(widget, qtbot, info, monkeypatch):
    monkeypatch.setenv("NAPARI_MICRONS_SAMPLE_DIR", str(info.datadir))
    widget.data_panel.sample_button.click()
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=60_000)
    assert widget.neurons_panel.root_ids() == list(info.root_ids)  # the detailed neurons are pre-filled
    assert widget.scene.dataset.layout.root == info.layout.root


def test_file_open_sample_and_widget_adopts_its_units(make_napari_viewer, qtbot, info, monkeypatch):
    monkeypatch.setenv("NAPARI_MICRONS_SAMPLE_DIR", str(info.datadir))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-microns", "synthetic")
    names = [lyr.name for lyr in viewer.layers]
    assert names[:4] == ["units", "cortical layers", "layer boundaries", "layer labels"]
    for root in info.root_ids:
        assert f"skeleton {root}" in names and f"mesh {root}" in names
    assert "synapses" in names and len(viewer.layers["somata"].data) == len(info.root_ids)
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    assert w.scene.features is not None and w.scene.dataset.layout.root == info.layout.root
    w.units_panel.color_combo.setCurrentText("brain_area")  # the adopted layer responds to the widget
    np.testing.assert_allclose(viewer.layers["units"].face_color,
                               palettes.colors_for(viewer.layers["units"].features["brain_area"], "brain_area"), atol=1e-6)


def test_clicking_a_unit_adds_its_root_id_and_dragging_does_not(widget, qtbot, info):
    from dataclasses import dataclass, field

    from napari.utils._proxies import ReadOnlyWrapper
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    @dataclass
    class Event:  # what napari hands mouse callbacks (as napari's own tests build it)
        type: str
        position: tuple
        view_direction: list = field(default_factory=lambda: [1.0, 0.0, 0.0])
        dims_displayed: list = field(default_factory=lambda: [0, 1, 2])
        is_dragging: bool = False
        modifiers: list = field(default_factory=list)
        pos: np.ndarray = field(default_factory=lambda: np.zeros(2))
        up_direction: list = field(default_factory=lambda: [0.0, -1.0, 0.0])

    def send(kind, position, dragging=False):
        event = ReadOnlyWrapper(Event(kind, tuple(position), is_dragging=dragging), exceptions=("handled",))
        {"mouse_press": mouse_press_callbacks, "mouse_move": mouse_move_callbacks,
         "mouse_release": mouse_release_callbacks}[kind](widget.viewer, event)

    layer = load(widget, qtbot, info)
    i = int(np.argmin(layer.data[:, 0]))  # front-most unit along the ray
    send("mouse_press", layer.data[i])
    send("mouse_release", layer.data[i])
    assert widget.neurons_panel.root_ids() == [int(layer.features["pt_root_id"].iat[i])]
    j = int(np.argmax(layer.data[:, 0] == np.sort(layer.data[:, 0])[1]))
    send("mouse_press", layer.data[j])
    send("mouse_move", layer.data[j] + 5, dragging=True)
    send("mouse_release", layer.data[j] + 5)
    assert len(widget.neurons_panel.root_ids()) == 1  # a drag turns the camera and picks nothing


def test_import_a_skeleton_file_from_the_neurons_panel(widget, qtbot, info, tmp_path, notifications):
    """An SWC file for a root id goes into the cache and is shown; a bad file is one notification."""
    load(widget, qtbot, info)
    swc = tmp_path / "mine.swc"
    swc.write_text("# id type x y z radius parent\n1 1 300000 400000 800000 5000 -1\n"
                   "2 3 310000 390000 800000 1000 1\n3 2 290000 420000 800000 800 1\n")
    neurons = widget.neurons_panel
    neurons.units_combo.setCurrentText("nm")
    assert neurons.import_file(str(swc), "864691135000000001") is not None
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=60_000)
    layer = widget.viewer.layers["skeleton 864691135000000001"]
    assert len(layer.data) == 2 and 864691135000000001 in widget.scene.chosen
    assert notifications == []
    bad = tmp_path / "bad.swc"
    bad.write_text("1 1 x y z\n")
    assert neurons.import_file(str(bad), "864691135000000002") is None
    assert len(notifications) == 1 and "bad.swc" in str(notifications[0].message)


def test_an_id_of_another_version_is_named_with_the_one_to_use(widget, qtbot, info, tmp_path, notifications):
    """A root id pasted from an older version: one line naming the id it became, then the fetch goes ahead."""
    import shutil

    from napari_microns import Dataset
    from napari_microns.core.layout import Layout
    from napari_microns.core.units import UnitsResult

    shutil.copytree(info.layout.root / "processed", Layout(tmp_path, info.version).root / "processed")
    current = Dataset(tmp_path, info.version)
    units = current.units()
    neuron = int(info.root_ids[0])
    old_id = neuron + 7  # the same nucleus at v1181, before an edit gave it its v1300 id
    older = units.assign(pt_root_id=units["pt_root_id"].where(units["pt_root_id"] != neuron, old_id))
    UnitsResult(older, current.layers(), {}).write(Layout(tmp_path, 1181))
    widget.scene.set_dataset(current)
    for check in widget.neurons_panel.kind_checks.values():
        check.setChecked(False)
    widget.neurons_panel.ids_edit.setPlainText(f"{old_id}, {neuron}")
    notifications.clear()
    widget.neurons_panel.fetch_clicked()
    qtbot.waitUntil(lambda: widget.neurons_panel.worker is None, timeout=10_000)
    warnings = [str(n.message) for n in notifications if "not a root id" in str(n.message)]
    assert warnings == [f"{old_id} is not a root id at v{info.version} (it was at v1181; now {neuron}: use that)"]
    assert widget.scene.chosen == [old_id, neuron]  # nothing refused: a segment without a soma is fine too
