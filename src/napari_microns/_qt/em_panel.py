"""The EM panel: a box of EM imagery and its segmentation at the chosen neuron's soma, a selected
synapse or the camera's centre, read in a worker and placed among the neurons (a slab of one
section, or a block of several), the chosen neurons' segments in their scene colours."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox

from ..core.errors import MicronsError
from ..em_scene import DEFAULT_SIZE_UM, MAX_SECTIONS, EmScene
from .notify import notify_error
from .plots import Job
from .widgets import button, note, row

#: "show EM at" choices: label -> :data:`~.em_scene.CENTRES` value (one each).
CENTRE_LABELS = {"chosen neuron's soma": "soma", "selected synapse": "synapse", "camera centre": "camera"}


class EmPanel(QGroupBox):
    """Shows :attr:`EmScene.cutout` and asks the EM scene for new ones."""

    def __init__(self, em: EmScene, parent=None):
        super().__init__("EM", parent)
        self.em = em
        self.job = Job(self._busy)
        form = QFormLayout(self)
        self.centre_combo = QComboBox()
        for label, value in CENTRE_LABELS.items():
            self.centre_combo.addItem(label, value)
        self.centre_combo.setToolTip("Where the box is centred: the first chosen neuron's soma, the synapse "
                                     "selected in a synapse layer, or the centre of the 3D view")
        form.addRow("show EM at", self.centre_combo)
        self.size_spin = QDoubleSpinBox()
        self.size_spin.setRange(1.0, 200.0)
        self.size_spin.setDecimals(1)
        self.size_spin.setSuffix(" µm")
        self.size_spin.setValue(DEFAULT_SIZE_UM)
        self.size_spin.setToolTip("Width and height of the box (the resolution is lowered to stay light)")
        form.addRow("size", self.size_spin)
        self.sections_spin = QSpinBox()
        self.sections_spin.setRange(1, MAX_SECTIONS)
        self.sections_spin.setToolTip("1: a slab at the centre's depth; more: a block of sections")
        form.addRow("sections", self.sections_spin)
        self.segmentation_check = QCheckBox("segmentation (chosen neurons in their colours)")
        self.segmentation_check.setChecked(True)
        form.addRow(self.segmentation_check)
        self.show_button = button("Show", self.show_clicked, "Read the EM box in a worker and add it to the scene")
        self.cancel_button = button("Cancel", self.job.cancel, enabled=False)
        self.clear_button = button("Remove", self.em.clear, "Take the EM layers away")
        form.addRow(row(self.show_button, self.cancel_button, self.clear_button))
        self.status = note("no EM shown", wrap=True)
        form.addRow(self.status)
        em.events.cutout_changed.connect(self._cutout_changed)

    def show_clicked(self):
        """Take the centre now (UI thread: the selection and the camera), read the box in a worker."""
        option = self.centre_combo.currentData()
        try:
            where = self.em.centre(option)
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        args = (where, self.size_spin.value(), self.sections_spin.value(), self.segmentation_check.isChecked())
        worker = self.job.start(self.em.cutout_of, args, self.em.show, "EM cutout")
        if worker is not None:
            self.status.setText(f"reading {self.size_spin.value():g} µm of EM at the {self.centre_combo.currentText()}…")
        return worker

    def _busy(self, busy: bool):
        self.show_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self._cutout_changed(self.em.cutout)

    def _cutout_changed(self, cutout):
        if cutout is None:
            self.status.setText("no EM shown")
            return
        x, y, z = cutout.center_um
        shape = " × ".join(str(n) for n in cutout.image.shape)
        segs = "" if cutout.segmentation is None else ", with segmentation"
        self.status.setText(f"EM at ({x:.1f}, {y:.1f}, {z:.1f}) µm: {shape} voxels at mip {cutout.mip} "
                            f"({cutout.resolution_nm[0]:g} nm){segs}")
