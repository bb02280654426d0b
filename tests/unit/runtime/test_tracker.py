"""OrderTracker: fills applied once, reports move states, foreign orders left alone."""

from decimal import Decimal

from trading_bot.domain import ClientOrderId
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderAccepted
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderPartiallyFilled
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.runtime.orders.tracker import OrderTracker

D = Decimal
SYM = Symbol("BTC/USDT")


def _tracked(qty: str = "1") -> tuple[OrderTracker, Order]:
    tracker = OrderTracker("tb1-")
    params = OrderParams(side=OrderSide.BUY, quantity=D(qty), price=D("100"), client_tag="open")
    order = Order.from_params(params, ClientOrderId("tb1-7"), SYM, D(qty), 0)
    tracker.add(order)
    order.transition(OrderStatus.SUBMITTED, 1)
    return tracker, order


def _fill(qty: str, trade: str, coid: str = "tb1-7") -> Fill:
    return Fill(
        trade_id=TradeId(trade), client_order_id=ClientOrderId(coid), symbol=SYM, side=OrderSide.BUY,
        quantity=D(qty), price=D("100"), fee=D("0"), fee_currency="USDT", ts_ms=10,
    )


def _report(status: OrderStatus, coid: str = "tb1-7") -> OrderStatusReport:
    return OrderStatusReport(
        client_order_id=ClientOrderId(coid), symbol=SYM, status=status, ts_ms=5,
        exchange_order_id=ExchangeOrderId("99"),
    )


def test_apply_fill_when_same_trade_id_arrives_twice_applies_it_once() -> None:
    tracker, order = _tracked("1")
    first = tracker.apply_fill(_fill("0.4", "t1"))
    second = tracker.apply_fill(_fill("0.4", "t1"))
    assert isinstance(first, OrderPartiallyFilled)
    assert second is None
    assert order.filled_quantity == D("0.4")
    assert tracker.duplicate_fills == 1


def test_apply_fill_when_it_completes_the_order_emits_filled_and_closes_it() -> None:
    tracker, order = _tracked("1")
    event = tracker.apply_fill(_fill("1", "t1"))
    assert isinstance(event, OrderFilled)
    assert tracker.open_count == 0
    assert tracker.get(order.client_order_id) is order


def test_late_fill_after_cancel_still_counts_and_emits_a_fill_event() -> None:
    tracker, order = _tracked("1")
    canceled = tracker.apply_report(_report(OrderStatus.CANCELED))
    late = tracker.apply_fill(_fill("0.3", "t9"))
    assert isinstance(canceled, OrderCanceled)
    assert isinstance(late, OrderPartiallyFilled)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_quantity == D("0.3")


def test_accepted_report_sets_exchange_id_once_and_repeats_are_silent() -> None:
    tracker, order = _tracked()
    assert isinstance(tracker.apply_report(_report(OrderStatus.ACCEPTED)), OrderAccepted)
    assert tracker.apply_report(_report(OrderStatus.ACCEPTED)) is None
    assert order.exchange_order_id == "99"


def test_filled_report_without_fills_does_not_invent_filled_quantity() -> None:
    tracker, order = _tracked()
    tracker.apply_report(_report(OrderStatus.FILLED))
    assert order.filled_quantity == 0
    assert order.status is OrderStatus.ACCEPTED


def test_updates_for_foreign_client_ids_are_ignored() -> None:
    tracker, _ = _tracked()
    assert tracker.apply_fill(_fill("1", "t5", coid="other-1")) is None
    assert tracker.apply_report(_report(OrderStatus.CANCELED, coid="x-TKT5PX2F-abc")) is None
    assert not tracker.is_ours("other-1")
    assert tracker.is_ours("tb1-123")
