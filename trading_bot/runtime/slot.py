"""What the supervisor keeps per venue and per instrument once connected.

A ``Venue`` is one exchange account (its client, its balances, its instruments); an ``InstrumentSlot``
is one instrument on it, with everything that is per instrument: the market's rules, the order tracker
(orders and fills de-duplicated per instrument: trade ids are unique per venue and symbol only), the
portfolio (the position from the bot's own fills), the order manager that routes to the venue, the
strategy's view and the unit (strategy instance) that owns it. Every instrument has exactly one owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

from exchanges.base import BaseExchangeClient
from trading_bot.domain import InstrumentId
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.runtime.bars import BarFeed
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio

if TYPE_CHECKING:
    from trading_bot.runtime.unit import StrategyUnit

__all__ = ["InstrumentSlot", "Venue"]


@dataclass(slots=True, eq=False)
class Venue:
    """One exchange account of the bot.

    Attributes:
        name: the venue's name (a ``venues`` key, or the exchange id of the one-venue shorthand).
        client: its exchange client (the only path to it).
        slots: its instruments by symbol, in the order they were configured.
        balances_dirty: a fill arrived since the balances were last fetched.
        state: the venue's own trading state: HALTED once it failed (its keys refused three times in a
            row, its user stream lost for good) while the bot's other venues go on.
        failure: why it failed (empty while it has not).
    """

    name: str
    client: BaseExchangeClient
    slots: dict[Symbol, InstrumentSlot] = field(default_factory=dict)
    balances_dirty: bool = True
    state: TradingState = TradingState.ACTIVE
    failure: str = ""

    @property
    def symbols(self) -> list[Symbol]:
        """The venue's symbols, in configured order."""
        return list(self.slots)


@dataclass(slots=True, eq=False, kw_only=True)
class InstrumentSlot:
    """One instrument of a running bot (see the module docstring)."""

    instrument: InstrumentId
    venue: Venue
    market: Market
    tracker: OrderTracker
    portfolio: Portfolio
    orders: OrderManager
    view: BotStrategyContext
    unit: StrategyUnit
    bars: BarFeed | None = None
    """The closed bars of the owner's ``timeframes``; ``None`` when it declares none (no cost per event)."""
