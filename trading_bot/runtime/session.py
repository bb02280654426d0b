"""Building the connected bot's per-instrument slots: markets, portfolios, the Book, views, order managers.

Called once by the supervisor after every venue connected and reported its balances; nothing here does
I/O. Each unit's context is linked to the views of its instruments (its primary first).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

from risk.manager import RiskManager
from trading_bot.domain import Balance
from trading_bot.domain import Clock
from trading_bot.domain import InstrumentId
from trading_bot.domain import Market
from trading_bot.runtime.bars import BarFeed
from trading_bot.runtime.book import Book
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.slot import InstrumentSlot
from trading_bot.runtime.slot import Venue
from trading_bot.runtime.unit import StrategyUnit

__all__ = ["build_slots"]


def build_slots(
    *,
    units: Sequence[StrategyUnit],
    venues: Mapping[str, Venue],
    trackers: Mapping[InstrumentId, OrderTracker],
    balances: Mapping[str, Mapping[str, Balance]],
    clock: Clock,
    risk: RiskManager,
    order_manager: Callable[[InstrumentSlot], OrderManager],
) -> tuple[tuple[InstrumentSlot, ...], Book]:
    """Return every instrument's slot, in the units' order, and the Book valuing them together.

    Args:
        units: the strategy instances; each gets its slots appended and its context linked.
        venues: the connected venues by name; each gets its slots by symbol.
        trackers: each instrument's order tracker (built with the bot, so tests can look before the start).
        balances: each venue's balances as just fetched.
        clock: the bot's clock, for the views.
        risk: the RiskManager, for the views' trading state.
        order_manager: builds the order manager of a slot (the supervisor's callbacks bound to it).

    Raises:
        ConfigError: a venue does not know an instrument's symbol (with close names).
    """
    portfolios: dict[InstrumentId, tuple[Market, Portfolio]] = {}
    for unit in units:
        for instrument in unit.instruments:
            client = venues[instrument.venue].client
            market = client.market(instrument.symbol)
            portfolio = Portfolio(market, leverage=client.perp_terms(market.symbol)[0] if market.contract else 1)
            portfolio.set_balances(balances[instrument.venue])
            portfolios[instrument] = (market, portfolio)
    book = Book([(i.venue, p) for i, (_, p) in portfolios.items()])
    slots: list[InstrumentSlot] = []
    for unit in units:
        for instrument in unit.instruments:
            market, portfolio = portfolios[instrument]
            venue = venues[instrument.venue]
            tracker = trackers[instrument]
            view = BotStrategyContext(
                market=market, clock=clock, tracker=tracker, portfolio=portfolio, risk=risk, instrument=instrument,
                book=book,
            )  # fmt: skip
            slot = InstrumentSlot(
                instrument=instrument, venue=venue, market=market, tracker=tracker, portfolio=portfolio,
                orders=None, view=view, unit=unit,  # type: ignore[arg-type]  # set just below
                bars=_bar_feed(unit, risk),
            )  # fmt: skip
            slot.orders = order_manager(slot)
            venue.slots[market.symbol] = slot
            unit.slots.append(slot)
            slots.append(slot)
        unit.context.link([s.view for s in unit.slots])
    return tuple(slots), book


def _bar_feed(unit: StrategyUnit, risk: RiskManager) -> BarFeed | None:
    """The bars of the unit's timeframes, plus the ATR the ``volatility_target`` sizer needs; ``None``: neither."""
    sizing = risk.config.sizing
    atr = sizing.mode == "volatility_target"
    if not unit.strategy.timeframes and not atr:
        return None
    return BarFeed(unit.strategy.timeframes, atr_timeframe=sizing.atr_timeframe if atr else None,
                   atr_period=sizing.atr_period)  # fmt: skip
