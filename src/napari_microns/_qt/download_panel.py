"""The Get a version panel: a data folder and a version (served by CAVE or on disk), then
**Download and process** in a worker (table by table, resumable, cancellable, with a bar in
napari's Activity dock), the processing summary, and the units loaded. Over a
:class:`~napari_microns.get_version.GetVersion`."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QPlainTextEdit

from ..core.versions import supported_versions
from ..fetching import one_line
from ..get_version import GetVersion, Outcome
from .activity import track
from .notify import notify_error
from .widgets import button, compact, folder_field, note, row


class DownloadPanel(QGroupBox):
    """Download, process and load a version; one job at a time."""

    def __init__(self, model: GetVersion, parent=None):
        super().__init__("Get a version", parent)
        self.model = model
        self.worker = None  # the running download, if any
        self.list_worker = None  # the running version listing, if any
        self.activity = None
        form = QFormLayout(self)
        self.datadir_edit, folder_row = folder_field(self, "data folder (new or existing)", lambda _folder: self.list_versions())
        form.addRow("folder", folder_row)
        self.version_combo = compact(QComboBox(), 20)
        for v in reversed(supported_versions()):
            self.version_combo.addItem(str(v), v)
        self.version_combo.setCurrentText("1300")
        self.list_button = button("List versions", self.list_versions,
                                  "Ask CAVE which versions it serves, and look in the folder")
        form.addRow("version", row(self.version_combo, self.list_button))
        self.download_button = button("Download and process", self.download_clicked,
                                      "Download the version's tables (what is on disk is kept), process them, load the units")
        self.cancel_button = button("Cancel", self.cancel, enabled=False)
        form.addRow(row(self.download_button, self.cancel_button))
        self.status_label = note("choose a folder and a version", wrap=True)
        form.addRow(self.status_label)
        self.summary_text = QPlainTextEdit()
        self.summary_text.setReadOnly(True)
        self.summary_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.summary_text.setVisible(False)
        self.summary_text.setMinimumHeight(150)
        form.addRow(self.summary_text)
        model.events.versions_changed.connect(self._versions_changed)
        model.events.finished.connect(self._run_finished)

    # -- user actions ---------------------------------------------------------------
    def list_versions(self):
        from napari.qt.threading import create_worker

        if self.list_worker is not None:
            return
        worker = create_worker(self.model.list_versions, self.datadir_edit.text().strip(), _ignore_errors=True)
        worker.returned.connect(self.model.set_versions)
        worker.errored.connect(lambda exc: notify_error(one_line(exc)))
        worker.finished.connect(self._list_finished)
        self.list_worker = worker
        self.list_button.setEnabled(False)
        self.status_label.setText("listing versions…")
        track(worker, "MICrONS: listing versions")
        worker.start()

    def download_clicked(self):
        folder = self.datadir_edit.text().strip()
        if not folder:
            notify_error("choose a data folder first (a new empty folder is fine)")
            return
        self.download(folder, int(self.version_combo.currentData()))

    def download(self, datadir, version: int):
        """Download, process and load ``version`` into ``datadir`` in a worker."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            notify_error("a download is already running; cancel it first")
            return
        holder = {}
        worker = create_worker(self.model.run, datadir, version, on_step=lambda s: holder["activity"].report(
            s.done, s.total, f"MICrONS v{version}: {s.line()}"),
            cancelled=lambda: worker.abort_requested, color_by=self.model.scene.color_by, _ignore_errors=True)
        worker.returned.connect(self.model.finish)
        worker.errored.connect(self._failed)
        worker.finished.connect(self._download_finished)
        self.worker = worker
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status_label.setText(f"downloading version {version}…")
        self.activity = holder["activity"] = track(worker, f"MICrONS v{version}: downloading", total=0,
                                                   cancel=self.cancel, follow=self._follow)
        worker.start()

    def cancel(self):
        if self.worker is not None:
            self.worker.quit()  # the run stops after the page in flight; what it finished is kept
            self.status_label.setText("cancelling after the page in flight…")

    # -- the workers' outcome (UI thread) -----------------------------------------------
    def _follow(self, done, total, text):
        if text and self.worker is not None:  # a report queued before the end may arrive after it
            self.status_label.setText(text.split(": ", 1)[-1])

    def _failed(self, exc):
        message = one_line(exc)
        self.status_label.setText(f"stopped: {message}")
        notify_error(message)

    def _download_finished(self):
        if self.worker is not None and self.worker.abort_requested:  # a cancelled run returns nothing
            self.status_label.setText("cancelled; Download and process again continues where it stopped")
        self.worker = None
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _run_finished(self, outcome: Outcome):
        if outcome.cancelled:
            self.status_label.setText("cancelled; Download and process again continues where it stopped")
            return
        self.status_label.setText(f"version {outcome.version}: {outcome.summary.get('units', 0):,} units "
                                  "processed and loaded")
        self.summary_text.setPlainText(outcome.summary_text())
        self.summary_text.setVisible(True)

    def _list_finished(self):
        self.list_worker = None
        self.list_button.setEnabled(True)

    def _versions_changed(self, listed):
        current = self.version_combo.currentData()
        self.version_combo.clear()
        for label, version in self.model.choices():
            self.version_combo.addItem(label, version)
            self.version_combo.setItemData(self.version_combo.count() - 1, self.model.describe(version),
                                           Qt.ItemDataRole.ToolTipRole)
        index = self.version_combo.findData(current)
        self.version_combo.setCurrentIndex(max(index, 0))
        self.status_label.setText(listed.note or f"{self.version_combo.count()} versions to choose from")

