"""Every wait between tries at the ccxt boundary: one jittered back-off, used two ways.

* ``Backoff``: the reconnect pause of a long-running stream loop (market data over WebSocket or REST
  polling, the user stream). Failures in a row grow the pause; a success resets it.
* ``retry_transient``: the bounded retry of one read-only call (markets, quotes, lookups, balances).

Both draw their pause from ``jitter_s`` (full jitter: uniform between 0 and a ceiling that doubles per
failure up to a cap), so the formula lives in one place. Orders are never retried here: a request whose
outcome is unknown is looked up, not re-sent (``exchanges/ccxt/orders.py``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Any
from typing import ParamSpec
from typing import TypeVar

from trading_bot.errors import OrderOutcomeUnknown
from trading_bot.errors import RateLimited
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger

__all__ = ["RECONNECT_BASE_S", "RECONNECT_CAP_S", "Backoff", "jitter_s", "retry_transient"]

_log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

RECONNECT_BASE_S = 0.5
"""First reconnect ceiling of a stream loop, seconds (each pause also waits half of it on top)."""
RECONNECT_CAP_S = 30.0
"""Largest reconnect ceiling of a stream loop, seconds."""


def jitter_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Return a full-jitter pause for the ``attempt``-th failure in a row (1-based), seconds.

    Uniform in ``[0, min(cap_s, base_s * 2**(attempt - 1))]``; an ``attempt`` below 1 counts as 1.
    """
    return random.uniform(0, min(cap_s, base_s * 2 ** max(attempt - 1, 0)))


class Backoff:
    """The reconnect pause of one stream loop, with its log event.

    Each ``failed`` sleeps ``jitter_s(attempt, base_s, cap_s) + base_s / 2`` seconds (never zero, so a
    venue refusing at once is not hammered) after logging ``event`` at warning level with ``fields``,
    ``attempt``, ``delay_s`` and ``error``. ``succeeded`` starts the count again.

    Args:
        event: the log event of a reconnect (``market_stream_reconnect``, ``user_stream_reconnect``).
        base_s: first ceiling, seconds.
        cap_s: largest ceiling, seconds.
        fields: extra log fields naming the stream (``symbol``, ``stream``).

    Attributes:
        attempt: failures since the last success (0: healthy).
    """

    def __init__(
        self, event: str, *, base_s: float = RECONNECT_BASE_S, cap_s: float = RECONNECT_CAP_S, **fields: Any
    ) -> None:
        self._event = event
        self._base_s = base_s
        self._cap_s = cap_s
        self._fields = fields
        self.attempt = 0

    def succeeded(self) -> bool:
        """Reset the count; return True when this success ends a run of failures (a reconnect)."""
        recovered = self.attempt > 0
        self.attempt = 0
        return recovered

    async def failed(self, error: BaseException) -> None:
        """Count one failure, log it and sleep the pause it earns (seconds, see the class)."""
        self.attempt += 1
        delay = jitter_s(self.attempt, self._base_s, self._cap_s) + self._base_s / 2
        _log.warning(self._event, **self._fields, attempt=self.attempt, delay_s=round(delay, 2), error=str(error))
        await asyncio.sleep(delay)


def retry_transient(
    attempts: int = 4, base: float = 0.25, cap: float = 5.0, max_retry_after: float = 60.0
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Return a decorator retrying a read-only coroutine on ``TransientExchangeError``.

    Sleeps ``jitter_s(n, base, cap)`` seconds between tries; a ``RateLimited`` with ``retry_after``
    sleeps that long instead (at most ``max_retry_after``). ``OrderOutcomeUnknown`` is never retried:
    orders are looked up, not re-sent. The last error is re-raised after ``attempts`` tries.

    Args:
        attempts: total tries, including the first (>= 1).
        base: first back-off ceiling, seconds.
        cap: largest back-off ceiling, seconds.
        max_retry_after: longest Retry-After honoured, seconds.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")

    def decorator(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(1, attempts + 1):
                try:
                    return await func(*args, **kwargs)
                except OrderOutcomeUnknown:
                    raise
                except TransientExchangeError as e:
                    if attempt >= attempts:
                        raise
                    delay = jitter_s(attempt, base, cap)
                    if isinstance(e, RateLimited) and e.retry_after is not None:
                        delay = min(max(e.retry_after, 0.0), max_retry_after)
                    _log.warning(
                        "exchange_retry",
                        call=func.__qualname__,
                        attempt=attempt,
                        delay_s=round(delay, 3),
                        error=type(e).__name__,
                        detail=str(e),
                    )
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper

    return decorator
