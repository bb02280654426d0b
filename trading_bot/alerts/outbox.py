"""The parts of delivery that decide nothing about channels: the bounded queue, dedup and the token bucket.

``AlertQueue.put_nowait`` is what the trading loop calls (through the log tap and the order observer):
a ``deque`` append and an ``Event.set``, never a wait. Past ``limit`` the oldest waiting alert is dropped
(the newest says more about now), counted in ``dropped``, and one ``alert_queue_full`` warning is logged
for the whole run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

from trading_bot.log import get_logger

__all__ = ["AlertQueue", "Dedup", "TokenBucket"]

_log = get_logger(__name__)

T = TypeVar("T")


class AlertQueue(Generic[T]):
    """A bounded FIFO between synchronous producers and one asynchronous consumer.

    Args:
        limit: items waiting at most; one more drops the oldest.
        name: named in the one warning when it first overflows.
    """

    def __init__(self, limit: int, name: str = "alerts") -> None:
        self._items: deque[T] = deque()
        self._limit = limit
        self._name = name
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        self.dropped = 0

    def bind(self) -> None:
        """Remember the running loop and thread (the consumer's): producers on other threads hand over to it."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        """Queue ``item`` without waiting; drop the oldest when full (counted, warned about once)."""
        if threading.get_ident() != self._thread and self._loop is not None:
            self._loop.call_soon_threadsafe(self.put_nowait, item)  # a stdlib log line from a worker thread
            return
        if len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1:
                _log.warning("alert_queue_full", queue=self._name, limit=self._limit, dropped="oldest")
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        """Wait for the next item and return it."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Dedup:
    """Says whether a key was seen within the last ``window_s`` seconds (the same alert sent once per window).

    Args:
        window_s: seconds a key is remembered; 0 = no dedup.
        now: monotonic seconds (a test seam).
    """

    def __init__(self, window_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._now = now
        self._seen: dict[object, float] = {}
        self.suppressed = 0

    def first(self, key: object) -> bool:
        """Return True when ``key`` was not seen within the window (and remember it now)."""
        if self._window_s <= 0:
            return True
        now = self._now()
        if len(self._seen) > 10_000:  # forget expired keys now and then: memory stays bounded
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._window_s}
        seen = self._seen.get(key)
        if seen is not None and now - seen < self._window_s:
            self.suppressed += 1
            return False
        self._seen[key] = now
        return True


class TokenBucket:
    """A token bucket: ``burst`` messages at once, then ``rate_per_minute``.

    Args:
        rate_per_minute: tokens added per minute.
        burst: tokens held at most (and at the start).
        now: monotonic seconds (a test seam).
    """

    def __init__(self, rate_per_minute: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self._rate_s = rate_per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._now = now
        self._at = now()

    def wait_s(self) -> float:
        """Take a token and return 0, or return the seconds until one is there (nothing taken)."""
        now = self._now()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate_s)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate_s

    async def take(self) -> None:
        """Wait until a token is there and take it."""
        delay = self.wait_s()
        while delay > 0:  # nothing to wait for but time: a sleep, not an event
            await asyncio.sleep(delay)
            delay = self.wait_s()
