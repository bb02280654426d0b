"""sma_cross restart rule: a restored snapshot goes on exactly as the run that never stopped."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from strategies.sma_cross import SmaCrossParams
from strategies.sma_cross import SmaCrossStrategy
from tests.kit.strategy_context import FakeStrategyContext
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock

START_MS = 1_700_000_000_000
PARAMS = SmaCrossParams(fast=3, slow=6, quantity=Decimal("0.01"), bar_seconds=60, long_only=False)


def _quotes() -> list[tuple[int, Decimal]]:
    """Mid prices every 20 s (three per 60 s bar) on a wave with a period of ~13 bars: many crosses."""
    out = []
    for i in range(240):
        wave = 100 * math.sin(i / 6.2) + 17 * math.sin(i / 1.7)
        out.append((START_MS + i * 20_000, Decimal(30_000) + Decimal(round(wave, 2)).quantize(Decimal("0.01"))))
    return out


def _step(strategy: SmaCrossStrategy, ctx: FakeStrategyContext, ts: int, mid: Decimal) -> list[tuple[Any, ...]]:
    """Feed one quote; fill every market order at once at the touch; return what was placed."""
    ctx.clock.advance_to(ts)
    md = MarketData(symbol=ctx.symbol, ts_ms=ts, bid=mid - Decimal("0.05"), ask=mid + Decimal("0.05"))
    ctx.last_market_data = md
    if not strategy.should_execute(md):
        return []
    result = strategy.execute_strategy(md)
    placed = []
    for params, submitted in zip(result.orders, ctx.submit_all(result), strict=True):
        strategy.on_order_update(submitted)
        price = md.ask if params.side is OrderSide.BUY else md.bid
        strategy.on_order_update(ctx.fill(submitted.client_order_id, price=price))
        placed.append((ts, params.side.value, params.quantity, params.client_tag))
    return placed


def _fresh() -> tuple[SmaCrossStrategy, FakeStrategyContext]:
    strategy = SmaCrossStrategy(PARAMS)
    ctx = FakeStrategyContext(clock=SimulatedClock(START_MS))
    strategy.initialize(ctx)
    return strategy, ctx


def test_restore_of_a_mid_run_snapshot_trades_the_rest_of_the_data_exactly_as_the_unbroken_run() -> None:
    quotes = _quotes()
    split = 100  # mid-bucket (100 = 33 bars and one quote) and soon before a cross
    strategy, ctx = _fresh()
    unbroken = [order for ts, mid in quotes for order in _step(strategy, ctx, ts, mid)]

    first, ctx_first = _fresh()
    before = [order for ts, mid in quotes[:split] for order in _step(first, ctx_first, ts, mid)]
    state = json.loads(json.dumps(first.snapshot()))  # as the journal stores it

    second = SmaCrossStrategy(PARAMS)
    ctx_second = FakeStrategyContext(clock=SimulatedClock(quotes[split - 1][0]))
    ctx_second.position = ctx_first.position  # reconciliation gives the restarted bot its position back
    second.initialize(ctx_second)
    second.restore(state)
    after = [order for ts, mid in quotes[split:] for order in _step(second, ctx_second, ts, mid)]

    assert len(unbroken) >= 6  # the data crosses often enough to test something
    assert before == unbroken[: len(before)]
    assert after == unbroken[len(before) :]
    assert after
    assert after[0][0] - quotes[split][0] < PARAMS.slow * 60_000  # a cross inside the refill window
    assert second.summary() == strategy.summary()


def test_a_pending_order_is_kept_only_while_reconciliation_shows_it_open() -> None:
    strategy, ctx = _fresh()
    for ts, mid in _quotes():
        ctx.clock.advance_to(ts)
        md = MarketData(symbol=ctx.symbol, ts_ms=ts, bid=mid, ask=mid)
        if strategy.should_execute(md):
            submitted = ctx.submit_all(strategy.execute_strategy(md))  # sent, no outcome yet
            break
    state = json.loads(json.dumps(strategy.snapshot()))
    assert state["pending"] == submitted[0].client_tag

    still_open, ctx_open = SmaCrossStrategy(PARAMS), FakeStrategyContext()
    ctx_open.add_order(ctx.orders[submitted[0].client_order_id])
    still_open.initialize(ctx_open)
    still_open.restore(state)
    gone, ctx_gone = SmaCrossStrategy(PARAMS), FakeStrategyContext()
    gone.initialize(ctx_gone)
    gone.restore(state)

    assert still_open.snapshot()["pending"] == submitted[0].client_tag
    assert gone.snapshot()["pending"] is None


def test_a_version_1_snapshot_restores_the_windows_and_their_side() -> None:
    strategy, ctx = _fresh()
    for ts, mid in _quotes()[:60]:
        _step(strategy, ctx, ts, mid)
    full = strategy.snapshot()
    restored = SmaCrossStrategy(PARAMS)
    restored.initialize(FakeStrategyContext())
    restored.restore({"fast": full["fast"], "slow": full["slow"]})

    state = restored.snapshot()
    assert (state["fast"], state["slow"], state["above"]) == (full["fast"], full["slow"], full["above"])
