"""The Units panel: colour-by, filters (tick boxes with counts), the units' opacity and the legend."""

from __future__ import annotations

from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QColor, QIcon, QImage, QPixmap
from qtpy.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QListWidget, QListWidgetItem,
                            QSlider)

from .. import colour_data as cd
from .. import layer_data as ld
from ..core import palettes
from ..core.errors import MicronsError
from ..fetching import one_line
from ..scene import Scene
from .notify import notify_error
from .widgets import note, row

#: filter list label -> (units column, Scene.set_filters keyword / UnitFilters field)
FILTERS = {
    "class": ("classification_system", "classes"),
    "type": ("cell_type", "cell_types"),
    "layer": ("layer", "cortical_layers"),
    "area": ("brain_area", "areas"),
}


def swatch(rgba) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor.fromRgbF(*[float(c) for c in rgba[:3]], 1.0))
    return QIcon(pix)


def colour_bar_icon(bar: cd.ColourBar, width: int = 96, height: int = 12) -> QIcon:
    """The colour bar's gradient, low end on the left."""
    rgba = (255 * bar.colors(width)).astype("uint8")
    rows = rgba[None].repeat(height, axis=0).copy()
    image = QImage(rows.data, width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()
    return QIcon(QPixmap.fromImage(image))


class UnitsPanel(QGroupBox):
    """Colour the units by a column, filter them, and show the legend of what is shown."""

    def __init__(self, scene: Scene, parent=None):
        super().__init__("Units", parent)
        self.scene = scene
        form = QFormLayout(self)
        self.color_combo = QComboBox()
        self.color_combo.addItems(ld.COLOR_BY_CHOICES)
        self.color_combo.setCurrentText(scene.color_by)
        self.color_combo.currentTextChanged.connect(self.choose_color_by)
        form.addRow("colour by", self.color_combo)
        self.filter_lists: dict[str, QListWidget] = {}
        for label in FILTERS:
            lst = QListWidget()
            lst.setMaximumHeight(70)
            lst.itemChanged.connect(self.choose_filters)
            self.filter_lists[label] = lst
            form.addRow(label, lst)
        self.proofread_check = QCheckBox("proofread only")
        self.proofread_check.toggled.connect(self.choose_filters)
        form.addRow(self.proofread_check)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(100)
        self.opacity_slider.setEnabled(False)
        self.opacity_slider.setToolTip("How strongly the units are drawn: they fade by themselves when "
                                       "neurons are shown, so the neurons stand out")
        self.opacity_slider.valueChanged.connect(self.choose_opacity)
        self.opacity_label = note("100%")
        form.addRow("units opacity", row(self.opacity_slider, self.opacity_label))
        self.legend_list = QListWidget()
        self.legend_list.setMaximumHeight(150)
        form.addRow("legend", self.legend_list)

        scene.events.units_changed.connect(self._units_changed)
        scene.events.color_by_changed.connect(self._color_by_changed)
        scene.events.filters_changed.connect(self._filters_changed)
        scene.events.units_style_changed.connect(self._style_changed)

    # -- user actions -> scene ------------------------------------------------------------
    def choose_color_by(self, column: str):
        try:
            self.scene.set_color_by(column)
        except MicronsError as exc:
            notify_error(one_line(exc))

    def choose_opacity(self, percent: int):
        try:
            self.scene.set_context(opacity=percent / 100)
        except MicronsError as exc:
            notify_error(one_line(exc))

    def checked_values(self, label: str) -> list[str] | None:
        """Checked categories of a filter list; None when all are checked (no filter)."""
        lst = self.filter_lists[label]
        items = [lst.item(i) for i in range(lst.count())]
        checked = [it.data(Qt.ItemDataRole.UserRole) for it in items if it.checkState() == Qt.CheckState.Checked]
        return None if len(checked) == len(items) else checked

    def choose_filters(self, *_):
        if self.scene.features is None:
            return
        chosen = {keyword: self.checked_values(label) for label, (_column, keyword) in FILTERS.items()}
        self.scene.set_filters(**chosen, proofread_only=self.proofread_check.isChecked())

    # -- following the scene ----------------------------------------------------------------
    def _units_changed(self):
        feats = self.scene.features
        self.color_combo.blockSignals(True)  # categorical columns, then the numeric ones
        self.color_combo.clear()
        self.color_combo.addItems(cd.color_by_choices(feats))
        self.color_combo.blockSignals(False)
        for label, (column, _keyword) in FILTERS.items():
            lst = self.filter_lists[label]
            lst.blockSignals(True)
            lst.clear()
            if column in feats.columns:
                for value, rgba, count in ld.legend(feats, column):
                    item = QListWidgetItem(swatch(rgba), f"{value} ({count:,})")
                    item.setData(Qt.ItemDataRole.UserRole, value)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked)
                    lst.addItem(item)
            lst.blockSignals(False)
        self._show_filters()
        self._color_by_changed(self.scene.color_by)
        self.opacity_slider.setEnabled(True)
        self._style_changed(self.scene.units_style)

    def _style_changed(self, style):
        percent = int(round(100 * style.opacity))
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(percent)
        self.opacity_slider.blockSignals(False)
        self.opacity_label.setText(f"{percent}%")

    def _color_by_changed(self, column: str):
        self.color_combo.blockSignals(True)
        self.color_combo.setCurrentText(column)
        self.color_combo.blockSignals(False)
        self._refresh_legend()

    def _filters_changed(self, _shown: int):
        self._show_filters()
        self._refresh_legend()

    def _show_filters(self):
        """Tick what the scene's filters let through (they may come from a script)."""
        filters = self.scene.filters
        for label, (_column, keyword) in FILTERS.items():
            allowed = getattr(filters, keyword)
            lst = self.filter_lists[label]
            lst.blockSignals(True)
            for i in range(lst.count()):
                item = lst.item(i)
                on = allowed is None or item.data(Qt.ItemDataRole.UserRole) in allowed
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            lst.blockSignals(False)
        self.proofread_check.blockSignals(True)
        self.proofread_check.setChecked(filters.proofread_only)
        self.proofread_check.blockSignals(False)

    def show_connection_legend(self, bar: cd.ColourBar | None, neuron: int | None = None):
        """While another view colours the units (the Partners tab's connection colouring): its
        colour bar, the neuron and the other units; None: the legend of the colour-by column."""
        if bar is None:
            return self._refresh_legend()
        self.legend_list.clear()
        lo, hi = bar.labels
        self.legend_list.setIconSize(QSize(96, 12))
        self.legend_list.addItem(QListWidgetItem(colour_bar_icon(bar), f"partners, {bar.column}: {lo} … {hi}"))
        if neuron is not None:
            self.legend_list.addItem(QListWidgetItem(swatch(palettes.CIRCUIT_NEURON), f"the neuron {neuron}"))
        self.legend_list.addItem(QListWidgetItem(swatch(palettes.NOT_PARTNER[:3] + (1.0,)), "not a partner (faint)"))

    def _refresh_legend(self):
        self.legend_list.clear()
        legend = self.scene.legend()
        if isinstance(legend, cd.ColourBar):  # a numeric column: its colour bar, and "no data"
            lo, hi = legend.labels
            self.legend_list.setIconSize(QSize(96, 12))
            self.legend_list.addItem(QListWidgetItem(colour_bar_icon(legend), f"{legend.column}: {lo} … {hi}"))
            if legend.no_data is not None:
                self.legend_list.addItem(QListWidgetItem(swatch(legend.no_data), f"no data  ({legend.missing:,})"))
            return
        self.legend_list.setIconSize(QSize(12, 12))
        for label, rgba, count in legend:
            self.legend_list.addItem(QListWidgetItem(swatch(rgba), f"{label}  ({count:,})"))
