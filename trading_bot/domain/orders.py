"""Orders: the intent (``OrderParams``), the tracked ``Order`` with its state machine, fills and reports.

An ``Order`` moves only along ``ORDER_TRANSITIONS``; anything else raises ``InvalidOrderTransition``
(a bug, never an operating condition). Fills are facts keyed by ``trade_id``; the order tracker applies
each one once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from trading_bot.domain.enums import LiquiditySide
from trading_bot.domain.enums import OrderSide
from trading_bot.domain.enums import OrderStatus
from trading_bot.domain.enums import OrderType
from trading_bot.domain.enums import TimeInForce
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.ids import ExchangeOrderId
from trading_bot.domain.ids import Symbol
from trading_bot.domain.ids import TradeId
from trading_bot.domain.instrument import InstrumentId
from trading_bot.domain.values import ZERO

__all__ = [
    "ORDER_TRANSITIONS",
    "Fill",
    "InvalidOrderTransition",
    "Order",
    "OrderParams",
    "OrderStatusReport",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class InvalidOrderTransition(ValueError):
    """An order was asked to move between two states the transition table does not link."""


S = OrderStatus
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        S.INITIALIZED: frozenset({S.SUBMITTED, S.DENIED, S.REJECTED}),
        S.SUBMITTED: frozenset(
            {S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL}
        ),
        S.ACCEPTED: frozenset({S.PENDING_CANCEL, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
        S.PENDING_CANCEL: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
        S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.FILLED, S.CANCELED, S.EXPIRED}),
        S.DENIED: frozenset(),
        S.FILLED: frozenset(),
        S.CANCELED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    }
)
del S


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderParams:
    """What a strategy asks for: one order, before risk checks and before it has a client id.

    Attributes:
        side: buy or sell.
        quantity: base-currency amount; ``None`` lets the configured position sizer choose.
        price: limit price in quote currency (``None`` for market orders).
        order_type: limit, market or stop-market.
        time_in_force: GTC, IOC or FOK.
        post_only: maker only; the exchange rejects it if it would take.
        reduce_only: may only reduce the position (derivatives; also honoured by the REDUCING state).
        trigger_price: stop price for ``STOP_MARKET``.
        client_tag: the strategy's own label (``"open"``, ``"tp"``); it comes back on every event.
        metadata: free-form annotations for logs and the journal (never sent to the exchange).
        instrument: the instrument to trade, for a strategy that declared several; ``None`` means the
            strategy's primary instrument (its first, or the one a single-instrument strategy runs on).
        quote_quantity: market orders only: the amount to spend (buy) or receive (sell), quote currency,
            fees included; the venue resolves the quantity **at the fill price**:
            ``lot-step-floor(quote_quantity / (fill price × (1 + taker fee)))``. ``quantity`` is then the
            estimate at the reference price that risk checks use; the filled quantity may be larger (the
            price gapped down) or smaller (gapped up) and becomes the order's quantity (``Order.apply_fill``);
            the amount is never exceeded.
    """

    side: OrderSide
    quantity: Decimal | None = None
    price: Decimal | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    client_tag: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    instrument: InstrumentId | None = None
    quote_quantity: Decimal | None = None

    def __post_init__(self) -> None:
        if self.quantity is not None and self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")
        if self.quote_quantity is not None and (self.order_type is not OrderType.MARKET or not self.quote_quantity > 0):
            raise ValueError(f"quote_quantity must be > 0 on a market order, got {self.quote_quantity}")
        if self.order_type is OrderType.LIMIT and (self.price is None or self.price <= 0):
            raise ValueError(f"a limit order needs a price > 0, got {self.price}")
        if self.order_type is OrderType.STOP_MARKET and (self.trigger_price is None or self.trigger_price <= 0):
            raise ValueError(f"a stop order needs a trigger_price > 0, got {self.trigger_price}")
        if self.post_only and self.order_type is not OrderType.LIMIT:
            raise ValueError("post_only applies to limit orders only")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution of (part of) an order, as reported by the exchange or the simulator.

    ``fee`` is in ``fee_currency`` (quote currency on the simulators and on most spot venues).
    """

    trade_id: TradeId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int
    liquidity: LiquiditySide = LiquiditySide.TAKER
    exchange_order_id: ExchangeOrderId | None = None

    @property
    def notional(self) -> Decimal:
        """Return ``price × quantity`` in quote currency."""
        return self.price * self.quantity

    @property
    def fee_in_base(self) -> bool:
        """Return True when the fee is charged in the base currency of ``symbol`` (``BASE/QUOTE[:SETTLE]``), as
        Binance spot charges a buy's fee in the coin bought: the account then received ``quantity − fee``."""
        base, _, rest = self.symbol.partition("/")
        return bool(self.fee_currency) and self.fee_currency == base and base != rest.partition(":")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatusReport:
    """The exchange's view of one order at one moment (an ack, a status update, a lookup result).

    ``filled_quantity`` is cumulative. ``reason`` explains a rejection or expiry; ``transient`` marks a
    REJECTED report whose cause says nothing about the order (it never reached the exchange).
    """

    client_order_id: ClientOrderId
    symbol: Symbol
    status: OrderStatus
    ts_ms: int
    exchange_order_id: ExchangeOrderId | None = None
    side: OrderSide | None = None
    order_type: OrderType | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    filled_quantity: Decimal = ZERO
    average_price: Decimal | None = None
    reason: str = ""
    transient: bool = False


@dataclass(slots=True, kw_only=True)
class Order:
    """An order the bot owns, from intent to final state.

    Mutable on purpose: it is the tracker's record, changed only through ``transition`` and
    ``apply_fill``. Strategies see it through the read-only context and must not change it.
    """

    client_order_id: ClientOrderId
    symbol: Symbol
    side: OrderSide
    quantity: Decimal
    order_type: OrderType
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    client_tag: str = ""
    status: OrderStatus = OrderStatus.INITIALIZED
    exchange_order_id: ExchangeOrderId | None = None
    filled_quantity: Decimal = ZERO
    average_price: Decimal | None = None
    fees: Decimal = ZERO
    created_ms: int = 0
    updated_ms: int = 0
    reason: str = ""
    quote_quantity: Decimal | None = None

    @classmethod
    def from_params(
        cls, params: OrderParams, client_order_id: ClientOrderId, symbol: Symbol, quantity: Decimal, ts_ms: int
    ) -> Order:
        """Create the INITIALIZED order for an approved intent with its final ``quantity``."""
        return cls(
            client_order_id=client_order_id,
            symbol=symbol,
            side=params.side,
            quantity=quantity,
            order_type=params.order_type,
            price=params.price,
            time_in_force=params.time_in_force,
            post_only=params.post_only,
            reduce_only=params.reduce_only,
            trigger_price=params.trigger_price,
            client_tag=params.client_tag,
            created_ms=ts_ms,
            updated_ms=ts_ms,
            quote_quantity=params.quote_quantity,
        )

    @property
    def leaves_quantity(self) -> Decimal:
        """Return the quantity still to fill (zero once terminal)."""
        if self.status.is_terminal:
            return ZERO
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """Return True while the order may still rest or fill."""
        return self.status.is_open

    def can_transition(self, status: OrderStatus) -> bool:
        """Return True if ``status`` is reachable from the current state in one step."""
        return status in ORDER_TRANSITIONS[self.status]

    def transition(self, status: OrderStatus, ts_ms: int, reason: str = "") -> None:
        """Move to ``status``; raise ``InvalidOrderTransition`` if the table forbids it."""
        if status not in ORDER_TRANSITIONS[self.status]:
            raise InvalidOrderTransition(
                f"order {self.client_order_id}: {self.status.value} -> {status.value} is not allowed"
            )
        self.status = status
        self.updated_ms = max(self.updated_ms, ts_ms)
        if reason:
            self.reason = reason

    def apply_fill(self, fill: Fill) -> None:
        """Add one fill to the cumulative quantity, average price and fees.

        The status moves to PARTIALLY_FILLED or FILLED when the order is still live. An order sized by
        ``quote_quantity`` takes the filled quantity as its quantity (it was an estimate) and is FILLED.
        A fill that arrives after the order went terminal (a cancel that raced a fill) still counts:
        quantity and average change, the status does not, except CANCELED/EXPIRED orders whose fills complete them.
        """
        new_filled = self.filled_quantity + fill.quantity
        if self.quote_quantity is not None:
            self.quantity = new_filled  # sized at the fill price: what filled is the order (see OrderParams)
        if self.average_price is None or self.filled_quantity == 0:
            self.average_price = fill.price
        else:
            self.average_price = (self.average_price * self.filled_quantity + fill.price * fill.quantity) / new_filled
        self.filled_quantity = new_filled
        self.fees += fill.fee
        self.updated_ms = max(self.updated_ms, fill.ts_ms)
        if self.status.is_terminal:
            return
        target = OrderStatus.FILLED if new_filled >= self.quantity else OrderStatus.PARTIALLY_FILLED
        if self.status is OrderStatus.PENDING_CANCEL and target is OrderStatus.PARTIALLY_FILLED:
            return  # keep waiting for the cancel's answer
        self.transition(target, fill.ts_ms)
