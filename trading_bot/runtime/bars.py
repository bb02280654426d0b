"""Closed bars for strategies that declare ``timeframes``: aggregation from market events, and warm-up.

``BarFeed`` (one per instrument of such a strategy) turns the instrument's market events into closed
bars of each declared timeframe, in the order the supervisor calls ``on_bar``: by close time, the
shorter timeframe first when several close on one event.

- **Bar data** (``md.bar`` set; the event comes at the bar's close, ``md.ts_ms = open + interval``): a
  timeframe equal to the data's interval gets the data's bar itself; a multiple of it gets the merged
  bars, closed on the data bar that ends it (no wait for the next one); a timeframe finer than the data,
  or not a multiple of it, is a ``ConfigError``.
- **Trades / quotes**: buckets of ``ts_ms // timeframe``; prices are trade prices (volume their
  quantity) once the feed has carried a trade, else quote mids (volume 0). A bar closes on the first
  event of a later bucket, so it reaches the strategy with that event (live: up to one event late; no
  timer closes a bar without data). Buckets without any event give no bar.

Warm-up (``warm_up``, at start after ``initialize``/``restore``): each declared timeframe asks the
venue for ``warmup_bars`` closed bars (``fetch_ohlcv``) and hands them to ``on_bar``; their results are
discarded (history is not traded). The bar still open at start seeds the feed, so the first live bar is
whole. ``--paper`` on live data asks the live venue (``PaperExchange.fetch_ohlcv``). When the venue has no
history (replays and backtests raise ``NotImplementedError``) or the request fails, ``bar_warmup_unavailable``
is logged and the strategy warms up on the run's own first bars: in a replay or backtest the first
``warmup_bars`` bars of the data. Indicator state is not journaled: a restart relies on the venue's history.

Declared indicators (``BaseStrategy.indicator``) are fed each bar by ``BaseStrategy.bar_closed`` before
``on_bar``. When the venue knows the bars ahead (a backtest or a replay over bar files: ``bars_ahead``),
those on the data's own timeframe are computed over the whole series first (``strategies.lib.declared``):
the same values, in one pass.
Declaring on a timeframe the strategy does not list, or in a multi-instrument strategy, is a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from exchanges.recorded import parse_timeframe
from strategies.lib.indicators import ATR
from trading_bot.domain import ZERO
from trading_bot.domain import Bar
from trading_bot.domain import MarketData
from trading_bot.errors import ConfigError
from trading_bot.errors import ExchangeError
from trading_bot.log import get_logger

if TYPE_CHECKING:
    from trading_bot.runtime.slot import InstrumentSlot
    from trading_bot.runtime.unit import StrategyUnit

__all__ = ["BarFeed", "warm_up"]

_log = get_logger(__name__)


class _Builder:
    __slots__ = ("bucket", "close", "high", "low", "name", "open", "timeframe_ms", "volume")

    def __init__(self, name: str, timeframe_ms: int) -> None:
        self.name = name
        self.timeframe_ms = timeframe_ms
        self.bucket = -1
        self.open = self.high = self.low = self.close = self.volume = ZERO

    def start(self, bucket: int, price: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) -> None:
        self.bucket, self.open, self.high, self.low, self.close, self.volume = bucket, price, high, low, close, volume

    def merge(self, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) -> None:
        if high > self.high:
            self.high = high
        if low < self.low:
            self.low = low
        self.close = close
        self.volume += volume

    def take(self) -> Bar:
        bar = Bar(ts_ms=self.bucket * self.timeframe_ms, open=self.open, high=self.high, low=self.low,
                  close=self.close, volume=self.volume)  # fmt: skip
        self.bucket = -1
        return bar


class BarFeed:
    """Closed bars of ``timeframes`` from one instrument's market events (see the module docstring).

    With ``atr_timeframe`` the feed also keeps an ``ATR(atr_period)`` over bars of that timeframe (the
    ``volatility_target`` sizer's); those bars reach the strategy only if it declared the timeframe too.

    Raises:
        ConfigError: a timeframe is not ``<number><s|m|h|d|w>``, or is named twice.
    """

    def __init__(self, timeframes: Sequence[str], *, atr_timeframe: str | None = None, atr_period: int = 14) -> None:
        parsed = sorted(((parse_timeframe(t), t) for t in timeframes), key=lambda pair: pair[0])
        if len({ms for ms, _ in parsed}) != len(parsed):
            raise ConfigError(f"timeframes {list(timeframes)}: a timeframe is named twice")
        self.timeframes = tuple(name for _, name in parsed)
        self._declared = frozenset(self.timeframes)
        self.atr: ATR | None = None
        self._atr_timeframe = ""
        if atr_timeframe is not None:
            atr_ms = parse_timeframe(atr_timeframe)
            self.atr = ATR(atr_period)
            same = [name for ms, name in parsed if ms == atr_ms]
            self._atr_timeframe = same[0] if same else atr_timeframe
            if not same:
                parsed = sorted([*parsed, (atr_ms, atr_timeframe)], key=lambda pair: pair[0])
        self._builders = [_Builder(name, ms) for ms, name in parsed]
        self._trades = False
        self.pending: list[tuple[Bar, str]] = []
        """Closed bars not yet handed to the strategy (the supervisor takes them)."""

    def atr_value(self) -> Decimal | None:
        """Return the ATR (price units) of ``atr_timeframe`` bars, ``None`` without one or before it is ready."""
        atr = self.atr
        if atr is None or atr.value is None:
            return None
        return Decimal(repr(atr.value))

    def _emit(self, bar: Bar, timeframe: str) -> None:
        if timeframe == self._atr_timeframe and self.atr is not None:
            self.atr.update(bar.high, bar.low, bar.close)
        if timeframe in self._declared:
            self.pending.append((bar, timeframe))

    def timeframe_ms(self, timeframe: str) -> int:
        """Return the length of one of the feed's timeframes, in milliseconds."""
        for builder in self._builders:
            if builder.name == timeframe:
                return builder.timeframe_ms
        raise KeyError(timeframe)

    def take(self) -> list[tuple[Bar, str]]:
        """Return and forget the pending closed bars, oldest first."""
        bars, self.pending = self.pending, []
        return bars

    def seed(self, timeframe: str, bar: Bar) -> None:
        """Start the timeframe's current bucket with ``bar``, a bar still open (from the venue's history)."""
        for builder in self._builders:
            if builder.name == timeframe:
                builder.start(bar.ts_ms // builder.timeframe_ms, bar.open, bar.high, bar.low, bar.close, bar.volume)

    def update(self, md: MarketData) -> None:
        """Feed one market event; the bars it closed are appended to ``pending``."""
        bar = md.bar
        if bar is not None:
            self._on_bar(bar, md.ts_ms - bar.ts_ms)
            return
        trade = md.trade
        if trade is not None:
            self._trades = True
            price, volume = trade.price, trade.quantity
        elif self._trades:
            price, volume = None, ZERO  # quotes only close buckets once the feed carries trades
        else:
            price, volume = md.mid, ZERO
        ts = md.ts_ms
        for builder in self._builders:
            bucket = ts // builder.timeframe_ms
            if builder.bucket != bucket:
                if builder.bucket >= 0:
                    self._emit(builder.take(), builder.name)
                if price is not None:
                    builder.start(bucket, price, price, price, price, volume)
            elif price is not None:
                builder.merge(price, price, price, volume)

    def _on_bar(self, bar: Bar, interval_ms: int) -> None:
        for builder in self._builders:
            tf = builder.timeframe_ms
            if tf == interval_ms:
                self._emit(bar, builder.name)
                continue
            if interval_ms <= 0 or tf < interval_ms or tf % interval_ms:
                raise ConfigError(
                    f"timeframe {builder.name} cannot be built from bars of {interval_ms} ms: "
                    "it must be the data's interval or a multiple of it"
                )
            bucket = bar.ts_ms // tf
            if builder.bucket != bucket:
                if builder.bucket >= 0:  # a gap left the previous bucket unfinished: it closed all the same
                    self._emit(builder.take(), builder.name)
                builder.start(bucket, bar.open, bar.high, bar.low, bar.close, bar.volume)
            else:
                builder.merge(bar.high, bar.low, bar.close, bar.volume)
            if bar.ts_ms + interval_ms >= (bucket + 1) * tf:
                self._emit(builder.take(), builder.name)


async def warm_up(unit: StrategyUnit, now_ms: int) -> None:
    """Hand ``unit``'s strategy its declared history at start, and precompute what it can (module docstring)."""
    strategy = unit.strategy
    declared = bool(strategy.indicators.declared)
    if declared:
        _check_declared(unit)  # before any request: a misdeclared strategy fails at once
    count = strategy.warmup_bars
    if count > 0 and strategy.timeframes:
        await _warm_up_history(unit, now_ms, count)
    if declared:
        _precompute(unit)


def _check_declared(unit: StrategyUnit) -> None:
    strategy = unit.strategy
    if unit.multi:
        raise ConfigError(
            f"strategy {unit.label}: declared indicators are fed one instrument's bars; a multi-instrument "
            "strategy updates its own (indicator.feed)"
        )
    for declared in strategy.indicators.declared:
        timeframe = declared.timeframe
        if not strategy.timeframes or (timeframe is not None and timeframe not in strategy.timeframes):
            raise ConfigError(
                f"strategy {unit.label}: {type(declared.indicator).__name__} is declared on timeframe "
                f"{timeframe or '(the first)'}, which is not in its timeframes {list(strategy.timeframes)}: "
                "add it to timeframes"
            )


def _precompute(unit: StrategyUnit) -> None:
    strategy = unit.strategy
    first = strategy.timeframes[0]
    for slot in unit.slots:
        feed = slot.bars
        ahead = None if feed is None else slot.venue.client.bars_ahead(slot.market.symbol)
        if feed is None or ahead is None:
            continue
        bars, bar_ms = ahead
        for timeframe in feed.timeframes:
            if feed.timeframe_ms(timeframe) == bar_ms:  # merged timeframes stay incremental
                done = strategy.indicators.precompute(timeframe, first, bars)
                _log.info("indicators_precomputed", strategy=unit.label, instrument=str(slot.instrument),
                          timeframe=timeframe, indicators=done, bars=len(bars))  # fmt: skip


async def _warm_up_history(unit: StrategyUnit, now_ms: int, count: int) -> None:
    strategy = unit.strategy
    for slot in unit.slots:
        feed = slot.bars
        if feed is None:
            continue
        for timeframe in feed.timeframes:
            bars = await _history(slot, timeframe, count + 1)
            if bars is None:
                continue
            tf_ms = feed.timeframe_ms(timeframe)
            closed = [b for b in bars if b.ts_ms + tf_ms <= now_ms][-count:]
            still_open = [b for b in bars if b.ts_ms <= now_ms < b.ts_ms + tf_ms]
            if unit.multi:
                unit.context.event_instrument = slot.instrument
            discarded = 0
            for bar in closed:
                if unit.failed:  # a hook raised (restore, or on_bar just now): no more calls
                    return
                result = unit.call("on_bar", strategy.bar_closed, bar, timeframe, config_errors=True)
                discarded += result is not None and bool(result.orders or result.cancel)
            if still_open:
                feed.seed(timeframe, still_open[-1])
            _log.info("bar_warmup_done", strategy=unit.label, instrument=str(slot.instrument), timeframe=timeframe,
                      bars=len(closed), discarded_intents=discarded)  # fmt: skip


async def _history(slot: InstrumentSlot, timeframe: str, limit: int) -> list[Bar] | None:
    reason = ""
    bars: list[Bar] | None = None
    try:
        bars = await slot.venue.client.fetch_ohlcv(slot.market.symbol, timeframe, limit=limit)
    except NotImplementedError as exc:
        reason = str(exc)
    except ExchangeError as exc:
        reason = repr(exc)
    if bars is None:
        _log.info("bar_warmup_unavailable", instrument=str(slot.instrument), timeframe=timeframe, reason=reason)
    return bars
