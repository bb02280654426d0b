"""The supervisor's account guard: account protection checks and flattening the bot's positions.

``AccountGuard.check`` asks the RiskManager's account protection (``risk.protection``) about the bot's
instruments at ``now`` — the account valued by the ``Book``, one ``PositionView`` per instrument (named by
its symbol when the bot has one instrument, else by ``venue:symbol``). An emergency cancels every open
order of the bot, flattens every instrument at market, halts and raises ``EmergencyStop`` (exit 1); "close
the worst" flattens the instruments it names; a swap whose mark nears its liquidation price
(``risk.reduce_at_liquidation_distance_pct``) turns the trading state to REDUCING. Each swap's view carries
its mark (the mark price, else the mid) and its estimated liquidation price (``risk.margin``: the bot's
position and entry, the venue's leverage and margin mode, the settle currency's wallet balance). Only the
bot's own instruments are touched: other holdings of the account are not the bot's.

``close_position`` sends one reduce-only market order through the instrument's order manager (so the
RiskManager sees it like any other order), briefly lifting a halt to REDUCING so that the close may pass:
a long is closed by a sell, a short (swaps) by a buy.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from risk.manager import RiskManager
from risk.margin import estimate_liquidation_price
from risk.protection import AccountSnapshot
from risk.protection import PositionView
from risk.protection import ProtectionAction
from trading_bot.domain import ZERO
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.errors import EmergencyStop
from trading_bot.log import get_logger
from trading_bot.runtime.book import Book
from trading_bot.runtime.slot import InstrumentSlot

__all__ = ["AccountGuard"]

_log = get_logger(__name__)


class AccountGuard:
    """Account protection and flattening for one bot's instruments.

    Args:
        risk: the RiskManager (its account protection and trading state).
        slots: the bot's instruments.
        book: values the account (quote currency).
        guarded: runs one exchange request of an instrument under the supervisor's error policy.
    """

    __slots__ = ("_book", "_guarded", "_names", "_risk", "_slots")

    def __init__(
        self,
        *,
        risk: RiskManager,
        slots: Sequence[InstrumentSlot],
        book: Book,
        guarded: Callable[[InstrumentSlot, Awaitable[Any]], Awaitable[None]],
    ) -> None:
        self._risk = risk
        self._slots = tuple(slots)
        self._book = book
        self._guarded = guarded
        one = len(self._slots) == 1
        self._names = tuple(s.market.symbol if one else Symbol(str(s.instrument)) for s in self._slots)

    async def check(self, now_ms: int) -> None:
        """Apply account protection at ``now_ms`` (epoch ms); nothing before the starting equity is known.

        Raises:
            EmergencyStop: an emergency rule fired; orders were cancelled and the positions closed.
        """
        book = self._book
        starting = book.starting_equity
        if starting is None:
            return
        views = tuple(_view(name, slot) for name, slot in zip(self._names, self._slots, strict=True))
        snapshot = AccountSnapshot(now_ms=now_ms, equity=book.equity(), starting_equity=starting, positions=views)
        decision = self._risk.check_account(snapshot)
        if decision.action is ProtectionAction.NONE:
            return
        _log.error("account_protection", action=decision.action.value, reason=decision.reason)
        if decision.action is ProtectionAction.EMERGENCY_FLATTEN:
            for slot in self._slots:
                await slot.orders.cancel_all()
            for slot in self._slots:
                await self.close_position(slot, decision.reason)
            self._risk.set_trading_state(TradingState.HALTED, decision.reason)
            raise EmergencyStop(decision.reason)
        if decision.action is ProtectionAction.CLOSE_WORST:
            for name, slot in zip(self._names, self._slots, strict=True):
                if name in decision.symbols_to_close:
                    await self.close_position(slot, decision.reason)

    async def close_position(self, slot: InstrumentSlot, reason: str) -> None:
        """Flatten the bot's position in ``slot`` with a reduce-only market order (through the RiskManager)."""
        position = slot.portfolio.position.quantity
        quantity = slot.market.round_amount(abs(position))
        if quantity <= 0:
            return
        side = OrderSide.SELL if position > 0 else OrderSide.BUY
        risk = self._risk
        previous = risk.trading_state
        if previous is TradingState.HALTED:
            risk.set_trading_state(TradingState.REDUCING, reason)
        params = OrderParams(
            side=side, quantity=quantity, order_type=OrderType.MARKET, reduce_only=True, client_tag="close"
        )
        _log.warning(
            "closing_position", instrument=str(slot.instrument), side=side.value, quantity=str(quantity), reason=reason
        )
        await self._guarded(slot, slot.orders.submit(params, slot.view.last))
        if previous is TradingState.HALTED:
            risk.set_trading_state(TradingState.HALTED, reason)


def _view(name: Symbol, slot: InstrumentSlot) -> PositionView:
    """Return account protection's view of ``slot``'s position; a swap's with its mark and liquidation estimate."""
    portfolio, market = slot.portfolio, slot.market
    position = portfolio.position
    view = PositionView(symbol=name, quantity=position.quantity, unrealized_pnl=portfolio.unrealized_pnl())
    if not market.contract or position.quantity == 0 or not market.margin_tiers:
        return view
    last = slot.view.last
    mark = last.mark_price if last is not None and last.mark_price is not None else portfolio.mark
    if mark is None:
        return view
    leverage, margin_mode = slot.venue.client.perp_terms(market.symbol)
    balance = portfolio.balances.get(market.settle_currency)
    estimate = estimate_liquidation_price(
        position.quantity, position.average_price, market, leverage=Decimal(leverage), margin_mode=margin_mode,
        wallet_balance=ZERO if balance is None else balance.total,
    )  # fmt: skip
    return replace(view, mark=mark, liquidation_price=estimate)
