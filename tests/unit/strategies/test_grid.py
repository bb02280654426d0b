"""Unit tests of ``strategies.grid``: each test names the GRID.md rule it guards.

The exchange is played by hand through ``FakeStrategyContext``; time is a ``SimulatedClock`` moved by
the test, so no test sleeps or measures time.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from strategies import STRATEGIES
from strategies.grid import GridParams
from strategies.grid import GridStrategy
from strategies.grid_legs import retry_delay_ms
from tests.kit.strategy_context import FakeStrategyContext
from trading_bot.domain import ClientOrderId
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.errors import ConfigError

QTY = Decimal("1")


def make(**overrides: Any) -> tuple[GridStrategy, FakeStrategyContext]:
    """Return an initialized grid (quantity 1 BTC unless overridden) and its fake context."""
    params = GridParams(**{"quantity": QTY, **overrides})
    strategy = GridStrategy(params)
    ctx = FakeStrategyContext()
    strategy.initialize(ctx)
    return strategy, ctx


def step(strategy: GridStrategy, ctx: FakeStrategyContext, md: MarketData) -> StrategyResult:
    """Run one supervisor pass; submit every intent and deliver its ``OrderSubmitted``."""
    if not strategy.should_execute(md):
        return StrategyResult.nothing()
    result = strategy.execute_strategy(md)
    for event in ctx.submit_all(result):
        strategy.on_order_update(event)
    return result


def ids(ctx: FakeStrategyContext, result: StrategyResult) -> list[ClientOrderId]:
    """Return the client ids the fake gave to ``result``'s orders (by tag)."""
    by_tag = {o.client_tag: o.client_order_id for o in ctx.orders.values()}
    return [by_tag[p.client_tag] for p in result.orders]


def open_order(strategy: GridStrategy, ctx: FakeStrategyContext, bid: str = "100.00", ask: str = "100.10") -> Order:
    """Run a pass that must place an open order; return the fake's record of it."""
    result = step(strategy, ctx, ctx.quote(bid, ask))
    assert [p.client_tag.split(":")[0] for p in result.orders] == ["open"]
    return ctx.orders[ids(ctx, result)[0]]


def resting_tp(
    ctx: FakeStrategyContext, number: int, price: str, side: OrderSide = OrderSide.SELL, kind: str = "tp"
) -> Order:
    """Put one of the grid's orders (a take-profit by default) on the book, as it rests after a restart."""
    coid = ClientOrderId(f"old-{number}")
    order = Order(
        client_order_id=coid,
        symbol=Symbol("BTC/USDT"),
        side=side,
        quantity=QTY,
        order_type=OrderType.LIMIT,
        price=Decimal(price),
        post_only=True,
        client_tag=f"{kind}:{number}",
        status=OrderStatus.ACCEPTED,
    )
    ctx.add_order(order)
    return order


def kinds(result: StrategyResult) -> list[str]:
    return [p.client_tag.split(":")[0] for p in result.orders]


# -- parameters and start ------------------------------------------------------------------------------


def test_params_defaults_match_grid_md_parameters_table() -> None:
    params = GridParams(quantity=QTY)

    assert (params.take_profit, params.direction, params.max_orders, params.wait_time) == (
        Decimal("0.02"),
        "buy",
        40,
        450.0,
    )
    assert (params.grid_step, params.stop_price, params.pause_price, params.boost) == (Decimal(-100), None, None, False)
    assert (params.fill_timeout, params.recheck_interval, params.post_only_retries) == (10.0, 5.0, 15)
    assert STRATEGIES.get("grid") is GridStrategy
    assert GridStrategy.required_parameters() == ["quantity"]


def test_quantity_below_min_notional_raises_config_error_at_first_market_event() -> None:
    strategy = GridStrategy(GridParams(quantity=Decimal("0.00001")))
    ctx = FakeStrategyContext()
    strategy.initialize(ctx)

    with pytest.raises(ConfigError, match=r"minimum notional 5 USDT at price 61,837.63; use at least 0.00009"):
        strategy.should_execute(ctx.quote("61837.62", "61837.64"))


def test_quantity_below_min_notional_raises_config_error_at_initialize_when_price_known() -> None:
    ctx = FakeStrategyContext()
    ctx.quote("61837.62", "61837.64")

    with pytest.raises(ConfigError, match=r"grid.quantity 0.00001 BTC is below the market minimum notional"):
        GridStrategy(GridParams(quantity=Decimal("0.00001"))).initialize(ctx)


def test_a_price_below_half_the_tick_is_a_config_error_naming_the_data_not_a_division_by_zero() -> None:
    # A 1e-8 quote on BTC/USDT (tick 0.01) rounds to 0: the data is another market's, not a grid bug.
    strategy = GridStrategy(GridParams(quantity=Decimal("0.001")))
    ctx = FakeStrategyContext()
    strategy.initialize(ctx)

    with pytest.raises(ConfigError, match=r"market price 1.5E-8 is below half the tick 0.01 of BTC/USDT"):
        strategy.should_execute(ctx.quote("0.00000001", "0.00000002"))


def test_quantity_off_lot_step_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="lot step"):
        GridStrategy(GridParams(quantity=Decimal("0.0010001"))).initialize(FakeStrategyContext())


# -- cycle step 4: the open order ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "bid", "ask", "expected"),
    [
        ("buy", "100.00", "100.10", "100.09"),  # best ask - 1 tick
        ("buy", "100.00", "100.01", "100.00"),  # one-tick spread: joins the bid, still passive
        ("buy", "100.00", "100.105", "100.09"),  # off-grid ask: rounded down (away from the touch)
        ("sell", "100.00", "100.10", "100.01"),  # best bid + 1 tick
        ("sell", "99.995", "100.10", "100.01"),  # off-grid bid: rounded up
    ],
)
def test_open_order_is_post_only_one_tick_inside_and_rounded_to_tick(
    direction: str, bid: str, ask: str, expected: str
) -> None:
    strategy, ctx = make(direction=direction)

    result = step(strategy, ctx, ctx.quote(bid, ask))

    (params,) = result.orders
    assert params.side is OrderSide(direction)
    assert (params.price, params.quantity, params.post_only) == (Decimal(expected), QTY, True)


def test_post_only_rejection_retries_on_next_event_with_fresh_book_bounded() -> None:
    strategy, ctx = make(post_only_retries=2)
    first = open_order(strategy, ctx)

    strategy.on_order_update(ctx.reject(first.client_order_id))
    same_event = strategy.execute_strategy(ctx.last_market_data)  # type: ignore[arg-type]
    tries = [first]
    for _ in range(2):
        tries.append(open_order(strategy, ctx, "100.20", "100.30"))
        strategy.on_order_update(ctx.reject(tries[-1].client_order_id))
    after_give_up = step(strategy, ctx, ctx.quote("100.20", "100.30", after=1))

    assert same_event.orders == ()
    assert tries[1].price == Decimal("100.29")
    assert after_give_up.orders == ()  # the attempt is given up; the cooldown applies
    assert strategy.summary()["post_only_retries"] == 2
    assert strategy.summary()["post_only_give_ups"] == 1


# -- cycle steps 5 and 6: wait for the fill, then take-profit at once ----------------------------------


def test_fill_within_fill_timeout_places_take_profit_for_filled_amount() -> None:
    strategy, ctx = make(take_profit=Decimal("0.008"))
    order = open_order(strategy, ctx, "62000.00", "62000.01")
    ctx.advance(5)

    strategy.on_order_update(ctx.fill(order.client_order_id))
    result = step(strategy, ctx, ctx.quote("62000.00", "62000.01"))

    (tp,) = result.orders
    assert (tp.side, tp.quantity, tp.post_only) == (OrderSide.SELL, QTY, True)
    assert tp.price == Decimal("62004.96")  # 62,000 × (1 + 0.008 %), not seed 003's 62,049.60


def test_order_placed_is_not_order_filled_no_take_profit_without_fill() -> None:
    strategy, ctx = make()
    open_order(strategy, ctx)

    result = step(strategy, ctx, ctx.quote("100.00", "100.10", after=3))

    assert result.orders == ()
    assert strategy.summary()["take_profits_placed"] == 0


def test_take_profit_buy_grid_rounds_up_and_sell_grid_rounds_down() -> None:
    buy, buy_ctx = make(take_profit=Decimal("0.05"))
    sell, sell_ctx = make(take_profit=Decimal("0.05"), direction="sell")
    buy_open = open_order(buy, buy_ctx, "100.00", "100.02")  # buys at 100.01
    sell_open = open_order(sell, sell_ctx, "100.00", "100.02")  # sells at 100.01

    buy.on_order_update(buy_ctx.fill(buy_open.client_order_id))
    sell.on_order_update(sell_ctx.fill(sell_open.client_order_id))
    (buy_tp,) = step(buy, buy_ctx, buy_ctx.quote("100.00", "100.02")).orders
    (sell_tp,) = step(sell, sell_ctx, sell_ctx.quote("100.00", "100.02")).orders

    assert buy_tp.price == Decimal("100.07")  # 100.01 × 1.0005 = 100.060005 → up
    assert (sell_tp.side, sell_tp.price) == (OrderSide.BUY, Decimal("99.95"))  # 100.01 × 0.9995 = 99.959995 → down


def test_take_profit_that_would_cross_is_pulled_to_best_ask() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx, "100.00", "100.10")

    strategy.on_order_update(ctx.fill(order.client_order_id))
    (tp,) = step(strategy, ctx, ctx.quote("101.00", "101.05")).orders

    assert tp.price == Decimal("101.05")


def test_take_profit_post_only_rejection_retries_at_own_side_best() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    first = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    strategy.on_order_update(ctx.reject(ids(ctx, first)[0]))
    (retry,) = step(strategy, ctx, ctx.quote("100.50", "100.60")).orders

    assert (retry.side, retry.quantity, retry.price, retry.post_only) == (OrderSide.SELL, QTY, Decimal("100.60"), True)


def test_take_profit_retried_at_the_touch_never_rests_below_its_target_when_the_book_fell_back() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    first = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    strategy.on_order_update(ctx.reject(ids(ctx, first)[0]))  # post-only would cross

    retry = step(strategy, ctx, ctx.quote("99.80", "99.90"))  # a newer book, back below the target
    strategy.on_order_update(ctx.reject(ids(ctx, retry)[0], transient=True, reason="5xx"))
    again = step(strategy, ctx, ctx.quote("99.70", "99.80", after=60))

    (target,) = [price for _, price in tps_of(first)]
    assert target > Decimal("99.90")
    assert tps_of(retry) == [(QTY, target)]  # the touch (99.90) would sell below the take-profit: rest at it
    assert tps_of(again) == [(QTY, target)]  # the target survives a transient retry of an at-touch exit


def test_take_profit_refused_as_crossing_is_retried_on_a_newer_book_not_the_one_that_saw_the_refusal() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    book = ctx.quote("100.00", "100.10")
    first = step(strategy, ctx, book)

    strategy.on_order_update(ctx.reject(ids(ctx, first)[0]))
    same_book = step(strategy, ctx, book)  # the supervisor's extra pass after an order event
    newer_book = step(strategy, ctx, ctx.quote("100.50", "100.60"))

    assert kinds(same_book) == []  # the same stale book would be refused again
    assert [(p.client_tag[:3], p.price) for p in newer_book.orders] == [("tp:", Decimal("100.60"))]


def test_take_profit_still_crossing_after_the_quick_retries_keeps_trying_every_recheck_interval() -> None:
    strategy, ctx = make(post_only_retries=1, recheck_interval=5)
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    first = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    strategy.on_order_update(ctx.reject(ids(ctx, first)[0]))
    quick = step(strategy, ctx, ctx.quote("100.50", "100.60"))
    strategy.on_order_update(ctx.reject(ids(ctx, quick)[0]))

    too_soon = step(strategy, ctx, ctx.quote("100.70", "100.80", after=1))
    later = step(strategy, ctx, ctx.quote("100.70", "100.80", after=5))

    assert kinds(quick) == ["tp"]
    assert "tp" not in kinds(too_soon)
    assert [(p.client_tag[:3], p.quantity, p.price) for p in later.orders if p.client_tag.startswith("tp:")] == [
        ("tp:", QTY, Decimal("100.80"))
    ]
    assert strategy.summary()["orders_lost"] == 0  # a take-profit hedges a real fill: never given up


def test_keep_unfilled_open_while_price_unchanged_rechecking_every_recheck_interval() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)

    at_10s = step(strategy, ctx, ctx.quote("100.00", "100.10", after=10))  # checked: unchanged
    at_12s_moved = step(strategy, ctx, ctx.quote("100.30", "100.40", after=2))  # no check due until 15 s
    at_15s_back = step(strategy, ctx, ctx.quote("100.00", "100.10", after=3))  # checked: unchanged again

    assert at_10s.cancel == at_12s_moved.cancel == at_15s_back.cancel == ()
    assert ctx.order(order.client_order_id).is_open  # type: ignore[union-attr]


def test_cancel_open_when_market_moves_away_after_fill_timeout() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)

    before_timeout = step(strategy, ctx, ctx.quote("100.30", "100.40", after=9))
    at_timeout = step(strategy, ctx, ctx.quote("100.30", "100.40", after=1))

    assert before_timeout.cancel == ()
    assert at_timeout.cancel == (order.client_order_id,)


def test_moving_toward_the_order_keeps_it() -> None:
    strategy, ctx = make()
    open_order(strategy, ctx)

    result = step(strategy, ctx, ctx.quote("99.80", "99.90", after=10))  # buy: fresh price 99.89 ≤ 100.09

    assert result.cancel == ()


def test_unfilled_open_cancelled_opens_again_at_once() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    step(strategy, ctx, ctx.quote("100.30", "100.40", after=10))

    strategy.on_order_update(ctx.cancel(order.client_order_id))
    result = step(strategy, ctx, ctx.quote("100.30", "100.40"))

    assert kinds(result) == ["open"]
    assert result.orders[0].price == Decimal("100.39")


def test_partial_fill_places_take_profit_for_partial_amount_and_never_more_than_filled() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)

    strategy.on_order_update(ctx.fill(order.client_order_id, "0.4"))
    first = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    strategy.on_order_update(ctx.fill(order.client_order_id))  # the remaining 0.6
    second = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    third = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert [p.quantity for p in first.orders] == [Decimal("0.4")]
    assert [p.quantity for p in second.orders] == [Decimal("0.6")]
    assert kinds(third) == []


def test_a_fee_kept_in_the_base_asset_is_not_sold_and_the_dust_it_leaves_joins_a_later_take_profit() -> None:
    """Rule: a take-profit sells what the fill delivered (Binance spot charges a buy's fee in the coin bought),
    on the lot step (0.00001 BTC); the remainder below a lot step is carried to the next take-profit."""
    strategy, ctx = make(quantity=Decimal("0.00166"))
    first = open_order(strategy, ctx, "62000.00", "62000.01")
    filled = ctx.fill(first.client_order_id, base_fee="0.00000166")  # receives 0.00165834
    strategy.on_order_update(filled)
    strategy.on_order_update(filled)  # the same event again: its fee is counted once
    tp1 = step(strategy, ctx, ctx.quote("62000.00", "62000.01"))
    ctx.advance(3_600)
    second = open_order(strategy, ctx, "61000.00", "61000.01")
    strategy.on_order_update(ctx.fill(second.client_order_id, base_fee="0.00000166"))
    tp2 = step(strategy, ctx, ctx.quote("61000.00", "61000.01"))

    assert [p.quantity for p in tp1.orders] == [Decimal("0.00165")]  # 0.00000834 of dust left
    assert [p.quantity for p in tp2.orders] == [Decimal("0.00166")]  # 0.00165834 + 0.00000834, on the lot step
    assert ctx.position.quantity == Decimal("0.00331668")  # what the account received
    assert strategy.snapshot()["dust"] == "0.00000668"


def test_duplicate_fill_event_is_applied_once() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    event = ctx.fill(order.client_order_id)

    strategy.on_order_update(event)
    strategy.on_order_update(event)
    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert [p.quantity for p in result.orders] == [QTY]


def test_fill_arriving_after_cancel_request_gets_take_profit_for_what_filled() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    step(strategy, ctx, ctx.quote("100.30", "100.40", after=10))  # cancel requested

    strategy.on_order_update(ctx.cancel(order.client_order_id))  # cancel first reports nothing filled
    late = ctx.fill(order.client_order_id, "0.7")  # then the fill that raced it arrives
    strategy.on_order_update(late)
    result = step(strategy, ctx, ctx.quote("100.30", "100.40"))

    tps = [p for p in result.orders if p.client_tag.startswith("tp:")]
    assert [(p.side, p.quantity) for p in tps] == [(OrderSide.SELL, Decimal("0.7"))]


def test_cancel_reporting_filled_quantity_gets_take_profit_for_it() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    ctx.fill(order.client_order_id, "0.3")  # the partial-fill event was lost

    strategy.on_order_update(ctx.cancel(order.client_order_id))
    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert [p.quantity for p in result.orders if p.client_tag.startswith("tp:")] == [Decimal("0.3")]


def test_take_profit_never_delayed_by_cooldown_or_grid_step() -> None:
    strategy, ctx = make(wait_time=3600, grid_step=Decimal(50))
    resting_tp(ctx, 1, "100.05")
    adopted_open = resting_tp(ctx, 2, "100.00", OrderSide.BUY, kind="open")
    blocked = step(strategy, ctx, ctx.quote("100.00", "100.10"))  # restart: cooldown running, grid step refuses

    strategy.on_order_update(ctx.fill(adopted_open.client_order_id))
    result = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert blocked.orders == ()
    assert kinds(result) == ["tp"]
    assert result.orders[0].quantity == QTY


def test_fill_below_market_minimum_waits_and_is_reported_unhedged_when_order_ends() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)  # 1 BTC at 100.09; minimum notional 5 USDT

    strategy.on_order_update(ctx.fill(order.client_order_id, "0.04"))  # 4 USDT: below the minimum
    waiting = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    strategy.on_order_update(ctx.cancel(order.client_order_id))
    step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert waiting.orders == ()
    assert strategy.summary()["unhedged_quantity"] == "0.04"


# -- cycle step 2: cooldown ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resting", "cooldown_s"),
    [(1, 30), (2, 60), (3, 60), (4, 120), (7, 120), (8, 240), (11, 240)],  # N = 12, W = 120 s
)
def test_cooldown_table_scales_wait_time_by_resting_ratio(resting: int, cooldown_s: int) -> None:
    strategy, ctx = make(max_orders=12, wait_time=120)
    for number in range(1, resting + 1):
        resting_tp(ctx, number, "200.00")
    step(strategy, ctx, ctx.quote("100.00", "100.10"))  # start: the cooldown runs from now

    too_early = step(strategy, ctx, ctx.quote("100.00", "100.10", after=cooldown_s - 1))
    on_time = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert too_early.orders == ()
    assert kinds(on_time) == ["open"]


def test_cooldown_skipped_when_take_profit_filled_since_last_pass() -> None:
    strategy, ctx = make(wait_time=3600)
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    tp_result = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
    in_cooldown = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    strategy.on_order_update(ctx.fill(ids(ctx, tp_result)[0]))
    after_tp_fill = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert in_cooldown.orders == ()
    assert kinds(after_tp_fill) == ["open"]
    assert strategy.summary()["cycles_completed"] == 1


def test_cooldown_blocked_when_resting_take_profits_reach_max_orders() -> None:
    strategy, ctx = make(max_orders=2, wait_time=1)
    resting_tp(ctx, 1, "200.00")
    resting_tp(ctx, 2, "201.00")

    first = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    days_later = step(strategy, ctx, ctx.quote("100.00", "100.10", after=10 * 86_400))

    assert first.orders == days_later.orders == ()
    assert strategy.summary()["resting_take_profits"] == 2


def test_risk_denied_open_waits_for_cooldown_instead_of_retrying_at_once() -> None:
    strategy, ctx = make(wait_time=40)  # no take-profits: cooldown W/4 = 10 s
    result = strategy.execute_strategy(ctx.quote("100.00", "100.10"))

    strategy.on_order_update(ctx.deny(result.orders[0]))
    next_event = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
    after_cooldown = step(strategy, ctx, ctx.quote("100.00", "100.10", after=9))

    assert next_event.orders == ()
    assert kinds(after_cooldown) == ["open"]


def test_no_open_while_risk_manager_not_active() -> None:
    strategy, ctx = make()
    ctx.trading_state = TradingState.REDUCING

    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert result.orders == ()


# -- cycle step 3: grid step ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "nearest_tp", "allowed"),
    [
        ("buy", "101.00", True),  # 101 / (100.10 × 1.0002) = 1.0088 > 1.005
        ("buy", "100.40", False),  # 1.0028: too close
        ("sell", "99.00", True),  # 100.00 × 0.9998 / 99 = 1.0099 > 1.005
        ("sell", "99.70", False),  # 1.0028: too close
    ],
)
def test_grid_step_allows_open_only_when_gap_to_nearest_take_profit_is_wide_enough(
    direction: str, nearest_tp: str, allowed: bool
) -> None:
    strategy, ctx = make(direction=direction, grid_step=Decimal("0.5"), wait_time=0)
    tp_side = OrderSide(direction).opposite
    far = "150.00" if direction == "buy" else "50.00"
    resting_tp(ctx, 1, far, tp_side)
    resting_tp(ctx, 2, nearest_tp, tp_side)

    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    assert kinds(result) == (["open"] if allowed else [])


# -- safety: stop, pause, boost, position guard --------------------------------------------------------


def test_stop_price_cancels_open_stops_opening_and_leaves_take_profits_resting() -> None:
    strategy, ctx = make(stop_price=Decimal(101), wait_time=0)
    first = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(first.client_order_id))
    tp_result = step(strategy, ctx, ctx.quote("100.00", "100.10"))  # take-profit + the next open
    second = ctx.orders[ids(ctx, tp_result)[1]]

    hit = step(strategy, ctx, ctx.quote("100.95", "101.00", after=1))
    reason_while_in_flight = strategy.stop_reason()
    strategy.on_order_update(ctx.cancel(second.client_order_id))
    after = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert kinds(tp_result) == ["tp", "open"]
    assert hit.cancel == (second.client_order_id,)
    assert hit.orders == ()
    assert reason_while_in_flight is None
    assert strategy.stopped
    assert "stop_price 101 reached" in (strategy.stop_reason() or "")
    assert after.orders == after.cancel == ()  # price came back: still stopped, take-profit untouched
    assert ctx.order(ids(ctx, tp_result)[0]).is_open  # type: ignore[union-attr]


def test_pause_price_blocks_opens_and_resumes_by_itself() -> None:
    strategy, ctx = make(pause_price=Decimal(101))

    paused = step(strategy, ctx, ctx.quote("101.00", "101.10"))
    resumed = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert paused.orders == ()
    assert kinds(resumed) == ["open"]
    assert not strategy.stopped


def test_boost_closes_each_fill_at_market_instead_of_take_profit() -> None:
    strategy, ctx = make(boost=True)
    order = open_order(strategy, ctx)

    strategy.on_order_update(ctx.fill(order.client_order_id))
    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    (close,) = result.orders
    strategy.on_order_update(ctx.fill(ids(ctx, result)[0], price="100.00"))

    assert (close.side, close.order_type, close.quantity, close.price) == (OrderSide.SELL, OrderType.MARKET, QTY, None)
    assert strategy.summary()["cycles_completed"] == 1
    assert strategy.summary()["take_profits_placed"] == 0


def test_position_guard_halts_only_after_two_bad_reads_in_a_row() -> None:
    strategy, ctx = make(wait_time=3600)
    order = open_order(strategy, ctx)  # rests unfilled; the price never moves away

    ctx.position.quantity = Decimal(5)  # bad: nothing is hedged, 5 > 2 × quantity
    first_bad = step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))
    ctx.position.quantity = Decimal(0)
    good = step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))
    ctx.position.quantity = Decimal(5)
    second_bad = step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))
    halted_after_one = strategy.halted_reason
    third_bad = step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))

    assert first_bad.cancel == good.cancel == second_bad.cancel == ()
    assert halted_after_one is None
    assert "two reads" in (strategy.halted_reason or "")
    assert third_bad.cancel == (order.client_order_id,)  # halted: the open in flight is withdrawn


def test_position_guard_counts_resting_take_profits_as_hedged() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))  # position 1, take-profit 1
    step(strategy, ctx, ctx.quote("100.00", "100.10"))

    step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))
    step(strategy, ctx, ctx.quote("100.00", "100.10", after=60))

    assert strategy.halted_reason is None


# -- restart -------------------------------------------------------------------------------------------


def test_restart_with_take_profits_resting_waits_one_cooldown() -> None:
    strategy, ctx = make(wait_time=400)  # one take-profit of 40: cooldown W/4 = 100 s
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    step(strategy, ctx, ctx.quote("100.00", "100.10"))
    state = json.loads(json.dumps(strategy.snapshot()))  # JSON-serialisable
    ctx.advance(3600)  # down for an hour: the old last-open time is long past
    tags_before = {o.client_tag for o in ctx.orders.values()}

    restarted = GridStrategy(GridParams(quantity=QTY, wait_time=400))
    restarted.initialize(ctx)
    restarted.restore(state)
    at_start = step(restarted, ctx, ctx.quote("100.00", "100.10"))
    too_early = step(restarted, ctx, ctx.quote("100.00", "100.10", after=99))
    on_time = step(restarted, ctx, ctx.quote("100.00", "100.10", after=1))

    assert at_start.orders == too_early.orders == ()
    assert kinds(on_time) == ["open"]
    assert restarted.summary()["resting_take_profits"] == 1
    assert on_time.orders[0].client_tag not in tags_before  # tags stay unique across the restart


def test_restart_take_profit_filled_while_down_counts_and_is_dropped() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    tp = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    state = strategy.snapshot()
    ctx.fill(ids(ctx, tp)[0])  # filled while the bot was down

    restarted = GridStrategy(GridParams(quantity=QTY))
    restarted.initialize(ctx)
    restarted.restore(state)
    step(restarted, ctx, ctx.quote("100.00", "100.10"))

    assert restarted.summary()["resting_take_profits"] == 0
    assert restarted.summary()["cycles_completed"] == 1


def test_denied_take_profit_is_retried_at_its_target_after_recheck_interval() -> None:
    strategy, ctx = make()
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    first = strategy.execute_strategy(ctx.quote("100.00", "100.10"))

    strategy.on_order_update(ctx.deny(first.orders[0], rule="order_rate", transient=True))  # the rate limit
    too_soon = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
    retried = step(strategy, ctx, ctx.quote("100.00", "100.10", after=4))

    assert [p.client_tag[:3] for p in too_soon.orders] == []
    assert [(p.quantity, p.price) for p in retried.orders if p.client_tag.startswith("tp:")] == [
        (QTY, first.orders[0].price)
    ]
    assert strategy.summary()["orders_lost"] == 0


def test_boost_close_fill_does_not_skip_the_cooldown() -> None:
    strategy, ctx = make(boost=True, wait_time=400)
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    close = step(strategy, ctx, ctx.quote("100.00", "100.10"))

    strategy.on_order_update(ctx.fill(ids(ctx, close)[0], price="100.00"))
    next_pass = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
    after_cooldown = step(strategy, ctx, ctx.quote("100.00", "100.10", after=99))

    assert next_pass.orders == ()  # no resting take-profit dropped: W/4 = 100 s applies
    assert kinds(after_cooldown) == ["open"]


# -- exits refused: transient causes are retried with back-off, permanent ones give up and ask REDUCING -----


def filled_take_profit(strategy: GridStrategy, ctx: FakeStrategyContext) -> tuple[StrategyResult, ClientOrderId]:
    """Open, fill it, run the pass that sends the take-profit; return that pass and the take-profit's id."""
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    result = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    assert kinds(result) == ["tp"]
    return result, ids(ctx, result)[0]


def tps_of(result: StrategyResult) -> list[tuple[Decimal | None, Decimal | None]]:
    return [(p.quantity, p.price) for p in result.orders if p.client_tag.startswith("tp:")]


@pytest.mark.parametrize(
    "reason", ["rate limited: 429 Too Many Requests", "not received by the exchange", "authentication failed"]
)
def test_take_profit_rejected_for_a_transient_cause_is_requeued_and_replaced_at_its_target(reason: str) -> None:
    strategy, ctx = make(recheck_interval=5)
    first, tp_id = filled_take_profit(strategy, ctx)

    strategy.on_order_update(ctx.reject(tp_id, transient=True, reason=reason))
    too_soon = step(strategy, ctx, ctx.quote("100.00", "100.10", after=4))
    retried = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))

    assert tps_of(too_soon) == []
    assert tps_of(retried) == [(QTY, first.orders[0].price)]  # the same target, not pulled to the touch
    assert strategy.summary()["orders_lost"] == 0
    assert retried.state_request is None


def test_take_profit_transient_retries_back_off_exponentially_up_to_exit_retry_max() -> None:
    strategy, ctx = make(recheck_interval=5, exit_retry_max=20)
    _, tp_id = filled_take_profit(strategy, ctx)
    waits: list[int | None] = []

    for _ in range(5):
        strategy.on_order_update(ctx.reject(tp_id, transient=True, reason="rate limited"))
        for waited in range(1, 61):  # one pass a second, for at most a minute
            result = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
            if tps_of(result):
                tp_id = ids(ctx, result)[0]
                waits.append(waited)
                break
        else:
            waits.append(None)  # not re-placed within a minute

    assert waits == [5, 10, 20, 20, 20]
    assert strategy.summary()["exit_transient_retries"] == 5
    assert strategy.summary()["orders_lost"] == 0


def test_retry_delay_is_capped_and_never_overflows_after_days_of_refusals() -> None:
    assert [retry_delay_ms(k, 5.0, 60.0) for k in range(6)] == [5000, 10000, 20000, 40000, 60000, 60000]
    assert retry_delay_ms(100_000, 5.0, 60.0) == 60000  # 2 ** 100000 would overflow a float


def test_take_profit_retry_alerts_once_when_the_wait_reaches_the_cap() -> None:
    strategy, ctx = make(recheck_interval=5, exit_retry_max=10)
    _, tp_id = filled_take_profit(strategy, ctx)

    with capture_logs() as logs:
        for _ in range(4):
            strategy.on_order_update(ctx.reject(tp_id, transient=True, reason="rate limited"))
            result = step(strategy, ctx, ctx.quote("100.00", "100.10", after=10))
            tp_id = ids(ctx, result)[0]

    retries = [e for e in logs if e["event"] == "grid_exit_retry"]
    assert [(e["retry_in_s"], e["alert"]) for e in retries] == [(5, False), (10, True), (10, False), (10, False)]


def test_take_profit_denied_for_a_transient_rule_is_retried_forever_not_lost() -> None:
    strategy, ctx = make(post_only_retries=1, recheck_interval=1, exit_retry_max=2)
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    result = strategy.execute_strategy(ctx.quote("100.00", "100.10"))

    for _ in range(20):  # far past post_only_retries: a denial that clears by itself is never a loss
        (tp,) = [p for p in result.orders if p.client_tag.startswith("tp:")]
        strategy.on_order_update(ctx.deny(tp, rule="stale_data", transient=True))
        result = strategy.execute_strategy(ctx.quote("100.00", "100.10", after=2))

    assert tps_of(result) == [(QTY, Decimal("100.12"))]
    assert strategy.summary()["orders_lost"] == 0


@pytest.mark.parametrize("refusal", ["rejected", "denied"])
def test_take_profit_refused_permanently_is_reported_lost_and_the_grid_asks_for_reducing(refusal: str) -> None:
    strategy, ctx = make(wait_time=4)  # the cooldown (1 s) is over at the next pass, and n dropped
    first, tp_id = filled_take_profit(strategy, ctx)

    with capture_logs() as logs:
        if refusal == "rejected":  # e.g. InsufficientFunds: the exchange's authoritative answer
            strategy.on_order_update(ctx.reject(tp_id, post_only=False, reason="insufficient balance"))
        else:  # a permanent rule: the same order would be refused again
            strategy.on_order_update(ctx.deny(first.orders[0], rule="market_limits", reason="price off the tick grid"))
        asking = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
        later = step(strategy, ctx, ctx.quote("100.00", "100.10", after=3600))

    request = asking.state_request
    assert request is not None
    assert request.state is TradingState.REDUCING
    assert "take-profit" in request.reason
    assert "1 BTC" in request.reason
    assert asking.orders == ()  # no open goes out with the request: the grid stops carrying on
    assert later.state_request is None  # asked once
    assert tps_of(later) == []
    assert strategy.summary()["orders_lost"] == 1
    assert strategy.summary()["unhedged_quantity"] == "1"
    (lost,) = [e for e in logs if e["event"] == "grid_exit_order_lost"]
    assert lost["alert"] is True


@pytest.mark.parametrize("by_operator", [True, False])
def test_take_profit_cancelled_by_the_operator_is_released_without_a_state_request(by_operator: bool) -> None:
    """Rule: the operator's cancel-all/flatten of a take-profit releases it (not put back, no REDUCING for the
    whole bot); a cancel nobody here asked for (the venue's, a human's on the website) is still a lost exit."""
    strategy, ctx = make(wait_time=4)
    _, tp_id = filled_take_profit(strategy, ctx)

    with capture_logs() as logs:
        strategy.on_order_update(ctx.cancel(tp_id, by_operator=by_operator))
        after = step(strategy, ctx, ctx.quote("100.00", "100.10", after=1))
        later = step(strategy, ctx, ctx.quote("100.00", "100.10", after=3600))

    summary = strategy.summary()
    assert tps_of(after) == []
    assert tps_of(later) == []
    assert summary["unhedged_quantity"] == "1"
    events = {e["event"] for e in logs}
    if by_operator:
        assert after.state_request is None
        assert later.state_request is None
        assert (summary["exits_released"], summary["orders_lost"]) == (1, 0)
        assert "grid_exit_released" in events
        assert "grid_exit_order_lost" not in events
    else:
        assert after.state_request is not None
        assert after.state_request.state is TradingState.REDUCING
        assert (summary["exits_released"], summary["orders_lost"]) == (0, 1)


def test_crossing_refusal_after_a_transient_one_goes_to_the_touch_and_resets_the_back_off() -> None:
    strategy, ctx = make(recheck_interval=5, exit_retry_max=60)
    _, tp_id = filled_take_profit(strategy, ctx)
    strategy.on_order_update(ctx.reject(tp_id, transient=True, reason="rate limited"))
    retried = step(strategy, ctx, ctx.quote("100.00", "100.10", after=5))
    strategy.on_order_update(ctx.reject(ids(ctx, retried)[0]))  # post-only would cross
    at_touch = step(strategy, ctx, ctx.quote("100.50", "100.60"))
    strategy.on_order_update(ctx.reject(ids(ctx, at_touch)[0], transient=True, reason="rate limited"))

    after_5s = step(strategy, ctx, ctx.quote("100.50", "100.60", after=5))

    assert tps_of(at_touch) == [(QTY, Decimal("100.60"))]
    assert tps_of(after_5s) == [(QTY, Decimal("100.60"))]  # the back-off started over: 5 s, not 10 s


# -- exits survive a restart, and are never sent twice --------------------------------------------------


def snapshot_between_fill_and_take_profit(strategy: GridStrategy, ctx: FakeStrategyContext) -> dict[str, Any]:
    """Fill an open order, then take the snapshot before the pass that would send its take-profit."""
    order = open_order(strategy, ctx)
    strategy.on_order_update(ctx.fill(order.client_order_id))
    state: dict[str, Any] = json.loads(json.dumps(strategy.snapshot()))  # JSON-serialisable
    return state


def restarted(state: dict[str, Any], ctx: FakeStrategyContext, **overrides: Any) -> GridStrategy:
    strategy = GridStrategy(GridParams(**{"quantity": QTY, **overrides}))
    strategy.initialize(ctx)
    strategy.restore(state)
    return strategy


def test_queued_take_profit_survives_snapshot_and_restore_and_goes_out_at_the_first_pass() -> None:
    strategy, ctx = make()
    state = snapshot_between_fill_and_take_profit(strategy, ctx)

    grid = restarted(state, ctx)
    first = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))
    second = step(grid, ctx, ctx.quote("100.00", "100.10", after=1))

    assert [e["kind"] for e in state["exits"]] == ["tp"]
    assert tps_of(first) == [(QTY, Decimal("100.12"))]  # 100.09 × 1.0002, rounded up
    assert tps_of(second) == []  # once
    assert grid.summary()["resting_take_profits"] == 1


def test_queued_boost_close_survives_a_restart_too() -> None:
    strategy, ctx = make(boost=True)
    state = snapshot_between_fill_and_take_profit(strategy, ctx)

    first = step(restarted(state, ctx, boost=True), ctx, ctx.quote("100.00", "100.10", after=60))

    assert [(p.side, p.order_type, p.quantity) for p in first.orders] == [(OrderSide.SELL, OrderType.MARKET, QTY)]


def test_restored_exit_that_had_been_sent_and_rests_is_adopted_not_sent_again() -> None:
    strategy, ctx = make()
    state = snapshot_between_fill_and_take_profit(strategy, ctx)
    step(strategy, ctx, ctx.quote("100.00", "100.10"))  # the take-profit went out after that snapshot

    grid = restarted(state, ctx)
    first = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))

    assert tps_of(first) == []
    assert grid.summary()["resting_take_profits"] == 1
    assert len([o for o in ctx.orders.values() if o.side is OrderSide.SELL]) == 1


def test_restored_exit_that_filled_while_down_completes_the_cycle_and_is_not_sent_again() -> None:
    strategy, ctx = make()
    state = snapshot_between_fill_and_take_profit(strategy, ctx)
    sent = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    ctx.fill(ids(ctx, sent)[0])  # filled while the bot was down

    grid = restarted(state, ctx)
    first = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))

    assert tps_of(first) == []
    assert grid.summary()["cycles_completed"] == 1
    assert grid.summary()["resting_take_profits"] == 0


def test_restored_exit_whose_intent_never_reached_the_exchange_is_sent_again_once() -> None:
    strategy, ctx = make()
    state = snapshot_between_fill_and_take_profit(strategy, ctx)
    sent = step(strategy, ctx, ctx.quote("100.00", "100.10"))
    ctx.reject(ids(ctx, sent)[0], transient=True, reason="not received by the exchange")  # reconciliation's verdict

    grid = restarted(state, ctx)
    first = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))
    second = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))

    assert tps_of(first) + tps_of(second) == [(QTY, Decimal("100.12"))]
    assert grid.summary()["orders_lost"] == 0


def test_restored_take_profit_found_rejected_at_restart_is_retried_not_lost() -> None:
    strategy, ctx = make()
    _, tp_id = filled_take_profit(strategy, ctx)
    state = json.loads(json.dumps(strategy.snapshot()))  # the take-profit was sent: it is in "legs"
    ctx.reject(tp_id, transient=True, reason="not received by the exchange")  # found so at reconciliation

    grid = restarted(state, ctx)
    first = step(grid, ctx, ctx.quote("100.00", "100.10", after=60))
    retried = step(grid, ctx, ctx.quote("100.00", "100.10", after=5))

    assert tps_of(first) + tps_of(retried) == [(QTY, Decimal("100.12"))]
    assert grid.summary()["orders_lost"] == 0


def test_version_1_snapshot_without_exits_still_restores() -> None:
    strategy, ctx = make()
    filled_take_profit(strategy, ctx)
    state = json.loads(json.dumps(strategy.snapshot()))
    state["version"] = 1
    del state["exits"]

    grid = restarted(state, ctx)
    step(grid, ctx, ctx.quote("100.00", "100.10", after=60))

    assert grid.summary()["resting_take_profits"] == 1
