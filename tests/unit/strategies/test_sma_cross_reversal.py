"""sma_cross sizing of a reversal (long/short): one market order, its new side sized at the fill on a swap.

Rule (``strategies.sma_cross``): a cross against the position reverses it in one market order of the
position plus the entry, the entry estimated at the ask from the equity left after the closing fee; on a
swap it carries ``quote_quantity`` = equity × fraction, so a simulated venue sizes the new side at the fill
(``exchanges.sim.core``); spot never reverses with a quote amount (no shorts there), and a live swap venue,
without quote-amount orders, fills the estimate.
"""

from __future__ import annotations

from decimal import Decimal

from strategies.sma_cross import SmaCrossParams
from strategies.sma_cross import SmaCrossStrategy
from tests.kit.strategy_context import FakeStrategyContext
from trading_bot.domain import Bar
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import Symbol

D = Decimal
FEE = D("0.002")
SWAP = Market(symbol=Symbol("X/USDT:USDT"), base="X", quote="USDT", price_increment=D("0.01"),
              amount_increment=D(1), maker_fee=FEE, taker_fee=FEE, contract=True, settle="USDT")  # fmt: skip
SPOT = Market(symbol=Symbol("X/USDT"), base="X", quote="USDT", price_increment=D("0.01"), amount_increment=D(1),
              maker_fee=FEE, taker_fee=FEE)  # fmt: skip
CLOSES = [10, 10, 10, 10, 11, 12, 13, 12, 11, 10, 9, 8, 9, 10]
"""fast(2)/slow(4): a down-cross on the close of index 8 (11) and an up-cross on index 13 (10)."""


def _run(market: Market, *, long_only: bool, equity_at_13: str) -> list[OrderParams]:
    """Feed the bars; fill each order at once at its bar's close; return the orders placed."""
    strategy = SmaCrossStrategy(SmaCrossParams(fast=2, slow=4, fraction=D(1), long_only=long_only))
    ctx = FakeStrategyContext(market=market)
    strategy.initialize(ctx)
    ctx.equity = D(1000)
    placed: list[OrderParams] = []
    for i, close in enumerate(CLOSES):
        c = D(close)
        md = MarketData(symbol=market.symbol, ts_ms=(i + 1) * 60_000, bid=c, ask=c, last=c,
                        bar=Bar(ts_ms=i * 60_000, open=c, high=c, low=c, close=c))  # fmt: skip
        ctx.last_market_data = md
        if i == 13:
            ctx.equity = D(equity_at_13)
        if not strategy.should_execute(md):
            continue
        result = strategy.execute_strategy(md)
        for params, submitted in zip(result.orders, ctx.submit_all(result), strict=True):
            placed.append(params)
            strategy.on_order_update(submitted)
            strategy.on_order_update(ctx.fill(submitted.client_order_id, price=c))
    return placed


def test_a_swap_reversal_is_one_order_whose_new_side_is_sized_at_the_fill() -> None:
    """Index 8: short from flat, floor(1000 / (11 × 1.002)) = 90, quote amount 1000. Index 13, equity 1068:
    buy 90 to close plus floor((1068 − 90 × 10 × 0.002) / (10 × 1.002)) = 106 to open, quote amount 1068."""
    short, reversal = _run(SWAP, long_only=False, equity_at_13="1068")

    assert (short.side, short.quantity, short.quote_quantity) == (OrderSide.SELL, D(90), D(1000))
    assert (reversal.side, reversal.quantity, reversal.quote_quantity) == (OrderSide.BUY, D(90 + 106), D(1068))
    assert not reversal.reduce_only


def test_a_spot_exit_is_the_position_without_a_quote_amount() -> None:
    """Long-only on spot: the up-cross at 13 enters with a quote amount; nothing is placed on the down-cross
    at 8 (flat); spot never sends a quote amount on an order that closes a position."""
    placed = _run(SPOT, long_only=True, equity_at_13="1000")

    assert [(p.side, p.quantity, p.quote_quantity) for p in placed] == [(OrderSide.BUY, D(99), D(1000))]


def test_a_long_only_exit_on_a_swap_carries_no_quote_amount() -> None:
    """Long-only on a swap: a down-cross closes the long with exactly the position, sized by quantity only."""
    closes = [10, 10, 10, 10, 9, 8, 7, 8, 9, 10, 11, 12, 11, 10, 9]  # up-cross at 8 (9), down-cross after 11
    strategy = SmaCrossStrategy(SmaCrossParams(fast=2, slow=4, fraction=D(1), long_only=True))
    ctx = FakeStrategyContext(market=SWAP)
    strategy.initialize(ctx)
    ctx.equity = D(1000)
    placed: list[OrderParams] = []
    for i, close in enumerate(closes):
        c = D(close)
        md = MarketData(symbol=SWAP.symbol, ts_ms=(i + 1) * 60_000, bid=c, ask=c, last=c,
                        bar=Bar(ts_ms=i * 60_000, open=c, high=c, low=c, close=c))  # fmt: skip
        ctx.last_market_data = md
        if strategy.should_execute(md):
            result = strategy.execute_strategy(md)
            for params, submitted in zip(result.orders, ctx.submit_all(result), strict=True):
                placed.append(params)
                strategy.on_order_update(ctx.fill(submitted.client_order_id, price=c))

    assert [(p.side, p.quantity, p.quote_quantity) for p in placed] == [
        (OrderSide.BUY, D(110), D(1000)),  # floor(1000 / (9 × 1.002))
        (OrderSide.SELL, D(110), None),
    ]
