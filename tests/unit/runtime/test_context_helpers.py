"""Context helpers: orders by tag, flat/side/size of the position, ``close_position`` as an intent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.markets import load_market_snapshot
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.domain import ClientOrderId
from trading_bot.domain import InstrumentId
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Position
from trading_bot.domain import PositionSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio

D = Decimal
BTC = Symbol("BTC/USDT")


def _ctx() -> tuple[BotStrategyContext, OrderTracker, Portfolio]:
    market = load_market_snapshot("binance")[BTC]
    tracker, portfolio = OrderTracker("t-"), Portfolio(market)
    ctx = BotStrategyContext(market=market, clock=SimulatedClock(), tracker=tracker, portfolio=portfolio,
                             risk=RiskManager(RiskConfig()), instrument=InstrumentId("binance", BTC))  # fmt: skip
    return ctx, tracker, portfolio


def _track(tracker: OrderTracker, coid: str, tag: str) -> Order:
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.01"), price=D("100"), client_tag=tag)
    order = Order.from_params(params, ClientOrderId(coid), BTC, D("0.01"), 0)
    tracker.add(order)
    return order


def test_orders_tagged_returns_the_open_orders_with_that_tag_oldest_first() -> None:
    ctx, tracker, _ = _ctx()
    first, _other, second = _track(tracker, "t-1", "tp"), _track(tracker, "t-2", "sl"), _track(tracker, "t-3", "tp")
    assert ctx.orders_tagged("tp") == [first, second]
    assert ctx.orders_tagged("none") == []


@pytest.mark.parametrize(
    ("quantity", "side", "flat"),
    [("0", PositionSide.FLAT, True), ("0.5", PositionSide.LONG, False), ("-0.25", PositionSide.SHORT, False)],
)
def test_position_side_size_and_flatness_follow_the_signed_quantity(quantity: str, side: PositionSide,
                                                                      flat: bool) -> None:  # fmt: skip
    ctx, _, portfolio = _ctx()
    portfolio.position = Position(symbol=BTC, quantity=D(quantity))
    assert ctx.position_side() is side
    assert ctx.position_size() == abs(D(quantity))
    assert ctx.is_flat() is flat
    assert ctx.is_flat("binance:BTC/USDT") is flat  # by instrument, through view()


def test_close_position_is_a_reduce_only_market_order_of_the_position_size_on_the_other_side() -> None:
    ctx, _, portfolio = _ctx()
    assert ctx.close_position() is None  # flat: nothing to close
    portfolio.position = Position(symbol=BTC, quantity=D("-0.3"))
    intent = ctx.close_position(tag="exit")
    expected = OrderParams(side=OrderSide.BUY, quantity=D("0.3"), order_type=OrderType.MARKET, reduce_only=True,
                           client_tag="exit", instrument=InstrumentId("binance", BTC))  # fmt: skip
    assert intent == expected


@pytest.mark.asyncio
async def test_close_position_through_the_supervisor_leaves_the_strategy_flat() -> None:
    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.01"),
                                                    order_type=OrderType.MARKET, client_tag="entry"))  # fmt: skip
        if i == 2:
            intent = s.ctx.close_position()
            assert intent is not None
            return StrategyResult.place(intent)
        return None

    strategy = ScriptedStrategy(script)
    bot, _ = make_bot([quote(1000 * k, "60000", "60001") for k in range(1, 6)], strategy)

    await bot.run()

    fills = [e for e in strategy.events if isinstance(e, OrderFilled)]
    assert [f.client_tag for f in fills] == ["entry", "close"]
    assert strategy.ctx.is_flat()


@pytest.mark.parametrize(
    ("quantity", "tradable"),
    [("0.00165834", "0.00165"), ("-0.00165834", "-0.00165"), ("0.00000834", "0"), ("0.3", "0.3")],
)
def test_a_remainder_below_one_lot_step_is_dust_not_a_position(quantity: str, tradable: str) -> None:
    """Rule: the helpers count what one order can close (lot step 0.00001 on Binance BTC/USDT); dust is flat."""
    ctx, _, portfolio = _ctx()
    portfolio.position = Position(symbol=BTC, quantity=D(quantity))
    intent = ctx.close_position()
    assert ctx.tradable_quantity() == D(tradable)
    assert ctx.is_flat() is (D(tradable) == 0)
    assert ctx.position_size() == abs(D(tradable))
    assert (intent.quantity if intent is not None else D(0)) == abs(D(tradable))
