"""Injected time. Nothing in strategies or risk reads the wall clock; they ask a ``Clock``."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime
from typing import Protocol

__all__ = ["Clock", "LiveClock", "SimulatedClock"]


class Clock(Protocol):
    """A source of the current time, in epoch milliseconds UTC."""

    def now_ms(self) -> int:
        """Return the current time in epoch milliseconds."""
        ...

    def now(self) -> datetime:
        """Return the current time as a UTC-aware datetime."""
        ...


class LiveClock:
    """The wall clock (``time.time()``)."""

    def now_ms(self) -> int:
        """Return the wall-clock time in epoch milliseconds."""
        return time.time_ns() // 1_000_000

    def now(self) -> datetime:
        """Return the wall-clock time as a UTC datetime."""
        return datetime.fromtimestamp(time.time(), tz=UTC)


class SimulatedClock:
    """A clock moved by the replay/backtest driver; it never goes backwards."""

    __slots__ = ("_now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        """Return the simulated time in epoch milliseconds."""
        return self._now_ms

    def now(self) -> datetime:
        """Return the simulated time as a UTC datetime."""
        return datetime.fromtimestamp(self._now_ms / 1000, tz=UTC)

    def advance_to(self, ts_ms: int) -> None:
        """Move time forward to ``ts_ms`` (earlier times are ignored: time is monotonic)."""
        if ts_ms > self._now_ms:
            self._now_ms = ts_ms
