"""The bar simulator: a ``BaseExchangeClient`` that replays OHLCV bars and fills orders between them.

Each bar is **one** market event. The stream does, for every bar ``t`` (``ts`` = its open time, ``i`` =
the bar interval, both epoch milliseconds UTC):

1. fill the orders resting from earlier bars against bar ``t`` (rules below), the clock set to each
   fill's time;
2. move the clock to the bar's **close time** ``ts + i`` and yield ``MarketData(bid = ask = last =
   close, bar = Bar(...), ts_ms = ts + i)``; the strategy decides on that close;
3. the equity at each close (quote total + base total × close, quote currency) is computed after the
   run by ``equity_curve`` from the balances recorded at each fill.

Fill rules (prices in quote currency; fees are rates charged in quote currency on every fill as
``price × quantity × fee``; ``slippage_bps`` moves market and stop fills against us, then the price is
rounded to the tick away from us):

* **Market** orders sent on bar ``t``'s close fill at bar ``t+1``'s **open** (plus slippage), stamped
  at bar ``t+1``'s open time. A market buy the account cannot pay at that price (the open gapped up
  on an all-in order) fills for what the free quote covers, rounded down to the lot step; the rest
  expires. A market order with ``OrderParams.quote_quantity`` (an amount of quote currency) is sized
  **at that open**: ``lot-step-floor(amount / (open × (1 + fee)))``, so an all-in entry after a gap
  down buys more and after a gap up fewer, never spending more than the amount.
* **Limit** and **stop-market** orders are checked from the next bar on, walking the intrabar path
  **open → the extreme nearer to the open → the farther extreme → close** (on a tie, a bar that closed
  down visits the high first, any other bar the low first; the one intrabar path of every mode). The path
  points are at ``ts``, ``ts + i/3``, ``ts + 2i/3`` and ``ts + i``; a fill is stamped at the time of
  the point that ends the leg on which the price was reached.
* A limit fills (maker, whole quantity) when the path **reaches** its price (a touch is enough), at the
  limit price; if the bar **opens through** it (a buy limit at or above the open), it fills at the
  open (taker). IOC/FOK limits are only tried at the next open: through it they fill at the open,
  otherwise they expire.
* A stop triggers when the path reaches its trigger and fills at the trigger plus slippage (taker); if
  the bar opens through the trigger it fills at the open plus slippage.
* Orders reached in the same bar fill in path order (earlier leg first, then nearer to the leg's start,
  then older first). Nothing sent on a bar fills on that same bar.

Arrival checks, as the shared matching engine does: the market's filters (tick, lot step, min/max
amount, min notional at the last close), a duplicate open client id, a post-only limit that crosses
the last close (``PostOnlyWouldCross``), a stop whose trigger the last close has already reached, and
free funds: a buy locks ``price × qty × (1 + fee)`` quote (market orders at the last close, stops at
the trigger plus slippage), a sell locks ``qty`` base; shortfalls raise ``InsufficientFunds``.

Logs: an order that expires unfilled for want of funds (a market buy the open gapped past) is logged
at warning (``sim_order_expired``, with the reason; the unpaid rest of a partly filled one at info);
refusals on arrival are raised, and the supervisor logs each
with its reason (``order_rejected``: warning, a post-only crossing info).

Fills are passed to the sink as ``Fill`` before the bar is yielded; expiries nobody asked for as an
``OrderStatusReport``. ``balance_listener`` (optional) receives the balances after every fill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from exchanges.base import BaseExchangeClient
from exchanges.matching import SimAccount
from exchanges.simulation import check_market_filters
from exchanges.simulation import describe_order
from exchanges.simulation import quantity_for_amount
from exchanges.simulation import status_report
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
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
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.log import get_logger

__all__ = ["BarExchange"]

_log = get_logger(__name__)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = Decimal(10_000)
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP_MARKET
_Point = TypeVar("_Point")


@dataclass(slots=True)
class _Working:
    order: Order
    seq: int
    lock_currency: str
    locked: Decimal


class _BarEvents:
    """The close event (``MarketData``) of every bar, built when read rather than held.

    Holding one per bar would cost ≈ 150 bytes a bar (150 MB at 1M bars). Indexing or iterating builds a
    new event each time; the bar loop reads each one once.
    """

    __slots__ = ("_bar_ms", "_bars", "_symbol")

    def __init__(self, bars: Sequence[Bar], symbol: Symbol, bar_ms: int) -> None:
        self._bars, self._symbol, self._bar_ms = bars, symbol, bar_ms

    def __len__(self) -> int:
        return len(self._bars)

    def __getitem__(self, index: int) -> MarketData:
        b = self._bars[index]
        return MarketData(symbol=self._symbol, ts_ms=b.ts_ms + self._bar_ms, bid=b.close, ask=b.close, last=b.close,
                          bar=b)  # fmt: skip

    def __iter__(self) -> Iterator[MarketData]:
        symbol, bar_ms, md_cls = self._symbol, self._bar_ms, MarketData
        for b in self._bars:
            yield md_cls(symbol=symbol, ts_ms=b.ts_ms + bar_ms, bid=b.close, ask=b.close, last=b.close, bar=b)


# (leg, distance from the leg's start, order seq, the order, fill price, liquidity): one order a bar fills
_Hit = tuple[int, Decimal, int, _Working, Decimal, LiquiditySide]


class BarExchange(BaseExchangeClient):
    """Simulated spot account over recorded bars; see the module docstring for every fill rule.

    Args:
        market: the one market traded (filters, currencies); its fees are not used, ``fee`` is.
        bars: the bars, open time strictly ascending.
        bar_ms: the bar interval, milliseconds (a bar's close time is its open time plus this).
        clock: the simulated clock, moved by the stream.
        balances: starting free balances by currency.
        fee: fee rate of every fill (0.001 = 0.1 %), maker and taker alike.
        slippage_bps: price moved against market and stop fills, basis points.
        progress: called with the number of bars done every ``progress_every`` bars, and at the end.
        progress_every: bars between two ``progress`` calls.
        account: a simulated account shared with other markets (``exchanges.bar_venue.BarVenue``) instead
            of a new one holding ``balances``; give exactly one of the two.
    """

    name = "backtest"

    def __init__(
        self,
        *,
        market: Market,
        bars: Sequence[Bar],
        bar_ms: int,
        clock: SimulatedClock,
        balances: Mapping[str, Decimal] | None = None,
        fee: Decimal,
        slippage_bps: Decimal = _ZERO,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 4096,
        account: SimAccount | None = None,
    ) -> None:
        super().__init__()
        if bar_ms <= 0:
            raise ConfigError(f"bar interval must be > 0 ms, got {bar_ms}")
        self._market = market
        self.bars = bars
        self.bar_ms = bar_ms
        self.clock = clock
        self.fee = fee
        self._slip = slippage_bps / _BPS
        if (account is None) == (balances is None):
            raise ValueError("give BarExchange either balances or a shared account, not both")
        self.account = SimAccount(balances or {}) if account is None else account
        self.balance_listener: Callable[[dict[str, Balance]], None] | None = None
        self._prepared: _BarEvents | None = None
        self._changes: list[tuple[int, Decimal, Decimal]] = []
        self._done = 0
        self.fills: list[Fill] = []
        self._orders: dict[ClientOrderId, _Working] = {}
        self._open: dict[ClientOrderId, _Working] = {}
        self._seq = 0
        self._md: MarketData | None = None
        self._progress = progress
        self._progress_every = max(1, progress_every)
        self._quote_total = self._total(market.quote)
        self._base_total = self._total(market.base)
        self._start_quote, self._start_base = self._quote_total, self._base_total

    # ----------------------------------------------------------------- lifecycle and markets

    async def connect(self) -> None:
        """Nothing to connect to; the market is given."""

    async def close(self) -> None:
        """Nothing to release."""

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the one simulated market."""
        return {self._market.symbol: self._market}

    def market(self, symbol: Symbol) -> Market:
        """Return the simulated market; raise ``ConfigError`` for any other symbol."""
        if symbol != self._market.symbol:
            raise ConfigError(f"the backtest data is for {self._market.symbol}, not {symbol}")
        return self._market

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the last bar's close as bid and ask (the first bar's open before any bar)."""
        self.market(symbol)
        if self._md is not None:
            return self._md
        if not self.bars:
            raise DataError("the backtest has no bars")
        first = self.bars[0]
        return MarketData(symbol=symbol, ts_ms=first.ts_ms, bid=first.open, ask=first.open, last=first.open)

    async def run_user_stream(self) -> None:
        """Return at once: fills are delivered inline."""

    # ----------------------------------------------------------------- the bar loop

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Fill resting orders against each bar, then yield the bar's close; see the module docstring."""
        self.market(symbol)
        advance = self.clock.advance_to
        progress = self._progress
        every = self._progress_every
        bars = self.bars
        done = 0
        for md in self._events():
            if self._open:
                self._done = done + 1
                self._fill_bar(bars[done])
            advance(md.ts_ms)
            self._md = md
            done += 1
            self._done = done
            yield md
            if progress is not None and done % every == 0:
                progress(done)
        if progress is not None:
            progress(done)

    def _events(self) -> _BarEvents:
        events = self._prepared
        if events is None:
            events = self._prepared = _BarEvents(self.bars, self._market.symbol, self.bar_ms)
        return events

    def prepare(self) -> None:
        """Set up the per-bar market events now (each is built when streamed: none is held per bar)."""
        self._events()

    def equity_curve(self, point: Callable[[int, Decimal], _Point]) -> list[_Point]:
        """Return ``point(close time, equity)`` per bar streamed: quote + base × close, quote currency.

        Computed after the run from the balances recorded at each fill, so the bar loop does no work for it.
        """
        curve: list[_Point] = []
        changes = self._changes
        quote, base = self._start_quote, self._start_base
        k = 0
        bar_ms = self.bar_ms
        for index, bar in enumerate(self.bars[: self._done]):
            while k < len(changes) and changes[k][0] <= index:
                _, quote, base = changes[k]
                k += 1
            curve.append(point(bar.ts_ms + bar_ms, quote + base * bar.close if base else quote))
        return curve

    # ----------------------------------------------------------------- orders

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Accept one order to be filled from the next bar on (see the module docstring).

        Raises:
            OrderRejected: a filter failed, the client id is open, or a stop would trigger at once.
            PostOnlyWouldCross: a post-only limit crosses the last close.
            InsufficientFunds: the free balance does not cover the order.
        """
        market = self.market(symbol)
        if client_order_id in self._open:
            raise OrderRejected(f"{self._describe(params, quantity)}: duplicate client order id {client_order_id}")
        md = self._md if self._md is not None else await self.fetch_bbo(symbol)
        self._check_filters(params, quantity, md.last or md.ask)
        close = md.ask
        side = params.side
        kind = params.order_type
        if kind is _MARKET:
            reference = close
        elif kind is _STOP:
            trigger = params.trigger_price
            assert trigger is not None  # guaranteed by OrderParams
            if (side is _BUY and close >= trigger) or (side is _SELL and close <= trigger):
                raise OrderRejected(f"{self._describe(params, quantity)}: stop would trigger immediately")
            reference = trigger * (_ONE + self._slip) if side is _BUY else trigger
        else:
            price = params.price
            assert price is not None  # guaranteed by OrderParams
            if params.post_only and (price >= close if side is _BUY else price <= close):
                raise PostOnlyWouldCross(f"{self._describe(params, quantity)}: post-only order would take")
            reference = price
        if side is _BUY:
            currency, amount = market.quote, reference * quantity * (_ONE + self.fee)
            if params.quote_quantity is not None:  # sized at the fill: the amount is what it may spend
                amount = params.quote_quantity
        else:
            currency, amount = market.base, quantity
        free = self.account.free(currency)
        if free < amount:
            raise InsufficientFunds(
                f"{symbol} {side.value} {quantity} @ {reference}: needs {amount} {currency}, free {free} {currency}"
            )
        self.account.lock(currency, amount)
        now = self.clock.now_ms()
        order = Order.from_params(params, client_order_id, symbol, quantity, now)
        order.exchange_order_id = self.account.next_order_id()
        order.transition(OrderStatus.SUBMITTED, now)
        order.transition(OrderStatus.ACCEPTED, now)
        self._seq += 1
        w = _Working(order=order, seq=self._seq, lock_currency=currency, locked=amount)
        self._orders[client_order_id] = w
        self._open[client_order_id] = w
        return self._report(order)

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order and release its funds.

        Raises:
            OrderNotFound: the order is unknown or already closed.
        """
        self.market(symbol)
        w = self._open.get(client_order_id)
        if w is None:
            state = "closed" if client_order_id in self._orders else "unknown"
            raise OrderNotFound(f"{symbol}: cannot cancel {state} order {client_order_id}")
        self._close(w, OrderStatus.CANCELED, "canceled by request")
        return self._report(w.order)

    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the simulator never saw it."""
        w = self._orders.get(client_order_id)
        return None if w is None else self._report(w.order)

    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return the open orders, oldest first."""
        return [self._report(w.order) for w in self._open.values()]

    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the fills at or after ``since_ms`` (epoch ms; ``None`` = all), oldest first."""
        return [f for f in self.fills if since_ms is None or f.ts_ms >= since_ms]

    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the simulated balances by currency."""
        return self.account.balances()

    # ----------------------------------------------------------------- matching one bar

    def _fill_bar(self, bar: Bar) -> None:
        times, hits, expired = self._bar_hits(bar)
        advance = self.clock.advance_to
        for leg, _, _, w, price, liquidity in hits:
            advance(times[leg])
            self._execute(w, price, liquidity)
        advance(bar.ts_ms)
        for w in expired:
            self._expire(w)

    def _bar_hits(self, bar: Bar) -> tuple[tuple[int, int, int, int], list[_Hit], list[_Working]]:
        """Return the path times, the open orders ``bar`` fills (in fill order) and the IOC/FOK it expires."""
        o, h, low, c = bar.open, bar.high, bar.low, bar.close
        high_first = h - o < o - low or (h - o == o - low and c < o)
        path = (o, h, low, c) if high_first else (o, low, h, c)
        ts = bar.ts_ms
        i = self.bar_ms
        times = (ts, ts + i // 3, ts + 2 * i // 3, ts + i)
        hits: list[_Hit] = []
        expired: list[_Working] = []
        for w in self._open.values():
            hit = self._reach(w.order, path)
            if hit is None:
                if w.order.time_in_force is not TimeInForce.GTC and w.order.order_type is OrderType.LIMIT:
                    expired.append(w)
                continue
            leg, price, liquidity = hit
            distance = abs(price - path[leg - 1]) if leg > 0 else _ZERO
            hits.append((leg, distance, w.seq, w, price, liquidity))
        hits.sort(key=lambda x: (x[0], x[1], x[2]))
        return times, hits, expired

    def _expire(self, w: _Working) -> None:
        self._close(w, OrderStatus.EXPIRED, f"{w.order.time_in_force.value} limit not marketable at the open")
        self.emit(self._report(w.order))

    def _reach(
        self, order: Order, path: tuple[Decimal, Decimal, Decimal, Decimal]
    ) -> tuple[int, Decimal, LiquiditySide] | None:
        """Return (leg, price, liquidity) where ``order`` fills on ``path``, leg 0 = at the open."""
        o = path[0]
        buy = order.side is _BUY
        kind = order.order_type
        if kind is _MARKET:
            return 0, self._slipped(order.side, o), LiquiditySide.TAKER
        if kind is _STOP:
            trigger = order.trigger_price
            assert trigger is not None
            if (o >= trigger) if buy else (o <= trigger):
                return 0, self._slipped(order.side, o), LiquiditySide.TAKER
            for leg in (1, 2, 3):
                if (path[leg] >= trigger) if buy else (path[leg] <= trigger):
                    return leg, self._slipped(order.side, trigger), LiquiditySide.TAKER
            return None
        price = order.price
        assert price is not None
        if (o <= price) if buy else (o >= price):
            return 0, o, LiquiditySide.TAKER
        if order.time_in_force is not TimeInForce.GTC:
            return None
        for leg in (1, 2, 3):
            if (path[leg] <= price) if buy else (path[leg] >= price):
                return leg, price, LiquiditySide.MAKER
        return None

    def _slipped(self, side: OrderSide, price: Decimal) -> Decimal:
        if not self._slip:
            return price
        if side is _BUY:
            return self._market.round_price(price * (_ONE + self._slip), "up")
        return self._market.round_price(price * (_ONE - self._slip), "down")

    def _execute(self, w: _Working, price: Decimal, liquidity: LiquiditySide) -> None:
        order = w.order
        market = self._market
        account = self.account
        fee_rate = self.fee
        quantity = order.leaves_quantity
        if order.quote_quantity is not None:  # sized at the fill (its quantity becomes what fills: Order.apply_fill)
            quantity = quantity_for_amount(market, order.side, order.quote_quantity, price, fee_rate, order.quantity)
            if quantity <= 0:
                self._close(w, OrderStatus.EXPIRED, "quote_quantity buys less than one lot step at the fill price")
                self.emit(self._report(order))
                return
        if order.side is _BUY:
            available = account.free(market.quote) + w.locked
            if price * quantity * (_ONE + fee_rate) > available:
                quantity = market.round_amount(available / (price * (_ONE + fee_rate)))
                if quantity <= 0:
                    reason = "insufficient quote at the fill price"
                    _log.warning("sim_order_expired", client_order_id=order.client_order_id, reason=reason)
                    self._close(w, OrderStatus.EXPIRED, reason)
                    self.emit(self._report(order))
                    return
        notional = price * quantity
        fee = notional * fee_rate
        if order.side is _BUY:
            cost = notional + fee
            if cost > w.locked:  # the open gapped up: take the difference from the free balance
                account.lock(market.quote, cost - w.locked)
                w.locked = cost
            self._quote_total -= cost
            self._base_total += quantity
        else:
            self._quote_total += notional - fee
            self._base_total -= quantity
        fill = account.fill(order, market, unlock=w.locked, quantity=quantity, price=price, fee=fee,
                            ts_ms=self.clock.now_ms(), liquidity=liquidity)  # fmt: skip
        w.locked = _ZERO
        self._changes.append((self._done - 1, self._quote_total, self._base_total))
        self.fills.append(fill)
        del self._open[order.client_order_id]
        if order.status.is_open:  # reduced market buy: the rest expires
            reason = "insufficient quote at the fill price for the rest"
            _log.info("sim_order_expired", client_order_id=order.client_order_id, reason=reason, filled=str(quantity))
            order.transition(OrderStatus.EXPIRED, fill.ts_ms, reason)
        self.emit(fill)
        if order.status is OrderStatus.EXPIRED:
            self.emit(self._report(order))
        listener = self.balance_listener
        if listener is not None:
            listener(account.balances())

    def _close(self, w: _Working, status: OrderStatus, reason: str) -> None:
        if w.locked:
            self.account.settle(w.lock_currency, w.locked, _ZERO)
            w.locked = _ZERO
        w.order.transition(status, self.clock.now_ms(), reason)
        self._open.pop(w.order.client_order_id, None)

    # ----------------------------------------------------------------- helpers

    def _total(self, currency: str) -> Decimal:
        balance = self.account.balances().get(currency)
        return _ZERO if balance is None else balance.total

    def _check_filters(self, params: OrderParams, quantity: Decimal, reference: Decimal) -> None:
        check_market_filters(self._market, params, quantity, reference)

    def _describe(self, params: OrderParams, quantity: Decimal) -> str:
        return describe_order(self._market, params, quantity)

    def _report(self, order: Order) -> OrderStatusReport:
        return status_report(order, self.clock.now_ms())
