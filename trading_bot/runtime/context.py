"""The read-only view a strategy gets of the bot's state (implements ``StrategyContext``)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal

from risk.manager import RiskManager
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import Position
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["BotStrategyContext"]


class BotStrategyContext:
    """A live, read-only window on the tracker, the portfolio and the risk state.

    Nothing here can change the bot: strategies act only through the ``StrategyResult`` they return.
    """

    def __init__(
        self, *, market: Market, clock: Clock, tracker: OrderTracker, portfolio: Portfolio, risk: RiskManager
    ) -> None:
        self._market = market
        self._clock = clock
        self._tracker = tracker
        self._portfolio = portfolio
        self._risk = risk
        self.last: MarketData | None = None

    @property
    def symbol(self) -> Symbol:
        """The traded market's symbol."""
        return self._market.symbol

    @property
    def market(self) -> Market:
        """Precision, limits and fees of the traded market."""
        return self._market

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self._clock

    @property
    def position(self) -> Position:
        """The position built from the bot's own fills."""
        return self._portfolio.position

    @property
    def trading_state(self) -> TradingState:
        """The RiskManager's state."""
        return self._risk.trading_state

    @property
    def last_market_data(self) -> MarketData | None:
        """The latest market event."""
        return self.last

    @property
    def equity(self) -> Decimal:
        """Quote-currency equity of the bot's market."""
        return self._portfolio.equity()

    def open_orders(self) -> Sequence[Order]:
        """The bot's own open orders, oldest first."""
        return self._tracker.open_orders()

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """One of the bot's orders by client id."""
        return self._tracker.get(client_order_id)

    def tagged_order(self, client_tag: str) -> Order | None:
        """The bot's open order with ``client_tag``, else the latest closed one (a scan: for restarts)."""
        return self._tracker.tagged(client_tag)

    def balances(self) -> Mapping[str, Balance]:
        """The balances last reported by the exchange."""
        return self._portfolio.balances
