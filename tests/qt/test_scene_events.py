"""The scene as a model with events, in real napari viewers: each change is announced once,
and the dock widget's panels follow changes made by a script (no widget call needed)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_microns import Dataset
from napari_microns.scene import Scene




class Heard:
    """Every emission of every scene event, in order: ``(event name, arguments)``."""

    def __init__(self, scene: Scene):
        self.calls: list[tuple[str, tuple]] = []
        for name in scene.events:
            getattr(scene.events, name).connect(lambda *args, name=name: self.calls.append((name, args)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def scene(make_napari_viewer):
    return Scene(make_napari_viewer())


def test_loading_announces_the_dataset_then_the_units_once(scene, info):
    heard = Heard(scene)
    ds = Dataset(info.datadir, version=info.version)
    scene.load(ds)
    assert heard.names() == ["dataset_changed", "units_changed"]
    assert heard.calls[0][1] == (ds,)
    assert scene.dataset is ds and len(scene.features) == len(scene.viewer.layers["units"].data)
    assert list(scene.cortical_layers["layer"]) == ["L1", "L2/3", "L4", "L5", "L6"]
    assert scene.shown.all() and scene.filters.classes is None
    heard.clear()
    scene.load(ds)  # the same dataset again: new units, no dataset change
    assert heard.names() == ["units_changed"]


def test_numeric_colour_with_limits_is_announced_and_its_legend_is_a_colour_bar(scene, info):
    from napari_microns import layer_data as ld
    from napari_microns.colour_data import ColourBar
    from napari_microns.core.errors import DataError

    scene.load(Dataset(info.datadir, version=info.version))
    heard = Heard(scene)
    scene.set_color_by("volume", limits=(100, 300))
    assert heard.calls == [("color_by_changed", ("volume",))]
    layer = scene.units_layer
    np.testing.assert_allclose(layer.face_color, ld.units_colors(scene.features, "volume", (100, 300)), atol=1e-6)
    bar = scene.legend()
    assert isinstance(bar, ColourBar) and bar.labels == ("100", "300") and bar.no_data is None
    heard.clear()
    with pytest.raises(DataError, match="no such column; choose one of .*volume"):
        scene.set_color_by("favourite_colour")
    assert heard.calls == [] and scene.color_by == "volume"
    scene.set_color_by("volume")  # default limits again: the percentiles
    assert bar.labels != scene.legend().labels


def test_colour_filters_and_chosen_neurons_are_announced(scene, info):
    scene.load(Dataset(info.datadir, version=info.version))
    heard = Heard(scene)
    scene.set_color_by("layer")
    assert heard.calls == [("color_by_changed", ("layer",))] and scene.color_by == "layer"
    heard.clear()
    n = scene.set_filters(classes=["nonneuron"], proofread_only=False)
    feats = scene.features
    assert n == int((feats["classification_system"] == "nonneuron").sum()) > 0
    assert heard.calls == [("filters_changed", (n,))]
    assert scene.filters.classes == ("nonneuron",) and len(scene.shown_features()) == n
    np.testing.assert_array_equal(scene.viewer.layers["units"].shown, scene.shown)
    heard.clear()
    roots = [int(r) for r in info.root_ids[:2]]
    assert scene.choose([roots[0], roots[1], roots[0]]) == roots
    assert heard.calls == [("neurons_changed", (roots,))] and scene.chosen == roots
    scene.choose(roots)  # nothing changed: nothing announced
    assert len(heard.calls) == 1


def test_a_colour_chosen_before_the_units_is_kept_for_them(scene, info):
    heard = Heard(scene)
    scene.set_color_by("brain_area")
    assert heard.calls == [("color_by_changed", ("brain_area",))]
    scene.load(Dataset(info.datadir, version=info.version))
    assert scene.color_by == "brain_area" and scene.viewer.layers["units"].metadata["color_by"] == "brain_area"


def test_fetched_pieces_are_announced_as_they_are_added(scene, info):
    scene.load(Dataset(info.datadir, version=info.version))
    heard = Heard(scene)
    root = int(info.root_ids[0])
    assert scene.fetch_now([root], kinds=["skeleton", "mesh"]) == []
    pieces = [args[0] for name, args in heard.calls if name == "piece_added"]
    assert [(p.kind, p.root_ids) for p in pieces] == [("skeleton", (root,)), ("mesh", (root,))]
    assert {f"skeleton {root}", f"mesh {root}", "somata"} <= {lyr.name for lyr in scene.viewer.layers}


def test_the_first_neuron_fades_the_units_and_each_style_change_is_announced_once(scene, info):
    from napari_microns.core.errors import DataError
    from napari_microns.scene import CONTEXT_STYLE, UnitsStyle

    with pytest.raises(DataError, match="load units first"):
        scene.set_context(opacity=0.5)
    ds = Dataset(info.datadir, version=info.version)
    scene.load(ds)
    loaded = scene.units_style
    assert loaded == UnitsStyle(1.0, scene.units_layer.size[0]) and not loaded.faded
    heard = Heard(scene)
    roots = [int(r) for r in info.root_ids[:2]]
    assert scene.fetch_now(roots[:1], kinds=["skeleton", "mesh"]) == []
    styles = [args[0] for name, args in heard.calls if name == "units_style_changed"]
    assert styles == [CONTEXT_STYLE] and scene.units_style == CONTEXT_STYLE  # once, for the first piece
    assert heard.names().index("units_style_changed") < heard.names().index("piece_added")
    layer = scene.units_layer
    assert layer.opacity == pytest.approx(CONTEXT_STYLE.opacity) and layer.blending == "translucent_no_depth"
    heard.clear()
    assert scene.set_context(opacity=0.6) == UnitsStyle(0.6, CONTEXT_STYLE.size)
    scene.set_context(opacity=0.6)  # no change, no event
    scene.set_context(size=3.0)
    assert heard.calls == [("units_style_changed", (UnitsStyle(0.6, CONTEXT_STYLE.size),)),
                           ("units_style_changed", (UnitsStyle(0.6, 3.0),))]
    np.testing.assert_allclose(layer.size, 3.0)
    with pytest.raises(DataError, match="between 0 and 1"):
        scene.set_context(opacity=1.5)
    heard.clear()
    assert scene.fetch_now(roots[1:], kinds=["skeleton"]) == []  # a chosen style is kept
    assert "units_style_changed" not in heard.names() and layer.opacity == pytest.approx(0.6)
    scene.set_context(opacity=1.0)
    assert layer.blending == "translucent"  # not faded: drawn as loaded
    heard.clear()
    scene.load(ds)  # new units: as loaded, one units_changed
    assert heard.names() == ["units_changed"] and scene.units_style == loaded
    assert scene.fetch_now(roots[:1], kinds=["skeleton"]) == []  # and they fade again
    assert scene.units_style == CONTEXT_STYLE


def test_adopting_a_reader_layer_announces_its_units(make_napari_viewer, info):
    viewer = make_napari_viewer()
    viewer.open(str(info.layout.root), plugin="napari-microns")
    scene = Scene(viewer)
    heard = Heard(scene)
    assert scene.adopt(scene.units_layer)
    assert heard.names() == ["dataset_changed", "units_changed"]
    assert scene.dataset.layout.root == info.layout.root and scene.features is viewer.layers["units"].features
    assert not scene.adopt(scene.units_layer)  # once only
    assert heard.names() == ["dataset_changed", "units_changed"]


def test_the_dock_panels_follow_a_scene_changed_by_a_script(make_napari_viewer, info):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    scene = widget.scene
    scene.load(Dataset(info.datadir, version=info.version), color_by="layer")
    n = len(scene.features)
    assert widget.data_panel.status_label.text() == f"{n:,} units from {info.layout.root}"
    assert widget.data_panel.datadir_edit.text() == str(info.datadir)
    assert widget.units_panel.color_combo.currentText() == "layer"
    assert widget.units_panel.legend_list.item(0).text().startswith("L1")
    classes = widget.units_panel.filter_lists["class"]
    assert classes.count() == scene.features["classification_system"].nunique()

    shown = scene.set_filters(classes=["nonneuron"])
    assert widget.data_panel.status_label.text() == f"{shown:,} of {n:,} units shown"
    ticked = {classes.item(i).data(Qt.ItemDataRole.UserRole): classes.item(i).checkState() == Qt.CheckState.Checked
              for i in range(classes.count())}
    assert ticked["nonneuron"] and not any(v for k, v in ticked.items() if k != "nonneuron")

    roots = [int(r) for r in info.root_ids[:2]]
    scene.choose(roots)
    assert widget.neurons_panel.root_ids() == roots
    scene.set_color_by("brain_area")
    assert widget.units_panel.color_combo.currentText() == "brain_area"


def test_a_white_figure_inks_the_cortical_layers_and_puts_them_back(make_napari_viewer, info):
    """On a white page the layer names and boundary lines (light, for a black canvas) are drawn
    in the figure's dark ink while the figure is taken, and are as they were afterwards."""
    from napari_microns import layer_data as ld
    from napari_microns.figure import figure_look
    from napari_microns.output import check_image_options

    scene = Scene(make_napari_viewer())
    scene.load(Dataset(info.datadir, version=info.version))
    labels = next(lyr for lyr in scene.viewer.layers if ld.layer_kind(lyr) == ld.KIND_CORTICAL_LABELS)
    lines = next(lyr for lyr in scene.viewer.layers if ld.layer_kind(lyr) == ld.KIND_CORTICAL_OUTLINES)
    light_text, light_lines = labels.text.color.constant.copy(), lines.edge_color.copy()
    assert light_text[:3].min() > 0.8 and light_lines[:, :3].min() > 0.5
    options = check_image_options("fig.png", width=None, height=None, scale=None, dpi=None, background="white")
    with figure_look(scene, options):
        assert labels.text.color.constant[:3].max() < 0.2
        assert lines.edge_color[:, :3].max() < 0.2
    np.testing.assert_allclose(labels.text.color.constant, light_text)
    np.testing.assert_allclose(lines.edge_color, light_lines)
