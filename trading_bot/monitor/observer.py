"""What the monitor learns by watching the bot: order events, denials, round-trip times, the equity curve.

Everything else the monitor shows is read from the bot's own state when asked (``metrics``, ``api``); this
keeps only what the bot does not keep: denials by rule and the latest ones, how long the venue took to
answer each order, and a bounded, in-memory equity curve.
"""

from __future__ import annotations

import time
from collections import Counter
from collections import OrderedDict
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import Histogram

from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderSubmitted

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["RECENT_DENIALS", "BotObserver", "DenialRecord", "EquityPoint"]

RECENT_DENIALS = 50
"""Denials kept for ``/api/v1/risk``."""

_PENDING_LIMIT = 1000  # submitted orders waiting for the venue's answer, kept at most (a lost answer is dropped)


@dataclass(frozen=True, slots=True, kw_only=True)
class DenialRecord:
    """One risk denial as the API shows it (``ts_ms``: the bot's clock, epoch ms)."""

    ts_ms: int
    client_order_id: str
    symbol: str
    side: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """One sample of the equity curve: the bot's clock (epoch ms) and the equity (quote currency)."""

    ts_ms: int
    equity: Decimal


class BotObserver:
    """Watches one bot's order events (an ``order_observers`` entry) and samples its equity.

    Args:
        round_trip: the histogram of order round-trip times (seconds from the submission to the venue's
            first answer: accepted, rejected or filled), wall clock.
        equity_points: equity samples kept (the oldest dropped first).
    """

    def __init__(self, round_trip: Histogram, equity_points: int = 2880) -> None:
        self.round_trip = round_trip
        self.denials: Counter[str] = Counter()
        self.recent_denials: deque[DenialRecord] = deque(maxlen=RECENT_DENIALS)
        self.equity: deque[EquityPoint] = deque(maxlen=equity_points)
        self._submitted: OrderedDict[str, float] = OrderedDict()

    def attach(self, bot: TradingBot) -> None:
        """Start watching ``bot``'s order events (before it runs: no event is missed)."""
        bot.order_observers.append(self.observe)

    def observe(self, event: OrderEvent) -> None:
        """Take one order event (never raises)."""
        coid = str(event.client_order_id)
        if isinstance(event, OrderSubmitted):
            self._submitted[coid] = time.perf_counter()
            if len(self._submitted) > _PENDING_LIMIT:
                self._submitted.popitem(last=False)
            return
        began = self._submitted.pop(coid, None)
        if began is not None:
            self.round_trip.observe(time.perf_counter() - began)
        if isinstance(event, OrderDenied):
            self.denials[event.rule] += 1
            self.recent_denials.append(
                DenialRecord(ts_ms=event.ts_ms, client_order_id=coid, symbol=str(event.symbol), side=event.side.value,
                             rule=event.rule, reason=event.reason)
            )

    def sample_equity(self, bot: TradingBot) -> None:
        """Append the bot's equity now to the curve (nothing before the bot is connected or valued)."""
        book = bot.book
        if book is None or not book.valued:
            return
        self.equity.append(EquityPoint(bot.clock.now_ms(), book.equity()))
