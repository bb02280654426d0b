"""One pass over a bar series known in advance: an indicator's value at every bar, computed at once.

A backtest knows all its bars before the first one is traded. ``series(indicator, arrays)`` computes what
``indicator.feed`` would return bar after bar, for the whole series, in NumPy passes and plain loops, and
``strategies.lib.declared`` hands the strategy those values one bar at a time, so a strategy still reads
only the current bar's value (no look-ahead: the value at bar ``i`` depends on bars ``0..i`` alone).

The values are **the same floats** the incremental indicators give (``tests/unit/strategies/lib/
test_batch_parity.py`` checks every indicator on real data, bit for bit): each is computed with the same
operations in the same order, or exactly.

- ``SMA``: exact window sums of the closes in integer units of their smallest decimal place (int64
  cumulative sums), one division each, as the incremental average sums ``Decimal`` closes exactly.
- ``ROC``, ``VWAP``: NumPy elementwise arithmetic and running sums (``cumsum`` adds in order, per session).
- ``RollingHigh`` / ``RollingLow``: window maxima by doubling spans (``log2(n)`` NumPy passes; exact).
- ``EMA``, ``MACD``, ``RSI``, ``ATR``, ``Bollinger``: recurrences, so one plain loop over the floats with
  the incremental arithmetic (no method call, no ``Decimal`` conversion per bar). TA-Lib was tried for the
  EMA and ATR: its compiled loops differ from Python's arithmetic by one unit in the last place on some bars
  (EMA(20) on BTC daily: 83 of 5,000; likely a fused multiply-add), which is enough to move a tie; its
  ``RSI`` (``100 × (gain / total)``) and ``BBANDS`` (a running sum updated at another step) agree to ~1e-13,
  not bit for bit. It stays the tests' reference.

``series`` returns ``None`` where the exact form does not apply (closes whose integer window sums could
exceed 2^53): the indicator then runs incrementally, as live. Memory: 8 bytes a bar per value field.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from itertools import islice
from itertools import pairwise
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.lib.indicators import ATR
from strategies.lib.indicators import EMA
from strategies.lib.indicators import MACD
from strategies.lib.indicators import ROC
from strategies.lib.indicators import RSI
from strategies.lib.indicators import SMA
from strategies.lib.indicators import VWAP
from strategies.lib.indicators import Bollinger
from strategies.lib.indicators import BollingerValue
from strategies.lib.indicators import MACDValue
from strategies.lib.indicators import RollingHigh
from strategies.lib.indicators import RollingLow
from trading_bot.domain import Bar

__all__ = ["BarArrays", "Series", "series"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
_EXACT = 1 << 53
"""Integers below this convert to a float exactly."""
_NAN = math.nan
_POW10 = 10.0 ** np.arange(16)
"""10^0 .. 10^15 as floats: each exact."""


@dataclass(frozen=True, eq=False)
class BarArrays:
    """A bar series as float columns (``float(Decimal)`` of each value) plus the closes as exact integers.

    ``close_units × 10^-close_places`` is each close exactly; ``None`` when that does not fit an int64.
    """

    ts: Ints
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    close_units: Ints | None
    close_places: int

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, bars: Sequence[Bar]) -> BarArrays:
        """Return ``bars`` as columns: straight from packed columns when the store has them, else bar by bar."""
        packed = _from_packed(bars)
        return packed if packed is not None else _from_bars(bars)


def _from_packed(bars: Sequence[Bar]) -> BarArrays | None:
    """Read ``exchanges.bar_columns.BarColumns``' packed ``coefficient × 16 + places`` columns directly."""
    columns_of: Callable[[], tuple[array[int], list[array[int] | list[Decimal]], range]] | None
    columns_of = getattr(bars, "column_arrays", None)
    if columns_of is None:
        return None
    ts_column, columns, rows = columns_of()
    if not all(isinstance(column, array) for column in columns[1:]):
        return None
    view = slice(rows.start, rows.stop, rows.step)
    ts = np.frombuffer(ts_column, dtype=np.int64)[view]
    floats: list[Floats] = []
    coefficients: list[Ints] = []
    places: list[Ints] = []
    for column in columns[1:]:
        raw = np.frombuffer(column, dtype=np.int64)[view]
        coefficient, place = raw >> 4, raw & 15
        if len(raw) and int(coefficient.max()) >= _EXACT:
            return None  # a float of it would round twice; the bar-by-bar path converts each exactly
        floats.append(coefficient.astype(np.float64) / _POW10[place])
        coefficients.append(coefficient)
        places.append(place)
    units, close_places = _exact(coefficients[2], places[2])
    return BarArrays(ts, floats[0], floats[1], floats[2], floats[3], units, close_places)


def _exact(coefficient: Ints, places: Ints) -> tuple[Ints | None, int]:
    if not len(coefficient):
        return coefficient, 0
    top = int(places.max())
    if int(coefficient.max()) * 10**top * len(coefficient) >= 1 << 63:
        return None, top  # the cumulative sums could overflow an int64
    return coefficient * (10 ** (top - places)), top


def _from_bars(bars: Sequence[Bar]) -> BarArrays:
    n = len(bars)
    ts = np.fromiter((b.ts_ms for b in bars), np.int64, n)
    high = np.fromiter((float(b.high) for b in bars), np.float64, n)
    low = np.fromiter((float(b.low) for b in bars), np.float64, n)
    close = np.fromiter((float(b.close) for b in bars), np.float64, n)
    volume = np.fromiter((float(b.volume) for b in bars), np.float64, n)
    units: Ints | None = None
    places = 0
    exponents = [b.close.as_tuple().exponent for b in bars]
    if all(isinstance(e, int) and -16 < e <= 0 for e in exponents) and all(b.close >= 0 for b in bars):
        places = -min((int(e) for e in exponents), default=0)
        coefficients = [int(b.close.scaleb(places)) for b in bars]
        if max(coefficients, default=0) * n < 1 << 63:
            units = np.array(coefficients, dtype=np.int64)
    return BarArrays(ts, high, low, close, volume, units, places)


@dataclass(frozen=True, eq=False)
class Series:
    """An indicator's value at every bar: one ``array('d')`` per field of the value, NaN where it is ``None``.

    ``kind`` builds a composite value (``MACDValue``, ``BollingerValue``) from its fields; ``None``: a float.
    """

    columns: tuple[array[float], ...]
    kind: Callable[..., Any] | None = None

    def __len__(self) -> int:
        return len(self.columns[0])

    def value(self, index: int) -> Any:
        """Return the value at bar ``index`` (what ``feed`` returned for that bar), ``None`` during warm-up."""
        first = self.columns[0][index]
        if first != first:  # NaN: no value yet
            return None
        kind = self.kind
        if kind is None:
            return first
        return kind(*(column[index] for column in self.columns))

    def values(self) -> Iterator[Any]:
        """Yield the value at each bar in order (``value(0)``, ``value(1)``...), at C speed where it can."""
        first = self.columns[0]
        kind = self.kind
        if kind is None:
            return (None if v != v else v for v in first)
        warm = next((i for i, v in enumerate(first) if v == v), len(first))
        if any(v != v for v in islice(first, warm, None)):  # pragma: no cover - composites have no gap
            return (self.value(i) for i in range(len(first)))
        return chain(repeat(None, warm), map(kind, *(islice(column, warm, None) for column in self.columns)))


def _column(values: Floats) -> array[float]:
    return array("d", values.tobytes())


def _nans(n: int) -> Floats:
    return np.full(n, _NAN)


def series(indicator: Any, arrays: BarArrays) -> Series | None:
    """Return ``indicator``'s value at every bar of ``arrays``, or ``None`` when it has no exact batch form here.

    ``indicator`` is a fresh indicator (its parameters are read, its state is not touched).
    """
    compute = _BATCH.get(type(indicator))
    return None if compute is None else compute(indicator, arrays)


def _sma(ind: SMA, a: BarArrays) -> Series | None:
    n, count, units = ind.period, len(a), a.close_units
    if units is None:
        return None
    out = _nans(count)
    if count >= n:
        sums = np.concatenate((np.zeros(1, np.int64), np.cumsum(units)))
        window = sums[n:] - sums[:-n]
        scale = n * 10**a.close_places
        if scale >= _EXACT or int(window.max()) >= _EXACT:
            return None  # a window sum or the divisor would not convert to a float exactly
        out[n - 1 :] = window / float(scale)
    return Series((_column(out),))


def _ema_of(values: Floats, n: int) -> Floats:
    """EMA(n) of ``values``: the incremental recurrence, one loop over floats (NaN before the seed)."""
    out = _nans(len(values))
    if len(values) < n:
        return out
    alpha = 2.0 / (n + 1)
    seed = 0.0
    for v in values[:n].tolist():
        seed += v
    value = seed / n
    out[n - 1] = value
    tail = values[n:].tolist()
    for i, v in enumerate(tail, n):
        value += alpha * (v - value)
        out[i] = value
    return out


def _ema(ind: EMA, a: BarArrays) -> Series:
    return Series((_column(_ema_of(a.close, ind.period)),))


def _macd(ind: MACD, a: BarArrays) -> Series:
    slow_n = ind._slow.period
    line = _ema_of(a.close, ind._fast.period) - _ema_of(a.close, slow_n)
    signal = _nans(len(a))
    if len(a) >= slow_n:
        signal[slow_n - 1 :] = _ema_of(line[slow_n - 1 :], ind._signal.period)
    line = np.where(np.isnan(signal), _NAN, line)
    return Series((_column(line), _column(signal), _column(line - signal)), MACDValue)


def _atr(ind: ATR, a: BarArrays) -> Series:
    n, count = ind.period, len(a)
    out = array("d", [_NAN]) * count
    if count <= n:
        return Series((out,))
    prev = a.close[:-1]
    true_range = (np.maximum(a.high[1:], prev) - np.minimum(a.low[1:], prev)).tolist()
    seed = 0.0
    for tr in true_range[:n]:
        seed += tr
    value = seed / n
    out[n] = value
    for i, tr in enumerate(true_range[n:], n + 1):
        value = (value * (n - 1) + tr) / n
        out[i] = value
    return Series((out,))


def _window_max(values: Floats, n: int) -> Floats:
    """The maximum of each window of ``n`` values ending at each index (NaN before), by doubling spans."""
    out = _nans(len(values))
    if len(values) < n:
        return out
    span, best = 1, values.copy()  # best[i] = max(values[i : i + span])
    while span * 2 <= n:
        best = np.maximum(best[:-span], best[span:])
        span *= 2
    rest = n - span  # a window is two overlapping spans: [i, i + span) and [i + n - span, i + n)
    out[n - 1 :] = np.maximum(best[: len(values) - n + 1], best[rest : rest + len(values) - n + 1])
    return out


def _rolling_high(ind: RollingHigh, a: BarArrays) -> Series:
    return Series((_column(_window_max(a.high, ind.period)),))


def _rolling_low(ind: RollingLow, a: BarArrays) -> Series:
    return Series((_column(-_window_max(-a.low, ind.period)),))


def _roc(ind: ROC, a: BarArrays) -> Series:
    n, close = ind.period, a.close
    out = _nans(len(a))
    if len(a) > n:
        old, new = close[:-n], close[n:]
        out[n:] = np.divide(new, old, out=np.full(len(new), _NAN), where=old != 0) - 1.0
    return Series((_column(out),))


def _vwap(ind: VWAP, a: BarArrays) -> Series:
    out = _nans(len(a))
    if not len(a):
        return Series((_column(out),))
    typical = (a.high + a.low + a.close) / 3.0 * a.volume
    sessions = a.ts // ind.reset_ms if ind.reset_ms else np.zeros(len(a), np.int64)
    starts = [0, *(np.flatnonzero(np.diff(sessions)) + 1).tolist(), len(a)]
    for start, stop in pairwise(starts):
        pv = np.cumsum(typical[start:stop])
        volume = np.cumsum(a.volume[start:stop])
        out[start:stop] = np.divide(pv, volume, out=np.full(stop - start, _NAN), where=volume > 0)
    return Series((_column(out),))


def _rsi(ind: RSI, a: BarArrays) -> Series:
    n, count = ind.period, len(a)
    out = array("d", [_NAN]) * count
    changes = (a.close[1:] - a.close[:-1]).tolist()
    gain = loss = 0.0
    for k, change in enumerate(changes):
        up, down = (change, 0.0) if change > 0 else (0.0, -change)
        if k < n:
            gain += up
            loss += down
            if k < n - 1:
                continue
            gain /= n
            loss /= n
        else:
            gain = (gain * (n - 1) + up) / n
            loss = (loss * (n - 1) + down) / n
        total = gain + loss
        out[k + 1] = 100.0 * gain / total if total > 0 else 0.0
    return Series((out,))


def _bollinger(ind: Bollinger, a: BarArrays) -> Series:
    n, k, count = ind.period, ind.k, len(a)
    lower, middle, upper = (array("d", [_NAN]) * count for _ in range(3))
    closes = a.close.tolist()
    total = total_sq = 0.0
    sqrt = math.sqrt
    for i, v in enumerate(closes):
        total += v
        total_sq += v * v
        if i >= n:
            old = closes[i - n]
            total -= old
            total_sq -= old * old
        if i >= n - 1:
            mean = total / n
            width = k * sqrt(max(total_sq / n - mean * mean, 0.0))
            lower[i], middle[i], upper[i] = mean - width, mean, mean + width
    return Series((lower, middle, upper), BollingerValue)


_BATCH: dict[type, Callable[[Any, BarArrays], Series | None]] = {
    SMA: _sma,
    EMA: _ema,
    MACD: _macd,
    ATR: _atr,
    RollingHigh: _rolling_high,
    RollingLow: _rolling_low,
    ROC: _roc,
    VWAP: _vwap,
    RSI: _rsi,
    Bollinger: _bollinger,
}
