"""Order events: one frozen class per transition, stamped by the injected clock (``ts_ms``).

The order manager emits them; the strategy receives them through ``on_order_update``; the journal and
the logs record them. Each carries the order's ``client_order_id`` and the strategy's ``client_tag``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain.enums import OrderSide
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.ids import ExchangeOrderId
from trading_bot.domain.ids import Symbol
from trading_bot.domain.orders import Fill
from trading_bot.domain.values import ZERO

__all__ = [
    "OrderAccepted",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderPartiallyFilled",
    "OrderRejected",
    "OrderSubmitted",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """Base of every order event."""

    client_order_id: ClientOrderId
    symbol: Symbol
    side: OrderSide
    ts_ms: int
    client_tag: str = ""

    @property
    def name(self) -> str:
        """Return the snake_case event name used in logs (``order_filled``)."""
        return _EVENT_NAMES[type(self)]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    """The request left for the exchange (after the intent was journaled)."""

    quantity: Decimal
    price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderDenied(OrderEvent):
    """The RiskManager refused the order; nothing was sent. ``rule`` names the rule that said no.

    ``transient`` is True when the same order may pass later unchanged: the rule depends on time, the
    market or state that changes by itself (the order rate, stale data, the trading state...; see
    ``risk.rules``), or the exchange asked us to wait (``rate_limit_backoff``).
    """

    rule: str
    reason: str
    transient: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(OrderEvent):
    """The exchange acknowledged the order and it rests on the book."""

    exchange_order_id: ExchangeOrderId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    """The exchange refused the order, or it never reached the exchange.

    The order manager classifies the refusal once, where it knows the cause:

    * ``post_only``: refused for crossing (a post-only order would have taken); a retry needs a new price.
    * ``transient``: the refusal says nothing about the order itself, so the same order may be sent again
      later: a rate limit (429), "not received by the exchange" after an unknown outcome (a 5xx, a
      timeout), a clock-skew or authentication failure of the request.
    * neither: permanent (filters, insufficient funds, any other refusal); sending it again would fail.
    """

    reason: str
    post_only: bool = False
    transient: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPartiallyFilled(OrderEvent):
    """Part of the order filled; ``filled_quantity`` is cumulative, ``fill`` is this execution."""

    fill: Fill
    filled_quantity: Decimal
    leaves_quantity: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(OrderEvent):
    """The order filled completely (``fill`` is the last execution)."""

    fill: Fill
    filled_quantity: Decimal
    average_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    """The order left the book by cancellation; ``filled_quantity`` is what filled before that.

    ``by_operator`` is True when the operator's ``cancel-all`` or ``flatten`` pulled it
    (``trading_bot.runtime.operator``): a strategy should neither put it back nor count it as lost.
    """

    filled_quantity: Decimal = ZERO
    by_operator: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(OrderEvent):
    """The order left the book because its time in force ran out (IOC/FOK remainder)."""

    filled_quantity: Decimal = ZERO


_EVENT_NAMES: dict[type[OrderEvent], str] = {
    OrderEvent: "order_event",
    OrderSubmitted: "order_submitted",
    OrderDenied: "order_denied",
    OrderAccepted: "order_accepted",
    OrderRejected: "order_rejected",
    OrderPartiallyFilled: "order_partially_filled",
    OrderFilled: "order_filled",
    OrderCanceled: "order_canceled",
    OrderExpired: "order_expired",
}
