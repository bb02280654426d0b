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
* The take-profit basis is the order's cumulative average fill price; a buy-grid take-profit is rounded
  UP to the tick and a sell-grid one DOWN, so the profit is never below ``take_profit``. If it would
  cross, it goes to the best price on its own side (a sell take-profit to the best ask).
* A take-profit refused as post-only crossing is re-placed at the best price on its own side of a
  newer book than the one that saw the refusal (a retry on the same book would be refused again).
  After ``post_only_retries`` such tries it keeps trying every ``recheck_interval``: it hedges a real
  fill, so it is never given up. A risk-denied one is retried every ``recheck_interval`` up to
  ``post_only_retries`` times, then reported lost (``orders_lost``, alert).
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

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import Literal

from pydantic import Field

from strategies import STRATEGIES
from strategies.base import BaseStrategy
from strategies.base import StrategyContext
from strategies.base import StrategyParams
from trading_bot.domain import ZERO
from trading_bot.domain import ClientOrderId
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
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain import TradingState
from trading_bot.errors import ConfigError
from trading_bot.log import get_logger

__all__ = ["GridParams", "GridStrategy"]

_log = get_logger(__name__)
_KINDS = ("open", "tp", "close")
_KEEP_DONE = 256  # finished orders remembered for late fills (the cancel-vs-fill race)


class GridParams(StrategyParams):
    """Parameters of ``grid`` (GRID.md "Parameters"); the symbol comes from the bot config / ``--ticker``."""

    quantity: Decimal = Field(gt=0, description="size of every open order, base units (e.g. BTC)")
    take_profit: Decimal = Field(
        default=Decimal("0.02"), gt=0, lt=100, description="take-profit distance in PERCENT: 0.02 means 0.02 %"
    )
    direction: Literal["buy", "sell"] = Field(
        default="buy", description="buy = long grid (open buys, take-profit sells); sell = the mirror"
    )
    max_orders: int = Field(default=40, ge=1, description="cap on resting take-profit orders (count)")
    wait_time: float = Field(default=450.0, ge=0, description="base cooldown between opens, seconds")
    grid_step: Decimal = Field(
        default=Decimal(-100),
        ge=-100,
        description="minimum gap between a new take-profit and the nearest resting one, percent; -100 = off",
    )
    stop_price: Decimal | None = Field(
        default=None, gt=0, description="buy: stop and exit when best ask >= it (sell: best bid <= it); quote"
    )
    pause_price: Decimal | None = Field(
        default=None, gt=0, description="buy: no new opens while best ask >= it (sell: best bid <= it); quote"
    )
    boost: bool = Field(default=False, description="close each fill at once with a market order, no take-profit")
    fill_timeout: float = Field(default=10.0, gt=0, description="wait for the open order to fill, seconds")
    recheck_interval: float = Field(
        default=5.0, gt=0, description="after fill_timeout, re-check the unfilled open order every N seconds"
    )
    post_only_retries: int = Field(
        default=15,
        ge=0,
        description="quick re-tries of a post-only order refused for crossing, per attempt"
        " (take-profits then go on every recheck_interval)",
    )
    position_check_interval: float = Field(
        default=60.0, gt=0, description="position guard period, seconds (two bad reads in a row halt opens)"
    )

    @property
    def side(self) -> OrderSide:
        """Return the side of the open orders."""
        return OrderSide(self.direction)


@dataclass(slots=True, kw_only=True)
class _Leg:
    kind: str  # "open", "tp" (take-profit) or "close" (boost market close)
    tag: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None
    coid: ClientOrderId | None = None
    filled: Decimal = ZERO
    average: Decimal | None = None
    covered: Decimal = ZERO  # open orders: filled quantity already handed to take-profits / closes
    retries: int = 0  # exits: retries so far (post-only refusals and risk denials)
    at_touch: bool = False  # exits: re-place at the best price on our own side (after a post-only refusal)
    refused_on: MarketData | None = None  # exits: the book that saw the post-only refusal (wait for a newer one)
    next_check_ms: int = 0
    cancel_ms: int | None = None
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _PERSISTED}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Leg:
        leg = cls(kind=str(data["kind"]), tag=str(data["tag"]), side=OrderSide(data["side"]), quantity=ZERO, price=None)
        leg.coid = ClientOrderId(str(data["coid"]))
        for name in ("quantity", "price", "filled", "covered"):
            setattr(leg, name, None if data.get(name) is None else Decimal(str(data[name])))
        return leg


_PERSISTED = ("kind", "tag", "side", "coid", "quantity", "price", "filled", "covered")


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal | OrderSide) else value


@STRATEGIES.register("grid")
class GridStrategy(BaseStrategy[GridParams]):
    """Long (or short) grid: post-only opens, a take-profit per fill, cooldown scaled by resting orders."""

    name = "grid"
    Params = GridParams

    def __init__(self, params: GridParams) -> None:
        super().__init__(params)
        self._side = params.side
        self._legs: dict[str, _Leg] = {}  # tag -> live leg (open, take-profits, closes)
        self._by_id: dict[ClientOrderId, _Leg] = {}
        self._done_ids: deque[ClientOrderId] = deque()
        self._open: _Leg | None = None
        self._queued: list[_Leg] = []  # exits (take-profits, boost closes) waiting for the next pass
        self._cancels: list[ClientOrderId] = []
        self._md: MarketData | None = None
        self._seq = 0
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
        self._unhedged = ZERO
        self._at_shutdown: tuple[int, Decimal] | None = None  # resting take-profits (count, base units)
        self._counts = dict.fromkeys(
            ("cycles_completed", "open_attempts", "opens_filled", "opens_unfilled", "opens_refused",
             "post_only_retries", "post_only_give_ups", "take_profits_placed", "exit_retries",
             "boost_closes", "orders_lost"), 0,
        )  # fmt: skip

    # -- public state the supervisor reads ----------------------------------------------------
    @property
    def stopped(self) -> bool:
        """Return True once the stop price was hit and nothing is left in flight (exit, orders rest)."""
        return self._stop is not None and self._open is None and not self._queued and not self._cancels

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
        market, qty = ctx.market, self.params.quantity
        if market.round_amount(qty) != qty:
            raise ConfigError(
                f"grid.quantity {qty} {market.base} is not a multiple of the lot step {market.amount_increment};"
                f" use {market.round_amount(qty)}"
            )
        if qty < market.min_amount:
            raise ConfigError(
                f"grid.quantity {qty} {market.base} is below the market minimum amount {market.min_amount};"
                f" use at least {market.min_amount}"
            )
        if market.max_amount is not None and qty > market.max_amount:
            raise ConfigError(f"grid.quantity {qty} {market.base} is above the market maximum {market.max_amount}")
        if ctx.last_market_data is not None:
            self._check_notional(ctx.last_market_data)

    def _check_notional(self, md: MarketData) -> None:
        price = md.mid if md.bid > 0 and md.ask > 0 else md.last
        if price is None or price <= 0:
            return
        self._price_checked = True
        market, qty = self.ctx.market, self.params.quantity
        price = market.round_price(price)
        if qty * price >= market.min_notional:
            return
        need = max(market.min_amount, market.round_amount(market.min_notional / price))
        while need * price < market.min_notional:
            need += market.amount_increment
        raise ConfigError(
            f"grid.quantity {qty} {market.base} is below the market minimum notional {market.min_notional}"
            f" {market.quote} at price {price:,}; use at least {need}"
        )

    def should_execute(self, market_data: MarketData) -> bool:
        """Return True when this pass has something to do (never True once ``stopped``).

        Raises:
            ConfigError: at the first market event, when ``quantity`` is below the minimum notional.
        """
        if not self._price_checked:
            self._check_notional(market_data)
        if self.stopped:
            return False
        if self._queued or self._cancels or self._open is not None or not self._started or self._retry_pending:
            return True
        now = self.ctx.clock.now_ms()
        if self._next_guard_ms is None or now >= self._next_guard_ms or self._stop_hit(market_data):
            return True
        return self._open_blocker(market_data, now) is None

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Run one pass of the cycle and return the orders and cancels it decided."""
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
        orders = self._emit_exits(md)
        opening = self._maybe_open(md, now)
        if opening is not None:
            orders.append(opening)
        self._last_count = len(self._tps())
        cancels, self._cancels = tuple(self._cancels), []
        if orders:
            return StrategyResult(action=StrategyAction.PLACE_ORDER, orders=tuple(orders), cancel=cancels)
        if cancels:
            return StrategyResult(action=StrategyAction.CANCEL_ORDER, cancel=cancels)
        return StrategyResult.nothing()

    def on_order_update(self, event: OrderEvent) -> None:
        """Track the strategy's own orders; fills queue take-profits for the next pass (at once)."""
        leg = self._by_id.get(event.client_order_id)
        if leg is None and isinstance(event, OrderSubmitted | OrderDenied):
            leg = self._legs.get(event.client_tag)
        if leg is None:
            return  # not one of ours (another strategy's or a manual order)
        if isinstance(event, OrderSubmitted):
            self._submitted(leg, event.client_order_id)
        elif isinstance(event, OrderDenied):
            self._progress(leg, ZERO, OrderStatus.DENIED, reason=f"{event.rule}: {event.reason}")
        elif isinstance(event, OrderRejected):
            self._progress(leg, ZERO, OrderStatus.REJECTED, reason=event.reason, post_only=event.post_only)
        elif isinstance(event, OrderFilled):
            self._progress(leg, event.filled_quantity, OrderStatus.FILLED, average=event.average_price)
        elif isinstance(event, OrderPartiallyFilled):
            self._progress(leg, event.filled_quantity, None, average=self._average(leg, event.fill.price))
        elif isinstance(event, OrderCanceled | OrderExpired):
            order = self.ctx.order(event.client_order_id)  # the final filled amount: the cancel-vs-fill race
            filled = max(event.filled_quantity, ZERO if order is None else order.filled_quantity)
            status = OrderStatus.CANCELED if isinstance(event, OrderCanceled) else OrderStatus.EXPIRED
            self._progress(leg, filled, status, average=self._average(leg, None))

    # -- bookkeeping ---------------------------------------------------------------------------
    def _tps(self) -> list[_Leg]:
        return [leg for leg in self._legs.values() if leg.kind == "tp"]

    def _new_leg(self, kind: str, side: OrderSide, quantity: Decimal, price: Decimal | None) -> _Leg:
        self._seq += 1
        leg = _Leg(kind=kind, tag=f"{kind}:{self._seq}", side=side, quantity=quantity, price=price)
        self._legs[leg.tag] = leg
        return leg

    def _submitted(self, leg: _Leg, coid: ClientOrderId) -> None:
        leg.coid = coid
        self._by_id[coid] = leg
        if leg.kind == "open":
            leg.next_check_ms = self.ctx.clock.now_ms() + int(self.params.fill_timeout * 1000)

    def _average(self, leg: _Leg, fallback: Decimal | None) -> Decimal | None:
        order = None if leg.coid is None else self.ctx.order(leg.coid)
        if order is not None and order.average_price is not None:
            return order.average_price
        return fallback if fallback is not None else leg.average

    def _reconcile(self) -> None:
        """Apply final states the tracker knows but whose events were missed."""
        for leg in list(self._legs.values()):
            order = None if leg.coid is None else self.ctx.order(leg.coid)
            if order is not None and order.status.is_terminal:
                self._progress(leg, order.filled_quantity, order.status, average=order.average_price)

    def _progress(
        self, leg: _Leg, filled: Decimal, status: OrderStatus | None, *,
        average: Decimal | None = None, reason: str = "", post_only: bool = False,
    ) -> None:  # fmt: skip
        if filled > leg.filled:
            if leg.kind == "open" and leg.filled == 0:
                self._counts["opens_filled"] += 1
            leg.filled = filled
        if average is not None:
            leg.average = average
        if leg.kind == "open":
            self._cover(leg, final=status is not None or leg.done)
        if status is None or leg.done:
            return
        leg.done = True
        self._legs.pop(leg.tag, None)
        if leg.coid is not None:
            self._done_ids.append(leg.coid)
            while len(self._done_ids) > _KEEP_DONE:
                self._by_id.pop(self._done_ids.popleft(), None)
        if leg.kind == "open":
            self._end_open(leg, status, reason, post_only)
        else:
            self._end_exit(leg, status, reason, post_only)

    def _end_open(self, leg: _Leg, status: OrderStatus, reason: str, post_only: bool) -> None:
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

    def _end_exit(self, leg: _Leg, status: OrderStatus, reason: str, post_only: bool) -> None:
        if status is OrderStatus.FILLED:
            self._counts["cycles_completed"] += 1
            self._open_now = leg.kind == "tp"  # a take-profit filled: n dropped, open again at once
            return
        left = leg.quantity - leg.filled
        if self._at_shutdown is not None and status is OrderStatus.CANCELED:
            return  # cancelled by the supervisor's shutdown (bot.on_shutdown = cancel): expected
        fast = leg.retries < self.params.post_only_retries
        if post_only or (fast and status is OrderStatus.DENIED):
            self._counts["exit_retries"] += 1
            retry = self._queue_exit(left, leg.price, leg.retries + 1)
            if post_only:  # crossed: the market is past the target; rest at our own best price of a newer book
                retry.at_touch, retry.refused_on = True, self._md
            if not fast or status is OrderStatus.DENIED:  # e.g. a rate limit: try again after recheck_interval
                retry.next_check_ms = self.ctx.clock.now_ms() + int(self.params.recheck_interval * 1000)
            if not fast and post_only:
                _log.warning("grid_exit_still_crossing", tag=leg.tag, retries=leg.retries, quantity=str(left))
            return
        self._counts["orders_lost"] += 1
        self._unhedged += left
        _log.error(
            "grid_exit_order_lost", tag=leg.tag, status=status.value, reason=reason, unhedged=str(left), alert=True
        )

    # -- take-profits and boost closes -------------------------------------------------------------
    def _cover(self, leg: _Leg, *, final: bool) -> None:
        amount = leg.filled - leg.covered
        if amount <= 0:
            return
        basis = leg.average if leg.average is not None else leg.price
        if basis is None:
            return
        market = self.ctx.market
        if amount < market.min_amount or amount * basis < market.min_notional:
            if final:  # the order is over and the remainder cannot be hedged: say so
                leg.covered += amount
                self._unhedged += amount
                _log.error("grid_fill_below_minimum", tag=leg.tag, unhedged=str(amount), alert=True)
            return
        leg.covered += amount
        self._queue_exit(amount, None if self.params.boost else self._tp_price(basis), 0)

    def _tp_price(self, basis: Decimal) -> Decimal:
        rate, market = self.params.take_profit / 100, self.ctx.market
        if self._side is OrderSide.BUY:
            return market.round_price(basis * (1 + rate), "up")
        return market.round_price(basis * (1 - rate), "down")

    def _queue_exit(self, quantity: Decimal, price: Decimal | None, retries: int) -> _Leg:
        leg = self._new_leg("tp" if price is not None else "close", self._side.opposite, quantity, price)
        leg.retries = retries
        self._queued.append(leg)
        return leg

    def _emit_exits(self, md: MarketData) -> list[OrderParams]:
        """Turn queued exits into intents priced against this pass's book (a crossing take-profit and a
        retry after a post-only refusal go to the best price on their own side)."""
        out, reduce, now = [], self.ctx.market.contract, self.ctx.clock.now_ms()
        waiting = [leg for leg in self._queued if leg.next_check_ms > now or leg.refused_on is md]
        for leg in self._queued:
            if leg.next_check_ms > now or leg.refused_on is md:
                continue
            side, qty = leg.side, leg.quantity
            if leg.price is None:  # boost: close at market
                self._counts["boost_closes"] += 1
                out.append(OrderParams(side=side, quantity=qty, order_type=OrderType.MARKET, reduce_only=reduce,
                                       client_tag=leg.tag))  # fmt: skip
                continue
            own_best = md.ask if side is OrderSide.SELL else md.bid
            crosses = leg.price <= md.bid if side is OrderSide.SELL else leg.price >= md.ask
            if md.ask > md.bid > 0 and (crosses or leg.at_touch):
                leg.price = own_best
            self._counts["take_profits_placed"] += 1
            out.append(OrderParams(side=side, quantity=qty, price=leg.price, post_only=True, reduce_only=reduce,
                                   client_tag=leg.tag))  # fmt: skip
        self._queued = waiting
        return out

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

    def _moved_away(self, leg: _Leg, md: MarketData) -> bool:
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
        if self.ctx.trading_state is not TradingState.ACTIVE:
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
        leg = self._new_leg("open", self._side, self.params.quantity, price)
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
        hedged = sum((leg.quantity - leg.filled for leg in self._legs.values() if leg.kind != "open"), ZERO)
        if self._open is not None:
            hedged += self._open.filled - self._open.covered
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
        """First pass: adopt own open orders by tag, drop unknown restored ones, apply the start rule."""
        self._started = True
        for order in self.ctx.open_orders():
            kind, _, number = order.client_tag.partition(":")
            if kind in _KINDS and order.client_tag not in self._legs and order.client_order_id not in self._by_id:
                leg = _Leg(kind=kind, tag=order.client_tag, side=order.side, quantity=order.quantity,
                           price=order.price, filled=order.filled_quantity, covered=order.filled_quantity)  # fmt: skip
                self._legs[leg.tag] = leg
                self._submitted(leg, order.client_order_id)
                self._seq = max(self._seq, int(number)) if number.isdigit() else self._seq
        for leg in list(self._legs.values()):
            if leg.coid is not None and self.ctx.order(leg.coid) is None:
                _log.warning("grid_restored_order_unknown", client_order_id=leg.coid, tag=leg.tag)
                self._legs.pop(leg.tag)
            elif leg.kind == "open" and self._open is None:
                self._open = leg
        n = len(self._tps())
        self._last_count, self._open_now = n, False
        if n > 0:  # never open at once after a restart while take-profits rest: wait one cooldown
            self._last_open_ms = now

    def snapshot(self) -> dict[str, Any]:
        """Return the state that must survive a restart (JSON-safe; Decimals as strings)."""
        return {
            "version": 1,
            "seq": self._seq,
            "last_open_ms": self._last_open_ms,
            "last_count": self._last_count,
            "legs": [leg.to_json() for leg in self._legs.values() if leg.coid is not None],
            "unhedged": str(self._unhedged),
            "counts": dict(self._counts),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore a ``snapshot``; the first pass then reconciles it with the tracker."""
        if not state:
            return
        self._seq = int(state.get("seq", 0))
        last_open = state.get("last_open_ms")
        self._last_open_ms = None if last_open is None else int(last_open)
        self._last_count = int(state.get("last_count", 0))
        self._unhedged = Decimal(str(state.get("unhedged", "0")))  # a halt is not restored: the restart clears it
        for key, value in dict(state.get("counts", {})).items():
            if key in self._counts:
                self._counts[key] = int(value)
        for data in state.get("legs", []):
            leg = _Leg.from_json(data)
            self._legs[leg.tag] = leg
            self._submitted(leg, leg.coid)  # type: ignore[arg-type]

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
            "unhedged_quantity": str(self._unhedged),
            "stop_reason": self._stop,
            "halted_reason": self._halted,
        }
