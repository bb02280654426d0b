"""Canned REST answers: a test seam that makes the emulator answer one request with exactly these bytes.

``BinanceEmulator.override_next_response`` queues a ``CannedAnswer``; the next REST request whose method and
path match consumes it (first queued, first used) and gets its status, body and ``Content-Type`` verbatim.
Nothing is checked or re-encoded, so a test can serve what no real handler would: truncated JSON, an HTML
error page, an empty body, ``NaN``, a negative quantity, an unknown order status. With ``after_handler`` the
real handler runs first (an order POST is booked, a cancel cancels) and only its answer is replaced: the
venue did the work and then answered garbage.

Only in-process code reaches this seam: there is no ``/_control`` endpoint for it (a canned body is
arbitrary bytes, which the control API's validation rules would not admit).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aiohttp import web

__all__ = ["CannedAnswer", "CannedAnswers"]

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
_UNCANNED_PREFIXES = ("/_control", "/ws", "/stream")


@dataclass(frozen=True, slots=True, kw_only=True)
class CannedAnswer:
    """One answer to serve verbatim to the next matching REST request.

    Attributes:
        method: HTTP method matched (``GET``, ``POST``, ``PUT``, ``DELETE``).
        path: URL path matched exactly (``/api/v3/order``), without the query string.
        status: HTTP status served, 200 to 599.
        body: Response body served as is (may be empty, truncated or not JSON).
        content_type: ``Content-Type`` header served as is (``application/json``, ``text/html``...).
        after_handler: Run the real handler first (its effects stay) and replace only its answer.
    """

    method: str
    path: str
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    after_handler: bool = False

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"method: expected one of {sorted(_METHODS)}, got {self.method!r}")
        if not self.path.startswith("/") or "?" in self.path or self.path.startswith(_UNCANNED_PREFIXES):
            raise ValueError(
                f"path: expected a REST path like '/api/v3/order' (no query string, not /_control, /ws or "
                f"/stream), got {self.path!r}"
            )
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 200 <= self.status <= 599:
            raise ValueError(f"status: expected an HTTP status from 200 to 599, got {self.status!r}")
        if not isinstance(self.body, bytes):
            raise ValueError(f"body: expected bytes, got {type(self.body).__name__}")
        if not self.content_type or "\n" in self.content_type or "\r" in self.content_type:
            raise ValueError(f"content_type: expected a one-line header value, got {self.content_type!r}")

    def response(self) -> web.Response:
        """Return the aiohttp response carrying this answer."""
        return web.Response(status=self.status, body=self.body, headers={"Content-Type": self.content_type})


class CannedAnswers:
    """The queue of canned answers, consumed in order by matching requests."""

    def __init__(self) -> None:
        self._queue: deque[CannedAnswer] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, answer: CannedAnswer) -> None:
        """Queue ``answer`` behind the answers already queued."""
        self._queue.append(answer)

    def take(self, method: str, path: str) -> CannedAnswer | None:
        """Remove and return the first queued answer for ``method`` and ``path``, if any."""
        for answer in self._queue:
            if answer.method == method and answer.path == path:
                self._queue.remove(answer)
                return answer
        return None

    def clear(self) -> int:
        """Drop every queued answer; return how many were dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        return dropped
