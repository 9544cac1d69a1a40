"""The Neurons panel: choose root ids (typed, clicked, selected, from the table) and fetch
their skeletons, meshes and synapses in a napari thread worker, with progress and cancel."""

from __future__ import annotations


from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGroupBox, QInputDialog, QLabel, QPlainTextEdit,
                            QVBoxLayout)

from ..colour_data import numeric_columns
from ..core.errors import MicronsError
from ..core.ids import parse_id, parse_ids
from ..fetching import FETCH_KINDS, one_line, stale_root_ids
from ..scene import Scene
from .fetch_job import FetchJob
from .notify import notify_error, notify_warning
from .units_table import UnitsTable
from .widgets import button, compact, note, row

#: synapse colour choices: label -> ``synapse_color_by``; the units' numeric columns (e.g. the
#: functional ``pref_ori``) follow them once units are shown (:func:`synapse_colour_choices`)
SYNAPSE_COLORS = {"input / output": "direction",
                  **{f"partner {c}": c for c in ("cell_type", "classification_system", "layer", "brain_area")}}


def synapse_colour_choices(features) -> dict[str, str]:
    """:data:`SYNAPSE_COLORS`, then each numeric units column: a synapse takes its partner's value
    (an input's presynaptic cell), on the colour map of all units."""
    numeric = [] if features is None else numeric_columns(features)
    return {**SYNAPSE_COLORS, **{f"partner {c}": c for c in numeric}}


class NeuronsPanel(QGroupBox):
    """The chosen neurons (:attr:`Scene.chosen`, shown and edited as text) and their fetch."""

    def __init__(self, scene: Scene, parent=None):
        super().__init__("Neurons", parent)
        self.scene = scene
        box = QVBoxLayout(self)
        self.ids_edit = QPlainTextEdit()
        self.ids_edit.setPlaceholderText("root ids: type or paste (commas, spaces or lines)")
        self.ids_edit.setMaximumHeight(60)
        box.addWidget(self.ids_edit)
        self.pick_check = QCheckBox("click a unit to add it")
        self.pick_check.setToolTip("While ticked, a click (not a drag) on a unit in the viewer adds its root id")
        self.pick_check.setChecked(True)
        box.addWidget(self.pick_check)
        self.table = UnitsTable(scene)
        self.table.ids_picked.connect(self.add_ids)
        self.from_points_button = button("Add selected points", self.add_selected_points,
                                         "Select units in the viewer (select mode, click or drag), then add them")
        self.table_button = button("Table…", self.table.show_table, "Browse the shown units; selected rows are added")
        box.addLayout(row(self.from_points_button, self.table_button))
        box.addWidget(self.table)
        self.kind_checks = {kind: QCheckBox(kind) for kind in FETCH_KINDS}
        for check in self.kind_checks.values():
            check.setChecked(True)
        box.addLayout(row(*self.kind_checks.values()))
        self.synapse_color_combo = compact(QComboBox(), 14)  # unit columns' names can be long
        for label, color_by in SYNAPSE_COLORS.items():
            self.synapse_color_combo.addItem(label, color_by)
        box.addLayout(row(QLabel("synapse colour"), self.synapse_color_combo))
        self.fetch_button = button("Fetch", self.fetch_clicked)
        self.cancel_button = button("Cancel", self.cancel_fetch, enabled=False)
        box.addLayout(row(self.fetch_button, self.cancel_button))
        self.import_button = button("Import file…", self.import_clicked,
                                    "Your own skeleton (.swc, .json) or mesh (.off, .ply, .obj) for a root id")
        self.units_combo = QComboBox()
        self.units_combo.addItems(["nm", "um", "voxel"])
        self.units_combo.setToolTip("Units of the file's positions (um: pia-aligned µm, as napari-microns writes)")
        box.addLayout(row(self.import_button, self.units_combo))
        # Progress as text: QProgressBar.setValue repaints synchronously, which makes
        # napari redraw the whole 3D canvas once per piece (seconds with software GL).
        self.progress = note(visible=False, wrap=True)  # long id lists wrap instead of widening the dock
        box.addWidget(self.progress)
        self.fetcher = FetchJob(scene, self.progress.setText, self._fetch_busy)

        scene.events.neurons_changed.connect(self._neurons_changed)
        scene.events.units_changed.connect(self._units_changed)
        scene.viewer.mouse_drag_callbacks.append(self._pick_on_click)

    # -- choosing ---------------------------------------------------------------------
    def root_ids(self) -> list[int]:
        """The root ids typed in the box (in order, without repeats); one-line error if one is bad."""
        return parse_ids(self.ids_edit.toPlainText(), "root id", where="root ids", unique=True).tolist()

    def add_ids(self, ids):
        """Choose the typed ids and ``ids`` (typed text that does not parse is replaced)."""
        try:
            current = self.root_ids()
        except MicronsError:
            current = []
        self.scene.choose([*current, *map(int, ids)])

    def add_selected_points(self):
        ids = self.scene.selected_root_ids()
        if not ids:
            notify_error("no units selected: select the units layer, switch to select mode and click or drag over cells")
            return
        self.add_ids(ids)

    def _pick_on_click(self, viewer, event):
        """A click (press and release without moving) on a unit adds its root id."""
        if not self.pick_check.isChecked() or self.scene.features is None:
            return
        yield
        if event.type == "mouse_move":
            return  # a drag turns the camera; not a pick
        root = self.scene.root_id_at(event.position, getattr(event, "view_direction", None),
                                     getattr(event, "dims_displayed", None))
        if root is not None:
            self.add_ids([root])

    def _neurons_changed(self, root_ids: list):
        self.ids_edit.setPlainText("\n".join(map(str, root_ids)))

    def _units_changed(self):
        """The synapse colours the units allow (their numeric columns too), keeping the choice."""
        current = self.synapse_color_combo.currentData()
        self.synapse_color_combo.clear()
        for label, color_by in synapse_colour_choices(self.scene.features).items():
            self.synapse_color_combo.addItem(label, color_by)
        self.synapse_color_combo.setCurrentIndex(max(self.synapse_color_combo.findData(current), 0))

    # -- your own files -----------------------------------------------------------------
    def import_clicked(self):
        path, _ = QFileDialog.getOpenFileName(self, "Import a skeleton or mesh", "",
                                              "Morphology (*.swc *.json *.off *.ply *.obj)")
        if not path:
            return
        typed = self.ids_edit.toPlainText().split()
        root, ok = QInputDialog.getText(self, "Root id", f"root id for {path}:", text=typed[0] if typed else "")
        if ok:
            self.import_file(path, root)

    def import_file(self, path, root_id):
        """Put the file into the cache of ``root_id`` (units from the combo) and show it."""
        try:
            rid = parse_id(root_id, where="root id")
            kind = self.scene.import_morphology(path, rid, units=self.units_combo.currentText())
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        return self.start_fetch([rid], kinds=(kind,))

    # -- fetching ---------------------------------------------------------------------
    def fetch_clicked(self):
        try:
            ids = self.root_ids()
        except MicronsError as exc:
            notify_error(one_line(exc))
            return
        if not ids:
            notify_error("no root ids chosen: type or paste ids, or add selected points")
            return
        for message in stale_root_ids(self.scene.dataset, ids):  # an old id: say which one to use
            notify_warning(message)
        self.scene.choose(ids)
        self.start_fetch(ids, [k for k, c in self.kind_checks.items() if c.isChecked()])

    @property
    def worker(self):
        """The running fetch, if any."""
        return self.fetcher.worker

    def start_fetch(self, root_ids, kinds=FETCH_KINDS):
        """Fetch in a napari thread worker; each finished piece is added as it arrives."""
        return self.fetcher.start(root_ids, kinds, synapse_color_by=self.synapse_color_combo.currentData())

    def cancel_fetch(self):
        self.fetcher.cancel()
        self.cancel_button.setEnabled(False)

    def _fetch_busy(self, busy: bool):
        self.progress.setVisible(busy)
        self.fetch_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
