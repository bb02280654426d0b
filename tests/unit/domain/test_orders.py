"""The order state machine and fills (domain/orders.py)."""

from decimal import Decimal

import pytest

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import InvalidOrderTransition
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.domain import make_client_order_id
from trading_bot.domain.ids import validate_bot_id

D = Decimal


def _order(qty: str = "1") -> Order:
    params = OrderParams(side=OrderSide.BUY, quantity=D(qty), price=D("100"))
    return Order.from_params(params, ClientOrderId("tb1-1"), Symbol("BTC/USDT"), D(qty), 0)


def _fill(qty: str, price: str = "100", trade: str = "t1") -> Fill:
    return Fill(
        trade_id=TradeId(trade), client_order_id=ClientOrderId("tb1-1"), symbol=Symbol("BTC/USDT"),
        side=OrderSide.BUY, quantity=D(qty), price=D(price), fee=D("0.1"), fee_currency="USDT", ts_ms=5,
    )


def test_transition_when_table_forbids_it_raises_invalid_order_transition() -> None:
    order = _order()
    with pytest.raises(InvalidOrderTransition):
        order.transition(OrderStatus.FILLED, 1)  # INITIALIZED -> FILLED skips SUBMITTED


def test_transition_from_terminal_state_is_refused() -> None:
    order = _order()
    order.transition(OrderStatus.SUBMITTED, 1)
    order.transition(OrderStatus.CANCELED, 2)
    with pytest.raises(InvalidOrderTransition):
        order.transition(OrderStatus.ACCEPTED, 3)


def test_apply_fill_when_partial_then_full_moves_partially_filled_then_filled_with_average() -> None:
    order = _order("2")
    order.transition(OrderStatus.SUBMITTED, 1)
    order.transition(OrderStatus.ACCEPTED, 2)
    order.apply_fill(_fill("0.5", "100", "t1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply_fill(_fill("1.5", "104", "t2"))
    assert order.status is OrderStatus.FILLED
    assert order.average_price == D("103")
    assert order.leaves_quantity == 0
    assert order.fees == D("0.2")


def test_apply_fill_after_cancel_counts_quantity_but_keeps_terminal_status() -> None:
    order = _order("1")
    order.transition(OrderStatus.SUBMITTED, 1)
    order.transition(OrderStatus.CANCELED, 2)
    order.apply_fill(_fill("0.4"))
    assert order.status is OrderStatus.CANCELED
    assert order.filled_quantity == D("0.4")


def test_order_params_when_limit_without_price_are_refused() -> None:
    with pytest.raises(ValueError, match="limit order needs a price"):
        OrderParams(side=OrderSide.BUY, quantity=D("1"))


def test_order_params_when_post_only_market_are_refused() -> None:
    with pytest.raises(ValueError, match="post_only"):
        OrderParams(side=OrderSide.BUY, quantity=D("1"), order_type=OrderType.MARKET, post_only=True)


def test_client_order_id_is_prefixed_sequence_within_36_characters() -> None:
    coid = make_client_order_id("a" * 20, 10**14)
    assert coid == "a" * 20 + "-" + str(10**14)
    assert len(coid) <= 36
    with pytest.raises(ValueError, match="longer than 36"):
        make_client_order_id("a" * 20, 10**15)


def test_bot_id_with_dash_is_refused_so_the_prefix_stays_unambiguous() -> None:
    with pytest.raises(ValueError, match="bot id"):
        validate_bot_id("my-bot")
