"""grid: post-only opens one at a time, a take-profit for exactly what filled (GRID.md, seed 003).

One pass (``execute_strategy``, run on every market event, on the ~1 s heartbeat and after order events):
catch up with the tracker, queue take-profits for fills, manage the open order in flight (wait
``fill_timeout``, then every ``recheck_interval`` cancel it once the market moved away), run the position
guard, then open a new order when the cooldown, the grid step, stop/pause and the halt allow it.

Decisions where GRID.md leaves room (each guarded by a test in ``tests/unit/strategies/test_grid.py``):

* Only fill events (or the tracker's final filled amount after a cancel) create take-profits. Each fill
  of the open order, partial or full, gets a take-profit for the newly filled amount at once; amounts
  below the market minimum wait for more fills and, if the order ends below it, are logged as
  ``unhedged_quantity``. ``covered`` per open order guarantees nothing is hedged twice.
* "Exactly the filled amount" is what the fill delivered: a fee the venue keeps in the base asset
  (Binance spot charges a buy's fee in the coin bought, unless the account pays fees in BNB) is not
  sold, and the take-profit is rounded down to the lot step. The remainder below one lot step is
  dust (``dust`` in the snapshot), carried into the next take-profit, so it never grows past a lot.
* The take-profit basis is the order's cumulative average fill price; a buy-grid take-profit is rounded
  UP to the tick and a sell-grid one DOWN, so the profit is never below ``take_profit``. If it would
  cross, it goes to the best price on its own side (a sell take-profit to the best ask).
* An exit (take-profit or boost close) hedges a real fill: a refused one is retried for every cause but
  a permanent one (crossing: at our own best price of a newer book; transient: at the same price with
  capped exponential back-off, forever); a permanent refusal alerts and asks for REDUCING. Exits not
  yet known to be sent survive a restart and are matched by tag, never sent twice. See
  ``strategies.grid_legs``.
* Open price: buy ``best ask - 1 tick`` rounded down, sell ``best bid + 1 tick`` rounded up. With a
  one-tick spread that is the touch on our side (still passive). No open on a crossed or empty book.
* "Open at once" (no cooldown) follows a take-profit fill, a resting take-profit that disappeared, or an
  open order that ended with nothing filled. A risk denial, an exchange rejection or exhausted post-only
  retries fall under the cooldown instead, so a refusing venue is not hammered.
* Boost closes every fill of the open order with a market order of the other side instead of a
  take-profit (partial fills too, so nothing rests unhedged).
* Stop: no more opens, the open order in flight is cancelled (what filled still gets its take-profit),
  and ``stop_reason()`` returns the reason once nothing is in flight; the supervisor then stops with exit
  code 0, keeping or cancelling resting orders per ``bot.on_shutdown``. Halt (position guard): no more
  opens, the open order in flight is cancelled, ``halted_reason`` is set; take-profits keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from strategies import STRATEGIES
from strategies.base import BaseStrategy
from strategies.base import StrategyContext
from strategies.grid_legs import KINDS
from strategies.grid_legs import GridExits
from strategies.grid_legs import Leg
from strategies.grid_legs import LegBook
from strategies.grid_legs import Refusal
from strategies.grid_legs import missed_refusal
from strategies.grid_legs import refusal_of
from strategies.grid_params import GridParams
from strategies.grid_params import check_notional
from strategies.grid_params import check_quantity
from trading_bot.domain import ZERO
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import MarketData
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderExpired
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderPartiallyFilled
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain import TradingState
from trading_bot.log import get_logger

__all__ = ["GridParams", "GridStrategy"]  # GridParams lives in strategies.grid_params

_log = get_logger(__name__)


@STRATEGIES.register("grid")
class GridStrategy(BaseStrategy[GridParams]):
    """Long (or short) grid: post-only opens, a take-profit per fill, cooldown scaled by resting orders."""

    name = "grid"
    needs_spread = True  # opens at best ask - 1 tick / best bid + 1 tick, never on a book with ask = bid
    Params = GridParams

    def __init__(self, params: GridParams) -> None:
        super().__init__(params)
        self._side = params.side
        self._book = LegBook()
        self._open: Leg | None = None
        self._cancels: list[ClientOrderId] = []
        self._md: MarketData | None = None
        self._started = False
        self._price_checked = False
        self._last_open_ms: int | None = None
        self._last_count = 0
        self._open_now = False
        self._retry_pending = False
        self._retry_md: MarketData | None = None  # the book that saw the post-only refusal
        self._attempt_retries = 0
        self._paused = False
        self._stop: str | None = None
        self._halted: str | None = None
        self._bad_reads = 0
        self._next_guard_ms: int | None = None
        self._at_shutdown: tuple[int, Decimal] | None = None  # resting take-profits (count, base units)
        self._counts = dict.fromkeys(
            ("cycles_completed", "open_attempts", "opens_filled", "opens_unfilled", "opens_refused",
             "post_only_retries", "post_only_give_ups", "take_profits_placed", "exit_retries",
             "exit_transient_retries", "boost_closes", "orders_lost", "exits_released", "exits_rebuilt"), 0,
        )  # fmt: skip
        self._exits = GridExits(params, self._book, self._counts)

    # -- public state the supervisor reads ----------------------------------------------------
    @property
    def stopped(self) -> bool:
        """Return True once the stop price was hit and nothing is left in flight (exit, orders rest)."""
        return self._stop is not None and self._open is None and not self._book.queued and not self._cancels

    def stop_reason(self) -> str | None:
        """Return why the bot should stop (stop price reached) once nothing is in flight, else ``None``."""
        return self._stop if self.stopped else None

    @property
    def halted_reason(self) -> str | None:
        """Return why new opens are halted (position guard), or ``None``; take-profits keep working."""
        return self._halted

    # -- hooks ---------------------------------------------------------------------------------
    def initialize(self, ctx: StrategyContext) -> None:
        """Keep the context and check ``quantity`` against the market's limits.

        Raises:
            ConfigError: ``quantity`` is off the lot step, below the minimum amount, above the maximum, or
                (when a price is known) below the minimum notional.
        """
        super().initialize(ctx)
        check_quantity(self.params.quantity, ctx.market)
        if ctx.last_market_data is not None:
            self._check_notional(ctx.last_market_data)

    def _check_notional(self, md: MarketData) -> None:
        price = md.mid if md.bid > 0 and md.ask > 0 else md.last
        if price is not None and price > 0:
            self._price_checked = True
            check_notional(self.params.quantity, self.ctx.market, price)

    def should_execute(self, market_data: MarketData) -> bool:
        """Return True when this pass has something to do (never True once ``stopped``).

        Raises:
            ConfigError: at the first market event, when ``quantity`` is below the minimum notional.
        """
        if not self._price_checked:
            self._check_notional(market_data)
        if self.stopped:
            return False
        if self._book.queued or self._cancels or self._open is not None or not self._started or self._retry_pending:
            return True
        if self._exits.state_request is not None:
            return True
        now = self.ctx.clock.now_ms()
        if self._next_guard_ms is None or now >= self._next_guard_ms or self._stop_hit(market_data):
            return True
        return self._open_blocker(market_data, now) is None

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Run one pass of the cycle and return the orders, cancels and state request it decided."""
        md, now = market_data, self.ctx.clock.now_ms()
        self._md = md
        if not self._price_checked:
            self._check_notional(md)
        self._reconcile()
        if not self._started:
            self._start(now)
        if self._stop is None and self._stop_hit(md):
            self._stop = f"stop_price {self.params.stop_price} reached (bid {md.bid}, ask {md.ask})"
            self._retry_pending = False
            _log.error("grid_stop_price_reached", reason=self._stop, alert=True)
        self._guard(now)
        self._manage_open(md, now)
        orders = self._exits.emit(self.ctx, md)
        opening = self._maybe_open(md, now)
        if opening is not None:
            orders.append(opening)
        self._last_count = len(self._book.tps())
        cancels, self._cancels = tuple(self._cancels), []
        request, self._exits.state_request = self._exits.state_request, None
        if orders:
            return StrategyResult(
                action=StrategyAction.PLACE_ORDER, orders=tuple(orders), cancel=cancels, state_request=request
            )
        if cancels:
            return StrategyResult(action=StrategyAction.CANCEL_ORDER, cancel=cancels, state_request=request)
        return StrategyResult.nothing() if request is None else StrategyResult(state_request=request)

    def on_order_update(self, event: OrderEvent) -> None:
        """Track the strategy's own orders; fills queue take-profits for the next pass (at once)."""
        by_tag = isinstance(event, OrderSubmitted | OrderDenied)  # sent before its client id was known to us
        leg = self._book.find(event.client_order_id, event.client_tag, by_tag=by_tag)
        if leg is None:
            return  # not one of ours (another strategy's or a manual order)
        if isinstance(event, OrderSubmitted):
            self._submitted(leg, event.client_order_id)
        elif isinstance(event, OrderDenied):
            reason = f"{event.rule}: {event.reason}"
            self._progress(leg, ZERO, OrderStatus.DENIED, reason=reason, refusal=refusal_of(event))
        elif isinstance(event, OrderRejected):
            self._progress(leg, ZERO, OrderStatus.REJECTED, reason=event.reason, refusal=refusal_of(event))
        elif isinstance(event, OrderFilled):
            self._fee_kept(leg, event.fill, event.filled_quantity)
            self._progress(leg, event.filled_quantity, OrderStatus.FILLED, average=event.average_price)
        elif isinstance(event, OrderPartiallyFilled):
            self._fee_kept(leg, event.fill, event.filled_quantity)
            self._progress(leg, event.filled_quantity, None, average=self._average(leg, event.fill.price))
        elif isinstance(event, OrderCanceled | OrderExpired):
            order = self.ctx.order(event.client_order_id)  # the final filled amount: the cancel-vs-fill race
            filled = max(event.filled_quantity, ZERO if order is None else order.filled_quantity)
            status = OrderStatus.CANCELED if isinstance(event, OrderCanceled) else OrderStatus.EXPIRED
            self._progress(leg, filled, status, average=self._average(leg, None), refusal=refusal_of(event))

    # -- bookkeeping ---------------------------------------------------------------------------
    def _fee_kept(self, leg: Leg, fill: Fill | None, filled: Decimal) -> None:
        """Note the fee an open order's new fill (its cumulative ``filled`` grew) paid in the base asset: the
        account did not receive it. A repeated event of a fill already counted adds nothing."""
        if leg.kind != "open" or fill is None or not fill.fee or filled <= leg.filled:
            return
        if fill.fee_in_base:
            leg.fee_kept += fill.fee

    def _tps(self) -> list[Leg]:
        return self._book.tps()

    def _submitted(self, leg: Leg, coid: ClientOrderId) -> None:
        self._book.attach(leg, coid)
        if leg.kind == "open":
            leg.next_check_ms = self.ctx.clock.now_ms() + int(self.params.fill_timeout * 1000)

    def _average(self, leg: Leg, fallback: Decimal | None) -> Decimal | None:
        order = None if leg.coid is None else self.ctx.order(leg.coid)
        if order is not None and order.average_price is not None:
            return order.average_price
        return fallback if fallback is not None else leg.average

    def _reconcile(self) -> None:
        """Apply final states the tracker knows but whose events were missed (e.g. across a restart)."""
        for leg in list(self._book.legs.values()):
            order = None if leg.coid is None else self.ctx.order(leg.coid)
            if order is not None and order.status.is_terminal:
                self._progress(leg, order.filled_quantity, order.status, average=order.average_price,
                               reason=order.reason, refusal=missed_refusal(order.status))  # fmt: skip

    def _progress(
        self, leg: Leg, filled: Decimal, status: OrderStatus | None, *,
        average: Decimal | None = None, reason: str = "", refusal: Refusal = Refusal.PERMANENT,
    ) -> None:  # fmt: skip
        if filled > leg.filled:
            if leg.kind == "open" and leg.filled == 0:
                self._counts["opens_filled"] += 1
            leg.filled = filled
        if average is not None:
            leg.average = average
        if leg.kind == "open":
            self._exits.cover(self.ctx, leg, final=status is not None or leg.done)
        if status is None or leg.done:
            return
        self._book.finish(leg)
        if leg.kind == "open":
            self._end_open(leg, status, reason, refusal is Refusal.CROSSED)
        elif status is OrderStatus.FILLED:
            self._counts["cycles_completed"] += 1
            self._open_now = leg.kind == "tp"  # a take-profit filled: n dropped, open again at once
        elif self._at_shutdown is None or status is not OrderStatus.CANCELED:  # else: cancelled by our shutdown
            self._exits.refused(self.ctx, leg, status, reason or status.value, refusal, self._md)

    def _end_open(self, leg: Leg, status: OrderStatus, reason: str, post_only: bool) -> None:
        if self._open is leg:
            self._open = None
        if status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED):
            if leg.filled == 0:
                self._counts["opens_unfilled"] += 1
                self._open_now = True  # the attempt produced no take-profit: open again at once
            return
        if post_only and status is OrderStatus.REJECTED and self._attempt_retries < self.params.post_only_retries:
            self._attempt_retries += 1
            self._counts["post_only_retries"] += 1
            self._retry_pending = self._stop is None and self._halted is None
            self._retry_md = self._md
            return
        self._counts["post_only_give_ups" if post_only else "opens_refused"] += 1
        _log.warning(
            "grid_open_refused", tag=leg.tag, status=status.value, reason=reason, retries=self._attempt_retries
        )

    # -- the open order --------------------------------------------------------------------------
    def _open_price(self, md: MarketData) -> Decimal:
        market = self.ctx.market
        if self._side is OrderSide.BUY:
            return market.round_price(md.ask - market.price_increment, "down")
        return market.round_price(md.bid + market.price_increment, "up")

    def _manage_open(self, md: MarketData, now: int) -> None:
        leg = self._open
        if leg is None or leg.coid is None:
            return
        recheck_ms = int(self.params.recheck_interval * 1000)
        if leg.cancel_ms is None:
            if self._stop is None and self._halted is None:
                if now < leg.next_check_ms:
                    return
                leg.next_check_ms = now + recheck_ms
                if not self._moved_away(leg, md):
                    return
            _log.info("grid_open_cancel", client_order_id=leg.coid, price=str(leg.price), bid=str(md.bid))
        elif now - leg.cancel_ms < recheck_ms:
            return
        leg.cancel_ms = now
        self._cancels.append(leg.coid)

    def _moved_away(self, leg: Leg, md: MarketData) -> bool:
        if leg.price is None or not md.ask > md.bid > 0:
            return False
        fresh = self._open_price(md)
        return fresh > leg.price if self._side is OrderSide.BUY else fresh < leg.price

    def _stop_hit(self, md: MarketData) -> bool:
        return self._beyond(self.params.stop_price, md)

    def _beyond(self, level: Decimal | None, md: MarketData) -> bool:
        """Return True when the market is at or beyond ``level`` (buy: best ask ≥ it; sell: best bid ≤ it)."""
        return level is not None and (md.ask >= level if self._side is OrderSide.BUY else md.bid <= level)

    def _cooldown_ms(self, n: int) -> int:
        big_n, wait_ms = self.params.max_orders, self.params.wait_time * 1000
        if 6 * n < big_n:
            return int(wait_ms / 4)
        if 3 * n < big_n:
            return int(wait_ms / 2)
        if 3 * n < 2 * big_n:
            return int(wait_ms)
        return int(wait_ms * 2)

    def _cooldown_over(self, now: int) -> bool:
        n = len(self._tps())
        if n >= self.params.max_orders:
            return False
        if self._open_now or n < self._last_count or self._last_open_ms is None:
            return True
        return now - self._last_open_ms >= self._cooldown_ms(n)

    def _grid_step_ok(self, md: MarketData) -> bool:
        prices = [leg.price for leg in self._tps() if leg.price is not None]
        if not prices:
            return True
        rate, step = self.params.take_profit / 100, 1 + self.params.grid_step / 100
        if self._side is OrderSide.BUY:
            return min(prices) / (md.ask * (1 + rate)) > step
        return md.bid * (1 - rate) / max(prices) > step

    def _open_blocker(self, md: MarketData, now: int) -> str | None:
        """Return why no open may go out now (``None``: it may). Reads state only."""
        if self._open is not None:
            return "in_flight"
        if self._stop is not None or self._stop_hit(md):
            return "stopped"
        if self._halted is not None:
            return "halted"
        if self.ctx.trading_state is not TradingState.ACTIVE or self._exits.state_request is not None:
            return "trading_state"
        if not md.ask > md.bid > 0:
            return "bad_book"
        if self._beyond(self.params.pause_price, md):
            return "paused"
        if self._retry_pending:
            return None if md is not self._retry_md else "retry_wait"  # re-read the book: a new event
        if not self._cooldown_over(now):
            return "cooldown"
        return None if self._grid_step_ok(md) else "grid_step"

    def _maybe_open(self, md: MarketData, now: int) -> OrderParams | None:
        blocker = self._open_blocker(md, now)
        paused = blocker == "paused"
        if paused != self._paused:
            self._paused = paused
            _log.warning("grid_paused" if paused else "grid_resumed", pause_price=str(self.params.pause_price))
        if blocker is not None:
            return None
        if not self._retry_pending:
            self._attempt_retries = 0
            self._counts["open_attempts"] += 1
            self._last_open_ms = now
            self._open_now = False
        self._retry_pending = False
        price = self._open_price(md)
        leg = self._book.new("open", self._side, self.params.quantity, price)
        self._open = leg
        return OrderParams(
            side=self._side, quantity=self.params.quantity, price=price, post_only=True, client_tag=leg.tag
        )

    # -- position guard --------------------------------------------------------------------------
    def _guard(self, now: int) -> None:
        interval = int(self.params.position_check_interval * 1000)
        if self._next_guard_ms is None:
            self._next_guard_ms = now + interval
        if now < self._next_guard_ms:
            return
        self._next_guard_ms = now + interval
        hedged = self._book.hedged()
        position = self.ctx.position.quantity
        deviation = abs(position - hedged * self._side.sign)
        if deviation <= 2 * self.params.quantity:
            self._bad_reads = 0
            return
        self._bad_reads += 1
        _log.warning("grid_position_mismatch", position=str(position), hedged=str(hedged), reads=self._bad_reads)
        if self._bad_reads >= 2 and self._halted is None:
            self._halted = f"position {position} differs from take-profits {hedged} by {deviation} on two reads"
            _log.error("grid_halted", reason=self._halted, alert=True)

    # -- restart ---------------------------------------------------------------------------------
    def _start(self, now: int) -> None:
        """First pass: adopt own open orders by tag, drop unknown restored ones, match the restored
        pending exits with the tracker, apply the start rule."""
        self._started = True
        book = self._book
        for order in self.ctx.open_orders():
            kind = order.client_tag.partition(":")[0]
            if kind in KINDS and order.client_tag not in book.legs and order.client_order_id not in book.by_id:
                self._submitted(book.adopt(order), order.client_order_id)
        for leg in list(book.legs.values()):
            if leg.coid is not None and self.ctx.order(leg.coid) is None:
                _log.warning("grid_restored_order_unknown", client_order_id=leg.coid, tag=leg.tag)
                book.legs.pop(leg.tag)
            elif leg.kind == "open" and self._open is None:
                self._open = leg
        restored, book.restored = book.restored, []
        for leg in restored:
            self._exits.resume(self.ctx, leg)
        self._reconcile()  # restored exits that ended while the bot was down
        self._rebuild_exits()
        n = len(self._tps())
        self._last_count, self._open_now = n, False
        if n > 0:  # never open at once after a restart while take-profits rest: wait one cooldown
            self._last_open_ms = now

    def _rebuild_exits(self) -> None:
        """At start, hedge what the position holds beyond every exit the grid knows of.

        The snapshot is saved every few seconds, so after a kill -9 it may predate an open order that filled
        (or its fill): the journal's position, reconciled with the exchange, is the truth. The shortfall is
        the position (in the grid's direction) less the exits resting or queued, the open legs' uncovered
        fills and what was recorded as unhedged; it gets one exit priced from the position's average entry.
        More exits than position is only reported (the position guard watches it).
        """
        position = self.ctx.position
        hedged = self._book.hedged()
        shortfall = position.quantity * self._side.sign - hedged - self._exits.unhedged - self._exits.dust
        if shortfall < 0:
            _log.warning("grid_exits_exceed_position", position=str(position.quantity), hedged=str(hedged))
            return
        basis = position.average_price
        if shortfall == 0 or basis <= 0:
            return
        leg = self._exits.rebuild(self.ctx, shortfall, basis)
        _log.warning("grid_exit_rebuilt", position=str(position.quantity), hedged=str(hedged),
                     quantity=str(shortfall), tag=None if leg is None else leg.tag,
                     price=None if leg is None else str(leg.price))  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Return the state that must survive a restart (JSON-safe; Decimals as strings).

        ``legs`` are the orders sent (with their client ids); ``exits`` the take-profits and boost closes
        not yet known to be sent (queued, or handed to the supervisor), which a restart sends unless
        reconciliation shows they went out.
        """
        return {
            "version": 2,
            **self._book.to_json(),
            "last_open_ms": self._last_open_ms,
            "last_count": self._last_count,
            "unhedged": str(self._exits.unhedged),
            "dust": str(self._exits.dust),
            "counts": dict(self._counts),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore a ``snapshot`` (version 1 or 2); the first pass then reconciles it with the tracker."""
        if not state:
            return
        self._book.restore(int(state.get("seq", 0)), state.get("legs", []), state.get("exits", []))
        for leg in self._book.legs.values():
            if leg.kind == "open" and leg.coid is not None:
                self._submitted(leg, leg.coid)
        last_open = state.get("last_open_ms")
        self._last_open_ms = None if last_open is None else int(last_open)
        self._last_count = int(state.get("last_count", 0))
        self._exits.unhedged = Decimal(str(state.get("unhedged", "0")))  # a halt is not restored: the restart clears it
        self._exits.dust = Decimal(str(state.get("dust", "0")))
        for key, value in dict(state.get("counts", {})).items():
            if key in self._counts:
                self._counts[key] = int(value)

    def shutdown(self) -> None:
        """Note the resting take-profits for the summary; later cancels by the supervisor are expected."""
        tps = self._tps()
        self._at_shutdown = (len(tps), sum((leg.quantity - leg.filled for leg in tps), ZERO))

    def summary(self) -> dict[str, Any]:
        """Return the grid's figures for the end-of-run summary (counts; quantities in base units).

        ``cycles_completed`` counts filled take-profits (or boost closes); ``resting_take_profits`` and
        ``resting_take_profit_quantity`` are taken at ``shutdown`` (before any cancel-on-shutdown).
        """
        tps = self._tps()
        resting = self._at_shutdown or (len(tps), sum((leg.quantity - leg.filled for leg in tps), ZERO))
        return {
            **self._counts,
            "resting_take_profits": resting[0],
            "resting_take_profit_quantity": str(resting[1]),
            "unhedged_quantity": str(self._exits.unhedged),
            "stop_reason": self._stop,
            "halted_reason": self._halted,
        }
