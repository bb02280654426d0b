"""sma_cross: crosses on bar closes, each market event sampled once."""

from decimal import Decimal

from strategies.sma_cross import SmaCrossParams
from strategies.sma_cross import SmaCrossStrategy
from tests.kit.strategy_context import FakeStrategyContext
from trading_bot.domain import Bar
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol

CLOSES = [10, 10, 10, 10, 11, 12, 13, 12, 11, 10, 9, 8, 9, 10, 11, 12]


def _bar_event(i: int, close: int) -> MarketData:
    c = Decimal(close)
    bar = Bar(ts_ms=i * 60_000, open=c, high=c, low=c, close=c)
    return MarketData(symbol=Symbol("X/USDT"), ts_ms=i * 60_000 + 60_000, bid=c, ask=c, last=c, bar=bar)


def _started(params: SmaCrossParams) -> SmaCrossStrategy:
    strategy = SmaCrossStrategy(params)
    strategy.initialize(FakeStrategyContext())  # the supervisor initializes a strategy before asking it
    return strategy


def _signals(asks_per_event: int) -> list[int]:
    strategy = _started(SmaCrossParams(fast=2, slow=4))
    fired = []
    for i, close in enumerate(CLOSES):
        md = _bar_event(i, close)
        results = [strategy.should_execute(md) for _ in range(asks_per_event)]
        if results[0]:
            fired.append(i)
            strategy._signal = None  # consumed, as execute_strategy would
    return fired


def test_should_execute_asked_twice_for_one_event_samples_the_bar_once() -> None:
    assert _signals(asks_per_event=2) == _signals(asks_per_event=1)


def test_crosses_fire_on_the_bar_where_the_fast_average_crosses_the_slow() -> None:
    # the first side is set at index 4 (10.5 > 10.25; index 3 was a tie, so no earlier side: no signal);
    # fast(2) crosses below slow(4) at index 8 (11.5 < 12) and back above at index 13 (9.5 > 9)
    assert _signals(asks_per_event=1) == [8, 13]


def test_a_tie_between_the_averages_is_not_a_cross() -> None:
    # fast(2)/slow(4): the averages meet at index 5 (10.5 = 10.5) and part the same way again: no signal
    strategy = _started(SmaCrossParams(fast=2, slow=4))
    closes = [12, 12, 11, 11, 10, 11, 10, 10]
    fired = []
    for i, close in enumerate(closes):
        if strategy.should_execute(_bar_event(i, close)):
            fired.append(i)
            strategy._signal = None
    assert fired == []
