"""``BarStrategy``: the base of strategies that decide on closed bars (``on_bar``), long only.

It declares one timeframe (``Params.bar_timeframe``) and the warm-up its indicators need, answers
``should_execute`` with False (every decision is made in ``on_bar``), and gives two order helpers:

- ``enter(tag)``: a market buy of ``Params.fraction`` of equity: ``quote_quantity`` = equity × fraction
  (the simulated venue sizes it at the fill price, on bars the next bar's open), ``quantity`` the
  estimate at the ask with the taker fee, on the lot step; ``None`` when that rounds to nothing.
- ``exit(tag)``: ``ctx.close_position()``: a reduce-only market sell of the whole position.

Both return ``None`` while an order of the strategy is still open, so a signal repeated on the next bar
before the fill is not a second order. ``enter`` also returns ``None`` when the size breaks the market's
minimum amount or notional (``Market.order_problem``): once equity × fraction is too small, each signal is
counted (``entries_below_minimum`` in the summary; the first one is logged) instead of a denied order a bar.

Every entry carries the exit plan of its params (``stop_loss``, ``take_profit``, ``trailing_stop``,
``time_stop``; all off by default) unless ``enter`` is given another: ``strategies.lib.exits`` watches it on
every market event (``should_execute``) and closes the position with a market order tagged ``sl``, ``tp``,
``trail`` or ``time`` when a barrier is hit. The plan is in the snapshot, so it survives a restart. On a
contract market the stop-loss rests on the venue as a reduce-only stop order instead
(``strategies.lib.venue_stop``); that order does not count as "an order of the strategy is open" for
``enter`` and ``exit``, and the strategy's exits and the other barriers' closes cancel it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any
from typing import TypeVar

from pydantic import Field
from pydantic import field_validator

from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from strategies.lib.exits import STOP_BELOW
from strategies.lib.exits import TAKE_PROFIT_MAX
from strategies.lib.exits import ExitPlan
from strategies.lib.exits import ExitWatch
from strategies.lib.venue_stop import STOP_TAG
from strategies.lib.venue_stop import VenueStop
from strategies.lib.venue_stop import cancellable
from strategies.lib.venue_stop import stop_orders
from strategies.lib.venue_stop import wanted_stop
from trading_bot.domain import ClientOrderId
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.domain.bounds import Fraction
from trading_bot.domain.timeframe import timeframe_ms
from trading_bot.log import get_logger

__all__ = ["BarParams", "BarStrategy"]

_log = get_logger(__name__)


def _timeframe_ms(text: str) -> int:
    try:
        return timeframe_ms(text)
    except ValueError:
        raise ValueError("expected a number and a unit (s, m, h, d, w) such as 1m or 4h") from None


MAX_BAR_TIMEFRAME_MS = 4 * 604_800_000
"""The longest bar a strategy may decide on (4 weeks)."""


class BarParams(StrategyParams):
    """Parameters every ``BarStrategy`` has."""

    bar_timeframe: str = Field(
        default="1m",
        description="the bars decided on (1m, 5m, 1h...; bar data: its interval or a multiple)",
    )
    fraction: Fraction = Field(default=Decimal(1), description="fraction of equity spent on an entry (1.0 = all in)")
    stop_loss: Decimal | None = Field(default=None, gt=0, lt=STOP_BELOW, allow_inf_nan=False,
                                      description="exit when the price falls this far below the entry (0.02 = 2 %)"
                                      )  # fmt: skip
    take_profit: Decimal | None = Field(default=None, gt=0, le=TAKE_PROFIT_MAX, allow_inf_nan=False,
                                        description="exit when the price rises this far above the entry (0.05 = 5 %)"
                                        )  # fmt: skip
    trailing_stop: Decimal | None = Field(default=None, gt=0, lt=STOP_BELOW, allow_inf_nan=False,
                                          description="exit when the price falls this far from its high since the "
                                          "entry (0.03 = 3 %)")  # fmt: skip
    time_stop: str | None = Field(default=None, description="exit this long after the entry filled (90m, 4h, 2d)")

    @field_validator("bar_timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if _timeframe_ms(value) > MAX_BAR_TIMEFRAME_MS:  # a ValueError, named by the params' error: --bar-timeframe
            raise ValueError("at most 4w")
        return value

    @field_validator("time_stop")
    @classmethod
    def _time_stop(cls, value: str | None) -> str | None:
        if value is not None and _timeframe_ms(value) > 52 * 604_800_000:
            raise ValueError("at most 52w")
        return value

    def exit_plan(self) -> ExitPlan:
        """Return the exit plan these params attach to every entry (empty when all four are off)."""
        return ExitPlan.of(stop_loss=self.stop_loss, take_profit=self.take_profit, trailing_stop=self.trailing_stop,
                           time_stop=self.time_stop)  # fmt: skip


P = TypeVar("P", bound=BarParams)


class BarStrategy(BaseStrategy[P]):
    """Long-only decisions on closed bars of ``params.bar_timeframe`` (see the module docstring)."""

    def __init__(self, params: P) -> None:
        super().__init__(params)
        self.timeframes = (params.bar_timeframe,)
        self.entries = 0
        self.entries_below_minimum = 0
        """Entry signals not sent: their size broke the market's minimum amount or notional."""
        self.exits = ExitWatch()
        self.venue_stop = VenueStop()
        self._exit_plan = params.exit_plan()
        self._barrier: str | None = None
        self._stop_step: StrategyResult | None = None  # what keeps the venue's stop-loss right (should_execute)
        self._stop_cancels: tuple[ClientOrderId, ...] = ()  # the venue stops a barrier's close cancels

    def state_changed(self) -> bool:
        """Return True when the exit plan changed since the last ``snapshot`` (see ``BaseStrategy``)."""
        return self.exits.changed

    def should_execute(self, market_data: MarketData) -> bool:
        """Return True when an exit barrier was hit or the venue's stop-loss needs an order (entries and signal
        exits are decided in ``on_bar``)."""
        exits = self.exits
        if exits.plan is None and not self.venue_stop.live:
            return False
        ctx = self.ctx
        quantity = ctx.tradable_quantity()  # dust (a base-currency fee's remainder) is no position to protect
        busy, stops = self._open_besides_stops()
        held = self.venue_stop.holds(wanted_stop(ctx.market, quantity, exits.stop_level()), stops)
        self._barrier = exits.check(quantity, ctx.position.average_price, busy, market_data,
                                    ctx.clock.now_ms(), stop_on_venue=held)  # fmt: skip
        if self._barrier is not None:
            self._stop_cancels = cancellable(stops)
            return True
        wanted = wanted_stop(ctx.market, quantity, exits.stop_level())  # check may have armed or ended it
        self._stop_step = self.venue_stop.update(wanted, stops, busy)
        return self._stop_step is not None

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Close the position for the barrier ``should_execute`` saw hit (cancelling the venue's stop), else
        send what keeps the venue's stop-loss right (else nothing)."""
        barrier, self._barrier = self._barrier, None
        step, self._stop_step = self._stop_step, None
        if barrier is None:
            return step or StrategyResult.nothing()
        intent = self.ctx.close_position(tag=barrier)
        if intent is None:
            return StrategyResult.nothing()
        return replace(StrategyResult.place(intent, message=f"{self.name} exit {barrier}"), cancel=self._stop_cancels)

    def on_order_update(self, event: OrderEvent) -> None:
        """Count the venue's stop-loss filling as the ``sl`` barrier firing."""
        if not isinstance(event, OrderFilled) or event.client_tag != STOP_TAG:
            return
        order = self.ctx.order(event.client_order_id)
        if order is not None and order.order_type is OrderType.STOP_MARKET:
            self.exits.fired["sl"] += 1
            _log.info("exit_fired", barrier="sl", entry_tag=self.exits.entry_tag, on_venue=True,
                      trigger=str(order.trigger_price), price=str(order.average_price))  # fmt: skip

    def _open_besides_stops(self) -> tuple[bool, list[Order]]:
        """Return whether an order of the strategy other than its venue stop-loss is open, and those stops."""
        mine = self.ctx.open_orders()
        stops = stop_orders(mine)
        return len(mine) > len(stops), stops

    def enter(
        self, tag: str = "entry", amount: Decimal | None = None, exits: ExitPlan | None = None
    ) -> StrategyResult | None:
        """Return a market buy of ``amount`` quote currency (default equity × fraction), or ``None``.

        ``exits``: the barriers attached to this entry (default: the params'; ``ExitPlan()`` for none).
        """
        ctx = self.ctx
        md = ctx.last_market_data
        if self._open_besides_stops()[0] or md is None or md.ask <= 0:
            return None
        budget = ctx.equity * self.params.fraction if amount is None else amount
        market = ctx.market
        quantity = market.quantity_for_quote(budget, md.ask)
        if quantity <= 0 or budget <= 0:
            return None
        breach = market.order_problem(quantity, reference=md.mid)  # the mid: what the risk gate values it at
        if breach is not None:  # the venue would refuse it: wait (a denial on every bar helps nobody)
            if not self.entries_below_minimum:
                _log.warning("bar_entry_below_market_minimum", strategy=self.name, budget=str(budget),
                             reason=breach.reason)  # fmt: skip
            self.entries_below_minimum += 1
            return None
        self.entries += 1
        plan = self._exit_plan if exits is None else exits
        if not plan.empty or self.exits.plan is not None:
            self.exits.attach(plan, tag)
        order = OrderParams(side=OrderSide.BUY, quantity=quantity, order_type=OrderType.MARKET, client_tag=tag,
                            quote_quantity=budget)  # fmt: skip
        return StrategyResult.place(order, message=f"{self.name} {tag}")

    def exit(self, tag: str = "exit") -> StrategyResult | None:
        """Return the order closing the position (reduce-only market; it cancels the venue's stop-loss), or
        ``None`` when flat or busy."""
        busy, stops = self._open_besides_stops()
        if busy:
            return None
        intent = self.ctx.close_position(tag=tag)
        if intent is None:
            return None
        return replace(StrategyResult.place(intent, message=f"{self.name} {tag}"), cancel=cancellable(stops))

    def snapshot(self) -> dict[str, Any]:
        """Return the exit plan being watched (``{}`` when none); subclasses add their own keys."""
        self.exits.changed = False
        watched = self.exits.to_json()
        return {"exits": watched} if watched else {}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Watch the journaled exit plan again."""
        watched = state.get("exits")
        if isinstance(watched, Mapping):
            self.exits.restore(watched)
        self.exits.changed = False

    def summary(self) -> dict[str, Any]:
        """Return the number of entries sent, and of exits fired per barrier when a plan was ever attached."""
        fired = {f"exits_{name}": count for name, count in self.exits.fired.items() if count}
        skipped = {"entries_below_minimum": self.entries_below_minimum} if self.entries_below_minimum else {}
        return {"entries": self.entries, **skipped, **fired}
