"""Operator commands (``trading_bot.runtime.operator``) on a running supervisor over the paper exchange.

The rules: a command runs between strategy passes through the bot's own parts and is answered; a halt
stops every new order; resume trades again; flatten closes the position with a reduce-only market order;
an unknown instrument is answered ``ok=False`` and changes nothing; a full-speed replay (which never waits,
so the heartbeat never runs) still executes commands at its periodic yield.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from risk.config import RiskConfig
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.domain import TradingState
from trading_bot.runtime.operator import OperatorAction
from trading_bot.runtime.operator import OperatorCommand

D = Decimal
EVENTS = 200_000  # far more than one yield period (1024 events): the replay is still running when we act
RISK = RiskConfig(max_orders_per_minute=None, max_order_notional=None, max_position_notional=None,
                  price_band_pct=None, max_data_age_s=None)  # fmt: skip


def _buy_every_1000th(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
    if i % 1000 == 0:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.0001"), order_type=OrderType.MARKET))
    return None


async def _started(bot: object) -> None:
    while getattr(bot, "_session", None) is None:
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_halt_during_a_full_speed_replay_is_executed_and_no_order_follows_it() -> None:
    strategy = ScriptedStrategy(_buy_every_1000th)
    events = [quote(1_000 + i, "60000", "60000.1") for i in range(EVENTS)]
    bot, _exchange = make_bot(events, strategy, risk=RISK)
    run = asyncio.create_task(bot.run())
    await _started(bot)

    outcome = await bot.operator.submit(OperatorCommand(action=OperatorAction.HALT, who="test:halt", reason="drill"))
    events_at_halt = bot.events
    placed_at_halt = bot.orders.stats["submitted"] if bot.orders is not None else 0
    await run

    assert outcome.ok
    assert outcome.trading_state == "halted"
    assert bot.risk.trading_state is TradingState.HALTED
    assert events_at_halt < EVENTS  # answered while the full-speed replay was still going
    assert bot.events == EVENTS  # the replay went on to its end, halted
    assert bot.orders is not None
    assert bot.orders.stats["submitted"] == placed_at_halt  # nothing new after the halt
    assert "operator halt by test:halt: drill" in bot.risk.trading_state_reason


@pytest.mark.asyncio
async def test_flatten_closes_the_position_reduce_only_and_an_unknown_instrument_changes_nothing() -> None:
    strategy = ScriptedStrategy(_buy_every_1000th)
    events = [quote(1_000 + i, "60000", "60000.1") for i in range(EVENTS)]
    bot, _exchange = make_bot(events, strategy, risk=RISK)
    run = asyncio.create_task(bot.run())
    await _started(bot)
    while bot.portfolio is None or bot.portfolio.position.quantity <= 0:
        await asyncio.sleep(0)

    unknown = await bot.operator.submit(OperatorCommand(action=OperatorAction.FLATTEN, who="test", instrument="X/Y"))
    halted = await bot.operator.submit(OperatorCommand(action=OperatorAction.HALT, who="test"))
    flat = await bot.operator.submit(OperatorCommand(action=OperatorAction.FLATTEN, who="test", instrument="BTC/USDT"))
    await run

    assert not unknown.ok
    assert "unknown instrument 'X/Y'" in unknown.detail
    assert halted.ok
    assert flat.ok
    assert bot.portfolio.position.quantity == 0  # the close filled even though the bot is halted
    close = bot.tracker.tagged("close")
    assert close is not None
    assert close.reduce_only
    assert close.order_type is OrderType.MARKET
    assert close.side is OrderSide.SELL
