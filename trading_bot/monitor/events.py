"""Counts of log events the exchange clients emit and the bot keeps no count of (reconnects, rate limits).

The exchange clients log each WebSocket reconnect (``market_stream_reconnect``, ``user_stream_reconnect``)
and each rate-limit answer (``exchange_rate_limited``) but count neither. :class:`LogEventCounter` counts
them from the log through ``trading_bot.log.add_event_tap`` while the monitor runs (the events written,
after redaction). It only counts; the event goes on unchanged. Without ``configure_logging`` (tests) nothing
is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from trading_bot.log import add_event_tap

__all__ = ["RATE_LIMIT_EVENTS", "RECONNECT_EVENTS", "LogEventCounter"]

RECONNECT_EVENTS = frozenset({"market_stream_reconnect", "user_stream_reconnect"})
"""Log events of a WebSocket stream reconnecting."""

RATE_LIMIT_EVENTS = frozenset({"exchange_rate_limited"})
"""Log events of a venue answering "too many requests"."""


class LogEventCounter:
    """Counts the log events named in ``events`` while installed."""

    def __init__(self, events: Iterable[str] = RECONNECT_EVENTS | RATE_LIMIT_EVENTS) -> None:
        self._events = frozenset(events)
        self.counts: Counter[str] = Counter()
        self._remove: Callable[[], None] | None = None

    def total(self, events: Iterable[str]) -> int:
        """Return how many of ``events`` were logged since installed."""
        return sum(self.counts[name] for name in events)

    def _count(self, level: str, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name in self._events:
            self.counts[name] += 1

    def install(self) -> None:
        """Start counting (idempotent)."""
        if self._remove is None:
            self._remove = add_event_tap(self._count)

    def uninstall(self) -> None:
        """Stop counting."""
        if self._remove is not None:
            self._remove()
        self._remove = None
