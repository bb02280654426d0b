"""The equity curve: ``EquityPoint`` and ``EquityCurve``, a curve of one point per bar held as columns.

A bar backtest marks equity once per bar: 1M bars made 1M ``EquityPoint``s (48 bytes), their times
(32-byte ``int``s) and equity ``Decimal``s (104 bytes), ≈ 190 MB. ``EquityCurve`` keeps a point in
24 bytes: its time (``array('q')``), its equity packed exactly as the bar columns pack prices
(``exchanges.bar_columns.pack``: coefficient and exponent, so each read gives back the very same
``Decimal``, ``str`` included), and ``float(equity)`` for the statistics that are floats anyway
(returns, volatility, Sharpe, the relative drawdown). A curve whose equity ever fails to pack keeps its
equity ``Decimal``s in a plain list instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import overload

from exchanges.bar_columns import decode
from exchanges.bar_columns import pack_text

__all__ = ["EquityCurve", "EquityPoint"]


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Account equity at one moment.

    Attributes:
        ts_ms: epoch milliseconds, UTC.
        equity: cash plus marked-to-market positions, in quote currency.
    """

    ts_ms: int
    equity: Decimal


class EquityCurve(Sequence[EquityPoint]):
    """Equity points in time order, held as columns (see the module docstring); a read-only ``Sequence``.

    ``add(ts_ms, equity)`` appends a point; a point at the time of the last one replaces it (one point per
    time, as the several-market curve is built); an earlier time is a ``ValueError``. ``curve[i]`` builds an
    ``EquityPoint`` equal to the one added.
    """

    __slots__ = ("_decimals", "_last", "_packed", "floats", "places", "times")

    def __init__(self) -> None:
        self.times = array("q")
        """Point times, epoch ms UTC (ascending)."""
        self.floats = array("d")
        """``float(equity)`` per point."""
        self.places = 0
        """The most decimal places of a packed equity (0 once the curve holds plain ``Decimal``s)."""
        self._packed: array[int] | None = array("q")
        self._decimals: list[Decimal] | None = None
        self._last: tuple[Decimal, int | None, float] | None = None

    def add(self, ts_ms: int, equity: Decimal) -> None:
        """Append the point ``(ts_ms, equity)`` (replacing the last one if it has the same time).

        Returns ``None``, so that ``sim.equity_curve(curve.add)`` fills this curve (its list of ``None`` is dropped).

        Raises:
            ValueError: ``ts_ms`` is before the last point's time.
        """
        last = self._last
        if last is not None and last[0] is equity:  # flat: the same quote balance again, pack it once
            packed, value = last[1], last[2]
        else:
            packed = pack_text(str(equity), equity) if self._packed is not None else None
            value = float(equity)
            self._last = (equity, packed, value)
        times = self.times
        if times and ts_ms <= times[-1]:
            if ts_ms < times[-1]:
                raise ValueError(f"equity point at {ts_ms} is before the last one at {times[-1]}")
            self._pop()
        if self._packed is not None and packed is None:
            self._decimals = [p.equity for p in self]
            self._packed, self.places = None, 0
        times.append(ts_ms)
        self.floats.append(value)
        if self._packed is not None:
            assert packed is not None
            self._packed.append(packed)
            self.places = max(self.places, packed & 15)
        else:
            assert self._decimals is not None
            self._decimals.append(equity)

    def _pop(self) -> None:
        self.times.pop()
        self.floats.pop()
        if self._packed is not None:
            self._packed.pop()
        elif self._decimals is not None:
            self._decimals.pop()

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, index: int) -> EquityPoint: ...

    @overload
    def __getitem__(self, index: slice) -> list[EquityPoint]: ...

    def __getitem__(self, index: int | slice) -> EquityPoint | list[EquityPoint]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        return EquityPoint(self.times[index], self._equity(index))

    def _equity(self, index: int) -> Decimal:
        if self._packed is not None:
            return decode(self._packed[index])
        assert self._decimals is not None
        return self._decimals[index]

    def __iter__(self) -> Iterator[EquityPoint]:
        times = self.times
        if self._packed is not None:
            for ts, packed in zip(times, self._packed, strict=True):
                yield EquityPoint(ts, decode(packed))
        else:
            assert self._decimals is not None
            yield from map(EquityPoint, times, self._decimals)

    def scaled(self) -> Iterator[int] | None:
        """Each equity × 10^``places`` as an exact ``int`` (for exact comparisons without ``Decimal``s), or ``None``
        for a curve of plain ``Decimal``s."""
        if self._packed is None:
            return None
        places = self.places
        powers = [10 ** (places - k) for k in range(places + 1)]
        return ((p >> 4) * powers[p & 15] for p in self._packed)

    def __repr__(self) -> str:
        return f"EquityCurve({len(self):,} points)"
