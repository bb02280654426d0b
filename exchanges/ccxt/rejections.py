"""Market data refused at the ccxt boundary: logged, dropped, counted per kind, alerted past a threshold.

A quote, trade or bar from the venue that is malformed (not a number, missing) or impossible by
``trading_bot.domain.checks`` (a non-positive or infinite price, a negative size, a crossed quote...)
never becomes a domain event. Each one is logged as ``market_data_rejected`` (warning: ``kind``,
``symbol``, ``source``, ``reason``, ``count`` of that kind so far) and counted. When ``threshold``
rejections of any kind fall within ``window_s`` seconds, that rejection is logged at error level with
``alert=True`` (at most once per window): a venue sending garbage that often is an operating problem,
not noise.
"""

from __future__ import annotations

from collections import Counter
from collections import deque
from collections.abc import Mapping

from trading_bot.domain import Clock
from trading_bot.log import get_logger

__all__ = ["ALERT_THRESHOLD", "ALERT_WINDOW_S", "MarketDataRejections"]

_log = get_logger(__name__)

ALERT_THRESHOLD = 10
"""Rejections within ``ALERT_WINDOW_S`` that raise an alert."""
ALERT_WINDOW_S = 60.0
"""The alert's sliding window, seconds."""


class MarketDataRejections:
    """Counts market data dropped at the boundary and raises an alert past a threshold.

    Args:
        clock: the adapter's clock (times of rejections, milliseconds).
        threshold: rejections within ``window_s`` that raise an alert.
        window_s: the sliding window, seconds.
    """

    def __init__(self, clock: Clock, threshold: int = ALERT_THRESHOLD, window_s: float = ALERT_WINDOW_S) -> None:
        self._clock = clock
        self._threshold = max(1, threshold)
        self._window_ms = int(window_s * 1000)
        self._recent: deque[int] = deque(maxlen=self._threshold)
        self._alerted_ms: int | None = None
        self._counts: Counter[str] = Counter()
        self.alerts = 0

    @property
    def counts(self) -> Mapping[str, int]:
        """Return how many records were rejected so far, per kind (``quote``, ``trade``, ``bar``)."""
        return dict(self._counts)

    def reject(self, kind: str, symbol: str, source: str, reason: str) -> None:
        """Log and count one dropped record; alert when ``threshold`` fell within the window."""
        now = self._clock.now_ms()
        self._counts[kind] += 1
        recent = self._recent
        recent.append(now)
        fields = {"kind": kind, "symbol": symbol, "source": source, "reason": reason, "count": self._counts[kind]}
        storm = len(recent) == self._threshold and now - recent[0] <= self._window_ms
        if storm and (self._alerted_ms is None or now - self._alerted_ms >= self._window_ms):
            self._alerted_ms = now
            self.alerts += 1
            _log.error(
                "market_data_rejected",
                **fields,
                alert=True,
                rejected_in_window=self._threshold,
                window_s=self._window_ms / 1000,
            )
        else:
            _log.warning("market_data_rejected", **fields)
