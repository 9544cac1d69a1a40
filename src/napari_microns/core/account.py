"""The CAVE account: where a token comes from, whether one is saved, whom it belongs to.

:func:`user_of` asks CAVE's auth server who a token belongs to (caveclient's ``AuthClient``:
``get_tokens()`` gives the token owner's user id, ``get_user_information`` the name and
email); :func:`sign_in` checks a token that way and saves it with
:func:`.credentials.save_token` (private files) only when the server accepts it. The token
goes only to the auth server named (CAVE's global server by default); it is never logged and
never part of a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import AuthError, MicronsError
from .session import DEFAULT_RETRY, RetryPolicy, _status, call_with_retry

#: caveclient's global server, where MICrONS accounts and tokens live
GLOBAL_SERVER = "https://global.daf-apis.com"
SERVICE = "the CAVE auth service"


def token_url(server_address: str = GLOBAL_SERVER) -> str:
    """The page that makes a new token (caveclient's ``get_new_token`` names the same one); offline."""
    from caveclient.endpoints import auth_endpoints_v1

    return auth_endpoints_v1["create_token"].format_map({"auth_server_address": server_address.rstrip("/")})


def token_saved(server_address: str = GLOBAL_SERVER) -> bool:
    """Whether caveclient finds a saved token for ``server_address`` (read offline; the token is not returned)."""
    from caveclient.auth import AuthClient

    return bool(AuthClient(server_address=server_address).token)


def check_token_text(token: str) -> str:
    """The token without surrounding blanks; a one-line error when it cannot be a token."""
    token = (token or "").strip()
    if not token or any(c.isspace() for c in token):
        raise AuthError("that does not look like a CAVE token (empty or contains spaces)")
    return token


@dataclass(frozen=True)
class CaveUser:
    """Whom a token belongs to, as the auth server says."""

    id: int
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


@dataclass(frozen=True)
class SignedIn:
    """What :func:`sign_in` did: the account the server named and the token file written."""

    user: CaveUser
    path: Path


def _refused(exc: AuthError, server_address: str) -> AuthError:
    """A 401/403 from the auth server as the one line a signing-in user needs."""
    status = _status(exc.__cause__)
    if status == 403:
        return AuthError(f"the CAVE server refused this token (403): your account lacks access; log in once at "
                         f"{server_address} and accept the terms of service, then sign in again")
    return AuthError(f"the CAVE server rejected this token (401): it is wrong or has expired; make a new one at "
                     f"{token_url(server_address)} and paste it here")


def user_of(token: str | None = None, server_address: str = GLOBAL_SERVER,
            policy: RetryPolicy = DEFAULT_RETRY) -> CaveUser:
    """The account ``token`` (None: the saved one) belongs to, from the auth server.

    Raises :class:`AuthError` in one line when no token is saved, or the server rejects it (401:
    wrong or expired) or refuses it (403); :class:`ServiceError` when the server cannot be reached.
    """
    from caveclient.auth import AuthClient

    auth = AuthClient(token=token, server_address=server_address) if token else AuthClient(server_address=server_address)
    if not auth.token:
        raise AuthError(f"no CAVE token is saved on this machine: make one at {token_url(server_address)} and sign in")
    try:
        tokens = call_with_retry(auth.get_tokens, what="your account's tokens", service=SERVICE, policy=policy)
        user_id = next((t.get("user_id") for t in tokens or [] if isinstance(t, dict) and t.get("user_id")), None)
        if user_id is None:
            raise AuthError(f"{SERVICE} named no account for this token; make a new one at {token_url(server_address)}")
        users = call_with_retry(lambda: auth.get_user_information([int(user_id)]), what="your account",
                                service=SERVICE, policy=policy)
    except AuthError as exc:
        if _status(exc.__cause__) in (401, 403):
            raise _refused(exc, server_address) from None
        raise
    user = next((u for u in users or [] if isinstance(u, dict) and int(u.get("id", -1)) == int(user_id)), None)
    if user is None:
        raise MicronsError(f"{SERVICE} did not describe account {user_id}; try again later")
    return CaveUser(int(user_id), str(user.get("name") or f"user {user_id}"), str(user.get("email") or ""))


def sign_in(token: str, server_address: str = GLOBAL_SERVER, policy: RetryPolicy = DEFAULT_RETRY) -> SignedIn:
    """Check ``token`` with the auth server, then save it (files readable only by the user).

    A token the server rejects or refuses is not saved (a saved one stays); nothing is saved
    when the server cannot be reached either (the error says so).
    """
    from .credentials import save_token

    token = check_token_text(token)
    user = user_of(token, server_address, policy)
    return SignedIn(user, save_token(token, server_address=server_address))
