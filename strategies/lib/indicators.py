"""Incremental technical indicators: one ``update`` per closed bar, O(1) time and memory each.

Every indicator returns its current value from ``update`` (and keeps it in ``value``); the value is
``None`` until the indicator has seen enough bars (``ready``). Values are ``float``: indicators may
compute in floats (DESIGN.md §2); orders, fills and balances stay ``Decimal``. Inputs may be ``Decimal``
or ``float`` (converted once per update).

The formulas are TA-Lib's definitions (the reference the tests compare against on real data):

- ``SMA(n)``: mean of the last ``n`` closes (a running sum; exact for ``Decimal`` inputs).
- ``EMA(n)``: ``alpha = 2 / (n + 1)``, seeded with the SMA of the first ``n`` values.
- ``RSI(n)``: Wilder's: the first average gain/loss is the mean of the first ``n`` changes, then
  ``avg = (avg × (n − 1) + x) / n``; ``RSI = 100 × gain / (gain + loss)`` (0 when both are 0).
- ``MACD(fast, slow, signal)``: ``EMA(fast) − EMA(slow)`` (both from the first close), its signal line an
  EMA of it seeded with the SMA of its first ``signal`` values, and the histogram ``macd − signal``.
  TA-Lib starts the fast EMA later (aligned to the slow one); the two agree once the seed has decayed.
- ``Bollinger(n, k)``: the SMA ± ``k`` × the population standard deviation of the last ``n`` closes.
- ``ATR(n)``: Wilder's average of the true range ``max(high, prev close) − min(low, prev close)``, seeded
  with the mean of the first ``n`` true ranges (the first bar has no previous close and gives none).
- ``ROC(n)``: the rate of change ``x / x[n bars ago] − 1`` (a fraction: 0.01 = +1 %).
- ``RollingHigh(n)`` / ``RollingLow(n)``: the highest high / lowest low of the last ``n`` bars (a
  monotonic deque: amortised O(1)).
- ``VWAP(reset_ms)``: Σ(typical price × volume) / Σ volume with the typical price ``(h + l + c) / 3``,
  restarted at each ``reset_ms`` boundary of the bar open time (default one UTC day; 0 = never).

Library choice: the formulas are written here rather than taken from a library. TA-Lib (``ta-lib``
wheels) is vectorised: it computes a whole array per call, so a per-bar call costs O(history), and it is
a C extension the daemon would need at run time; it is kept as the **test** reference instead (a dev
dependency). talipp is incremental and pure Python, but it keeps every input and output in lists (a
live run grows without bound unless purged) and several of its indicators re-sum their window on every
input. The arithmetic here is ~150 lines, each formula checked against TA-Lib on real data.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal
from typing import Generic
from typing import NamedTuple
from typing import TypeVar

from trading_bot.domain import Bar

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "ROC",
    "RSI",
    "SMA",
    "VWAP",
    "Bollinger",
    "BollingerValue",
    "Indicator",
    "MACDValue",
    "RollingHigh",
    "RollingLow",
]

Number = float | Decimal | int


def _check_period(period: int, least: int = 1) -> None:
    if period < least:
        raise ValueError(f"period must be at least {least}, got {period}")


V = TypeVar("V")


class Indicator(Generic[V]):
    """What every indicator has: ``value`` (``None`` until its warm-up is over) and ``ready``."""

    value: V | None = None

    @property
    def ready(self) -> bool:
        """True once the indicator has a value (it has seen the bars its definition needs)."""
        return self.value is not None

    def feed(self, bar: Bar) -> V | None:
        """Add one closed bar (its close; ATR and VWAP their fields, RollingHigh/Low the high/low); return ``value``."""
        raise NotImplementedError


class SMA(Indicator[float]):
    """Simple moving average of the last ``period`` values."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[Number] = deque()
        self._sum = 0.0
        self._floats = 0  # float values in the window (the float sum is 0.0 again when none is left)
        self._exact_sum = Decimal(0)
        self.value: float | None = None


    def update(self, x: Number) -> float | None:
        """Add one value; return the average (``None`` before ``period`` values).

        ``Decimal`` and ``int`` values are summed exactly (float inputs in floats), so two averages of
        exact prices that are equal are equal floats: a tie stays a tie for ``CrossTracker`` (a float
        running sum drifts, and SMA(10) = SMA(20) = 4.1999 on FIL/USDT came out as two different floats).
        """
        window = self._window
        window.append(x)
        if isinstance(x, float):
            self._sum += x
            self._floats += 1
        else:
            self._exact_sum += x
        if len(window) > self.period:
            old = window.popleft()
            if isinstance(old, float):
                self._floats -= 1
                self._sum = self._sum - old if self._floats else 0.0
            else:
                self._exact_sum -= old
        elif len(window) < self.period:
            return self.value
        average = float(self._exact_sum / self.period)
        self.value = average + self._sum / self.period if self._floats else average
        return self.value

    @property
    def window(self) -> tuple[Number, ...]:
        """The last ``period`` values given (fewer before that), oldest first, as given (``Decimal`` stays exact)."""
        return tuple(self._window)

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class ROC(Indicator[float]):
    """Rate of change over ``period`` values: ``x / x[period ago] − 1``."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque(maxlen=period + 1)
        self.value: float | None = None


    def update(self, x: Number) -> float | None:
        """Add one value; return the rate of change (``None`` before ``period + 1`` values, or from 0)."""
        window = self._window
        window.append(float(x))
        if len(window) > self.period:
            old = window[0]
            self.value = window[-1] / old - 1.0 if old != 0 else None
        return self.value

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class EMA(Indicator[float]):
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the SMA of the first values."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self._seed = 0.0
        self._count = 0
        self.value: float | None = None


    def update(self, x: Number) -> float | None:
        """Add one value; return the average (``None`` before ``period`` values)."""
        v = float(x)
        if self.value is not None:
            self.value += self.alpha * (v - self.value)
            return self.value
        self._seed += v
        self._count += 1
        if self._count == self.period:
            self.value = self._seed / self.period
        return self.value

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class RSI(Indicator[float]):
    """Wilder's relative strength index over ``period`` changes, 0–100."""

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev: float | None = None
        self._gain = 0.0
        self._loss = 0.0
        self._count = 0
        self.value: float | None = None


    def update(self, x: Number) -> float | None:
        """Add one close; return the RSI (``None`` before ``period + 1`` closes)."""
        v = float(x)
        prev, self._prev = self._prev, v
        if prev is None:
            return None
        change = v - prev
        gain, loss = (change, 0.0) if change > 0 else (0.0, -change)
        n = self.period
        if self._count < n:
            self._gain += gain
            self._loss += loss
            self._count += 1
            if self._count < n:
                return None
            self._gain /= n
            self._loss /= n
        else:
            self._gain = (self._gain * (n - 1) + gain) / n
            self._loss = (self._loss * (n - 1) + loss) / n
        total = self._gain + self._loss
        self.value = 100.0 * self._gain / total if total > 0 else 0.0
        return self.value

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class MACDValue(NamedTuple):
    """``(macd, signal, histogram)``: the fast EMA minus the slow EMA, its EMA, and ``macd − signal``."""

    macd: float
    signal: float
    histogram: float


class MACD(Indicator[MACDValue]):
    """Moving average convergence/divergence: ``EMA(fast) − EMA(slow)``, its signal EMA and histogram."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={fast} slow={slow}")
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(signal)
        self.value: MACDValue | None = None


    def update(self, x: Number) -> MACDValue | None:
        """Add one close; return ``(macd, signal, histogram)`` once the signal line is seeded."""
        fast = self._fast.update(x)
        slow = self._slow.update(x)
        if fast is None or slow is None:
            return None
        macd = fast - slow
        signal = self._signal.update(macd)
        if signal is None:
            return None
        self.value = MACDValue(macd, signal, macd - signal)
        return self.value

    def feed(self, bar: Bar) -> MACDValue | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class BollingerValue(NamedTuple):
    """``(lower, middle, upper)``: the SMA ∓ k standard deviations, and the SMA."""

    lower: float
    middle: float
    upper: float


class Bollinger(Indicator[BollingerValue]):
    """Bollinger bands: the SMA of ``period`` closes ± ``k`` population standard deviations."""

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        _check_period(period, 2)
        self.period = period
        self.k = k
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._sum_sq = 0.0
        self.value: BollingerValue | None = None


    def update(self, x: Number) -> BollingerValue | None:
        """Add one close; return ``(lower, middle, upper)`` (``None`` before ``period`` closes)."""
        v = float(x)
        window = self._window
        window.append(v)
        self._sum += v
        self._sum_sq += v * v
        if len(window) > self.period:
            old = window.popleft()
            self._sum -= old
            self._sum_sq -= old * old
        if len(window) < self.period:
            return None
        n = self.period
        mean = self._sum / n
        width = self.k * math.sqrt(max(self._sum_sq / n - mean * mean, 0.0))
        self.value = BollingerValue(mean - width, mean, mean + width)
        return self.value

    def feed(self, bar: Bar) -> BollingerValue | None:
        """Add the bar's close; return the value."""
        return self.update(bar.close)


class ATR(Indicator[float]):
    """Wilder's average true range over ``period`` bars (price units)."""

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._seed = 0.0
        self._count = 0
        self.value: float | None = None


    def update(self, high: Number, low: Number, close: Number) -> float | None:
        """Add one bar; return the ATR (``None`` before ``period + 1`` bars)."""
        h, lo, c = float(high), float(low), float(close)
        prev, self._prev_close = self._prev_close, c
        if prev is None:
            return None
        true_range = max(h, prev) - min(lo, prev)
        n = self.period
        if self.value is not None:
            self.value = (self.value * (n - 1) + true_range) / n
            return self.value
        self._seed += true_range
        self._count += 1
        if self._count == n:
            self.value = self._seed / n
        return self.value

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's high, low and close; return the ATR."""
        return self.update(bar.high, bar.low, bar.close)


class _RollingExtreme(Indicator[float]):
    def __init__(self, period: int, sign: float) -> None:
        _check_period(period)
        self.period = period
        self._sign = sign
        self._index = 0
        self._deque: deque[tuple[int, float]] = deque()
        self.value: float | None = None


    def update(self, x: Number) -> float | None:
        """Add one value; return the extreme of the last ``period`` (``None`` before ``period`` values)."""
        v = float(x) * self._sign
        dq = self._deque
        while dq and dq[-1][1] <= v:
            dq.pop()
        dq.append((self._index, v))
        if dq[0][0] <= self._index - self.period:
            dq.popleft()
        self._index += 1
        if self._index >= self.period:
            self.value = dq[0][1] * self._sign
        return self.value


class RollingHigh(_RollingExtreme):
    """The highest of the last ``period`` values (feed bar highs)."""

    def __init__(self, period: int) -> None:
        super().__init__(period, 1.0)

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's high; return the highest of the last ``period``."""
        return self.update(bar.high)


class RollingLow(_RollingExtreme):
    """The lowest of the last ``period`` values (feed bar lows)."""

    def __init__(self, period: int) -> None:
        super().__init__(period, -1.0)

    def feed(self, bar: Bar) -> float | None:
        """Add the bar's low; return the lowest of the last ``period``."""
        return self.update(bar.low)


class VWAP(Indicator[float]):
    """Volume-weighted average of the typical price, restarted every ``reset_ms`` of bar open time."""

    def __init__(self, reset_ms: int = 86_400_000) -> None:
        if reset_ms < 0:
            raise ValueError(f"reset_ms must be >= 0, got {reset_ms}")
        self.reset_ms = reset_ms
        self._session = -1
        self._pv = 0.0
        self._volume = 0.0
        self.value: float | None = None


    def update(self, high: Number, low: Number, close: Number, volume: Number, ts_ms: int = 0) -> float | None:
        """Add one bar (``ts_ms`` its open time); return the session's VWAP (``None`` before any volume)."""
        session = ts_ms // self.reset_ms if self.reset_ms else 0
        if session != self._session:
            self._session, self._pv, self._volume, self.value = session, 0.0, 0.0, None
        vol = float(volume)
        self._pv += (float(high) + float(low) + float(close)) / 3.0 * vol
        self._volume += vol
        if self._volume > 0:
            self.value = self._pv / self._volume
        return self.value

    def feed(self, bar: Bar) -> float | None:
        """Add the bar (its open time the session clock); return the VWAP."""
        return self.update(bar.high, bar.low, bar.close, bar.volume, bar.ts_ms)
