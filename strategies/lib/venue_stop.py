"""The stop-loss of an armed exit plan, kept on the venue as a reduce-only stop order (contract markets).

On a contract market (a perpetual: ``Market.contract``) ``VenueStop`` keeps one ``STOP_MARKET`` reduce-only
order for the whole position at the plan's stop-loss (``ExitWatch.stop_level``), tagged ``sl``, so the
stop fires on the venue even while the bot is down. Its rules, checked on every market event:

- **wanted**: long: a sell of the position's quantity triggered at the level rounded *up* to the tick;
  short: a buy triggered at the level rounded *down*. Rounded toward the market, the venue's stop fires no
  later than the bot-side rule would (``ExitWatch``: long ``bid ≤ level``).
- **held**: an open stop order of the strategy tagged ``sl`` with exactly that side, quantity and trigger.
  While one is held the bot does not watch the stop-loss itself (``ExitWatch.check(stop_on_venue=True)``);
  the other barriers (take-profit, trailing, time) stay bot-side.
- **replace**: an open ``sl`` stop that is not the wanted one (the position grew and the plan re-armed at
  the new average, or it was partly filled) is cancelled first; the wanted one is placed at a later event.
- **place**: when nothing is held and no other order of the strategy is open, the wanted stop is sent,
  **once** for each (side, quantity, trigger). If it then is not open (the risk gate denied it, the venue
  refused it, e.g. Binance -2021 "would immediately trigger"), the bot watches the stop-loss itself, as on
  a spot market, and logs ``venue_stop_refused`` once.
- **over**: the plan is over (flat, closed by the stop, another barrier or the strategy) and a stop is
  still open: it is cancelled. A close for another barrier, or the strategy's own exit, cancels it in
  the same result.

The order is in the journal like any other, so after a restart (a kill -9 included) it is found again on
the venue by the reconciliation and held, not sent twice. Spot markets keep the bot-side watch: the spot
venues we run on are not asked for stop orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.log import get_logger

__all__ = ["STOP_TAG", "StopWanted", "VenueStop", "cancellable", "stop_orders", "wanted_stop"]

_log = get_logger(__name__)

_CANCELLING = OrderStatus.PENDING_CANCEL

STOP_TAG = "sl"
"""The ``client_tag`` of the venue's stop order: the stop-loss barrier's name, as its bot-side close."""


@dataclass(frozen=True, slots=True)
class StopWanted:
    """The stop order the position should have on the venue: side, base quantity, trigger (quote per base)."""

    side: OrderSide
    quantity: Decimal
    trigger: Decimal

    def matches(self, order: Order) -> bool:
        """Return True when ``order`` is this stop (side, quantity and trigger price all equal)."""
        return (order.side, order.quantity, order.trigger_price) == (self.side, self.quantity, self.trigger)

    def params(self) -> OrderParams:
        """Return the reduce-only ``STOP_MARKET`` intent of this stop, tagged ``sl``."""
        return OrderParams(side=self.side, quantity=self.quantity, order_type=OrderType.STOP_MARKET,
                           trigger_price=self.trigger, reduce_only=True, client_tag=STOP_TAG)  # fmt: skip


def stop_orders(open_orders: Sequence[Order]) -> list[Order]:
    """Return the open stop orders tagged ``sl`` among ``open_orders``."""
    return [o for o in open_orders if o.order_type is OrderType.STOP_MARKET and o.client_tag == STOP_TAG]


def cancellable(stops: Sequence[Order]) -> tuple[ClientOrderId, ...]:
    """Return the client ids of ``stops`` whose cancel was not asked for yet."""
    return tuple(o.client_order_id for o in stops if o.status is not _CANCELLING)


def wanted_stop(market: Market, quantity: Decimal, level: Decimal | None) -> StopWanted | None:
    """Return the stop a position of ``quantity`` (signed base units) needs at ``level``; ``None`` if none."""
    if level is None or quantity == 0 or not market.contract:
        return None
    if quantity > 0:
        return StopWanted(OrderSide.SELL, quantity, market.round_price(level, "up"))
    trigger = market.round_price(level, "down")
    return StopWanted(OrderSide.BUY, -quantity, trigger) if trigger > 0 else None


@dataclass(slots=True)
class VenueStop:
    """One strategy's venue-side stop-loss (module docstring); ``live`` while one may be open."""

    live: bool = False
    _sent: StopWanted | None = None  # the stop last sent (once per wanted stop)
    _refused: StopWanted | None = None  # sent and not open afterwards: the bot watches the stop-loss

    def holds(self, wanted: StopWanted | None, stops: Sequence[Order]) -> bool:
        """Return True when one of the open ``stops`` is ``wanted`` (and no cancel of it was asked for)."""
        return wanted is not None and any(wanted.matches(o) and o.status is not _CANCELLING for o in stops)

    def update(self, wanted: StopWanted | None, stops: Sequence[Order], busy: bool) -> StrategyResult | None:
        """Return what keeps ``wanted`` on the venue (a cancel, a placement), or ``None`` when nothing is to do.

        Args:
            wanted: the stop the position needs now (``None``: none, e.g. flat or no stop-loss).
            stops: the strategy's open ``sl`` stop orders (``stop_orders``).
            busy: another order of the strategy is open (nothing is placed meanwhile).
        """
        stale = cancellable([o for o in stops if wanted is None or not wanted.matches(o)])
        if stale:
            return StrategyResult.cancel_orders(*stale, message="venue stop replaced or no longer needed")
        if wanted is None:
            self.live = bool(stops)
            return None
        if stops or busy or wanted == self._refused:  # held, or a cancel still on its way
            return None
        if wanted == self._sent:  # sent, and not open now: denied or refused (a fill would have moved the position)
            self._refused = wanted
            _log.warning("venue_stop_refused", side=wanted.side.value, quantity=str(wanted.quantity),
                         trigger=str(wanted.trigger), watched="by the bot")  # fmt: skip
            return None
        self._sent, self.live = wanted, True
        _log.info("venue_stop_placing", side=wanted.side.value, quantity=str(wanted.quantity),
                  trigger=str(wanted.trigger))  # fmt: skip
        return StrategyResult.place(wanted.params(), message="venue stop-loss")
