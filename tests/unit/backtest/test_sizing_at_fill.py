"""Sizing at the fill: a market order with ``quote_quantity`` is sized at the price it fills at.

The rule (``OrderParams.quote_quantity``, ``exchanges.backtest.BarExchange``): on bars the order fills at
the next open for ``lot-step-floor(amount / (open × (1 + fee)))``, so an all-in entry buys more after a
gap down, fewer after a gap up, and never spends more than the amount.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exchanges.backtest import BarExchange
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol

D = Decimal
SYMBOL = Symbol("GOOG/USD")
SHARES = Market(symbol=SYMBOL, base="GOOG", quote="USD", price_increment=D("0.01"), amount_increment=D(1))
FEE = D("0.002")
CASH = D(10_000)


def _run(next_open: str, amount: Decimal = CASH) -> tuple[list[Fill], list[OrderStatusReport], BarExchange]:
    """Place an all-in buy (estimate at the close 100) on bar 0; bar 1 opens at ``next_open``."""
    bars = [Bar(ts_ms=0, open=D(100), high=D(101), low=D(99), close=D(100)),
            Bar(ts_ms=86_400_000, open=D(next_open), high=D(200), low=D(1), close=D(next_open))]  # fmt: skip
    ex = BarExchange(market=SHARES, bars=bars, bar_ms=86_400_000, clock=SimulatedClock(), balances={"USD": CASH},
                     fee=FEE, slippage_bps=D(0))  # fmt: skip
    updates: list[Fill | OrderStatusReport] = []
    ex.attach(updates.append)
    estimate = SHARES.round_amount(amount / (D(100) * (1 + FEE)))  # 99 shares at the close
    params = OrderParams(side=OrderSide.BUY, quantity=estimate, order_type=OrderType.MARKET, quote_quantity=amount)

    async def go() -> None:
        first = True
        async for _ in ex.stream_market_data(SYMBOL):
            if first:
                await ex.place_order(SYMBOL, params, estimate, ClientOrderId("e-1"))
                first = False

    asyncio.run(go())
    fills = [u for u in updates if isinstance(u, Fill)]
    return fills, [u for u in updates if isinstance(u, OrderStatusReport)], ex


def test_a_gap_down_buys_more_shares_than_the_close_estimate_and_the_order_is_filled() -> None:
    """Open 90 after a close of 100: floor(10000 / (90 × 1.002)) = 110 shares, not the 99 estimated."""
    fills, reports, ex = _run("90")

    assert [f.quantity for f in fills] == [D(110)]
    assert not [r for r in reports if r.status is OrderStatus.EXPIRED]
    assert asyncio.run(ex.fetch_order(SYMBOL, ClientOrderId("e-1"))).status is OrderStatus.FILLED  # type: ignore[union-attr]


def test_a_gap_up_buys_fewer_shares_and_never_overspends() -> None:
    """Open 110: floor(10000 / (110 × 1.002)) = 90 shares; cost + fee <= 10000; the order is FILLED at 90."""
    fills, reports, ex = _run("110")

    assert [f.quantity for f in fills] == [D(90)]
    assert fills[0].price * fills[0].quantity + fills[0].fee <= CASH
    assert not [r for r in reports if r.status is OrderStatus.EXPIRED]
    order = asyncio.run(ex.fetch_order(SYMBOL, ClientOrderId("e-1")))
    assert order is not None
    assert (order.status, order.quantity) == (OrderStatus.FILLED, D(90))
    assert asyncio.run(ex.fetch_balance())["USD"].free == CASH - (D(9900) + D("19.8"))


@pytest.mark.parametrize("next_open", ["50", "99.99", "100", "100.01", "333.33"])
def test_the_fill_leaves_less_idle_cash_than_one_more_share_would_cost(next_open: str) -> None:
    """All in: what is left is below the price of one more share with its fee (no idle cash after a gap)."""
    fills, _, ex = _run(next_open)

    left = asyncio.run(ex.fetch_balance())["USD"].free
    assert D(0) <= left < D(next_open) * (1 + FEE)
    assert fills[0].quantity == (CASH / (D(next_open) * (1 + FEE))).to_integral_value(rounding="ROUND_FLOOR")


def test_an_amount_below_one_lot_at_the_fill_expires_without_a_fill() -> None:
    """150 USD (one share at the close 100) at an open of 160 buys no whole share: it expires, nothing spent."""
    fills, reports, ex = _run("160", amount=D(150))

    assert fills == []
    assert [r.status for r in reports] == [OrderStatus.EXPIRED]
    assert asyncio.run(ex.fetch_balance())["USD"].free == CASH


@pytest.mark.parametrize(("next_open", "shares"), [("90", 110), ("110", 90)])
def test_the_bots_order_takes_the_filled_quantity_and_is_filled(next_open: str, shares: int) -> None:
    """Order.apply_fill: a quote-sized order's quantity (an estimate of 99) becomes what filled, FILLED."""
    params = OrderParams(side=OrderSide.BUY, quantity=D(99), order_type=OrderType.MARKET, quote_quantity=CASH)
    order = Order.from_params(params, ClientOrderId("e-1"), SYMBOL, D(99), 0)
    order.transition(OrderStatus.SUBMITTED, 0)
    order.transition(OrderStatus.ACCEPTED, 0)
    fills, _, _ = _run(next_open)

    order.apply_fill(fills[0])

    assert (order.quantity, order.filled_quantity, order.status) == (D(shares), D(shares), OrderStatus.FILLED)


@pytest.mark.parametrize("kind", [OrderType.LIMIT, OrderType.STOP_MARKET])
def test_quote_quantity_is_for_market_orders_only(kind: OrderType) -> None:
    """A limit or stop with quote_quantity is refused when built: its size is known at its own price."""
    with pytest.raises(ValueError, match="quote_quantity"):
        OrderParams(side=OrderSide.BUY, quantity=D(1), price=D(1), trigger_price=D(1), order_type=kind,
                    quote_quantity=D(10))  # fmt: skip
