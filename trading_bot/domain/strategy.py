"""What a strategy returns: ``StrategyResult`` (seed 003's contract, kept)."""

from __future__ import annotations

from dataclasses import dataclass

from trading_bot.domain.enums import StrategyAction
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.orders import OrderParams

__all__ = ["StrategyResult"]


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
    """

    action: StrategyAction = StrategyAction.NONE
    orders: tuple[OrderParams, ...] = ()
    cancel: tuple[ClientOrderId, ...] = ()
    message: str = ""
    wait_time: float = 0.0

    @classmethod
    def nothing(cls) -> StrategyResult:
        """Return the shared do-nothing result."""
        return _NOTHING

    @classmethod
    def place(cls, *orders: OrderParams, message: str = "") -> StrategyResult:
        """Return a PLACE_ORDER result for ``orders``."""
        return cls(action=StrategyAction.PLACE_ORDER, orders=orders, message=message)


_NOTHING = StrategyResult()
