"""Enumerations of the domain: sides, order types, statuses, trading states, strategy actions."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "LiquiditySide",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PositionSide",
    "StrategyAction",
    "TimeInForce",
    "TradingState",
]


class OrderSide(StrEnum):
    """Side of an order or of a fill."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        """Return the other side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY

    @property
    def sign(self) -> int:
        """Return +1 for buy, -1 for sell (the sign of the position change)."""
        return 1 if self is OrderSide.BUY else -1


class OrderType(StrEnum):
    """How an order is priced."""

    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"


class TimeInForce(StrEnum):
    """How long an order stays on the book."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    """State of an order in its life cycle; see ``orders.ORDER_TRANSITIONS`` for the legal moves."""

    INITIALIZED = "initialized"      # intent approved by risk, journaled, not yet sent
    DENIED = "denied"                # refused by the RiskManager, never sent
    SUBMITTED = "submitted"          # request sent, no answer yet
    ACCEPTED = "accepted"            # resting on the exchange
    PENDING_CANCEL = "pending_cancel"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"            # refused by the exchange
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Return True when no further transition is possible."""
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Return True while the order may still rest or fill on the exchange."""
        return self in _OPEN


_TERMINAL = frozenset(
    {OrderStatus.DENIED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
_OPEN = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PENDING_CANCEL, OrderStatus.PARTIALLY_FILLED}
)


class LiquiditySide(StrEnum):
    """Whether a fill added (maker) or took (taker) liquidity."""

    MAKER = "maker"
    TAKER = "taker"


class TradingState(StrEnum):
    """The kill switch: ACTIVE trades, REDUCING only lets position-reducing orders out, HALTED none."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def restriction(self) -> int:
        """How restrictive the state is: ACTIVE 0 < REDUCING 1 < HALTED 2."""
        return _RESTRICTION[self]

    def stricter(self, other: TradingState) -> TradingState:
        """Return the more restrictive of this state and ``other``."""
        return other if _RESTRICTION[other] > _RESTRICTION[self] else self


_RESTRICTION = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class PositionSide(StrEnum):
    """The side of a position: long (quantity > 0), short (< 0) or flat (0)."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class StrategyAction(StrEnum):
    """What a StrategyResult asks the supervisor to do."""

    NONE = "none"
    PLACE_ORDER = "place_order"
    CANCEL_ORDER = "cancel_order"
    CLOSE_POSITION = "close_position"
    WAIT = "wait"
