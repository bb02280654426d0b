"""Candles: a store of base bars (from a bars file, or built live from prints) and Binance kline queries."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.market import fmt

__all__ = ["INTERVALS", "BarStore", "StoredBar", "interval_ms"]

_MIN = 60_000
INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": _MIN,
    "3m": 3 * _MIN,
    "5m": 5 * _MIN,
    "15m": 15 * _MIN,
    "30m": 30 * _MIN,
    "1h": 60 * _MIN,
    "2h": 120 * _MIN,
    "4h": 240 * _MIN,
    "6h": 360 * _MIN,
    "8h": 480 * _MIN,
    "12h": 720 * _MIN,
    "1d": 1_440 * _MIN,
    "3d": 3 * 1_440 * _MIN,
    "1w": 7 * 1_440 * _MIN,
}
_WEEK_OFFSET_MS = 4 * 1_440 * _MIN  # Binance weeks open on Monday; the epoch was a Thursday
_MAX_LIMIT = 1000


def interval_ms(interval: str) -> int:
    """Return the length of a Binance kline interval in milliseconds.

    Raises:
        BinanceApiError: -1120 for an unsupported interval (``1M`` is not supported).
    """
    try:
        return INTERVALS[interval]
    except KeyError:
        raise BinanceApiError(-1120, "Invalid interval.") from None


@dataclass(slots=True)
class StoredBar:
    """One base bar; prices and volumes in Decimal, ``trades`` a count, ``taker_buy`` in base units."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    taker_buy: Decimal


class BarStore:
    """Base bars of one symbol in time order, aggregated on request into any coarser interval.

    Args:
        base_ms: Length of the stored bars in milliseconds.
        live: True if prints extend the store (synthesized candles); False for a fixed file.
    """

    def __init__(self, base_ms: int, *, live: bool) -> None:
        self.base_ms = base_ms
        self.live = live
        self.times: list[int] = []
        self.bars: list[StoredBar] = []
        self.cursor_ms: int | None = None

    def extend(self, bars: list[StoredBar]) -> None:
        """Append bars (in time order, after the stored ones)."""
        self.bars.extend(bars)
        self.times.extend(b.open_ms for b in bars)

    def record(self, time_ms: int, price: Decimal, qty: Decimal, taker_buy: bool) -> None:
        """Fold one print (a trade, or a quote mid with ``qty`` 0) into the live bar of its period."""
        if not self.live:
            return
        open_ms = time_ms - time_ms % self.base_ms
        if self.bars and self.bars[-1].open_ms == open_ms:
            bar = self.bars[-1]
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
        elif not self.bars or self.bars[-1].open_ms < open_ms:
            bar = StoredBar(open_ms, price, price, price, price, Decimal(0), Decimal(0), 0, Decimal(0))
            self.extend([bar])
        else:
            return
        if qty > 0:
            bar.volume += qty
            bar.quote_volume += qty * price
            bar.trades += 1
            if taker_buy:
                bar.taker_buy += qty

    def query(self, interval: str, start_ms: int | None, end_ms: int | None, limit: int | None) -> list[list[object]]:
        """Answer ``GET /api/v3/klines``: bars opening in [start, end], at most ``limit`` (default 500).

        Without ``startTime`` the most recent bars are returned, up to ``endTime`` or, for a replayed
        bars file, up to the replay cursor.

        Raises:
            BinanceApiError: -1120 on a bad interval or an interval finer than the stored bars.
        """
        step = interval_ms(interval)
        if step < self.base_ms or step % self.base_ms:
            raise BinanceApiError(-1120, "Invalid interval.")
        count = min(max(limit or 500, 1), _MAX_LIMIT)
        offset = _WEEK_OFFSET_MS if interval == "1w" else 0
        if start_ms is not None:
            lo = bisect.bisect_left(self.times, _bucket(start_ms, step, offset))
            groups = self._forward(lo, step, offset, count, start_ms, end_ms)
        else:
            upper = end_ms if end_ms is not None else self.cursor_ms
            hi = len(self.times) if upper is None else bisect.bisect_right(self.times, upper)
            groups = self._backward(hi, step, offset, count)
        return [_kline(g, step) for g in groups]

    def _forward(
        self, lo: int, step: int, offset: int, count: int, start_ms: int, end_ms: int | None
    ) -> list[list[StoredBar]]:
        groups: list[list[StoredBar]] = []
        for bar in self.bars[lo:]:
            key = _bucket(bar.open_ms, step, offset)
            if key < start_ms:
                continue
            if end_ms is not None and key > end_ms:
                break
            if groups and _bucket(groups[-1][0].open_ms, step, offset) == key:
                groups[-1].append(bar)
            elif len(groups) == count:
                break
            else:
                groups.append([bar])
        return groups

    def _backward(self, hi: int, step: int, offset: int, count: int) -> list[list[StoredBar]]:
        groups: list[list[StoredBar]] = []
        for bar in reversed(self.bars[:hi]):
            key = _bucket(bar.open_ms, step, offset)
            if groups and _bucket(groups[-1][0].open_ms, step, offset) == key:
                groups[-1].insert(0, bar)
            elif len(groups) == count:
                break
            else:
                groups.append([bar])
        groups.reverse()
        return groups


def _bucket(time_ms: int, step: int, offset: int) -> int:
    return (time_ms - offset) // step * step + offset


def _kline(group: list[StoredBar], step: int) -> list[object]:
    first, last = group[0], group[-1]
    offset = _WEEK_OFFSET_MS if step == INTERVALS["1w"] else 0
    open_ms = _bucket(first.open_ms, step, offset)
    volume = sum((b.volume for b in group), Decimal(0))
    quote_volume = sum((b.quote_volume for b in group), Decimal(0))
    taker_buy = sum((b.taker_buy for b in group), Decimal(0))
    taker_quote = taker_buy * quote_volume / volume if volume else Decimal(0)
    return [
        open_ms,
        fmt(first.open),
        fmt(max(b.high for b in group)),
        fmt(min(b.low for b in group)),
        fmt(last.close),
        fmt(volume),
        open_ms + step - 1,
        fmt(quote_volume),
        sum(b.trades for b in group),
        fmt(taker_buy),
        fmt(taker_quote),
        "0",
    ]
