"""Simulated order matching for one market against a simulated account (shared by paper and backtest).

Prices are in quote currency, quantities in base currency, fees are rates (0.001 = 0.1 %) charged in
**quote currency** as ``fee = price × quantity × rate``. Every rule below is a deliberate choice:

Arrival
    * Orders must pass the market's filters (tick, lot step, min/max amount, min notional), else
      ``OrderRejected``. A client order id that is still open is rejected too.
    * A limit order that crosses the book on arrival (buy at or above the ask, sell at or below the bid)
      fills at once as **taker at the touch** (a buy at the ask) for its whole quantity; a **post-only**
      one is refused with ``PostOnlyWouldCross`` instead. Without any market data yet, nothing crosses.
    * IOC/FOK limits that cross fill at the touch up to the size shown there (all of it when the data
      has no sizes); IOC expires the rest, FOK fills all or expires all. Non-crossing IOC/FOK expire.
    * Market orders fill their whole quantity at once as taker at the opposite best price moved by
      ``slippage_bps`` against us (then rounded to the tick away from us); the size shown is not a limit.
    * A STOP_MARKET order whose trigger is already reached is refused (as Binance does).

Resting limit orders (maker, filled at the order's own price)
    * Queue position (when ``queue_position`` is on): a buy joining *at* the best bid has
      ``queue_ahead = bid_size`` shown at that moment (sells: the ask size); a price better than the
      touch, or a deeper level whose size the top-of-book data does not show, has nothing ahead.
      Cancellations ahead of us are not modelled (conservative: fills may come later than live).
    * A trade AT the price by the opposite aggressor (a sell hitting our bid) first consumes
      ``queue_ahead``, then fills ``min(remaining, what is left of the trade)``: partial fills. Our own
      orders at one price share each trade's quantity in time priority.
    * A trade strictly THROUGH the price (below a buy, above a sell) fills the remainder at once:
      the level was swept.
    * A quote whose opposite side reaches the price (ask ≤ buy price, bid ≥ sell price) fills the
      remainder at once. This is the rule for data with quotes only (bars have their own simulator,
      ``exchanges.backtest``). Trade events carry the latest quote's bid/ask, so only quote events apply this rule.

Stops
    * A buy stop triggers when a trade prints at or above its trigger, or a quote's ask reaches it; a
      sell stop when a trade prints at or below it, or a quote's bid reaches it. It then fills as a
      market order at that event's touch plus slippage. If funds no longer cover it, it expires.

Balances (like an exchange)
    * A buy locks ``price × qty × (1 + max(maker, taker))`` quote (stops: the trigger plus slippage;
      market orders: the expected cost); a sell locks ``qty`` base. Each fill spends its part of the
      lock and returns the unused part; cancel or expiry releases what is left.
    * A market buy needs free quote ≥ ``ask × (1 + slippage) × qty × (1 + taker)``.
    * Shortfalls raise ``InsufficientFunds`` naming symbol, side, amount and price.

Logs: an expiry the account caused (a stop it cannot pay) is logged at warning (``sim_order_expired``,
with the reason); refusals on arrival are raised, and the supervisor logs each with its reason
(``order_rejected``: warning, a post-only crossing info), once for every venue; the rest is debug.

Updates: every execution is passed to ``on_update`` as a ``Fill`` synchronously, before the method that
caused it returns. Cancels and expiries that no request caused (a stop that cannot be paid) are passed
as an ``OrderStatusReport``; those a request caused are only returned. Exchange order ids and trade ids
are decimal strings from one monotonic sequence per account.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from exchanges.simulation import check_market_filters
from exchanges.simulation import describe_order
from exchanges.simulation import quantity_for_amount
from exchanges.simulation import simulated_fill
from exchanges.simulation import status_report
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import ExchangeOrderId
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
from trading_bot.domain import TradeId
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.log import get_logger

__all__ = ["MatchingEngine", "SimAccount"]

log = get_logger(__name__)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10_000)
_INF = Decimal("Infinity")
_NEG_INF = Decimal("-Infinity")
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL


class SimAccount:
    """Balances (free and locked, by currency) and id sequences of one simulated account.

    Several ``MatchingEngine``s (one per market) share one account.

    Args:
        balances: starting free balances by currency.
    """

    def __init__(self, balances: Mapping[str, Decimal]) -> None:
        self._free: dict[str, Decimal] = {c: Decimal(v) for c, v in balances.items()}
        self._locked: dict[str, Decimal] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)

    def free(self, currency: str) -> Decimal:
        """Return the spendable balance of ``currency``."""
        return self._free.get(currency, _ZERO)

    def lock(self, currency: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked (the caller checked it is free)."""
        self._free[currency] = self.free(currency) - amount
        self._locked[currency] = self._locked.get(currency, _ZERO) + amount

    def settle(self, currency: str, unlock: Decimal, spend: Decimal) -> None:
        """Release ``unlock`` from locked and take ``spend`` from it; the difference returns to free."""
        self._locked[currency] = self._locked.get(currency, _ZERO) - unlock
        self._free[currency] = self.free(currency) + unlock - spend

    def credit(self, currency: str, amount: Decimal) -> None:
        """Add ``amount`` to the free balance of ``currency``."""
        self._free[currency] = self.free(currency) + amount

    def balances(self) -> dict[str, Balance]:
        """Return every balance by currency."""
        currencies = sorted(set(self._free) | set(self._locked))
        return {
            c: Balance(currency=c, free=self._free.get(c, _ZERO), locked=self._locked.get(c, _ZERO)) for c in currencies
        }

    def next_order_id(self) -> ExchangeOrderId:
        """Return a new exchange order id."""
        return ExchangeOrderId(str(next(self._order_seq)))

    def next_trade_id(self) -> TradeId:
        """Return a new trade id."""
        return TradeId(str(next(self._trade_seq)))

    def fill(
        self, order: Order, market: Market, *, unlock: Decimal, quantity: Decimal, price: Decimal, fee: Decimal,
        ts_ms: int, liquidity: LiquiditySide,
    ) -> Fill:  # fmt: skip
        """Settle a spot fill of ``order`` and apply it to the order; return the fill.

        A buy pays ``price × quantity + fee`` quote out of ``unlock`` (its locked quote; the difference
        returns to free) and receives ``quantity`` base; a sell delivers ``quantity`` base out of
        ``unlock`` and receives ``price × quantity − fee`` quote. The fee is in quote currency.
        """
        notional = price * quantity
        if order.side is _BUY:
            self.settle(market.quote, unlock, notional + fee)
            self.credit(market.base, quantity)
        else:
            self.settle(market.base, unlock, quantity)
            self.credit(market.quote, notional - fee)
        fill = simulated_fill(order, trade_id=self.next_trade_id(), quantity=quantity, price=price, fee=fee,
                              fee_currency=market.quote, ts_ms=ts_ms, liquidity=liquidity)  # fmt: skip
        order.apply_fill(fill)
        return fill


@dataclass(slots=True)
class _Working:
    order: Order
    queue_ahead: Decimal
    lock_currency: str
    lock_per_unit: Decimal
    locked: Decimal


class MatchingEngine:
    """Order matching for one market; see the module docstring for every rule.

    Args:
        market: the market traded (filters, currencies).
        clock: stamps reports and fills (epoch ms).
        maker_fee: fee rate of resting fills.
        taker_fee: fee rate of fills that take liquidity.
        slippage_bps: price moved against market orders, basis points of the touch.
        queue_position: model the size shown ahead of a resting order at its level.
        balances: starting balances by currency, or a ``SimAccount`` shared with other engines.
        on_update: receives every ``Fill`` and unsolicited ``OrderStatusReport`` synchronously.
    """

    def __init__(
        self,
        market: Market,
        clock: Clock,
        maker_fee: Decimal,
        taker_fee: Decimal,
        slippage_bps: Decimal,
        queue_position: bool,
        balances: Mapping[str, Decimal] | SimAccount,
        on_update: Callable[[OrderStatusReport | Fill], None],
    ) -> None:
        self.market = market
        self.clock = clock
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self._slip = slippage_bps / _BPS
        self.queue_position = queue_position
        self.account = balances if isinstance(balances, SimAccount) else SimAccount(balances)
        self._on_update = on_update
        self._lock_fee = _ONE + max(maker_fee, taker_fee)
        self._orders: dict[ClientOrderId, _Working] = {}
        self._open: dict[ClientOrderId, _Working] = {}
        self._fills: list[Fill] = []
        self._md: MarketData | None = None
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
        """Return every open order (resting limits and untriggered stops), oldest first."""
        return [self._report(w.order) for w in self._open.values()]

    def fills_since(self, since_ms: int | None = None) -> list[Fill]:
        """Return the fills at or after ``since_ms`` (epoch ms; ``None`` = all), oldest first."""
        if since_ms is None:
            return list(self._fills)
        return [f for f in self._fills if f.ts_ms >= since_ms]

    def balances(self) -> dict[str, Balance]:
        """Return the account's balances by currency."""
        return self.account.balances()

    # ----------------------------------------------------------------- requests

    def submit(self, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Accept, fill or refuse one order and return its state after any immediate fills.

        Raises:
            OrderRejected: a filter failed, the client id is open already, or a stop would trigger now.
            PostOnlyWouldCross: a post-only limit would take liquidity.
            InsufficientFunds: the free balance does not cover the order.
        """
        if client_order_id in self._open:
            raise OrderRejected(f"{self._describe(params, quantity)}: duplicate client order id {client_order_id}")
        self._check_filters(params, quantity)
        now = self.clock.now_ms()
        order = Order.from_params(params, client_order_id, self.market.symbol, quantity, now)
        order.exchange_order_id = self.account.next_order_id()
        order.transition(OrderStatus.SUBMITTED, now)
        if params.order_type is OrderType.MARKET:
            self._submit_market(order, params)
        elif params.order_type is OrderType.STOP_MARKET:
            self._submit_stop(order, params)
        else:
            self._submit_limit(order, params)
        return self._report(order)

    def cancel(self, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order, release its locked funds and return its final state.

        Raises:
            OrderNotFound: the order is unknown or already closed.
        """
        w = self._open.get(client_order_id)
        if w is None:
            state = "closed" if client_order_id in self._orders else "unknown"
            raise OrderNotFound(f"{self.market.symbol}: cannot cancel {state} order {client_order_id}")
        self._close(w, OrderStatus.CANCELED, "canceled by request", emit=False)
        return self._report(w.order)

    def set_quote(self, md: MarketData) -> None:
        """Record ``md`` as the current book without matching (e.g. a REST snapshot before streaming)."""
        self._md = md

    def on_market_data(self, md: MarketData) -> None:
        """Match the resting orders against one market event (cheap when nothing can fill)."""
        self._md = md
        if not self._open:
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

    # ----------------------------------------------------------------- arrival

    def _submit_market(self, order: Order, params: OrderParams) -> None:
        if self._md is None:
            raise OrderRejected(f"{self._describe(params, order.quantity)}: no market data yet to price a market order")
        price = self._taker_price(params.side, self._md)
        if params.quote_quantity is not None:  # sized at the fill price (OrderParams.quote_quantity)
            order.quantity = quantity_for_amount(
                self.market, params.side, params.quote_quantity, price, self.taker_fee, order.quantity
            )
            if order.quantity <= 0:
                raise OrderRejected(
                    f"{self._describe(params, order.quantity)}: quote_quantity {params.quote_quantity} buys less "
                    f"than one lot step at {price}"
                )
        if params.side is _BUY:
            w = self._lock(order, params, self.market.quote, price * (_ONE + self.taker_fee), price)
        else:
            w = self._lock(order, params, self.market.base, _ONE, price)
        self._fill(w, order.quantity, price, LiquiditySide.TAKER)

    def _submit_stop(self, order: Order, params: OrderParams) -> None:
        trigger = params.trigger_price
        assert trigger is not None  # guaranteed by OrderParams
        md = self._md
        if md is not None and (
            (params.side is _BUY and md.ask >= trigger) or (params.side is _SELL and md.bid <= trigger)
        ):
            raise OrderRejected(f"{self._describe(params, order.quantity)}: stop would trigger immediately")
        if params.side is _BUY:
            per_unit = trigger * (_ONE + self._slip) * (_ONE + self.taker_fee)
            w = self._lock(order, params, self.market.quote, per_unit)
        else:
            w = self._lock(order, params, self.market.base, _ONE)
        self._rest(w)

    def _submit_limit(self, order: Order, params: OrderParams) -> None:
        price = params.price
        assert price is not None  # guaranteed by OrderParams
        md = self._md
        side = params.side
        crossing = md is not None and (price >= md.ask if side is _BUY else price <= md.bid)
        if crossing and params.post_only:
            raise PostOnlyWouldCross(f"{self._describe(params, order.quantity)}: post-only order would take")
        if side is _BUY:
            w = self._lock(order, params, self.market.quote, price * self._lock_fee)
        else:
            w = self._lock(order, params, self.market.base, _ONE)
        if crossing:
            assert md is not None
            touch, shown = (md.ask, md.ask_size) if side is _BUY else (md.bid, md.bid_size)
            qty = order.quantity
            if params.time_in_force is not TimeInForce.GTC and shown > 0 and shown < qty:
                qty = shown if params.time_in_force is TimeInForce.IOC else _ZERO
            if qty > 0:
                self._fill(w, qty, touch, LiquiditySide.TAKER)
            if order.status.is_open:
                self._close(w, OrderStatus.EXPIRED, f"{params.time_in_force.value} remainder expired", emit=False)
            return
        if params.time_in_force is not TimeInForce.GTC:
            self._close(w, OrderStatus.EXPIRED, f"{params.time_in_force.value} order would not fill", emit=False)
            return
        if self.queue_position and md is not None:
            if side is _BUY and price == md.bid:
                w.queue_ahead = md.bid_size
            elif side is _SELL and price == md.ask:
                w.queue_ahead = md.ask_size
        self._rest(w)

    def _taker_price(self, side: OrderSide, md: MarketData) -> Decimal:
        if not self._slip:
            return md.ask if side is _BUY else md.bid
        if side is _BUY:
            return self.market.round_price(md.ask * (_ONE + self._slip), "up")
        return self.market.round_price(md.bid * (_ONE - self._slip), "down")

    def _lock(
        self, order: Order, params: OrderParams, currency: str, per_unit: Decimal, price: Decimal | None = None
    ) -> _Working:
        amount = per_unit * order.quantity
        free = self.account.free(currency)
        if free < amount:
            shown = params.price if price is None else price
            raise InsufficientFunds(
                f"{self.market.symbol} {params.side.value} {order.quantity} @ {shown or params.trigger_price}: "
                f"needs {amount} {currency}, free {free} {currency}"
            )
        self.account.lock(currency, amount)
        w = _Working(order=order, queue_ahead=_ZERO, lock_currency=currency, lock_per_unit=per_unit, locked=amount)
        self._orders[order.client_order_id] = w
        return w

    def _rest(self, w: _Working) -> None:
        w.order.transition(OrderStatus.ACCEPTED, self.clock.now_ms())
        self._open[w.order.client_order_id] = w
        self._update_bounds()

    # ----------------------------------------------------------------- matching

    def _match(self, md: MarketData) -> None:
        trade = md.trade
        pool = trade.quantity if trade is not None else _ZERO
        for w in list(self._open.values()):
            order = w.order
            if order.order_type is OrderType.STOP_MARKET:
                self._maybe_trigger(w, md)
                continue
            price = order.price
            assert price is not None
            buy = order.side is _BUY
            if trade is None:
                if (md.ask <= price) if buy else (md.bid >= price):
                    self._fill(w, order.leaves_quantity, price, LiquiditySide.MAKER)
                continue
            tp = trade.price
            if (tp < price) if buy else (tp > price):
                self._fill(w, order.leaves_quantity, price, LiquiditySide.MAKER)
            elif tp == price and trade.side is not order.side and pool > 0:
                available = pool
                if w.queue_ahead > 0:
                    consumed = min(w.queue_ahead, available)
                    w.queue_ahead -= consumed
                    available -= consumed
                qty = min(order.leaves_quantity, available)
                if qty > 0:
                    pool -= qty
                    self._fill(w, qty, price, LiquiditySide.MAKER)

    def _maybe_trigger(self, w: _Working, md: MarketData) -> None:
        order = w.order
        trigger = order.trigger_price
        assert trigger is not None
        trade = md.trade
        if order.side is _BUY:
            hit = trade.price >= trigger if trade is not None else md.ask >= trigger
        else:
            hit = trade.price <= trigger if trade is not None else md.bid <= trigger
        if not hit:
            return
        price = self._taker_price(order.side, md)
        log.debug("sim_stop_triggered", client_order_id=order.client_order_id, trigger_price=str(trigger))
        if order.side is _BUY:
            per_unit = price * (_ONE + self.taker_fee)
            need = per_unit * order.leaves_quantity
            if self.account.free(w.lock_currency) + w.locked < need:
                reason = f"insufficient {w.lock_currency} at trigger: needs {need}"
                log.warning("sim_order_expired", client_order_id=order.client_order_id, reason=reason)
                self._close(w, OrderStatus.EXPIRED, reason)
                return
            self.account.settle(w.lock_currency, w.locked, _ZERO)
            self.account.lock(w.lock_currency, need)
            w.locked, w.lock_per_unit = need, per_unit
        self._fill(w, order.leaves_quantity, price, LiquiditySide.TAKER)

    def _fill(self, w: _Working, quantity: Decimal, price: Decimal, liquidity: LiquiditySide) -> None:
        order = w.order
        market = self.market
        notional = price * quantity
        fee = notional * (self.maker_fee if liquidity is LiquiditySide.MAKER else self.taker_fee)
        completes = quantity >= order.leaves_quantity
        unlock = w.locked if completes else min(w.locked, w.lock_per_unit * quantity)
        w.locked -= unlock
        fill = self.account.fill(order, market, unlock=unlock, quantity=quantity, price=price, fee=fee,
                                 ts_ms=self.clock.now_ms(), liquidity=liquidity)  # fmt: skip
        self._fills.append(fill)
        if completes:
            self._open.pop(order.client_order_id, None)
            self._update_bounds()
        log.debug("sim_order_filled", client_order_id=order.client_order_id, quantity=str(quantity), price=str(price))
        self._on_update(fill)

    def _close(self, w: _Working, status: OrderStatus, reason: str, emit: bool = True) -> None:
        if w.locked:
            self.account.settle(w.lock_currency, w.locked, _ZERO)
            w.locked = _ZERO
        w.order.transition(status, self.clock.now_ms(), reason)
        if self._open.pop(w.order.client_order_id, None) is not None:
            self._update_bounds()
        log.debug("sim_order_closed", client_order_id=w.order.client_order_id, status=status.value, reason=reason)
        if emit:
            self._on_update(self._report(w.order))

    def _update_bounds(self) -> None:
        max_buy = max_sell_stop = _NEG_INF
        min_sell = min_buy_stop = _INF
        for w in self._open.values():
            o = w.order
            if o.order_type is OrderType.STOP_MARKET:
                t = o.trigger_price
                assert t is not None
                if o.side is _BUY:
                    min_buy_stop = min(min_buy_stop, t)
                else:
                    max_sell_stop = max(max_sell_stop, t)
            else:
                p = o.price
                assert p is not None
                if o.side is _BUY:
                    max_buy = max(max_buy, p)
                else:
                    min_sell = min(min_sell, p)
        self._max_buy, self._min_sell = max_buy, min_sell
        self._min_buy_stop, self._max_sell_stop = min_buy_stop, max_sell_stop

    # ----------------------------------------------------------------- helpers

    def _check_filters(self, params: OrderParams, quantity: Decimal) -> None:
        reference = None if self._md is None else self._md.touch(params.side)
        check_market_filters(self.market, params, quantity, reference)

    def _describe(self, params: OrderParams, quantity: Decimal) -> str:
        return describe_order(self.market, params, quantity)

    def _report(self, order: Order) -> OrderStatusReport:
        return status_report(order, self.clock.now_ms())
