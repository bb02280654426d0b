"""Closed bars for strategies that declare timeframes: aggregation, ``on_bar`` in the pass, warm-up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from strategies.lib import SMA
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from tests.kit.pipeline import trade
from trading_bot.domain import Bar
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.errors import ConfigError
from trading_bot.runtime.bars import BarFeed

D = Decimal


def _bar_event(open_ms: int, interval_ms: int, o: str, h: str, lo: str, c: str, v: str = "1") -> MarketData:
    bar = Bar(ts_ms=open_ms, open=D(o), high=D(h), low=D(lo), close=D(c), volume=D(v))
    return MarketData(symbol=SYMBOL, ts_ms=open_ms + interval_ms, bid=D(c), ask=D(c), last=D(c), bar=bar)


def test_bar_data_of_the_declared_timeframe_is_handed_over_as_is() -> None:
    feed = BarFeed(("1m",))
    md = _bar_event(0, 60_000, "1", "2", "0.5", "1.5")
    feed.update(md)
    assert feed.take() == [(md.bar, "1m")]


def test_a_multiple_of_the_data_interval_merges_bars_and_closes_on_the_last_one() -> None:
    feed = BarFeed(("5m", "1m"))
    assert feed.timeframes == ("1m", "5m")  # the shorter first
    closes = ["10", "12", "9", "11", "13"]
    for i, c in enumerate(closes):
        feed.update(_bar_event(i * 60_000, 60_000, c, str(int(c) + 1), str(int(c) - 1), c, "2"))
    bars = feed.take()
    assert [t for _, t in bars] == ["1m"] * 5 + ["5m"]  # the 5m bar closes with the fifth 1m bar
    five = bars[-1][0]
    assert five == Bar(ts_ms=0, open=D(10), high=D(14), low=D(8), close=D(13), volume=D(10))


def test_a_timeframe_finer_than_the_data_is_a_config_error() -> None:
    feed = BarFeed(("1m",))
    with pytest.raises(ConfigError, match="multiple"):
        feed.update(_bar_event(0, 300_000, "1", "1", "1", "1"))


def test_quotes_make_bars_of_mids_closed_by_the_first_event_of_a_later_bucket() -> None:
    feed = BarFeed(("1m",))
    for md in (quote(1_000, "10", "12"), quote(30_000, "13", "15"), quote(59_999, "9", "9.5")):
        feed.update(md)
    assert feed.take() == []  # the bucket is still open
    feed.update(quote(61_000, "20", "20"))
    assert feed.take() == [(Bar(ts_ms=0, open=D(11), high=D(14), low=D("9.25"), close=D("9.25")), "1m")]


def test_once_the_feed_carries_trades_quotes_only_close_buckets() -> None:
    feed = BarFeed(("1m",))
    feed.update(trade(1_000, "100", "0.5", OrderSide.BUY, "99", "101"))
    feed.update(quote(2_000, "150", "151"))  # not a price of the bar
    feed.update(trade(3_000, "102", "0.25", OrderSide.SELL, "99", "101"))
    feed.update(quote(60_500, "1", "2"))
    assert feed.take() == [(Bar(ts_ms=0, open=D(100), high=D(102), low=D(100), close=D(102), volume=D("0.75")), "1m")]


def test_a_timeframe_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        BarFeed(("1m", "60s"))


class _BarStrategy(BaseStrategy[StrategyParams]):
    name = "bars"
    timeframes = ("1m",)
    warmup_bars = 3

    def __init__(self, buy_on_bar: int | None = None) -> None:
        super().__init__(StrategyParams())
        self.bars: list[tuple[Bar, str]] = []
        self.seen_at_bar: list[int] = []
        self.buy_on_bar = buy_on_bar
        self.events: list[object] = []

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        self.bars.append((bar, timeframe))
        last = self.ctx.last_market_data
        self.seen_at_bar.append(-1 if last is None else last.ts_ms)
        if len(self.bars) == self.buy_on_bar:
            order = OrderParams(side=OrderSide.BUY, quantity=D("0.001"), order_type=OrderType.MARKET, client_tag="b")
            return StrategyResult.place(order)
        return None

    def should_execute(self, market_data: MarketData) -> bool:
        return False

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        return StrategyResult.nothing()

    def on_order_update(self, event: object) -> None:
        self.events.append(event)


def _minute_quotes(minutes: int) -> list[MarketData]:
    return [quote(m * 60_000 + s, "60000", "60001") for m in range(minutes) for s in (1_000, 30_000)]


@pytest.mark.asyncio
async def test_on_bar_runs_in_the_pass_of_the_event_that_closed_the_bar_and_its_order_is_placed() -> None:
    strategy = _BarStrategy(buy_on_bar=2)
    bot, _exchange = make_bot(_minute_quotes(4), strategy)

    await bot.run()

    assert [b.ts_ms for b, _ in strategy.bars] == [0, 60_000, 120_000]  # the last minute never closed
    assert strategy.seen_at_bar == [61_000, 121_000, 181_000]  # each with the first event after its end
    submitted = [e for e in strategy.events if isinstance(e, OrderSubmitted)]
    assert len(submitted) == 1
    assert submitted[0].ts_ms == 121_000


async def _run_with_venue_history(strategy: _BarStrategy) -> list[tuple[str, int | None]]:
    """Run ``strategy`` from minute 10 (open at start) over two live quotes, the venue holding 1m bars of
    minutes 6-10 (close = the minute); return the ``(timeframe, limit)`` of each history request."""
    events = [quote(600_000 + 1_000, "60000", "60001"), quote(660_500, "60000", "60001")]
    bot, exchange = make_bot(events, strategy)
    history = [Bar(ts_ms=m * 60_000, open=D(m), high=D(m), low=D(m), close=D(m)) for m in range(6, 11)]
    asked: list[tuple[str, int | None]] = []

    async def fetch_ohlcv(symbol: object, timeframe: str, since_ms: int | None = None,
                          limit: int | None = None) -> list[Bar]:  # fmt: skip
        asked.append((timeframe, limit))
        return history

    exchange.fetch_ohlcv = fetch_ohlcv  # type: ignore[method-assign]
    bot.clock.advance_to(600_500)  # type: ignore[attr-defined]  # the 10th minute is open at start
    await bot.run()
    assert exchange.bars_ahead(SYMBOL) is None  # live data: nothing to precompute
    return asked


@pytest.mark.asyncio
async def test_warm_up_hands_the_declared_closed_bars_from_the_venue_and_seeds_the_open_one() -> None:
    strategy = _BarStrategy()
    asked = await _run_with_venue_history(strategy)

    assert asked == [("1m", 4)]
    # closed history: minutes 7, 8, 9 (the last warmup_bars=3); minute 10 was open: it seeded the live bar
    assert [b.ts_ms for b, _ in strategy.bars[:3]] == [420_000, 480_000, 540_000]
    live = strategy.bars[3][0]
    assert live.ts_ms == 600_000
    assert live.open == D(10)  # from the venue's open bar, not the first live mid


@pytest.mark.asyncio
async def test_without_venue_history_the_strategy_warms_up_on_live_bars() -> None:
    strategy = _BarStrategy()
    bot, _exchange = make_bot(_minute_quotes(3), strategy)

    await bot.run()

    assert [b.ts_ms for b, _ in strategy.bars] == [0, 60_000]


@pytest.mark.asyncio
async def test_a_strategy_without_timeframes_gets_no_bar_feed_so_events_cost_nothing_more() -> None:
    from tests.kit.pipeline import ScriptedStrategy

    bot, _exchange = make_bot(_minute_quotes(2), ScriptedStrategy(lambda i, md, s: None))

    await bot.run()

    assert [slot.bars for slot in bot.slots] == [None]


class _DeclaresAnSma(_BarStrategy):
    def __init__(self) -> None:
        super().__init__()
        self.sma = self.indicator(SMA(3))
        self.sma_at_bar: list[float | None] = []

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        self.sma_at_bar.append(self.sma.value)  # already fed this bar (BaseStrategy.bar_closed)
        return super().on_bar(bar, timeframe)


@pytest.mark.asyncio
async def test_a_declared_indicator_is_fed_the_warm_up_history_so_a_restart_reads_it_ready() -> None:
    # Rule (BaseStrategy.indicator, runtime.bars.warm_up): live, a declared indicator is fed every bar
    # before on_bar, the venue's history included, so the first live bar already sees a full window.
    strategy = _DeclaresAnSma()
    await _run_with_venue_history(strategy)

    # history closes 7, 8, 9; then the live minute 10, seeded at 10 and closed at the mid 60000.5
    assert strategy.sma_at_bar == [None, None, 8.0, float((D(8) + D(9) + D("60000.5")) / 3)]
