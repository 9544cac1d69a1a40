"""``Account``: the CAVE sign-in the Sign in panel shows (no napari, no Qt).

The blocking methods (:meth:`Account.sign_in`, :meth:`Account.check`) talk to CAVE's auth
server and run in a worker thread; :meth:`Account.signed_in` and :meth:`Account.failed`
record their outcome on the UI thread and emit ``events.changed``. The token itself is
never kept here: it goes to :func:`core.account.sign_in` (checked, then saved by
``credentials.save_token``) and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psygnal import Signal, SignalGroup

from .core import account as core_account
from .core.account import GLOBAL_SERVER, CaveUser, SignedIn
from .core.session import DEFAULT_RETRY, RetryPolicy


def _home_relative(path: Path) -> str:
    """``~/...`` for a path in the home folder (shorter, and no user name on screen)."""
    try:
        return "~/" + str(Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class AccountState:
    """What the panel shows: a token saved or not, the account the server named (None: not
    checked or refused), and one line of status."""

    token_saved: bool
    user: CaveUser | None
    line: str


class AccountEvents(SignalGroup):
    #: the new :class:`AccountState`
    changed = Signal(object)


class Account:
    """Sign in to CAVE: where to get a token, check and save one, who is signed in."""

    def __init__(self, server_address: str = GLOBAL_SERVER, retry: RetryPolicy = DEFAULT_RETRY):
        self.events = AccountEvents()
        self._server = server_address
        self.retry = retry
        self._state = self._offline_state()

    @property
    def server_address(self) -> str:
        return self._server

    @property
    def token_url(self) -> str:
        """Where a new token is made (shown as text; opening it is the user's choice)."""
        return core_account.token_url(self._server)

    @property
    def state(self) -> AccountState:
        return self._state

    def _offline_state(self) -> AccountState:
        saved = core_account.token_saved(self._server)
        return AccountState(saved, None, "a token is saved (not checked yet)" if saved else "not signed in: no token saved")

    def refresh(self) -> AccountState:
        """Read again (offline) whether a token is saved; forgets who was signed in."""
        return self._set(self._offline_state())

    # -- in a worker thread -------------------------------------------------------------
    def sign_in(self, token: str) -> SignedIn:
        """Check ``token`` with the server and save it when accepted (blocking)."""
        return core_account.sign_in(token, self._server, self.retry)

    def check(self) -> CaveUser:
        """Who the saved token belongs to (blocking)."""
        return core_account.user_of(None, self._server, self.retry)

    # -- on the UI thread ---------------------------------------------------------------
    def signed_in(self, outcome: SignedIn | CaveUser) -> AccountState:
        """Record a successful :meth:`sign_in` or :meth:`check`."""
        user = outcome.user if isinstance(outcome, SignedIn) else outcome
        where = f"; token saved to {_home_relative(outcome.path)} (only you can read it)" \
            if isinstance(outcome, SignedIn) else ""
        return self._set(AccountState(True, user, f"signed in as {user}{where}"))

    def failed(self, message: str) -> AccountState:
        """Record a failed sign-in or check (the message is one line, without the token)."""
        saved = core_account.token_saved(self._server)
        return self._set(AccountState(saved, None, f"not signed in: {message}"))

    def _set(self, state: AccountState) -> AccountState:
        self._state = state
        self.events.changed.emit(state)
        return state
