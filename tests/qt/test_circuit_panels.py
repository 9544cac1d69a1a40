"""The circuit in the scene, in real napari viewers (offscreen): the Partners panel (table,
highlight, units coloured by connection, export, the coverage note), the Connectivity panel
(a heatmap click shows that pair's synapses), synapses coloured by a partner's numeric column,
and failures as one notification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from napari_microns import Dataset
from napari_microns import layer_data as ld
from napari_microns.circuit_layers import HIGHLIGHT_LAYER
from napari_microns.circuit_scene import CONNECTION_OPACITY
from napari_microns.colour_data import column_colors
from napari_microns.core import palettes


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    yield w
    for worker in (w.neurons_panel.worker, w.partners_panel.fetch_worker):
        if worker is not None:
            worker.quit()
    qtbot.waitUntil(lambda: w.partners_panel.job.worker is None and w.connectivity_panel.job.worker is None,
                    timeout=10_000)


def load(widget, qtbot, info, chosen=None):
    widget.data_panel.load(info.datadir, info.version)
    qtbot.waitUntil(lambda: widget.scene.features is not None and widget.data_panel.load_worker is None,
                    timeout=30_000)
    widget.scene.choose(chosen or info.root_ids[:2])
    return widget.viewer.layers["units"]


def show_partners(widget, qtbot, neuron, direction="inputs"):
    panel = widget.partners_panel
    panel.neuron_combo.setCurrentText(str(neuron))
    panel.direction_combo.setCurrentText(direction)
    assert panel.show_clicked() is not None
    qtbot.waitUntil(lambda: panel.job.worker is None and widget.circuit.partners is not None, timeout=20_000)
    return widget.circuit.partners


def stored(info, pre=None, post=None) -> pd.DataFrame:
    return Dataset(info.datadir, version=info.version).synapses(pre_ids=pre, post_ids=post)


def test_the_partners_table_lists_exact_ids_and_a_row_click_highlights_the_unit(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    neuron = info.root_ids[0]
    partners = show_partners(widget, qtbot, neuron)
    inputs = stored(info, post=[neuron])
    expected = inputs.groupby("pre_pt_root_id").size().sort_values(ascending=False)
    table = partners.table
    assert table["partner_root_id"].dtype == np.int64 and len(table) == len(expected)
    assert dict(zip(table["partner_root_id"].tolist(), table["n_synapses"].tolist())) == \
        {int(k): int(v) for k, v in expected.items()}
    view = widget.partners_panel.table
    model = view.model()
    assert model.rowCount() == len(table)
    shown = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert shown == [str(int(r)) for r in table["partner_root_id"]]  # exact, above 2**53
    # sorting by a column keeps each row's id with its numbers
    model.sort(list(model.df.columns).index("size_sum"), Qt.SortOrder.AscendingOrder)
    assert model.df["size_sum"].is_monotonic_increasing and model.root_id(0) in set(table["partner_root_id"])
    row = 2
    partner = model.root_id(row)
    index = model.index(row, 1)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())
    assert widget.circuit.highlighted == partner and type(widget.circuit.highlighted) is int
    unit_row = int(np.flatnonzero(layer.features["pt_root_id"].to_numpy() == partner)[0])
    assert layer.selected_data == {unit_row}
    ring = widget.viewer.layers[HIGHLIGHT_LAYER]
    assert ring.features["pt_root_id"].tolist()[0] == partner
    np.testing.assert_allclose(ring.data[0], layer.data[unit_row])
    assert widget.partners_panel.selected_partner() == partner
    widget.circuit.highlight(None)
    assert HIGHLIGHT_LAYER not in widget.viewer.layers and layer.selected_data == set()


def test_units_coloured_by_connection_and_back(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    neuron = info.root_ids[0]
    partners = show_partners(widget, qtbot, neuron)
    widget.scene.set_context(opacity=0.35)  # faded, as behind a fetched neuron
    before = np.array(layer.face_color)
    panel = widget.partners_panel
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("count"))
    panel.colour_chosen()
    colors = np.array(layer.face_color)
    assert layer.opacity == pytest.approx(CONNECTION_OPACITY)  # non-partners are faint by themselves
    ids = layer.features["pt_root_id"].to_numpy()
    is_partner = np.isin(ids, partners.table["partner_root_id"].to_numpy())
    others = ~is_partner & (ids != neuron)
    np.testing.assert_allclose(colors[others], np.tile(palettes.NOT_PARTNER, (others.sum(), 1)), atol=1e-6)
    assert (colors[is_partner, 3] > 0.9).all()
    np.testing.assert_allclose(colors[ids == neuron], [palettes.CIRCUIT_NEURON], atol=1e-6)
    # the strongest partner and a single-synapse one sit at the two ends of the colour map
    counts = partners.table.set_index("partner_root_id")["n_synapses"]
    strongest, weakest = int(counts.idxmax()), int(counts.idxmin())
    assert counts[strongest] > counts[weakest]
    assert not np.allclose(colors[ids == strongest][0], colors[ids == weakest][0])
    # by summed size: other colours for the partners, the same faint rest
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("size"))
    panel.colour_chosen()
    assert widget.circuit.connection_colouring == "size"
    assert panel.colour_bar.isVisibleTo(panel) and "size_sum" in panel.colour_note.text()
    legend = [widget.units_panel.legend_list.item(i).text() for i in range(widget.units_panel.legend_list.count())]
    assert legend[0].startswith("partners, size_sum") and f"the neuron {neuron}" in legend  # the Units legend too
    assert not np.allclose(np.array(layer.face_color)[is_partner], colors[is_partner])
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData(None))
    panel.colour_chosen()
    np.testing.assert_allclose(layer.face_color, before, atol=1e-6)
    assert widget.circuit.connection_colouring is None and layer.metadata["color_by"] == "cell_type"
    assert layer.opacity == pytest.approx(0.35)
    assert widget.units_panel.legend_list.item(0).text().startswith("23P")  # the cell types' legend again
    # another colour-by chosen in the Units panel ends the connection colouring
    widget.circuit.colour_units_by_connection("count")
    widget.units_panel.color_combo.setCurrentText("layer")
    assert widget.circuit.connection_colouring is None and panel.colour_combo.currentData() is None
    np.testing.assert_allclose(layer.face_color, palettes.colors_for(layer.features["layer"], "layer"), atol=1e-6)
    assert layer.opacity == pytest.approx(0.35)


def test_a_click_on_a_heatmap_cell_shows_that_pairs_synapses(widget, qtbot, info):
    from matplotlib.backend_bases import MouseEvent

    load(widget, qtbot, info)
    neuron = info.root_ids[0]
    partners = show_partners(widget, qtbot, neuron)
    partner = int(partners.table["partner_root_id"].iat[0])
    widget.circuit.set_matrix_ids([partner, neuron])
    panel = widget.connectivity_panel
    panel.job.start(widget.circuit.connectivity_of, (widget.circuit.matrix_ids, "count"),
                    widget.circuit.set_connectivity)
    qtbot.waitUntil(lambda: panel.job.worker is None and widget.circuit.connectivity is not None, timeout=20_000)
    conn = widget.circuit.connectivity
    order = conn.root_ids.tolist()
    assert sorted(order) == sorted([partner, neuron]) and panel.heatmap is not None
    panel.canvas.draw()
    ax = panel.heatmap.image.axes
    x, y = ax.transData.transform((order.index(neuron), order.index(partner)))  # column post, row pre
    panel.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", panel.canvas, x, y, 1))
    name = f"synapses {partner}→{neuron}"
    assert name in widget.viewer.layers
    layer = widget.viewer.layers[name]
    expected = stored(info, pre=[partner], post=[neuron])
    assert len(layer.data) == len(expected) == int(partners.table["n_synapses"].iat[0])
    assert layer.features["pre_pt_root_id"].tolist() == [partner] * len(expected)
    assert layer.features["post_pt_root_id"].tolist() == [neuron] * len(expected)
    np.testing.assert_allclose(np.sort(layer.data, axis=0),
                               np.sort(ld.to_display(expected[list(ld.SYNAPSE_POSITION)].to_numpy(float)), axis=0))
    assert ld.layer_kind(layer) == ld.KIND_SYNAPSES and layer.metadata["pair"] == [partner, neuron]
    assert panel.source_combo.currentText() == "chosen"  # ids given by a script: the combo stays
    widget.circuit.set_matrix_ids("proofread")
    assert panel.source_combo.currentText() == "proofread"  # a source chosen by a script shows
    assert panel.show_cell(-5, -5) is None  # off the matrix: nothing


def test_input_synapses_take_the_presynaptic_cells_functional_colour(widget, qtbot, info):
    layer = load(widget, qtbot, info)
    column = "pref_ori"  # degrees, an orientation: a cyclic colour map; NaN for cells not imaged
    neurons = widget.neurons_panel
    combo = neurons.synapse_color_combo
    assert combo.findData(column) >= 0  # numeric unit columns are synapse colours
    assert [combo.itemData(i) for i in range(5)] == ["direction", "cell_type", "classification_system", "layer",
                                                       "brain_area"]
    neuron = info.root_ids[0]
    combo.setCurrentIndex(combo.findData(column))
    neurons.start_fetch([neuron], kinds=(ld.KIND_SYNAPSES,))
    qtbot.waitUntil(lambda: neurons.worker is None, timeout=30_000)
    syn = widget.viewer.layers["synapses"]
    units = layer.features
    values = units.drop_duplicates("pt_root_id").set_index("pt_root_id")[column]
    inputs = (syn.features["direction"] == "input").to_numpy()
    pre = syn.features["pre_pt_root_id"].to_numpy()[inputs]
    expected = column_colors(values.reindex(pre).astype(float).reset_index(drop=True), column, reference=values)
    np.testing.assert_allclose(np.array(syn.face_color)[inputs], expected, atol=1e-6)
    assert palettes.angle_period(column, values) == 180.0
    # partners without a value are "no data", the others are not
    no_data = np.isclose(np.array(syn.face_color)[inputs], palettes.NO_DATA, atol=1e-6).all(axis=1)
    missing = values.reindex(pre).isna().to_numpy()
    assert missing.any() and not missing.all()
    np.testing.assert_array_equal(no_data, missing)
    # same value, same colour: two inputs from presynaptic cells 90 degrees apart differ
    some = np.flatnonzero(~missing)
    assert len(np.unique(np.round(np.array(syn.face_color)[inputs][some], 4), axis=0)) > 5
    # switching the combo recolours the synapses shown, in place, and back
    combo.setCurrentIndex(combo.findData("direction"))
    combo.activated.emit(combo.currentIndex())
    assert syn.metadata["color_by"] == "direction"
    np.testing.assert_allclose(np.array(syn.face_color)[inputs], np.tile(palettes.SYNAPSE_DIRECTION["input"],
                                                                         (inputs.sum(), 1)), atol=1e-6)
    combo.setCurrentIndex(combo.findData(column))
    combo.activated.emit(combo.currentIndex())
    np.testing.assert_allclose(np.array(syn.face_color)[inputs], expected, atol=1e-6)


def test_export_writes_the_partner_ids_exactly(widget, qtbot, info, tmp_path):
    load(widget, qtbot, info)
    partners = show_partners(widget, qtbot, info.root_ids[0])
    path = tmp_path / "partners.csv"
    assert widget.partners_panel.export(path)
    text = path.read_text()
    back = pd.read_csv(path, dtype={"partner_root_id": "int64"})
    assert back["partner_root_id"].tolist() == partners.table["partner_root_id"].tolist()
    assert all(f"\n{int(r)}," in text for r in partners.table["partner_root_id"])
    assert back["n_synapses"].tolist() == partners.table["n_synapses"].tolist()


def test_a_neuron_the_store_does_not_cover_says_incomplete(widget, qtbot, info):
    load(widget, qtbot, info)
    neuron = info.root_ids[0]
    partner = int(stored(info, post=[neuron])["pre_pt_root_id"].value_counts().index[0])
    widget.scene.choose([neuron, partner])
    partners = show_partners(widget, qtbot, partner, "outputs")  # only its synapses onto the neuron are stored
    assert not partners.complete
    label = widget.partners_panel.note_label
    assert "INCOMPLETE" in label.text() and label.styleSheet()
    assert neuron in partners.table["partner_root_id"].tolist()


def test_failures_are_one_notification_each(widget, qtbot, info, notifications):
    panel = widget.partners_panel
    assert panel.show_clicked() is None  # no units, no neuron
    assert len(notifications) == 1 and "choose a neuron" in str(notifications[0].message)
    load(widget, qtbot, info, chosen=[info.root_ids[0]])
    notifications.clear()
    panel.colour_combo.setCurrentIndex(panel.colour_combo.findData("count"))
    panel.colour_chosen()  # no partners shown yet
    assert len(notifications) == 1 and "partners first" in str(notifications[0].message)
    assert panel.colour_combo.currentData() is None
    notifications.clear()
    widget.scene.choose([])
    assert widget.connectivity_panel.compute_clicked() is None
    assert len(notifications) == 1 and "no chosen neurons" in str(notifications[0].message)
    notifications.clear()
    ids = widget.scene.features["pt_root_id"].to_numpy()
    widget.circuit.set_matrix_ids([int(ids[0]), int(ids[1])])
    widget.circuit.set_connectivity(widget.circuit.connectivity_of(widget.circuit.matrix_ids, "count"))
    assert widget.connectivity_panel.show_cell(0, 1) is None  # no synapse between them
    assert len(notifications) == 1 and "no synapses stored from" in str(notifications[0].message)
    assert "\n" not in str(notifications[0].message)


def test_the_matrix_of_the_proofread_units_is_computed_in_a_worker(widget, qtbot, info, bars):
    layer = load(widget, qtbot, info)
    panel = widget.connectivity_panel
    panel.source_combo.setCurrentText("proofread")
    panel.value_combo.setCurrentIndex(panel.value_combo.findData("size"))
    made = len(bars["added"])
    assert panel.compute_clicked() is not None
    assert not panel.compute_button.isEnabled()
    # a busy bar in napari's Activity dock while it computes, closed when it is done
    assert bars["added"][made:] and bars["added"][-1][1].startswith("connectivity of ")
    qtbot.waitUntil(lambda: panel.job.worker is None and widget.circuit.connectivity is not None, timeout=30_000)
    assert sorted(bars["added"]) == sorted(bars["removed"])
    conn = widget.circuit.connectivity
    feats = layer.features
    proofread = feats["pt_root_id"][(feats["proofreading"].astype(str) != "not proofread").to_numpy()]
    assert sorted(conn.root_ids.tolist()) == sorted(int(r) for r in proofread.unique())
    assert conn.value == "size" and panel.heatmap is not None and panel.compute_button.isEnabled()
    assert f"{len(proofread):,} neurons" in panel.note_label.text()
    # the units passing the filters that the store covers (the sample: its connectome among the
    # proofread cells, and the showcase neurons' inputs and outputs)
    widget.scene.set_filters(cell_types=["23P"])
    shown = widget.circuit.set_matrix_ids("shown")
    is_23p = (feats["cell_type"].astype(str) == "23P").to_numpy()
    covered = set(proofread.tolist()) | set(info.root_ids)
    assert set(shown.tolist()) == set(feats["pt_root_id"][is_23p].tolist()) & covered
    assert len(shown) > 0 and shown.dtype == np.int64


def test_fetch_partner_fetches_its_skeleton_and_mesh(widget, qtbot, info, notifications):
    load(widget, qtbot, info, chosen=[info.root_ids[0]])
    partners = show_partners(widget, qtbot, info.root_ids[0])
    partner = info.root_ids[3]  # a showcase neuron that synapses onto the first
    panel = widget.partners_panel
    model = panel.table.model()
    row = model.df["partner_root_id"].tolist().index(partner)
    panel.table.selectRow(row)
    assert panel.selected_partner() == partner and partner in partners.table["partner_root_id"].tolist()
    assert panel.fetch_clicked() is not None
    assert panel.cancel_button.isEnabled() and not panel.fetch_button.isEnabled()
    qtbot.waitUntil(lambda: panel.fetch_worker is None, timeout=60_000)
    names = {lyr.name for lyr in widget.viewer.layers}
    assert {f"skeleton {partner}", f"mesh {partner}"} <= names and "synapses" not in names
    assert notifications == [] and panel.fetch_button.isEnabled() and not panel.progress.isVisibleTo(panel)


def test_the_circuit_announces_each_change_once_and_new_units_clear_it(widget, qtbot, info):
    load(widget, qtbot, info)
    circuit = widget.circuit
    heard = []
    for name in circuit.events:
        getattr(circuit.events, name).connect(lambda *args, name=name: heard.append((name, args)))
    partners = circuit.show_partners(info.root_ids[0], "outputs")
    partner = int(partners.table["partner_root_id"].iat[0])
    circuit.highlight(partner)
    circuit.highlight(partner)  # the same partner again: no news
    circuit.colour_units_by_connection("count")
    assert [n for n, _ in heard] == ["partners_changed", "highlighted", "connection_colouring_changed"]
    assert heard[1][1] == (partner,) and heard[2][1] == ("count",)
    panel = widget.partners_panel  # the panel follows a scene changed by a script
    assert panel.direction_combo.currentText() == "outputs"
    assert panel.neuron_combo.currentText() == str(info.root_ids[0])
    assert panel.table.model().root_id(0) == partner
    heard.clear()
    load(widget, qtbot, info)  # new units: nothing of the old circuit stays
    assert circuit.partners is None and circuit.highlighted is None and circuit.connection_colouring is None
    assert HIGHLIGHT_LAYER not in widget.viewer.layers
    assert {"partners_changed", "highlighted", "connection_colouring_changed"} <= {n for n, _ in heard}
    assert widget.partners_panel.table.model().rowCount() == 0
