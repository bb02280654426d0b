"""The read-only views a strategy gets of the bot's state (they implement ``StrategyContext``).

``BotStrategyContext`` is the view of one instrument (its market, the strategy's position there, its
latest market data and the strategy's orders there). The strategy's own context is the view of its
primary instrument, linked to the views of its other instruments (``link``), so ``ctx.view(i)`` of a
multi-instrument strategy returns the same kind of object.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from risk.manager import RiskManager
from strategies.base import ContextHelpers
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import InstrumentId
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import Position
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["AccountValue", "BotStrategyContext"]


class AccountValue(Protocol):
    """What values the bot's account (the ``Book``; one ``Portfolio`` alone in a unit test)."""

    def equity(self) -> Decimal:
        """Return the account value (quote currency)."""
        ...


class BotStrategyContext(ContextHelpers):
    """A live, read-only window on one instrument's tracker and portfolio, and on the risk state.

    Nothing here can change the bot: strategies act only through the ``StrategyResult`` they return.

    Args:
        market: the instrument's market rules.
        clock: the bot's clock.
        tracker: the instrument's orders.
        portfolio: the instrument's position; its balances are the venue's.
        risk: the RiskManager (its trading state).
        instrument: the instrument; default ``paper:<symbol>`` (a context built alone, in a test).
        book: values the whole account for ``equity``; default this portfolio alone.
    """

    def __init__(
        self,
        *,
        market: Market,
        clock: Clock,
        tracker: OrderTracker,
        portfolio: Portfolio,
        risk: RiskManager,
        instrument: InstrumentId | None = None,
        book: AccountValue | None = None,
    ) -> None:
        self._market = market
        self._clock = clock
        self._tracker = tracker
        self._portfolio = portfolio
        self._risk = risk
        self._instrument = instrument or InstrumentId("paper", market.symbol)
        self._book: AccountValue = book or portfolio
        self._views: dict[InstrumentId, BotStrategyContext] = {self._instrument: self}
        self.last: MarketData | None = None
        self.event_instrument: InstrumentId = self._instrument
        """The instrument of the market event being handled (set by the supervisor before each pass)."""

    def _intent_instrument(self) -> InstrumentId | None:
        return self._instrument

    def link(self, views: Sequence[BotStrategyContext]) -> None:
        """Make this the context of a strategy over ``views`` (this one, the primary, first)."""
        self._views = {v.instrument: v for v in views}

    @property
    def instrument(self) -> InstrumentId:
        """The instrument (``venue:symbol``)."""
        return self._instrument

    @property
    def instruments(self) -> Sequence[InstrumentId]:
        """Every instrument of the strategy, the primary first."""
        return tuple(self._views)

    def view(self, instrument: InstrumentId | str) -> BotStrategyContext:
        """The view of one of the strategy's instruments (``InstrumentId`` or ``venue:symbol``).

        Raises:
            KeyError: not one of ``instruments`` (the message lists them).
        """
        key = instrument if isinstance(instrument, InstrumentId) else InstrumentId.parse(instrument)
        view = self._views.get(key)
        if view is None:
            raise KeyError(f"{key} is not an instrument of this strategy; it has {', '.join(map(str, self._views))}")
        return view

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
        """The position built from the strategy's own fills on this instrument."""
        return self._portfolio.position

    @property
    def trading_state(self) -> TradingState:
        """The RiskManager's state."""
        return self._risk.trading_state

    @property
    def last_market_data(self) -> MarketData | None:
        """The latest market event of this instrument."""
        return self.last

    @property
    def equity(self) -> Decimal:
        """The account value (quote currency; several quote currencies at par, see ``Book``)."""
        return self._book.equity()

    def open_orders(self) -> Sequence[Order]:
        """The strategy's own open orders on this instrument, oldest first."""
        return self._tracker.open_orders()

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """One of the strategy's orders on this instrument by client id."""
        return self._tracker.get(client_order_id)

    def tagged_order(self, client_tag: str) -> Order | None:
        """The open order with ``client_tag``, else the latest closed one (a scan: for restarts)."""
        return self._tracker.tagged(client_tag)

    def balances(self, venue: str | None = None) -> Mapping[str, Balance]:
        """The balances of ``venue`` (default: this instrument's) as last reported by the exchange.

        Raises:
            KeyError: ``venue`` holds none of the strategy's instruments.
        """
        if venue is None or venue == self._instrument.venue:
            return self._portfolio.balances
        for view in self._views.values():
            if view.instrument.venue == venue:
                return view._portfolio.balances
        raise KeyError(f"venue {venue!r} holds none of this strategy's instruments")
