"""The supervisor's pipeline end to end on the paper exchange: risk gate, fills, events, balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from risk.config import RiskConfig
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from tests.kit.pipeline import trade
from trading_bot.domain import MarketData
from trading_bot.domain import OrderAccepted
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderPartiallyFilled
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult

D = Decimal


def _once(params: OrderParams):  # type: ignore[no-untyped-def]
    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        return StrategyResult.place(params) if i == 0 else None

    return script


@pytest.mark.asyncio
async def test_order_breaking_a_risk_rule_is_denied_shown_to_strategy_and_never_reaches_the_exchange() -> None:
    strategy = ScriptedStrategy(_once(OrderParams(side=OrderSide.BUY, quantity=D("1"), price=D("60000"))))
    bot, exchange = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy)

    result = await bot.run()

    denied = [e for e in strategy.events if isinstance(e, OrderDenied)]
    assert len(denied) == 1
    assert denied[0].rule == "max_order_notional"
    assert exchange.engine(bot.symbol).open_orders() == []
    assert exchange.engine(bot.symbol).fills_since(0) == []
    assert result.summary["orders"]["denied"] == 1
    assert result.summary["orders"]["submitted"] == 0


@pytest.mark.asyncio
async def test_halted_trading_state_denies_every_order() -> None:
    strategy = ScriptedStrategy(_once(OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("60000"))))
    bot, exchange = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy)
    from trading_bot.domain import TradingState

    bot.risk.set_trading_state(TradingState.HALTED, "test")
    await bot.run()

    assert [type(e) for e in strategy.events] == [OrderDenied]
    assert exchange.engine(bot.symbol).open_orders() == []


@pytest.mark.asyncio
async def test_resting_limit_filled_by_two_trades_gives_partial_then_full_fill_events_and_moves_balances() -> None:
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.002"), price=D("60000"), client_tag="open")
    strategy = ScriptedStrategy(_once(params))
    events = [
        quote(1000, "59999", "60001"),
        trade(2000, "60000", "0.001", OrderSide.SELL, "59999", "60001"),
        trade(3000, "59990", "0.5", OrderSide.SELL, "59980", "60001"),
        quote(4000, "59980", "60001"),
    ]
    bot, _ = make_bot(events, strategy, risk=RiskConfig(max_data_age_s=None))

    result = await bot.run()

    kinds = [type(e) for e in strategy.events]
    assert kinds == [OrderSubmitted, OrderAccepted, OrderPartiallyFilled, OrderFilled]
    assert all(e.client_tag == "open" for e in strategy.events)
    filled = strategy.events[-1]
    assert isinstance(filled, OrderFilled)
    assert filled.filled_quantity == D("0.002")
    assert result.summary["position"] == "0.002"
    fee = D("60000") * D("0.002") * D("0.001")  # maker fee on 120 USDT
    assert D(result.summary["fees"]) == fee
    assert D(result.summary["balances"]["USDT"]["free"]) == D(10000) - D("120") - fee
    assert D(result.summary["balances"]["BTC"]["free"]) == D("0.002")


@pytest.mark.asyncio
async def test_post_only_order_that_would_cross_is_rejected_with_post_only_flag() -> None:
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("60001"), post_only=True)
    strategy = ScriptedStrategy(_once(params))
    bot, exchange = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy)

    await bot.run()

    rejected = [e for e in strategy.events if isinstance(e, OrderRejected)]
    assert len(rejected) == 1
    assert rejected[0].post_only is True
    assert exchange.engine(bot.symbol).open_orders() == []


@pytest.mark.asyncio
async def test_market_order_fills_at_the_touch_with_taker_fee_on_the_same_event() -> None:
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.001"), order_type=OrderType.MARKET)
    strategy = ScriptedStrategy(_once(params))
    bot, _ = make_bot([quote(1000, "60000", "60010"), quote(2000, "60000", "60010")], strategy)

    await bot.run()

    filled = [e for e in strategy.events if isinstance(e, OrderFilled)]
    assert len(filled) == 1
    assert filled[0].fill.price == D("60010")
    assert filled[0].fill.fee == D("60.010") * D("0.001")


@pytest.mark.asyncio
async def test_open_orders_are_cancelled_at_shutdown_when_on_shutdown_is_cancel() -> None:
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("59000"))
    strategy = ScriptedStrategy(_once(params))
    bot, exchange = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy,
                             risk=RiskConfig(price_band_pct=None))

    await bot.run()

    assert exchange.engine(bot.symbol).open_orders() == []
    assert bot.tracker.open_count == 0
    assert D((await exchange.fetch_balance())["USDT"].locked) == 0


@pytest.mark.asyncio
async def test_strategy_exception_stops_the_strategy_halts_and_exits_1_without_crashing_the_bot() -> None:
    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        raise RuntimeError("boom")

    strategy = ScriptedStrategy(script)
    bot, _ = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy)

    result = await bot.run()

    assert result.exit_code == 1
    assert "boom" in result.reason
    assert strategy.calls == 1  # not called again after it failed
    assert result.summary["trading_state"] == "halted"


@pytest.mark.asyncio
async def test_emergency_loss_cancels_orders_flattens_at_market_halts_and_exits_1() -> None:
    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult.place(
                OrderParams(side=OrderSide.BUY, quantity=D("0.1"), order_type=OrderType.MARKET, client_tag="buy"),
                OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("50000"), client_tag="resting"),
            )
        return None

    strategy = ScriptedStrategy(script)
    # 0.1 BTC bought at 60,001 on a 10,000 USDT account; BTC then halves: equity falls ~30 % (limit 15 %).
    events = [quote(1000, "60000", "60001")] + [quote(2000 + 1000 * k, "30000", "30001") for k in range(4)]
    risk = RiskConfig(price_band_pct=None, max_data_age_s=None, max_order_notional=None, max_position_notional=None)
    bot, exchange = make_bot(events, strategy, risk=risk)

    result = await bot.run()

    assert result.exit_code == 1
    assert "emergency" in result.reason
    assert "15" in result.reason  # the message names the limit
    assert exchange.engine(bot.symbol).open_orders() == []  # the resting buy was cancelled
    assert result.summary["position"] == "0"  # flattened with a market sell
    assert result.summary["trading_state"] == "halted"
    closes = [e for e in strategy.events if isinstance(e, OrderFilled) and e.side is OrderSide.SELL]
    assert len(closes) == 1
