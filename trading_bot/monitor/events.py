"""Counts of log events the exchange clients emit and the bot keeps no count of (reconnects, rate limits).

The exchange clients log each WebSocket reconnect (``market_stream_reconnect``, ``user_stream_reconnect``)
and each rate-limit answer (``exchange_rate_limited``) but count neither. :class:`LogEventCounter` counts
them from the log: a structlog processor put first in the configured chain while the monitor runs (the
chain's list is shared by every bound logger, so loggers bound earlier see it too). It only counts; the
event goes on unchanged. Without ``configure_logging`` (tests) nothing is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import structlog

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
        self._chain: list[Any] | None = None

    def total(self, events: Iterable[str]) -> int:
        """Return how many of ``events`` were logged since installed."""
        return sum(self.counts[name] for name in events)

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        """Count the event (a structlog processor); return it unchanged."""
        name = event_dict.get("event") if isinstance(event_dict, dict) else None
        if name in self._events:
            self.counts[name] += 1
        return event_dict

    def install(self) -> None:
        """Put the counter first in structlog's processor chain (idempotent)."""
        chain = structlog.get_config()["processors"]
        if isinstance(chain, list) and self not in chain:
            chain.insert(0, self)
            self._chain = chain

    def uninstall(self) -> None:
        """Take the counter out of the chain it was put in."""
        if self._chain is not None and self in self._chain:
            self._chain.remove(self)
        self._chain = None
