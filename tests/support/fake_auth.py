"""A fake CAVE auth server (middle_auth's ``/auth/api/v1/user/token`` and ``/auth/api/v1/user``),
answering caveclient's ``AuthClient.get_tokens`` and ``get_user_information`` as the global
server does: 401 for a token it does not know (wrong or expired), 403 for an account without
access, JSON lists otherwise. Add it to a running ``responses`` mock (a :class:`FakeCAVE`'s
``mock``, or its own)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import responses

from .fake_cave import GLOBAL

_JSON = {"Content-Type": "application/json"}


@dataclass
class FakeAuth:
    """``users``: token -> (user id, name, email); ``forbidden``: tokens answered with 403."""

    users: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    server: str = GLOBAL
    #: the Authorization headers received (to check where tokens went)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def install(self, mock: responses.RequestsMock) -> FakeAuth:
        base = re.escape(self.server + "/auth/api/v1/user")
        mock.add_callback(responses.GET, re.compile(base + r"/token$"), callback=self._tokens)
        mock.add_callback(responses.GET, re.compile(base + r"(\?.*)?$"), callback=self._users)
        return self

    def _token(self, request) -> str:
        header = request.headers.get("Authorization", "")
        self.seen.append((request.url.split("?")[0], header))
        return header.removeprefix("Bearer ")

    def _check(self, token: str):
        if token in self.forbidden:
            return 403, _JSON, json.dumps({"error": "forbidden"})
        if token not in self.users:
            return 401, _JSON, json.dumps({"error": "invalid token"})
        return None

    def _tokens(self, request):
        token = self._token(request)
        refused = self._check(token)
        if refused:
            return refused
        uid = self.users[token][0]
        return 200, _JSON, json.dumps([{"id": 7, "token": token, "user_id": uid}])

    def _users(self, request):
        refused = self._check(self._token(request))
        if refused:
            return refused
        ids = {int(i) for i in re.search(r"[?&]id=([^&]*)", request.url).group(1).replace("%2C", ",").split(",")}
        found = [{"id": uid, "name": name, "email": email, "admin": False}
                 for uid, name, email in self.users.values() if uid in ids]
        return 200, _JSON, json.dumps(found)
