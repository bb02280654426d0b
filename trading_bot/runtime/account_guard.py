"""The supervisor's account guard: account protection checks and flattening the bot's position.

``AccountGuard.check`` asks the RiskManager's account protection (``risk.protection``) about the
portfolio at ``now``: an emergency cancels every open order, flattens at market, halts and raises
``EmergencyStop`` (exit 1); "close the worst" flattens this market when it is among the worst.
``close_position`` sends one reduce-only market order through the order manager (so the RiskManager
sees it like any other order), briefly lifting a halt to REDUCING so that the close may pass.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from risk.manager import RiskManager
from risk.protection import AccountSnapshot
from risk.protection import PositionView
from risk.protection import ProtectionAction
from trading_bot.domain import Market
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.errors import EmergencyStop
from trading_bot.log import get_logger
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["AccountGuard"]

_log = get_logger(__name__)


class AccountGuard:
    """Account protection and flattening for one bot's market.

    Args:
        risk: the RiskManager (its account protection and trading state).
        symbol: the bot's market.
        market: that market's rules (amount rounding).
        portfolio: the bot's position and equity (quote currency).
        context: the strategy's view (its latest market data prices a market close).
        orders: the order manager every close goes through.
        guarded: runs one exchange request under the supervisor's error policy.
    """

    __slots__ = ("_context", "_guarded", "_market", "_orders", "_portfolio", "_risk", "_symbol")

    def __init__(
        self,
        *,
        risk: RiskManager,
        symbol: Symbol,
        market: Market,
        portfolio: Portfolio,
        context: BotStrategyContext,
        orders: OrderManager,
        guarded: Callable[[Awaitable[Any]], Awaitable[None]],
    ) -> None:
        self._risk = risk
        self._symbol = symbol
        self._market = market
        self._portfolio = portfolio
        self._context = context
        self._orders = orders
        self._guarded = guarded

    async def check(self, now_ms: int) -> None:
        """Apply account protection at ``now_ms`` (epoch ms); nothing before the starting equity is known.

        Raises:
            EmergencyStop: an emergency rule fired; orders were cancelled and the position closed.
        """
        portfolio = self._portfolio
        if portfolio.starting_equity is None:
            return
        view = PositionView(
            symbol=self._symbol, quantity=portfolio.position.quantity, unrealized_pnl=portfolio.unrealized_pnl()
        )
        snapshot = AccountSnapshot(
            now_ms=now_ms, equity=portfolio.equity(), starting_equity=portfolio.starting_equity, positions=(view,)
        )
        decision = self._risk.check_account(snapshot)
        if decision.action is ProtectionAction.NONE:
            return
        _log.error("account_protection", action=decision.action.value, reason=decision.reason)
        if decision.action is ProtectionAction.EMERGENCY_FLATTEN:
            await self._orders.cancel_all()
            await self.close_position(decision.reason)
            self._risk.set_trading_state(TradingState.HALTED, decision.reason)
            raise EmergencyStop(decision.reason)
        if decision.action is ProtectionAction.CLOSE_WORST and self._symbol in decision.symbols_to_close:
            await self.close_position(decision.reason)

    async def close_position(self, reason: str) -> None:
        """Flatten the bot's position with a reduce-only market order (through the RiskManager)."""
        position = self._portfolio.position.quantity
        quantity = self._market.round_amount(abs(position))
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
        _log.warning("closing_position", side=side.value, quantity=str(quantity), reason=reason)
        await self._guarded(self._orders.submit(params, self._context.last))
        if previous is TradingState.HALTED:
            risk.set_trading_state(TradingState.HALTED, reason)
