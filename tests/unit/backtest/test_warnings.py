"""``trading_bot.backtest.warnings``: one warning per (kind, rule), exact counts, the first reason kept."""

from __future__ import annotations

from decimal import Decimal

from trading_bot.backtest.warnings import RunWarning
from trading_bot.backtest.warnings import WarningCollector
from trading_bot.domain import ClientOrderId
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import Symbol

_BASE = {"symbol": Symbol("BTC/USDT"), "side": OrderSide.SELL, "ts_ms": 0}


def _coid(n: int) -> ClientOrderId:
    return ClientOrderId(f"bt-{n}")


def test_denials_and_rejections_are_grouped_by_rule_with_the_first_reason() -> None:
    """Rule: counts are exact per (kind, rule), in first-seen order; only the first reason is kept."""
    c = WarningCollector()
    c.observe(OrderDenied(client_order_id=_coid(1), rule="balance", reason="first", **_BASE))
    c.observe(OrderSubmitted(client_order_id=_coid(2), quantity=Decimal(1), **_BASE))
    c.observe(OrderRejected(client_order_id=_coid(2), reason="would take", post_only=True, **_BASE))
    c.observe(OrderDenied(client_order_id=_coid(3), rule="balance", reason="second", **_BASE))
    assert c.warnings(fills=5) == (
        RunWarning(kind="denied", rule="balance", count=2, first_reason="first"),
        RunWarning(kind="rejected", rule="post_only", count=1, first_reason="would take"),
    )


def test_no_fill_comes_last_and_says_what_was_tried() -> None:
    """Rule: a run without fills gets a ``no_fill`` warning counting the orders submitted."""
    c = WarningCollector()
    c.observe(OrderSubmitted(client_order_id=_coid(1), quantity=Decimal(1), **_BASE))
    c.observe(OrderRejected(client_order_id=_coid(1), reason="needs 10 USDT, free 5 USDT", **_BASE))
    rejected, no_fill = c.warnings(fills=0)
    assert rejected.line() == "1 order rejected (refused); first: needs 10 USDT, free 5 USDT"
    assert no_fill.kind == "no_fill"
    assert no_fill.count == 1
    assert no_fill.line() == "no fill: orders: 1 submitted, 0 denied, 1 rejected, none filled"
    assert WarningCollector().warnings(fills=0)[0].first_reason == "the strategy placed no order"
