"""The Neuroglancer panel: a link of the chosen neurons (their synapses, the EM, the scene's
colours) to copy, save, open in a browser or shorten; and a link, state or short link opened in
the scene (its neurons chosen, its points shown, the camera at its position)."""

from __future__ import annotations

from qtpy.QtCore import QUrl
from qtpy.QtGui import QDesktopServices
from qtpy.QtWidgets import (QApplication, QComboBox, QFileDialog, QFormLayout, QGroupBox, QLineEdit,
                            QPlainTextEdit, QVBoxLayout, QWidget)

from ..core.errors import MicronsError
from ..neuroglancer_scene import NeuroglancerScene
from .notify import notify_error, notify_info
from .plots import Job
from .widgets import button, compact, note, row

#: "synapses" choices: label -> ``Dataset.neuroglancer_state(synapses=...)``.
SYNAPSE_LABELS = {"both": "both", "inputs": "inputs", "outputs": "outputs", "none": None}
GROUP_LABELS = {"direction": "direction", "cell type": "cell_type"}


class NeuroglancerPanel(QWidget):
    """Links out of the scene and into it; all the work is :class:`NeuroglancerScene`'s."""

    def __init__(self, ng: NeuroglancerScene, parent=None, open_url=None):
        super().__init__(parent)
        self.ng = ng
        self.open_url = open_url or (lambda url: QDesktopServices.openUrl(QUrl(url)))  # tests inject one
        self.job = Job(self._busy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._out_box())
        layout.addWidget(self._in_box())
        ng.events.link_changed.connect(self._link_changed)
        ng.events.opened.connect(self._opened)  # a state opened by a script too
        ng.scene.events.neurons_changed.connect(self._neurons_changed)
        self._neurons_changed(ng.scene.chosen)
        self._link_changed(ng.link)

    # -- the two boxes ---------------------------------------------------------------------
    def _out_box(self) -> QGroupBox:
        box = QGroupBox("Link for the chosen neurons")
        form = QFormLayout(box)
        self.chosen_note = note(wrap=True)
        form.addRow(self.chosen_note)
        self.synapses_combo = compact(QComboBox())
        for label, value in SYNAPSE_LABELS.items():
            self.synapses_combo.addItem(label, value)
        self.synapses_combo.setToolTip("The chosen neurons' synapses from the local store, as point layers")
        self.group_combo = compact(QComboBox())
        for label, value in GROUP_LABELS.items():
            self.group_combo.addItem(label, value)
        self.group_combo.setToolTip("One point layer per direction, or per direction and partner cell type")
        form.addRow("synapses", self.synapses_combo)
        form.addRow("group by", self.group_combo)
        self.build_button = button("Build link", self.build_clicked,
                                   "Build the state (EM, segmentation in the scene's colours, synapses) offline")
        self.cancel_button = button("Cancel", self.job.cancel, enabled=False)
        form.addRow(row(self.build_button, self.cancel_button))
        self.url_edit = QLineEdit()
        self.url_edit.setReadOnly(True)
        self.url_edit.setMaxLength(2**31 - 1)  # Qt cuts at 32,767 characters otherwise; links are longer
        self.url_edit.setPlaceholderText("no link built")
        form.addRow(self.url_edit)
        self.copy_button = button("Copy", self.copy_clicked, "Copy the link to the clipboard")
        self.save_button = button("Save JSON…", self.save_clicked, "Write the state as a JSON file")
        self.browser_button = button("Open in browser", self.browser_clicked, "Open the link in your web browser")
        self.short_button = button("Short link", self.short_clicked,
                                   "Upload the state to CAVE's state server (needs a CAVE token)")
        form.addRow(row(self.copy_button, self.save_button))
        form.addRow(row(self.browser_button, self.short_button))
        self.link_note = note(wrap=True)
        form.addRow(self.link_note)
        return box

    def _in_box(self) -> QGroupBox:
        box = QGroupBox("Open link")
        form = QFormLayout(box)
        self.open_edit = QPlainTextEdit()
        self.open_edit.setPlaceholderText("paste a Neuroglancer link, its state (JSON) or a CAVE short link")
        self.open_edit.setFixedHeight(64)
        form.addRow(self.open_edit)
        self.open_button = button("Open", self.open_clicked,
                                  "Choose the state's neurons, show its points, centre the camera on its position")
        self.file_button = button("Open file…", self.file_clicked, "Open a Neuroglancer state saved as JSON")
        form.addRow(row(self.open_button, self.file_button))
        self.open_note = note("nothing opened", wrap=True)
        self._open_said = self.open_note.text()
        form.addRow(self.open_note)
        return box

    # -- out -------------------------------------------------------------------------------
    def build_clicked(self):
        """Build the link of the chosen neurons in a worker (their colours taken now)."""
        try:
            args = self.ng.link_request(self.synapses_combo.currentData(), self.group_combo.currentData())
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        self.link_note.setText("building the link…")
        return self.job.start(self.ng.link_of, args, self.ng.set_link, "Neuroglancer link")

    def copy_clicked(self):
        link = self.ng.link
        if link is None:
            notify_error("build a link for the chosen neurons first")
            return
        QApplication.clipboard().setText(link.text)
        notify_info("link copied")

    def save_clicked(self, path=None):
        if self.ng.link is None:
            notify_error("build a link for the chosen neurons first")
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save the Neuroglancer state", "neuroglancer_state.json",
                                                  "JSON (*.json)")
            if not path:
                return
        try:
            self.ng.save_json(path)
        except MicronsError as exc:
            notify_error(str(exc))
            return
        self.link_note.setText(f"state saved to {path}")

    def browser_clicked(self):
        link = self.ng.link
        if link is None:
            notify_error("build a link for the chosen neurons first")
            return
        self.open_url(link.text)

    def short_clicked(self):
        try:
            args = self.ng.short_link_request()
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        self.link_note.setText("uploading the state to CAVE…")
        return self.job.start(self.ng.short_link_of, args, self.ng.set_short_link, "short Neuroglancer link")

    # -- in --------------------------------------------------------------------------------
    def open_clicked(self, text=None):
        """Parse the pasted text (or ``text``) in a worker, then show it in the scene."""
        text = self.open_edit.toPlainText() if text is None else text
        try:
            args = self.ng.parsed_request(text)
        except MicronsError as exc:
            notify_error(str(exc))
            return None
        self._open_said = self.open_note.text()  # said again if this one fails
        self.open_note.setText("reading the state…")
        return self.job.start(self.ng.parsed_of, args, self._parsed, "reading a Neuroglancer state")

    def file_clicked(self, path=None):
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open a Neuroglancer state", "", "JSON (*.json);;all (*)")
            if not path:
                return None
        return self.open_clicked(str(path))

    def _parsed(self, parsed):
        self.ng.show_parsed(parsed)  # announces `opened`: the status line follows (_opened)

    def _opened(self, opened) -> None:
        self.open_note.setText(opened.summary())

    # -- following the model ---------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        for b in (self.build_button, self.short_button, self.open_button, self.file_button):
            b.setEnabled(not busy)
        if not busy:
            self._neurons_changed(self.ng.scene.chosen)
            self._link_changed(self.ng.link)
            if self.open_note.text() == "reading the state…":
                self.open_note.setText(self._open_said)

    def _neurons_changed(self, ids) -> None:
        n = len(ids)
        self.chosen_note.setText(f"{n} chosen neuron{'s' * (n != 1)}" if n else "no neurons chosen")
        self.build_button.setEnabled(bool(n) and self.job.worker is None)

    def _link_changed(self, link) -> None:
        self.url_edit.setText("" if link is None else link.text)
        self.url_edit.setCursorPosition(0)
        for b in (self.copy_button, self.save_button, self.browser_button):
            b.setEnabled(link is not None)
        self.short_button.setEnabled(link is not None and link.short is None and self.job.worker is None)
        n = 0 if link is None else len(link.root_ids)
        self.link_note.setText("" if link is None else "; ".join(link.messages()) or
                               f"link of {n} neuron{'s' * (n != 1)}")
