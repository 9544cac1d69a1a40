"""The Prefetch panel: download the synapses of a set of neurons into the store, and their
skeletons (and meshes) into the cache, so the window works offline afterwards. Each job runs in
a napari thread worker with a bar in napari's Activity dock, cancel, and one line of status."""

from __future__ import annotations

import threading

from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox

from ..core.errors import MicronsError
from ..fetching import one_line
from ..prefetch import DIRECTIONS, ID_SOURCES, Prefetch
from .activity import Activity, track
from .notify import notify_error
from .widgets import button, compact, note, row


class PrefetchPanel(QGroupBox):
    """Asks :class:`~napari_microns.prefetch.Prefetch` for a request and runs it in a worker."""

    def __init__(self, prefetch: Prefetch, parent=None):
        super().__init__("Prefetch for offline work", parent)
        self.prefetch = prefetch
        self.worker = None  # the running prefetch, if any
        self.activity: Activity | None = None
        self.cancel_event = threading.Event()
        form = QFormLayout(self)
        self.source_combo = compact(QComboBox())
        self.source_combo.addItems(list(ID_SOURCES))
        self.source_combo.setCurrentText("shown proofread")
        self.source_combo.setToolTip("chosen: the Neurons panel's neurons; shown proofread: the proofread units "
                                     "passing the filters; shown: every unit passing the filters")
        form.addRow("neurons", self.source_combo)
        self.direction_combo = compact(QComboBox())
        self.direction_combo.addItems(list(DIRECTIONS))
        self.direction_combo.setToolTip("inputs: synapses onto these neurons; outputs: from them")
        self.aggregate_check = QCheckBox("aggregated")
        self.aggregate_check.setToolTip("One row per connection (count, summed size) instead of one per synapse")
        self.synapses_button = button("Download synapses", self.download_synapses_clicked,
                                      "Into the synapse store; resumes an unfinished download")
        form.addRow("synapses", row(self.direction_combo, self.aggregate_check))
        self.meshes_check = QCheckBox("meshes too")
        self.meshes_check.setToolTip("Meshes at the display's face budget, besides the skeletons")
        self.morphology_button = button("Prefetch morphology", self.prefetch_morphology_clicked,
                                        "Skeletons (and meshes) into the cache; cached ones are skipped")
        form.addRow("morphology", self.meshes_check)
        self.cancel_button = button("Cancel", self.cancel, "Stop after the running steps; what finished is kept",
                                    enabled=False)
        form.addRow(row(self.synapses_button, self.morphology_button, self.cancel_button))
        self.status = note("nothing prefetched yet", wrap=True)
        form.addRow(self.status)
        prefetch.events.finished.connect(self._finished_with)

    # -- user actions ---------------------------------------------------------------------
    def download_synapses_clicked(self):
        return self.start("synapses", direction=self.direction_combo.currentText(),
                          aggregate=self.aggregate_check.isChecked())

    def prefetch_morphology_clicked(self):
        return self.start("morphology", meshes=self.meshes_check.isChecked())

    def start(self, kind: str, **options):
        """Fix the request now (UI thread: the chosen or shown ids), run it in a worker."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            notify_error("a prefetch is already running; cancel it first")
            return None
        try:
            request = self.prefetch.request(kind, self.source_combo.currentText(), **options)
        except MicronsError as exc:
            notify_error(one_line(exc))
            return None
        self.cancel_event = threading.Event()
        worker = create_worker(request.run, self._report, self.cancel_event, _ignore_errors=True)
        worker.returned.connect(self.prefetch.finish)
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        total = len(request.ids) if kind == "morphology" else 0  # chunks: known once the download starts
        self.activity = track(worker, request.describe(), total, cancel=self.cancel, follow=self._moved)
        self.status.setText(f"{request.describe()}…")
        self._busy(True)
        worker.start()
        return worker

    def cancel(self) -> None:
        if self.worker is not None and not self.cancel_event.is_set():
            self.cancel_event.set()  # the worker stops at its next step and keeps what finished
            self.status.setText("cancelling…")

    # -- from the worker --------------------------------------------------------------------
    def _report(self, done: int, total: int, text: str) -> None:
        """Progress from the worker's threads: to the Activity dock (and the status line) on the UI thread."""
        self.activity.report(done, total, text)

    def _moved(self, _done, _total, text):
        if text and not self.cancel_event.is_set():
            self.status.setText(text)

    def _finished_with(self, summary: str) -> None:
        self.status.setText(summary)

    def _failed(self, exc) -> None:
        self.status.setText(f"failed: {one_line(exc)}")
        notify_error(one_line(exc))

    def _finished(self) -> None:
        self.worker = None
        self._busy(False)

    def _busy(self, busy: bool) -> None:
        self.synapses_button.setEnabled(not busy)
        self.morphology_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
