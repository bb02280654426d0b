"""The bar simulator: a ``BaseExchangeClient`` that replays OHLCV bars; its fills come from the matching core.

Each bar is **one** market event. The stream does, for every bar ``t`` (``ts`` = its open time, ``i`` =
the bar interval, both epoch milliseconds UTC):

1. fill the orders resting from earlier bars against bar ``t``, the clock set to each fill's time (the
   rules are the matching core's, ``exchanges.sim.core``, along the one intrabar path of
   ``exchanges.sim.path``: open → the extreme nearer to the open → the farther extreme → close);
2. move the clock to the bar's **close time** ``ts + i`` and yield ``MarketData(bid = ask = last =
   close, bar = Bar(...), ts_ms = ts + i)``; the strategy decides on that close;
3. the equity at each close (quote total + base total × close, quote currency) is computed after the
   run by ``equity_curve`` from the balances recorded at each fill.

In short (the core's docstring has every rule): market orders sent on bar ``t``'s close fill at bar
``t+1``'s open plus slippage; limits and stops from the next bar on along the path, a limit at its price
when the path reaches it (maker) or at the open when the bar opens through it (taker), a stop at its
trigger plus slippage (at the open plus slippage when the bar opens through it); IOC/FOK limits only at
the next open; nothing sent on a bar fills on that same bar. One ``fee`` rate is charged on every fill
(bars do not say who was maker). A market buy the account cannot pay at the open fills what the free
quote covers; an order sized by ``quote_quantity`` is sized at that open. Arrival checks (filters at the
last close, duplicate ids, post-only crossing, stops already reached, funds) are the core's.

Fills are passed to the sink as ``Fill`` before the bar is yielded; expiries nobody asked for as an
``OrderStatusReport``. ``balance_listener`` (optional) receives the balances after every fill.

**Perpetual swaps** (a contract market, ``perp`` settings; the account is a ``MarginAccount``): shorts
and leverage as the margin account rules; the equity is wallet + unrealized PnL at the close (the
bookkeeping above is exactly that: cash flows of the fills plus position × close). Per bar, in order:

* a funding time ``t`` inside the bar (``ts ≤ t < ts + i``) settles after the fills at the open and before
  the fills further along the path, on the position held then, with the bar's **open** as the mark
  (``FundingPayment`` to the sink);
* after the bar's fills, the position's liquidation price (``MarginAccount.liquidation_price``) is looked
  for on the path from the leg of its last fill on (``exchanges.sim.path.reach_level``); reached, the
  position is liquidated there — at the open when the bar opened beyond it, else at the liquidation
  price rounded one tick against us — with the liquidation fee, its open orders expired first, and a
  ``Liquidation`` goes to the sink; the clock is at that leg's time;
* the close is the mark for the margin figures the next orders are checked against.

Limits: the mark is the traded price (bars of the contract), not a separate mark-price series.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from exchanges.bar_columns import times_and_closes
from exchanges.base import BaseExchangeClient
from exchanges.sim import FillModel
from exchanges.sim import MarginAccount
from exchanges.sim import MatchingCore
from exchanges.sim import SimAccount
from exchanges.sim.core import BarHit
from exchanges.sim.core import Working
from exchanges.sim.funding import FundingSchedule
from exchanges.sim.model import PerpSettings
from exchanges.sim.path import bar_path
from exchanges.sim.path import reach_level
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.errors import OrderRejected

__all__ = ["BarExchange"]

_ZERO = Decimal(0)
_BUY = OrderSide.BUY
_Point = TypeVar("_Point")


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


class BarExchange(BaseExchangeClient):
    """Simulated spot account over recorded bars; see the module docstring and ``exchanges.sim.core``.

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
        perp: a swap market's leverage, margin mode, liquidation fee and funding (default ``PerpSettings()``:
            1x cross, no funding); refused on a spot market.
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
        perp: PerpSettings | None = None,
    ) -> None:
        super().__init__()
        if bar_ms <= 0:
            raise ConfigError(f"bar interval must be > 0 ms, got {bar_ms}")
        if perp is not None and not market.contract:
            raise ConfigError(f"{market.symbol} is a spot market: leverage, margin mode and funding apply to swaps")
        self._market = market
        self.bars = bars
        self.bar_ms = bar_ms
        self.clock = clock
        self.fee = fee
        if (account is None) == (balances is None):
            raise ValueError("give BarExchange either balances or a shared account, not both")
        self.perp = (perp or PerpSettings()) if market.contract else None
        self.account = account if account is not None else self._new_account(market, balances or {}, self.perp)
        self._funding: FundingSchedule | None = None
        if self.perp is not None and bars:
            self._funding = self.perp.schedule(market, bars[0].ts_ms)
        self.funding_paid = _ZERO
        """Swaps: the funding settled so far, settle currency (negative = paid)."""
        model = FillModel(maker_fee=fee, taker_fee=fee, slippage_bps=slippage_bps, queue_position=False)
        self.core = MatchingCore(market, clock, model, self.account, self._on_update, bars=True,
                                 on_settled=self._on_settled)  # fmt: skip
        self.balance_listener: Callable[[dict[str, Balance]], None] | None = None
        self._prepared: _BarEvents | None = None
        self._changes: list[tuple[int, Decimal, Decimal]] = []
        self._done = 0
        self._filled = False
        self._progress = progress
        self._progress_every = max(1, progress_every)
        self._quote_total = self._total(market.quote)
        self._base_total = self._total(market.base)
        self._start_quote, self._start_base = self._quote_total, self._base_total

    @staticmethod
    def _new_account(market: Market, balances: Mapping[str, Decimal], perp: PerpSettings | None) -> SimAccount:
        if perp is None:
            return SimAccount(balances)
        account = MarginAccount(balances, leverage=1, margin_mode=perp.margin_mode,
                                liquidation_fee=perp.liquidation_fee)  # fmt: skip
        account.register(market)
        try:
            account.set_leverage(market.symbol, perp.leverage)
        except OrderRejected as exc:
            raise ConfigError(f"--leverage {perp.leverage}: {exc}") from None
        return account

    def perp_terms(self, symbol: Symbol) -> tuple[int, MarginMode]:
        """Return the simulated account's leverage and margin mode (spot: ``(1, cross)``)."""
        if isinstance(self.account, MarginAccount):
            return self.account.leverage(symbol), self.account.margin_mode(symbol)
        return 1, MarginMode.CROSS

    async def configure_perp(self, symbol: Symbol, leverage: int, margin_mode: MarginMode) -> None:
        """Nothing to set: the account was built with the run's leverage and margin mode (``perp``)."""
        self.market(symbol)

    @property
    def fills(self) -> list[Fill]:
        """Return every fill of the run, oldest first."""
        return self.core.fills

    @property
    def _open(self) -> dict[ClientOrderId, Working]:
        return self.core.open

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
        md = self.core.last_market_data
        if md is not None:
            return md
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
        core = self.core
        done = 0
        perp = self.perp is not None
        for md in self._events():  # each bar is built once per step: the fill reads the event's own bar
            if perp:
                self._done = done + 1
                bar = md.bar
                assert bar is not None
                self._perp_bar(bar)
            elif core.open:
                self._done = done + 1
                bar = md.bar
                assert bar is not None
                self._fill_bar(bar)
            advance(md.ts_ms)
            core.set_quote(md)
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

    def bars_ahead(self, symbol: Symbol) -> tuple[Sequence[Bar], int] | None:
        """Return the bars the stream will yield (all of them, in order) and their interval (ms)."""
        self.market(symbol)
        return self.bars, self.bar_ms

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
        for index, (ts_ms, close) in enumerate(times_and_closes(self.bars, self._done)):
            while k < len(changes) and changes[k][0] <= index:
                _, quote, base = changes[k]
                k += 1
            curve.append(point(ts_ms + bar_ms, quote + base * close if base else quote))
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
        self.market(symbol)
        if self.core.last_market_data is None:
            self.core.set_quote(await self.fetch_bbo(symbol))
        return self.core.submit(params, quantity, client_order_id)

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order and release its funds.

        Raises:
            OrderNotFound: the order is unknown or already closed.
        """
        self.market(symbol)
        return self.core.cancel(client_order_id)

    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the simulator never saw it."""
        return self.core.order(client_order_id)

    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return the open orders, oldest first."""
        return self.core.open_orders()

    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the fills at or after ``since_ms`` (epoch ms; ``None`` = all), oldest first."""
        return self.core.fills_since(since_ms)

    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the simulated balances by currency."""
        return self.account.balances()

    # ----------------------------------------------------------------- matching one bar

    def _fill_bar(self, bar: Bar) -> None:
        times, hits, expired = self._bar_hits(bar)
        advance = self.clock.advance_to
        execute = self.core.execute
        for leg, _, _, w, price, liquidity in hits:
            advance(times[leg])
            execute(w, price, liquidity)
        advance(bar.ts_ms)
        for w in expired:
            self.core.expire_unmarketable(w)

    # ----------------------------------------------------------------- perpetual swaps

    def _perp_bar(self, bar: Bar) -> None:
        """One bar of a swap market: fills, funding after the open's fills, liquidation (module docstring)."""
        account = self.account
        assert isinstance(account, MarginAccount)
        symbol = self._market.symbol
        times, hits, expired = self._bar_hits(bar) if self.core.open else ((0, 0, 0, 0), [], [])
        advance = self.clock.advance_to
        last_leg = 0
        funded = False
        for leg, _, _, w, price, liquidity in hits:
            if leg > 0 and not funded:
                funded = True
                self._settle_funding(account, bar)
            advance(times[leg])
            if self.core.open.get(w.order.client_order_id) is w:
                last_leg = leg
            self.core.execute(w, price, liquidity)
        if not funded:
            self._settle_funding(account, bar)
        if hits or expired:
            advance(bar.ts_ms)
        for w in expired:
            self.core.expire_unmarketable(w)
        self._check_liquidation(account, bar, last_leg)
        account.set_mark(symbol, bar.close)

    def _settle_funding(self, account: MarginAccount, bar: Bar) -> None:
        schedule = self._funding
        if schedule is None:
            return
        due = schedule.due(bar.ts_ms + self.bar_ms - 1)
        if not due:
            return
        market = self._market
        account.set_mark(market.symbol, bar.open)
        for funding in due:
            payment = account.apply_funding(market, funding.rate, funding.ts_ms, f"funding-{funding.ts_ms}")
            if payment is None:
                continue
            self.funding_paid += payment.amount
            self._quote_total += payment.amount
            self.emit(payment)
            self._filled = True
        self._on_settled()

    def _check_liquidation(self, account: MarginAccount, bar: Bar, from_leg: int) -> None:
        market = self._market
        position = account.position(market.symbol)
        if position.quantity == 0:
            return
        level = account.liquidation_price(market)
        if level is None:
            return
        long = position.quantity > 0
        path, times = bar_path(bar, self.bar_ms)
        hit = reach_level(path, level, falling=long, from_leg=from_leg)
        if hit is None:
            return
        leg, price = hit
        if leg > 0:
            price = market.round_price(price, "down" if long else "up")
        self.clock.advance_to(max(self.clock.now_ms(), times[leg]))
        self.core.expire_all("position liquidated")
        for liquidation in account.check_liquidations(self.clock.now_ms(), {market.symbol: price}):
            self._quote_total += liquidation.quantity * liquidation.price - liquidation.fee
            self._base_total -= liquidation.quantity
            self.emit(liquidation)
            self._filled = True
        self._on_settled()

    def _bar_hits(self, bar: Bar) -> tuple[tuple[int, int, int, int], list[BarHit], list[Working]]:
        """Return the path times, the open orders ``bar`` fills (in fill order) and the IOC/FOK it expires."""
        return self.core.bar_hits(bar, self.bar_ms)

    def _on_update(self, update: OrderStatusReport | Fill) -> None:
        # spot and swaps alike: quote total = cash flows of the fills, base total = the position; a swap's
        # equity wallet + unrealized PnL is exactly quote total + base total × mark
        if isinstance(update, Fill):
            notional = update.price * update.quantity
            if update.side is _BUY:
                self._quote_total -= notional + update.fee
                self._base_total += update.quantity
            else:
                self._quote_total += notional - update.fee
                self._base_total -= update.quantity
            self._filled = True
        self.emit(update)

    def _on_settled(self) -> None:
        if not self._filled:
            return
        self._filled = False
        self._changes.append((self._done - 1, self._quote_total, self._base_total))
        listener = self.balance_listener
        if listener is not None:
            listener(self.account.balances())

    # ----------------------------------------------------------------- helpers

    def _total(self, currency: str) -> Decimal:
        balance = self.account.balances().get(currency)
        return _ZERO if balance is None else balance.total
