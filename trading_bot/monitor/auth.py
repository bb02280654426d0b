"""Who may call the monitor: the bearer token (or a session cookie made from it), checked in constant time.

Rules (README, "Monitoring and control"):

* ``/health`` needs nothing; every other route needs ``Authorization: Bearer <token>`` or the session cookie
  that ``POST /api/v1/login`` sets. No credential: 401; a wrong one: 403. From localhost too.
* read-only mode: the controls answer 403 whatever the credential; without a configured token (allowed in
  read-only mode only) the GET routes need no credential.
* the token is compared with ``hmac.compare_digest``; sessions are random ids (``secrets.token_urlsafe``) kept
  in memory only, at most ``MAX_SESSIONS``, each valid ``SESSION_TTL_S`` seconds; the cookie is HttpOnly and
  SameSite=Strict. Nothing here ever puts the token in an answer or a log.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from typing import Literal

from aiohttp import web
from pydantic import SecretStr

__all__ = ["MAX_SESSIONS", "SESSION_COOKIE", "SESSION_TTL_S", "Auth", "Verdict"]

SESSION_COOKIE = "tb_session"
"""Name of the session cookie."""

SESSION_TTL_S = 12 * 3600
"""Seconds a session stays valid after the login."""

MAX_SESSIONS = 32
"""Sessions kept at most; a login beyond it forgets the oldest."""

Verdict = Literal["ok", "missing", "wrong"]
"""What a request's credential is: the right one, none, or a wrong one."""


class Auth:
    """The monitor's credential check.

    Args:
        token: the bearer token; ``None`` only in read-only mode (then GETs need no credential).
        read_only: refuse every control (403).
    """

    def __init__(self, token: SecretStr | None, read_only: bool) -> None:
        self._token = None if token is None else token.get_secret_value().encode()
        self.read_only = read_only
        self._sessions: OrderedDict[str, float] = OrderedDict()

    @property
    def open_reads(self) -> bool:
        """True when the GET routes need no credential (read-only without a token)."""
        return self._token is None

    def token_matches(self, presented: str) -> bool:
        """Return True when ``presented`` is the token (constant time)."""
        if self._token is None:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def verdict(self, request: web.Request) -> Verdict:
        """Return what ``request`` presents: the token (or a live session), nothing, or something wrong."""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value:
                return "wrong"
            return "ok" if self.token_matches(value.strip()) else "wrong"
        session = request.cookies.get(SESSION_COOKIE)
        if session is not None:
            return "ok" if self._session_alive(session) else "wrong"
        return "missing"

    def check(self, request: web.Request, *, control: bool) -> None:
        """Let ``request`` through or raise the HTTP error (401 no credential, 403 a wrong one or read-only).

        Raises:
            web.HTTPUnauthorized: no credential (with ``WWW-Authenticate: Bearer``).
            web.HTTPForbidden: a wrong credential, or a control in read-only mode.
        """
        if not control and self.open_reads:
            return
        verdict = self.verdict(request) if self._token is not None else "missing"
        if verdict == "missing" and not (control and self.read_only):
            raise web.HTTPUnauthorized(
                text='{"error": "unauthorized: send Authorization: Bearer <token>"}',
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="trading-bot"'},
            )
        if verdict == "wrong":
            raise web.HTTPForbidden(text='{"error": "forbidden: wrong token"}', content_type="application/json")
        if control and self.read_only:
            raise web.HTTPForbidden(
                text='{"error": "forbidden: the monitor is read-only"}', content_type="application/json"
            )

    def new_session(self) -> str:
        """Return a new random session id, valid for ``SESSION_TTL_S`` seconds (the oldest is dropped past the cap)."""
        session = secrets.token_urlsafe(32)
        self._sessions[session] = time.monotonic() + SESSION_TTL_S
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def end_session(self, session: str | None) -> None:
        """Forget ``session`` (a logout)."""
        if session is not None:
            self._sessions.pop(session, None)

    def _session_alive(self, session: str) -> bool:
        now = time.monotonic()
        for known, expires in list(self._sessions.items()):
            if expires <= now:
                del self._sessions[known]
        # every known id is compared, so the time taken does not tell how much of one matched
        found = False
        for known in self._sessions:
            found |= hmac.compare_digest(known.encode(), session.encode())
        return found
