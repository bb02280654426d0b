"""The matching core: one market's simulated orders, matched against any market-data path, settled in one account.

Every simulated fill of the project comes from here: paper trading and ``--replay`` (``exchanges.paper``),
``backtest`` on quotes and trades (the same), ``backtest`` and ``--replay`` on bars (``exchanges.backtest``)
and the Binance emulator (``trading_bot.emulator.engine``, which keeps only its wire layer). Prices are
in quote currency, quantities in base currency, fees are rates charged in **quote currency** as
``fee = price × quantity × rate`` (``FillModel`` holds every knob). Every rule below is deliberate.

Arrival checks (when the order is sent; raised, the order never exists)
    * the market's filters (tick, lot step, min/max amount, min notional at the touch); a client order
      id that is still open; a market order before any market data; a stop whose trigger the touch
      has reached already (as Binance does); a post-only limit that would cross the touch
      (``PostOnlyWouldCross``);
    * funds: a buy locks ``price × qty × (1 + max(maker, taker))`` quote (stops: the trigger plus slippage
      with the taker fee; market orders: the touch plus slippage with the taker fee, or their
      ``quote_quantity`` when sized at the fill); a sell locks ``qty`` base. A shortfall raises
      ``InsufficientFunds`` naming symbol, side, amount and price. Each fill spends its part of the lock
      and returns the unused part; cancel or expiry releases what is left.
    * swaps (a contract market, over a ``MarginAccount``): both sides lock the initial margin of the
      order's opening part plus its fee (``MarginAccount.reserve``), checked against the available
      balance plus what its closing part releases at the same price (``MarginAccount.released_by``); a
      shortfall is "Margin is insufficient"; a reduce-only order that would not reduce the position is
      refused, and each of its fills is capped at the position left (none left: it expires); an order
      sized by ``quote_quantity`` locks the margin of its estimated ``quantity`` and is sized at its fill
      (a notional; below).

When an order arrives
    * quotes, trades, books: at once (``latency_ms`` 0) or at the first market event at or after
      ``sent + latency_ms``, against that event's book (a post-only that would take then expires);
    * bars: at the next bar's open (``bars=True``; the path rules of ``exchanges.sim.path``).

Quotes, trades and L2 books (``on_market_data``)
    * A limit that crosses on arrival fills at once as **taker**: at the touch for its whole quantity,
      or, with an L2 book, walking the levels up to its price (a GTC remainder rests at its price).
      IOC/FOK fill up to the size shown (all of it when the data has no sizes); IOC expires the rest,
      FOK fills all or expires all. Non-crossing IOC/FOK expire.
    * Market orders fill as taker at the opposite touch moved by the slippage (rounded to the tick away
      from us), their whole quantity; with an L2 book they walk its levels instead (no slippage added)
      and a remainder deeper than the book expires.
    * Resting limits (maker, at their own price): with ``queue_position``, an order joining a level waits
      for the size shown there when it arrives (the touch's size, or the book's at any level). A trade
      AT the price by the opposite aggressor first consumes that queue, then fills up to what is left
      of the trade (``partial_fills``; off, the whole remainder); orders at one price share a trade in
      time priority. A trade strictly THROUGH the price, or a quote whose opposite side reaches it,
      fills the remainder at once.
    * A buy stop triggers when a trade prints at or above its trigger or the ask reaches it (sells:
      at or below, the bid), then fills as a market order at that event's touch plus slippage.

Bars (``bar_hits`` then ``execute`` per hit, ``expire_unmarketable`` per IOC/FOK it expires)
    * Market orders fill at the next open plus slippage; stops and limits along the intrabar path
      (``exchanges.sim.path.reach``), stops at their trigger plus slippage. Orders reached in one bar
      fill in path order: earlier leg, then nearer to the leg's start, then older.

Funds at the fill (every path)
    * An order with ``quote_quantity`` is sized at its fill price (``orders.quantity_for_amount``; the fee
      inside the amount unless ``FillModel.quote_amount_includes_fee`` is off). On a swap the amount is the
      equity committed, valued at the mark: an order against the position first closes all of it, and
      the closed position's PnL from the mark to the fill price, less its fee, is added to the amount
      the opening part is sized from (``MarginAccount.closing_change``), so a reversal sized with the
      whole equity opens with the whole equity left after the close.
    * A market or stop buy that the account can no longer pay at its fill price (the open gapped up,
      the trigger was jumped) fills what free plus locked quote covers, lot-step floored; the rest
      expires (info); nothing at all → expired (warning ``sim_order_expired`` with the reason).

Updates: every fill reaches ``on_update`` as a ``Fill`` synchronously, before the method that caused it
returns; cancels and expiries no request caused as an ``OrderStatusReport`` (those a request caused
are only returned). ``on_settled`` (optional) is called once after every execution step, when the
account is final. Exchange order ids and trade ids are decimal strings from the account's sequences.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_UP
from decimal import Decimal

from exchanges.sim.account import SimAccount
from exchanges.sim.margin import MarginAccount
from exchanges.sim.model import FillModel
from exchanges.sim.orders import check_market_filters
from exchanges.sim.orders import describe_order
from exchanges.sim.orders import quantity_for_amount
from exchanges.sim.orders import status_report
from exchanges.sim.path import bar_path
from exchanges.sim.path import reach
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import TimeInForce
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.log import get_logger

__all__ = ["BarHit", "MatchingCore", "Working"]

log = get_logger(__name__)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_INF = Decimal("Infinity")
_NEG_INF = Decimal("-Infinity")
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP_MARKET
_MAKER = LiquiditySide.MAKER
_TAKER = LiquiditySide.TAKER
_GTC = TimeInForce.GTC
_IOC = TimeInForce.IOC


@dataclass(slots=True)
class Working:
    """One order the core holds: the order, its age, its queue and its locked funds."""

    order: Order
    seq: int
    lock_currency: str
    lock_per_unit: Decimal
    locked: Decimal
    queue_ahead: Decimal = _ZERO
    due_ms: int | None = None
    """Epoch ms at which an order sent with latency arrives (``None``: it has arrived)."""


BarHit = tuple[int, Decimal, int, Working, Decimal, LiquiditySide]
"""(leg, distance from the leg's start, order age, the order, fill price, liquidity): one order a bar fills."""


class MatchingCore:
    """Order matching for one market; see the module docstring for every rule.

    Args:
        market: the market traded (filters, currencies).
        clock: stamps reports and fills (epoch ms).
        model: fees, slippage, latency, queue and partial-fill knobs.
        account: the simulated account (shared by the cores of one venue).
        on_update: receives every ``Fill`` and unsolicited ``OrderStatusReport`` synchronously.
        bars: the market data is bars: orders arrive at the next bar's open (``bar_hits``).
        on_settled: called after each execution step, the account final (e.g. to record balances).
    """

    def __init__(
        self,
        market: Market,
        clock: Clock,
        model: FillModel,
        account: SimAccount,
        on_update: Callable[[OrderStatusReport | Fill], None],
        *,
        bars: bool = False,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        if bars and model.latency_ms:
            raise ValueError("bars: orders arrive at the next bar's open; a latency_ms is for quote and trade data")
        self.market = market
        self.clock = clock
        self.model = model
        self.account = account
        self.bars = bars
        self.on_settled = on_settled
        self._on_update = on_update
        self._slip = model.slippage
        self._fee_quantum = model.fee_quantum
        self._limit_fee = max(model.maker_fee, model.taker_fee)
        self._margin: MarginAccount | None = None
        if market.contract:
            if not isinstance(account, MarginAccount):
                raise ValueError(f"{market.symbol} is a swap market: its core needs a MarginAccount")
            self._margin = account
            account.register(market, lambda: bool(self.open))
        self._orders: dict[ClientOrderId, Working] = {}
        self.open: dict[ClientOrderId, Working] = {}
        """Open orders by client id, oldest first (resting, untriggered, or still on their way)."""
        self._arriving: deque[Working] = deque()
        self.fills: list[Fill] = []
        self._md: MarketData | None = None
        self._seq = 0
        self._max_buy = self._max_sell_stop = _NEG_INF
        self._min_sell = self._min_buy_stop = _INF

    # ----------------------------------------------------------------- queries

    @property
    def last_market_data(self) -> MarketData | None:
        """Return the last market event seen (``None`` before any)."""
        return self._md

    def order(self, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Return the current state of one order, open or closed; ``None`` if unknown."""
        w = self._orders.get(client_order_id)
        return None if w is None else self._report(w.order)

    def open_orders(self) -> list[OrderStatusReport]:
        """Return every open order (resting limits, untriggered stops, orders on their way), oldest first."""
        return [self._report(w.order) for w in self.open.values()]

    def fills_since(self, since_ms: int | None = None) -> list[Fill]:
        """Return the fills at or after ``since_ms`` (epoch ms; ``None`` = all), oldest first."""
        if since_ms is None:
            return list(self.fills)
        return [f for f in self.fills if f.ts_ms >= since_ms]

    def balances(self) -> dict[str, Balance]:
        """Return the account's balances by currency."""
        return self.account.balances()

    # ----------------------------------------------------------------- requests

    def submit(self, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Accept, fill or refuse one order and return its state after any immediate fills.

        Raises:
            OrderRejected: a filter failed, the client id is open already, no market data prices a market
                order, or a stop would trigger now.
            PostOnlyWouldCross: a post-only limit would take liquidity.
            InsufficientFunds: the free balance does not cover the order.
        """
        if client_order_id in self.open:
            raise OrderRejected(f"{self._describe(params, quantity)}: duplicate client order id {client_order_id}")
        md = self._md
        side = params.side
        check_market_filters(self.market, params, quantity, None if md is None else md.touch(side))
        immediate = not self.bars and not self.model.latency_ms
        reference, fee_rate = self._arrival_price(params, quantity, md, immediate)
        margin = self._margin
        if margin is not None:
            currency, amount = margin.reserve(self.market, side, quantity, reference, fee_rate,
                                              reduce_only=params.reduce_only)  # fmt: skip
            per_unit = amount / quantity
        elif side is _BUY:
            currency, per_unit = self.market.quote, reference * (_ONE + fee_rate)
            amount = per_unit * quantity if params.quote_quantity is None else params.quote_quantity
        else:
            currency, per_unit, amount = self.market.base, _ONE, quantity
        free = self.account.free(currency)
        if margin is not None and not params.reduce_only:  # a reversal: its closing part frees margin first
            free += margin.released_by(self.market, side, quantity, reference, fee_rate)
        if free < amount:
            what = "Margin is insufficient: needs" if margin is not None else "needs"
            raise InsufficientFunds(
                f"{self.market.symbol} {side.value} {quantity} @ {reference}: {what} {amount} {currency}, "
                f"free {free} {currency}"
            )
        self.account.lock(currency, amount)
        now = self.clock.now_ms()
        order = Order.from_params(params, client_order_id, self.market.symbol, quantity, now)
        order.exchange_order_id = self.account.next_order_id()
        order.transition(OrderStatus.SUBMITTED, now)
        self._seq += 1
        w = Working(order=order, seq=self._seq, lock_currency=currency, lock_per_unit=per_unit, locked=amount)
        self._orders[client_order_id] = w
        if immediate:
            self._arrive(w, md, synchronous=True)
        else:
            order.transition(OrderStatus.ACCEPTED, now)
            self.open[client_order_id] = w
            if not self.bars:
                w.due_ms = now + self.model.latency_ms
                self._arriving.append(w)
        return self._report(order)

    def _arrival_price(
        self, params: OrderParams, quantity: Decimal, md: MarketData | None, immediate: bool
    ) -> tuple[Decimal, Decimal]:
        """Check ``params`` against the touch and return (reference price, the fee rate the lock covers)."""
        side = params.side
        kind = params.order_type
        if kind is _MARKET:
            if md is None:
                raise OrderRejected(f"{self._describe(params, quantity)}: no market data yet to price a market order")
            reference = self._taker_price(side, md)
            if params.quote_quantity is not None and immediate:
                fee = self.model.taker_fee if self.model.quote_amount_includes_fee else _ZERO
                sized = quantity_for_amount(self.market, side, params.quote_quantity, reference, fee, quantity)
                if sized <= 0:
                    raise OrderRejected(
                        f"{self._describe(params, quantity)}: quote_quantity {params.quote_quantity} buys less "
                        f"than one lot step at {reference}"
                    )
            return reference, self.model.taker_fee
        if kind is _STOP:
            trigger = params.trigger_price
            assert trigger is not None  # guaranteed by OrderParams
            if md is not None and ((side is _BUY and md.ask >= trigger) or (side is _SELL and md.bid <= trigger)):
                raise OrderRejected(f"{self._describe(params, quantity)}: stop would trigger immediately")
            reference = trigger * (_ONE + self._slip) if side is _BUY else trigger
            return reference, self.model.taker_fee
        price = params.price
        assert price is not None  # guaranteed by OrderParams
        if params.post_only and md is not None and (price >= md.ask if side is _BUY else price <= md.bid):
            raise PostOnlyWouldCross(f"{self._describe(params, quantity)}: post-only order would take")
        return price, self._limit_fee

    def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order, release its locked funds and return its final state.

        Raises:
            OrderNotFound: the order is unknown or already closed.
        """
        w = self.open.get(client_order_id)
        if w is None:
            state = "closed" if client_order_id in self._orders else "unknown"
            raise OrderNotFound(f"{self.market.symbol}: cannot cancel {state} order {client_order_id}")
        self._close(w, OrderStatus.CANCELED, "canceled by request", emit=False)
        return self._report(w.order)

    def expire_all(self, reason: str) -> None:
        """Expire every open order (a liquidation: the venue cancels the symbol's orders first), each reported."""
        for w in list(self.open.values()):
            self._close(w, OrderStatus.EXPIRED, reason)

    def set_quote(self, md: MarketData) -> None:
        """Record ``md`` as the current book without matching (a REST snapshot, a bar's close)."""
        self._md = md

    # ----------------------------------------------------------------- quotes, trades, books

    def on_market_data(self, md: MarketData) -> None:
        """Match the resting orders against one market event, then let the orders due by then arrive.

        Cheap when nothing can fill: an early return on the bounds of the resting prices.
        """
        self._md = md
        arriving = self._arriving
        while arriving and arriving[0].due_ms is None:  # canceled on the way
            arriving.popleft()
        if arriving and arriving[0].due_ms <= md.ts_ms:  # type: ignore[operator]  # None heads dropped above
            self._match(md)
            while arriving and (arriving[0].due_ms is None or arriving[0].due_ms <= md.ts_ms):
                w = arriving.popleft()
                if w.due_ms is not None and self.open.get(w.order.client_order_id) is w:
                    w.due_ms = None
                    del self.open[w.order.client_order_id]
                    self._arrive(w, md, synchronous=False)
            return
        if not self.open:
            return
        trade = md.trade
        if trade is None:
            if (
                md.ask > self._max_buy
                and md.bid < self._min_sell
                and md.ask < self._min_buy_stop
                and md.bid > self._max_sell_stop
            ):
                return
        else:
            price = trade.price
            if self._max_buy < price < self._min_sell and self._max_sell_stop < price < self._min_buy_stop:
                return
        self._match(md)

    def _arrive(self, w: Working, md: MarketData | None, *, synchronous: bool) -> None:
        """The order reaches the venue: fill what crosses ``md``'s book, rest or expire the rest.

        ``synchronous``: inside ``submit`` (what it closes is only returned, not emitted).
        """
        order = w.order
        kind = order.order_type
        emit = not synchronous
        if kind is _MARKET:
            assert md is not None
            self._take(w, md, None)
            self._end_step(w, "book depth exhausted for the rest" if md.book is not None else None, emit=emit)
            return
        if kind is _STOP:
            if md is not None and self._triggered(order, md):  # reached on the way (a latency)
                self._trigger(w, md)
                return
            self._rest(w, md)
            return
        price = order.price
        assert price is not None
        side = order.side
        crossing = md is not None and (price >= md.ask if side is _BUY else price <= md.bid)
        tif = order.time_in_force
        if not crossing:
            if tif is not _GTC:
                self._close(w, OrderStatus.EXPIRED, f"{tif.value} order would not fill", emit=emit)
                return
            self._rest(w, md)
            return
        assert md is not None
        if order.post_only:  # only reachable after a latency: the book moved onto it on the way
            self._close(w, OrderStatus.EXPIRED, "post-only order would take at arrival")
            return
        self._take(w, md, price)
        if order.status.is_open:
            if tif is _GTC:
                self._rest(w, md)
            else:
                self._close(w, OrderStatus.EXPIRED, f"{tif.value} remainder expired", emit=emit)
        self._settled()

    def _take(self, w: Working, md: MarketData, limit: Decimal | None) -> None:
        """Fill ``w`` as taker against ``md`` (market orders: ``limit`` None), without closing the rest."""
        order = w.order
        side = order.side
        book = md.book
        tif = order.time_in_force
        if book is not None and order.quote_quantity is None:
            slices = book.walk(side, order.leaves_quantity)
            if limit is not None:
                slices = tuple(s for s in slices if (s[0] <= limit if side is _BUY else s[0] >= limit))
                if tif is TimeInForce.FOK and sum((q for _, q in slices), _ZERO) < order.leaves_quantity:
                    return
            for price, quantity in slices:
                if not order.status.is_open or self.open.get(order.client_order_id, w) is not w:
                    break
                self._execute(w, quantity, price, _TAKER)
            return
        if limit is None:  # with a book (an order sized at its fill): its best level, no slippage on top
            price = md.touch(side) if book is not None else self._taker_price(side, md)
            self._execute(w, order.leaves_quantity, price, _TAKER)
            return
        touch, shown = (md.ask, md.ask_size) if side is _BUY else (md.bid, md.bid_size)
        quantity = order.leaves_quantity
        if tif is not _GTC and shown > 0 and shown < quantity:
            quantity = shown if tif is _IOC else _ZERO
        if quantity > 0:
            self._execute(w, quantity, touch, _TAKER)

    def _rest(self, w: Working, md: MarketData | None) -> None:
        order = w.order
        if order.status is OrderStatus.SUBMITTED:
            order.transition(OrderStatus.ACCEPTED, self.clock.now_ms())
        if self.model.queue_position and md is not None and order.order_type is OrderType.LIMIT:
            price = order.price
            assert price is not None
            if md.book is not None:
                w.queue_ahead = md.book.size_at(order.side, price)
            elif order.side is _BUY and price == md.bid:
                w.queue_ahead = md.bid_size
            elif order.side is _SELL and price == md.ask:
                w.queue_ahead = md.ask_size
        self.open[order.client_order_id] = w
        self._update_bounds()

    def _match(self, md: MarketData) -> None:
        trade = md.trade
        pool = trade.quantity if trade is not None else _ZERO
        partial = self.model.partial_fills
        for w in list(self.open.values()):
            if w.due_ms is not None:
                continue
            order = w.order
            if order.order_type is _STOP:
                if self._triggered(order, md):
                    self._trigger(w, md)
                continue
            price = order.price
            assert price is not None
            buy = order.side is _BUY
            if trade is None:
                if (md.ask <= price) if buy else (md.bid >= price):
                    self._execute(w, order.leaves_quantity, price, _MAKER)
                    self._settled()
                continue
            tp = trade.price
            if (tp < price) if buy else (tp > price):
                self._execute(w, order.leaves_quantity, price, _MAKER)
                self._settled()
            elif tp == price and trade.side is not order.side and pool > 0:
                available = pool
                if w.queue_ahead > 0:
                    consumed = min(w.queue_ahead, available)
                    w.queue_ahead -= consumed
                    available -= consumed
                quantity = min(order.leaves_quantity, available) if partial else order.leaves_quantity
                if available > 0 and quantity > 0:
                    pool -= min(quantity, pool)
                    self._execute(w, quantity, price, _MAKER)
                    self._settled()

    @staticmethod
    def _triggered(order: Order, md: MarketData) -> bool:
        trigger = order.trigger_price
        assert trigger is not None
        trade = md.trade
        if order.side is _BUY:
            return trade.price >= trigger if trade is not None else md.ask >= trigger
        return trade.price <= trigger if trade is not None else md.bid <= trigger

    def _trigger(self, w: Working, md: MarketData) -> None:
        order = w.order
        if log.enabled(logging.DEBUG):  # the fields cost more than the filtered-out call
            log.debug("sim_stop_triggered", client_order_id=order.client_order_id,
                      trigger_price=str(order.trigger_price))  # fmt: skip
        self._execute(w, order.leaves_quantity, self._taker_price(order.side, md), _TAKER)
        self._end_step(w, None, emit=True)

    # ----------------------------------------------------------------- bars

    def bar_hits(self, bar: Bar, bar_ms: int) -> tuple[tuple[int, int, int, int], list[BarHit], list[Working]]:
        """Return the path times, the open orders ``bar`` fills (in fill order) and the IOC/FOK limits it expires.

        Nothing is executed: the caller advances the clock to each hit's leg time and calls ``execute``
        (a venue of several markets interleaves them in time), then ``expire_unmarketable``.
        """
        path, times = bar_path(bar, bar_ms)
        hits: list[BarHit] = []
        expired: list[Working] = []
        for w in self.open.values():
            order = w.order
            hit = reach(order, path)
            if hit is None:
                if order.time_in_force is not _GTC and order.order_type is OrderType.LIMIT:
                    expired.append(w)
                continue
            leg, price, liquidity = hit
            if order.order_type is not OrderType.LIMIT:
                price = self._slipped(order.side, price)
            distance = abs(price - path[leg - 1]) if leg > 0 else _ZERO
            hits.append((leg, distance, w.seq, w, price, liquidity))
        hits.sort(key=lambda x: (x[0], x[1], x[2]))
        return times, hits, expired

    def execute(self, w: Working, price: Decimal, liquidity: LiquiditySide) -> None:
        """Fill the whole remainder of ``w`` at ``price`` (a bar hit), unless it was closed meanwhile."""
        if self.open.get(w.order.client_order_id) is not w:
            return
        self._execute(w, w.order.leaves_quantity, price, liquidity)
        self._end_step(w, None, emit=True)

    def expire_unmarketable(self, w: Working) -> None:
        """Expire an IOC/FOK limit the bar's open did not reach, unless it was closed meanwhile."""
        if self.open.get(w.order.client_order_id) is w:
            self._close(w, OrderStatus.EXPIRED, f"{w.order.time_in_force.value} limit not marketable at the open")

    # ----------------------------------------------------------------- settlement

    def _execute(self, w: Working, quantity: Decimal, price: Decimal, liquidity: LiquiditySide) -> Fill | None:
        """Settle one fill of ``quantity`` at ``price``: sizing at the fill and the funds rules; ``None`` if none."""
        order = w.order
        market = self.market
        rate = self.model.maker_fee if liquidity is _MAKER else self.model.taker_fee
        sized = self._fill_quantity(w, quantity, price, rate)
        if sized is None:
            return None
        quantity = sized
        buy = order.side is _BUY
        margin = self._margin
        notional = price * quantity
        fee_in_base = buy and margin is None and self.model.buy_fee_in_base
        fee = (quantity if fee_in_base else notional) * rate
        if self._fee_quantum is not None:
            fee = fee.quantize(self._fee_quantum, rounding=ROUND_UP)
        completes = quantity >= order.leaves_quantity
        unlock = w.locked if completes else min(w.locked, w.lock_per_unit * quantity)
        paid = notional if fee_in_base else notional + fee
        if buy and margin is None and paid > unlock:  # the price moved past the lock: take it from free
            extra = paid - unlock
            self.account.lock(market.quote, extra)
            w.locked += extra
            unlock += extra
        w.locked -= unlock
        fill = self.account.fill(order, market, unlock=unlock, quantity=quantity, price=price, fee=fee,
                                 ts_ms=self.clock.now_ms(), liquidity=liquidity, fee_in_base=fee_in_base)  # fmt: skip
        self.fills.append(fill)
        if not order.status.is_open:
            if w.locked:  # sized at the fill (its quantity became what filled): the rest of the lock returns
                self.account.settle(w.lock_currency, w.locked, _ZERO)
                w.locked = _ZERO
            if self.open.pop(order.client_order_id, None) is not None:
                self._update_bounds()
        if log.enabled(logging.DEBUG):  # the fields cost more than the filtered-out call
            log.debug("sim_order_filled", client_order_id=order.client_order_id, quantity=str(quantity),
                      price=str(price))  # fmt: skip
        self._on_update(fill)
        return fill

    def _fill_quantity(self, w: Working, quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal | None:
        """Return what a fill of ``quantity`` at ``price`` may fill; ``None`` (the order closed) when nothing.

        Sizing at the fill (``quote_quantity``), the reduce-only cap on swaps, and on spot a market or stop buy
        capped at what the account can pay at this price.
        """
        order = w.order
        market = self.market
        if order.quote_quantity is not None and order.filled_quantity == 0:
            sizing_fee = rate if self.model.quote_amount_includes_fee else _ZERO
            amount, closing = order.quote_quantity, _ZERO
            if self._margin is not None:  # a reversal: close the whole position, open with what is left
                closing, change = self._margin.closing_change(market, order.side, price, rate)
                amount += change
            opening = _ZERO
            if amount > 0:
                opening = quantity_for_amount(market, order.side, amount, price, sizing_fee, quantity)
            quantity = closing + opening
            if quantity <= 0:
                self._close(w, OrderStatus.EXPIRED, "quote_quantity buys less than one lot step at the fill price")
                return None
        if self._margin is not None:
            quantity = self._margin.fill_quantity(order, quantity)
            if quantity <= 0:
                self._close(w, OrderStatus.EXPIRED, "reduce-only order: no position left to reduce")
                return None
        elif order.side is _BUY and order.order_type is not OrderType.LIMIT:
            available = self.account.free(market.quote) + w.locked
            if price * quantity * (_ONE + rate) > available:
                quantity = market.quantity_for_quote(available, price, rate)
                if quantity <= 0:
                    reason = "insufficient quote at the fill price"
                    log.warning("sim_order_expired", client_order_id=order.client_order_id, reason=reason)
                    self._close(w, OrderStatus.EXPIRED, reason)
                    return None
        return quantity

    def _end_step(self, w: Working, reason: str | None, *, emit: bool) -> None:
        """After a market or stop order's fill: expire what could not be filled, then report the account."""
        order = w.order
        if order.status.is_open and order.filled_quantity > 0:
            reason = reason or "insufficient quote at the fill price for the rest"
            log.info("sim_order_expired", client_order_id=order.client_order_id, reason=reason,
                     filled=str(order.filled_quantity))  # fmt: skip
            self._close(w, OrderStatus.EXPIRED, reason, emit=emit)
        elif order.status.is_open and order.order_type is _MARKET:
            self._close(w, OrderStatus.EXPIRED, reason or "no liquidity to fill against", emit=emit)
        self._settled()

    def _settled(self) -> None:
        if self.on_settled is not None:
            self.on_settled()

    def _close(self, w: Working, status: OrderStatus, reason: str, emit: bool = True) -> None:
        if w.locked:
            self.account.settle(w.lock_currency, w.locked, _ZERO)
            w.locked = _ZERO
        w.order.transition(status, self.clock.now_ms(), reason)
        w.due_ms = None
        if self.open.pop(w.order.client_order_id, None) is not None:
            self._update_bounds()
        if log.enabled(logging.DEBUG):  # the fields cost more than the filtered-out call
            log.debug("sim_order_closed", client_order_id=w.order.client_order_id, status=status.value, reason=reason)
        if emit:
            self._on_update(self._report(w.order))

    def _update_bounds(self) -> None:
        max_buy = max_sell_stop = _NEG_INF
        min_sell = min_buy_stop = _INF
        for w in self.open.values():
            o = w.order
            if o.order_type is _STOP:
                t = o.trigger_price
                assert t is not None
                if o.side is _BUY:
                    min_buy_stop = min(min_buy_stop, t)
                else:
                    max_sell_stop = max(max_sell_stop, t)
            elif o.order_type is OrderType.LIMIT:
                p = o.price
                assert p is not None
                if o.side is _BUY:
                    max_buy = max(max_buy, p)
                else:
                    min_sell = min(min_sell, p)
        self._max_buy, self._min_sell = max_buy, min_sell
        self._min_buy_stop, self._max_sell_stop = min_buy_stop, max_sell_stop

    # ----------------------------------------------------------------- helpers

    def _taker_price(self, side: OrderSide, md: MarketData) -> Decimal:
        return self._slipped(side, md.ask if side is _BUY else md.bid)

    def _slipped(self, side: OrderSide, price: Decimal) -> Decimal:
        if not self._slip:
            return price
        if side is _BUY:
            return self.market.round_price(price * (_ONE + self._slip), "up")
        return self.market.round_price(price * (_ONE - self._slip), "down")

    def _describe(self, params: OrderParams, quantity: Decimal) -> str:
        return describe_order(self.market, params, quantity)

    def _report(self, order: Order) -> OrderStatusReport:
        return status_report(order, self.clock.now_ms())
