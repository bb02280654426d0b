"""What a strategy returns: ``StrategyResult`` (seed 003's contract, kept), and ``StateRequest``."""

from __future__ import annotations

from dataclasses import dataclass

from trading_bot.domain.enums import StrategyAction
from trading_bot.domain.enums import TradingState
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.orders import OrderParams

__all__ = ["StateRequest", "StrategyResult"]

@dataclass(frozen=True, slots=True, kw_only=True)
class StateRequest:
    """A strategy's request to restrict trading, with the reason (for the log and the operator).

    Strategies cannot touch the trading state themselves; they ask through their result and the
    supervisor applies the request only when it is more restrictive than the current state (never back
    towards ACTIVE: lifting it is the operator's decision), logging ``strategy_requested_state``.

    Attributes:
        state: REDUCING (only position-reducing orders go out) or HALTED (no orders); never ACTIVE.
        reason: why, in words an operator can act on.

    Raises:
        ValueError: ``state`` is ACTIVE.
    """

    state: TradingState
    reason: str

    def __post_init__(self) -> None:
        if self.state is TradingState.ACTIVE:
            raise ValueError("a strategy may only restrict trading (REDUCING or HALTED), not resume it")

    def restricts(self, current: TradingState) -> bool:
        """Return True when ``state`` is more restrictive than ``current`` (so applying it changes something)."""
        return self.state.restriction > current.restriction


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyResult:
    """A strategy's decision for one market event.

    Attributes:
        action: what to do; ``PLACE_ORDER`` sends ``orders``, ``CANCEL_ORDER`` cancels ``cancel``,
            ``CLOSE_POSITION`` flattens the strategy's position at market, ``WAIT`` skips decisions for
            ``wait_time`` seconds of clock time, ``NONE`` does nothing.
        orders: intents for PLACE_ORDER (each goes through the sizer and the RiskManager).
        cancel: client order ids of the strategy's own orders to cancel (honoured with any action).
        message: a human note for the log.
        wait_time: seconds (clock time) for WAIT.
        state_request: ask the supervisor to restrict trading (honoured with any action, before the
            orders of this result are sent).
    """

    action: StrategyAction = StrategyAction.NONE
    orders: tuple[OrderParams, ...] = ()
    cancel: tuple[ClientOrderId, ...] = ()
    message: str = ""
    wait_time: float = 0.0
    state_request: StateRequest | None = None

    @classmethod
    def nothing(cls) -> StrategyResult:
        """Return the shared do-nothing result."""
        return _NOTHING

    @classmethod
    def place(cls, *orders: OrderParams, message: str = "") -> StrategyResult:
        """Return a PLACE_ORDER result for ``orders``."""
        return cls(action=StrategyAction.PLACE_ORDER, orders=orders, message=message)

    @classmethod
    def cancel_orders(cls, *client_order_ids: ClientOrderId, message: str = "") -> StrategyResult:
        """Return a CANCEL_ORDER result for the strategy's own orders ``client_order_ids``."""
        return cls(action=StrategyAction.CANCEL_ORDER, cancel=client_order_ids, message=message)


_NOTHING = StrategyResult()
