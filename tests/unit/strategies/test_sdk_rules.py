"""The SDK strategies' stated rules, bar by bar, on a hand-driven context."""

from __future__ import annotations

from decimal import Decimal

from strategies.bar_strategy import BarStrategy
from strategies.bollinger_breakout import BollingerBreakoutParams
from strategies.bollinger_breakout import BollingerBreakoutStrategy
from strategies.dca import DcaParams
from strategies.dca import DcaStrategy
from strategies.momentum import MomentumParams
from strategies.momentum import MomentumStrategy
from strategies.rsi_reversion import RsiReversionParams
from strategies.rsi_reversion import RsiReversionStrategy
from tests.kit.strategy_context import FakeStrategyContext
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import OrderSide
from trading_bot.domain import StrategyResult

D = Decimal


def _setup(strategy: BarStrategy) -> FakeStrategyContext:  # type: ignore[type-arg]
    ctx = FakeStrategyContext()
    ctx.equity = D(10_000)
    ctx.balance_map = {"USDT": Balance(currency="USDT", free=D(10_000))}
    strategy.initialize(ctx)  # type: ignore[arg-type]
    return ctx


def _feed(strategy: BarStrategy, ctx: FakeStrategyContext, closes: list[str]) -> list[StrategyResult | None]:  # type: ignore[type-arg]
    out = []
    for i, close in enumerate(closes):
        ctx.quote(close, close, after=60)
        c = D(close)
        out.append(strategy.bar_closed(Bar(ts_ms=i * 60_000, open=c, high=c, low=c, close=c), "1m"))
    return out


def _fill_all(ctx: FakeStrategyContext, result: StrategyResult, price: str) -> None:
    for event in ctx.submit_all(result):
        ctx.fill(event.client_order_id, price=price)


def test_momentum_buys_a_rise_above_the_threshold_and_sells_a_fall_below_its_negative() -> None:
    strategy = MomentumStrategy(MomentumParams(lookback=2, threshold=D("0.05")))
    ctx = _setup(strategy)
    results = _feed(strategy, ctx, ["100", "102", "104"])  # +4 %: not above 5 %
    assert results == [None, None, None]
    (entry,) = _feed(strategy, ctx, ["110"])  # 110 / 102 − 1 = 7.8 %
    assert entry is not None
    assert entry.orders[0].side is OrderSide.BUY
    assert entry.orders[0].quote_quantity == D(10_000)  # fraction 1 of equity
    _fill_all(ctx, entry, "110")
    assert _feed(strategy, ctx, ["108"]) == [None]  # 108 / 104: +3.8 %, still long
    (exit_,) = _feed(strategy, ctx, ["100"])  # 100 / 110 − 1 = −9 %
    assert exit_ is not None
    assert exit_.orders[0].side is OrderSide.SELL
    assert exit_.orders[0].reduce_only


def test_rsi_reversion_buys_when_oversold() -> None:
    strategy = RsiReversionStrategy(RsiReversionParams(period=2, oversold=30, overbought=70))
    ctx = _setup(strategy)
    results = _feed(strategy, ctx, ["100", "99", "98"])  # only losses: RSI 0
    assert results[:2] == [None, None]
    assert results[2] is not None
    assert results[2].orders[0].side is OrderSide.BUY


def test_a_signal_repeated_while_the_entry_is_open_sends_no_second_order() -> None:
    strategy = RsiReversionStrategy(RsiReversionParams(period=2))
    ctx = _setup(strategy)
    first = _feed(strategy, ctx, ["100", "99", "98"])[2]
    assert first is not None
    ctx.submit_all(first)  # sent, not filled yet
    assert _feed(strategy, ctx, ["97"]) == [None]


def test_an_entry_below_the_market_minimum_is_not_sent_but_counted() -> None:
    # Rule (BarStrategy.enter): a size the venue would refuse (BTC/USDT: notional under 5 USDT) is no
    # order; each such signal is counted in the summary instead of a denied order on every bar.
    strategy = RsiReversionStrategy(RsiReversionParams(period=2))
    ctx = _setup(strategy)
    ctx.equity = D(4)
    assert _feed(strategy, ctx, ["100", "99", "98", "97"]) == [None] * 4  # oversold twice: two signals
    assert strategy.summary()["entries_below_minimum"] == 2
    assert strategy.summary()["entries"] == 0
    ctx.equity = D(10_000)
    (entry,) = _feed(strategy, ctx, ["96"])
    assert entry is not None


def test_bollinger_breakout_buys_above_the_upper_band_and_sells_below_the_middle() -> None:
    strategy = BollingerBreakoutStrategy(BollingerBreakoutParams(period=3, k=1.0))
    ctx = _setup(strategy)
    assert _feed(strategy, ctx, ["10", "10", "10"]) == [None, None, None]  # on the band: no breakout
    (entry,) = _feed(strategy, ctx, ["13"])  # bands of 10, 10, 13: middle 11, upper 12.41
    assert entry is not None
    _fill_all(ctx, entry, "13")
    assert _feed(strategy, ctx, ["12"]) == [None]  # middle 11.67: above it
    (exit_,) = _feed(strategy, ctx, ["10"])  # middle 11.67: below it
    assert exit_ is not None
    assert exit_.orders[0].side is OrderSide.SELL


def test_dca_buys_every_interval_and_takes_the_profit_above_the_average_entry() -> None:
    strategy = DcaStrategy(DcaParams(interval_bars=2, amount=D(100), take_profit=D("0.1")))
    ctx = _setup(strategy)
    first, idle = _feed(strategy, ctx, ["10", "10"])
    assert first is not None
    assert first.orders[0].quote_quantity == D(100)
    assert idle is None  # the second bar is not an interval bar
    _fill_all(ctx, first, "10")
    (second,) = _feed(strategy, ctx, ["9"])
    assert second is not None
    _fill_all(ctx, second, "9")  # 100 USDT at 10 and at 9: the average entry is ≈ 9.47 (more units at 9)
    assert ctx.position.average_price * D("1.1") > D("10.4")
    assert _feed(strategy, ctx, ["10.4"]) == [None]  # below average × 1.1 ≈ 10.42
    (tp,) = _feed(strategy, ctx, ["10.45"])
    assert tp is not None
    assert tp.orders[0].client_tag == "tp"
    assert tp.orders[0].quantity == ctx.position.quantity


def test_a_restarted_dca_goes_on_counting_bars_so_it_does_not_buy_at_once() -> None:
    first = DcaStrategy(DcaParams(interval_bars=3, amount=D(100)))
    ctx = _setup(first)
    assert _feed(first, ctx, ["100"])[0] is not None  # the first bar buys
    restarted = DcaStrategy(DcaParams(interval_bars=3, amount=D(100)))
    restarted.initialize(ctx)  # type: ignore[arg-type]
    restarted.restore(first.snapshot())

    assert [r is not None for r in _feed(restarted, ctx, ["100", "100", "100"])] == [False, False, True]


def test_a_damaged_dca_snapshot_counts_from_zero_instead_of_failing_the_start() -> None:
    strategy = DcaStrategy(DcaParams(interval_bars=3, amount=D(100)))
    ctx = _setup(strategy)

    strategy.restore({"bars": "lots", "take_profits": -4})

    assert strategy.take_profits == 0
    assert _feed(strategy, ctx, ["100"])[0] is not None  # bar 0 of the count: a buy, as on a fresh start
