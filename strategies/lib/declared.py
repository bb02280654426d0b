"""Indicators a strategy declares: the bot feeds them each closed bar, before the strategy's ``on_bar``.

A strategy declares an indicator once (``self.indicator(RSI(14))`` in ``__init__``) and reads its
``value`` in ``on_bar``. The bot feeds it every closed bar of its timeframe (live, paper, replay, warm-up
history): ``feed(bar)``, incremental, O(1).

When the run knows its bars in advance (a backtest: ``BaseExchangeClient.bars_ahead``), ``precompute``
computes each declared indicator over the whole series in one pass (``strategies.lib.batch``) and the
feed then only steps a cursor: bar ``i`` sets ``value`` to the precomputed value of bar ``i``, the same
float the incremental update gives (``tests/unit/strategies/lib/test_batch_parity.py`` holds them equal),
so the strategy's decisions and trades are the same either way. A bar that is not the next precomputed
one (its open time differs) turns the indicator back to incremental: it is rebuilt from the bars the
cursor had passed, then fed as live.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from itertools import count
from typing import Any
from typing import TypeVar

from strategies.lib.indicators import Indicator
from trading_bot.domain import Bar
from trading_bot.log import get_logger

__all__ = ["DeclaredIndicators", "IndicatorT"]

_log = get_logger(__name__)
IndicatorT = TypeVar("IndicatorT", bound=Indicator[Any])


@dataclass(eq=False)
class _Declared:
    indicator: Indicator[Any]
    timeframe: str | None
    """``None``: the strategy's first timeframe."""
    cursor: Iterator[tuple[int, int, Any]] | None = None
    """``(index, open time ms, value)`` of each precomputed bar, in order; ``None``: incremental."""
    bars: Sequence[Bar] = ()
    fed: int = 0
    """Bars fed incrementally."""

    def incremental(self, passed: int, bar: Bar) -> None:
        """Leave the precomputed series: rebuild from its first ``passed`` bars (``bar`` did not match)."""
        _log.debug("indicator_precompute_left", indicator=type(self.indicator).__name__, bar_ts_ms=bar.ts_ms,
                   bars_passed=passed)  # fmt: skip
        bars, self.cursor, self.bars = self.bars, None, ()
        self.indicator.value = None  # its state was never updated: with no value it is new again (EMA, ATR
        feed = self.indicator.feed  # read ``value`` to know whether they are seeded)
        for old in bars[:passed]:
            feed(old)
        self.fed = passed


@dataclass(eq=False)
class DeclaredIndicators:
    """A strategy's declared indicators (``BaseStrategy.indicator``), fed by the bot (see the module docstring)."""

    declared: list[_Declared] = field(default_factory=list)
    _on: dict[str, list[_Declared]] = field(default_factory=dict)
    """The declared indicators fed by each timeframe (filled as timeframes are first seen)."""

    def add(self, indicator: IndicatorT, timeframe: str | None = None) -> IndicatorT:
        """Declare ``indicator``, fed bars of ``timeframe`` (``None``: the strategy's first); return it."""
        if any(d.indicator is indicator for d in self.declared):
            raise ValueError(f"{type(indicator).__name__} is declared twice")
        self.declared.append(_Declared(indicator, timeframe))
        self._on.clear()
        return indicator

    def _targets(self, timeframe: str, first: str) -> list[_Declared]:
        targets = self._on.get(timeframe)
        if targets is None:
            targets = self._on[timeframe] = [d for d in self.declared if (d.timeframe or first) == timeframe]
        return targets

    def feed(self, bar: Bar, timeframe: str, first: str) -> None:
        """Feed ``bar``, a closed bar of ``timeframe``, to the indicators declared on it (``first``: the default)."""
        ts = bar.ts_ms
        for d in self._targets(timeframe, first):
            cursor = d.cursor
            if cursor is not None:
                step = next(cursor, None)
                if step is not None and step[1] == ts:
                    d.indicator.value = step[2]
                    continue
                d.incremental(len(d.bars) if step is None else step[0], bar)
            d.fed += 1
            d.indicator.feed(bar)

    def precompute(self, timeframe: str, first: str, bars: Sequence[Bar]) -> int:
        """Compute the indicators declared on ``timeframe`` over ``bars``, the bars the run will feed them.

        Returns how many were precomputed; the others (no exact batch form, bars already fed) stay incremental.
        """
        targets = [d for d in self._targets(timeframe, first) if d.cursor is None and not d.fed]
        if not targets or not bars:
            return 0
        from strategies.lib.batch import BarArrays  # NumPy is imported only when a run precomputes
        from strategies.lib.batch import series
        arrays = BarArrays.of(bars)
        times = arrays.ts.tolist()
        done = 0
        for d in targets:
            computed = series(d.indicator, arrays)
            if computed is None:
                continue
            d.cursor, d.bars = zip(count(), times, computed.values(), strict=False), bars
            done += 1
        return done
