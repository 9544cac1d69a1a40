"""The Sign in panel: where to get a CAVE token, the token typed without echo, checked with the
server and saved (private files), and who is signed in. Over an :class:`~napari_microns.account.Account`."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit

from ..account import Account, AccountState
from ..fetching import one_line
from .activity import track
from .notify import notify_error
from .widgets import button, note, row


class SignInPanel(QGroupBox):
    """Sign in to CAVE with a token; checking runs in a worker thread."""

    def __init__(self, account: Account, parent=None):
        super().__init__("Sign in to CAVE", parent)
        self.account = account
        self.worker = None  # the running check, if any
        form = QFormLayout(self)
        self.help_label = QLabel(
            "Make a token (log in with your Google account; a new token replaces your previous one) at:")
        self.help_label.setWordWrap(True)
        form.addRow(self.help_label)
        self.url_label = QLabel(account.token_url)
        self.url_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.url_label.setWordWrap(True)
        form.addRow(self.url_label)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("paste the token (hidden)")
        self.token_edit.returnPressed.connect(self.sign_in_clicked)
        form.addRow("token", self.token_edit)
        self.sign_in_button = button("Sign in", self.sign_in_clicked, "Check the token with CAVE, then save it "
                                     "(readable only by you)")
        self.check_button = button("Check saved token", self.check_clicked, "Ask CAVE who the saved token belongs to")
        form.addRow(row(self.sign_in_button, self.check_button))
        self.status_label = note(account.state.line, wrap=True)
        form.addRow(self.status_label)
        account.events.changed.connect(self._state_changed)

    # -- user actions ---------------------------------------------------------------
    def sign_in_clicked(self):
        token = self.token_edit.text()
        if not token.strip():
            notify_error(f"paste a CAVE token first; make one at {self.account.token_url}")
            return
        self._start(self.account.sign_in, token, "checking the token with CAVE…")

    def check_clicked(self):
        self._start(self.account.check, None, "asking CAVE who the saved token belongs to…")

    def _start(self, job, token, line: str):
        from napari.qt.threading import create_worker

        if self.worker is not None:
            return
        worker = create_worker(job, _ignore_errors=True) if token is None else create_worker(job, token, _ignore_errors=True)
        worker.returned.connect(self._accepted)
        worker.errored.connect(self._refused)
        worker.finished.connect(self._finished)
        self.worker = worker
        self.sign_in_button.setEnabled(False)
        self.check_button.setEnabled(False)
        self.status_label.setText(line)
        track(worker, "MICrONS: checking the CAVE token")
        worker.start()

    # -- the worker's outcome (UI thread) -----------------------------------------------------
    def _accepted(self, outcome):
        self.token_edit.clear()  # saved: nothing of it stays in the window
        self.account.signed_in(outcome)

    def _refused(self, exc):
        message = one_line(exc)
        self.account.failed(message)
        notify_error(message)

    def _finished(self):
        self.worker = None
        self.sign_in_button.setEnabled(True)
        self.check_button.setEnabled(True)

    def _state_changed(self, state: AccountState):
        self.status_label.setText(state.line)
