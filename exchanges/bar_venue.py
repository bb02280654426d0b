"""The bar simulator of several markets: one shared simulated account, all markets' bars merged in event time.

``BarVenue`` holds one ``exchanges.backtest.BarExchange`` per market, all on the one ``SimulatedClock``
and one ``SimAccount`` (a buy on BTC/USDT spends the USDT an order on ETH/USDT could have used). Every
market keeps the fill rules of ``exchanges.backtest`` unchanged (market orders at the next bar's open
of *its* market, limits and stops along *its* bar's intrabar path, fees, slippage, arrival checks).

``stream_markets(symbols)`` is one pass over the data, an exact merge in event time (epoch ms UTC):

* each market's bar ``k`` is yielded at its **close time** (``ts + bar_ms``), after its fills;
* the fills of bar ``k`` are decided when the bar opens (the orders open then, ``BarExchange``'s
  path rules) and each is executed at **its own path time** (``ts``, ``ts + i/3``, ``ts + 2i/3``,
  ``ts + i``), so the fills of several markets interleave in time and every fill is stamped exactly
  as a single-market run stamps it; an IOC/FOK limit the bar expires is closed after that bar's last
  fill, as there;
* at equal times: fills first, then bar closes in the order of ``symbols``, then bars opening (whose
  orders were sent on those closes). An order sent while a market's bar is under way fills from that
  market's next bar on (nothing fills on the bar it was sent in); one cancelled before its fill time
  does not fill.

So with cash enough that the shared balance never binds, each market's fills are those of a
``BarExchange`` run over its file alone (ids aside: exchange order and trade ids come from the one
account sequence). When the balance binds, the fill executed first (earlier time, then ``symbols``
order) has the money.

Equity (``equity_curve``) is the **portfolio** value in the first market's quote currency: every
quote currency of the run counts **at par 1:1** with it (USDT = USDC = 1 here, even through a de-peg:
the curve shows the strategy's result, not the stablecoins' exchange rate), each market's base
position at that market's latest close, any other starting currency at par. ``market_sim(symbol)``
is the single-market view (its bars, fills and an equity curve of its own fills on the starting
balances, identical to a single-market run's when the balance never binds).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any
from typing import TypeVar

from exchanges.backtest import BarExchange
from exchanges.base import AccountUpdate
from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from exchanges.sim import SimAccount
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.errors import OrderRejected
from trading_bot.registry import did_you_mean

__all__ = ["BarData", "BarVenue"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_Point = TypeVar("_Point")

# phases at one time: fills, then bar closes, then bars opening
_FILL, _CLOSE, _OPEN = 0, 1, 2
_EXPIRE_LEG = 4  # after the bar's four path points: the IOC/FOK limits it expires


@dataclass(frozen=True, slots=True)
class BarData:
    """One market's bars for a ``BarVenue``.

    Attributes:
        market: the market (filters, currencies); its fees are not used, the venue's ``fee`` is.
        bars: open time strictly ascending.
        bar_ms: the bar interval, milliseconds (a bar's close time is its open time plus this).
    """

    market: Market
    bars: Sequence[Bar]
    bar_ms: int


class BarVenue(BaseExchangeClient):
    """Simulated spot account trading several markets over recorded bars (see the module docstring).

    Args:
        data: the markets and their bars (the first market's quote currency is the equity's currency).
        clock: the simulated clock, moved by the stream.
        balances: starting free balances by currency (one account for every market).
        fee: fee rate of every fill (0.001 = 0.1 %), maker and taker alike.
        slippage_bps: price moved against market and stop fills, basis points.
        progress: called with the number of bar events done (all markets) every ``progress_every``, and at the end.
        progress_every: bar events between two ``progress`` calls.

    Raises:
        ConfigError: no market, a market given twice, or a bar interval <= 0.
    """

    name = "backtest"

    def __init__(
        self,
        *,
        data: Sequence[BarData],
        clock: SimulatedClock,
        balances: Mapping[str, Decimal],
        fee: Decimal,
        slippage_bps: Decimal = _ZERO,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 4096,
    ) -> None:
        super().__init__()
        if not data:
            raise ConfigError("a bar backtest needs at least one market")
        self.clock = clock
        self.account = SimAccount(balances)
        self._start_balances = {c: Decimal(v) for c, v in balances.items()}
        self._sims: dict[Symbol, BarExchange] = {}
        for d in data:
            symbol = d.market.symbol
            if d.market.contract:
                raise ConfigError(
                    f"--symbol {symbol}: a backtest of several symbols trades spot markets; backtest one swap at a time"
                )
            if symbol in self._sims:
                raise ConfigError(f"--data: {symbol} is given twice; give each symbol's bars once")
            sim = BarExchange(market=d.market, bars=d.bars, bar_ms=d.bar_ms, clock=clock, fee=fee,
                              slippage_bps=slippage_bps, account=self.account)  # fmt: skip
            sim.attach(self._on_update)
            sim.balance_listener = partial(self._on_fill, len(self._sims))
            self._sims[symbol] = sim
        self.symbols: tuple[Symbol, ...] = tuple(self._sims)
        self.balance_listener: Callable[[dict[str, Balance]], None] | None = None
        self.fills: list[Fill] = []
        self._progress = progress
        self._progress_every = max(1, progress_every)
        self._done = 0
        self._streamed: list[tuple[int, int]] = []  # (market index, bar index) of every bar event yielded
        self._changes: list[tuple[int, int, Decimal, Decimal]] = []  # (events done, market index, quote, base)
        self._queue: list[tuple[Any, ...]] = []
        self._counter = itertools.count()

    # ----------------------------------------------------------------- markets and per-market views

    def market_sim(self, symbol: Symbol) -> BarExchange:
        """Return the single-market simulator of ``symbol`` (its ``bars``, ``fills``, own ``equity_curve``).

        Raises:
            ConfigError: the venue has no bars of ``symbol`` (naming the close ones).
        """
        sim = self._sims.get(symbol)
        if sim is None:
            known = ", ".join(self._sims)
            raise ConfigError(f"the backtest data is for {known}, not {symbol}{did_you_mean(symbol, self._sims)}")
        return sim

    @property
    def start_ms(self) -> int:
        """Return the earliest bar open time of all markets (epoch ms): where to start the clock."""
        starts = [s.bars[0].ts_ms for s in self._sims.values() if s.bars]
        if not starts:
            raise DataError("the backtest has no bars")
        return min(starts)

    async def connect(self) -> None:
        """Nothing to connect to; the markets are given."""

    async def close(self) -> None:
        """Nothing to release."""

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the simulated markets."""
        return {symbol: sim.market(symbol) for symbol, sim in self._sims.items()}

    def market(self, symbol: Symbol) -> Market:
        """Return one simulated market; raise ``ConfigError`` for any other symbol."""
        return self.market_sim(symbol).market(symbol)

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the market's last bar close as bid and ask (its first bar's open before any bar)."""
        return await self.market_sim(symbol).fetch_bbo(symbol)

    async def run_user_stream(self) -> None:
        """Return at once: fills are delivered inline."""

    def bars_ahead(self, symbol: Symbol) -> tuple[Sequence[Bar], int] | None:
        """Return ``symbol``'s bars and their interval (ms): the venue streams each market's bars in full."""
        sim = self._sims.get(symbol)
        return None if sim is None else sim.bars_ahead(symbol)

    def prepare(self) -> None:
        """Build every market's per-bar events now (part of data loading), not at the first bar."""
        for sim in self._sims.values():
            sim.prepare()

    # ----------------------------------------------------------------- the merged bar loop

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Stream one market alone: ``stream_markets([symbol])``."""
        async for md in self.stream_markets([symbol]):
            yield md

    async def stream_markets(self, symbols: Sequence[Symbol]) -> AsyncIterator[MarketData]:
        """Yield every bar close of ``symbols`` in event time, fills executed at their own times (one pass).

        Equal times: fills, then closes in the order of ``symbols``, then bars opening; see the module docstring.

        Raises:
            ConfigError: a symbol the venue has no bars of, or one given twice.
        """
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"--symbol: {', '.join(symbols)} names a symbol twice")
        sims = [self.market_sim(s) for s in symbols]
        events = [sim._events() for sim in sims]
        index_of = [self.symbols.index(s) for s in symbols]
        advance = self.clock.advance_to
        progress = self._progress
        every = self._progress_every
        queue = self._queue = []
        pop = heapq.heappop
        for i, sim in enumerate(sims):
            if events[i]:
                self._push(sim.bars[0].ts_ms, _OPEN, i, 0, _ZERO, 0, 0)
                self._push(events[i][0].ts_ms, _CLOSE, i, 0, _ZERO, 0, 0)
        while queue:
            ts, phase, i, leg, _, _, _, item = pop(queue)
            sim = sims[i]
            if phase == _FILL:
                advance(ts)
                self._fill(sim, leg, item)
            elif phase == _OPEN:
                self._open_bar(sim, i, item, ts)
            else:
                k = item
                md = events[i][k]
                advance(md.ts_ms)
                sim.core.set_quote(md)
                sim._done = k + 1
                self._streamed.append((index_of[i], k))
                self._done += 1
                done = self._done
                if k + 1 < len(events[i]):
                    self._push(sim.bars[k + 1].ts_ms, _OPEN, i, 0, _ZERO, 0, k + 1)
                    self._push(events[i][k + 1].ts_ms, _CLOSE, i, 0, _ZERO, 0, k + 1)
                yield md
                if progress is not None and done % every == 0:
                    progress(done)
        if progress is not None:
            progress(self._done)

    def _push(self, ts: int, phase: int, i: int, leg: int, distance: Decimal, seq: int, item: Any) -> None:
        """Queue one step: sorted by time, phase, market order, then path leg, distance and age (fills)."""
        heapq.heappush(self._queue, (ts, phase, i, leg, distance, seq, next(self._counter), item))

    def _open_bar(self, sim: BarExchange, i: int, k: int, ts: int) -> None:
        """Bar ``k`` of market ``i`` opens: queue the fills of the orders open now, each at its path time."""
        sim._done = k + 1
        if not sim._open:
            return
        times, hits, expired = sim._bar_hits(sim.bars[k])
        last = ts
        for leg, distance, seq, w, price, liquidity in hits:
            last = times[leg]
            self._push(last, _FILL, i, leg, distance, seq, (w, price, liquidity))
        if expired:
            self._push(last, _FILL, i, _EXPIRE_LEG, _ZERO, 0, expired)

    @staticmethod
    def _fill(sim: BarExchange, leg: int, item: Any) -> None:
        """Execute one queued fill (or the bar's expiries) unless the order was closed meanwhile."""
        if leg == _EXPIRE_LEG:
            for expired in item:
                sim.core.expire_unmarketable(expired)
            return
        w, price, liquidity = item
        sim.core.execute(w, price, liquidity)

    # ----------------------------------------------------------------- equity

    def equity_curve(self, point: Callable[[int, Decimal], _Point]) -> list[_Point]:
        """Return ``point(close time, portfolio equity)`` per distinct close time streamed (see the module docstring).

        Equity is in the first market's quote currency, other quote currencies at par, each market's base
        position (its own fills) at its latest close, the starting balances of base currencies at the close
        of the first market with that base. Computed after the run from the balances recorded at each fill.
        """
        sims = list(self._sims.values())
        closes: list[Decimal] = [s.bars[0].open if s.bars else _ZERO for s in sims]
        cash, held = self._start_value()
        start = [(s._start_quote, s._start_base) for s in sims]
        d_quote = [_ZERO] * len(sims)
        d_base = [_ZERO] * len(sims)
        changes = self._changes
        c = 0
        curve: list[_Point] = []
        last_ts: int | None = None
        for j, (n, k) in enumerate(self._streamed):
            while c < len(changes) and changes[c][0] <= j:
                _, m, quote, base = changes[c]
                d_quote[m], d_base[m] = quote - start[m][0], base - start[m][1]
                c += 1
            bar = sims[n].bars[k]
            closes[n] = bar.close
            equity = cash + sum((d_quote[m] + d_base[m] * closes[m] for m in range(len(sims))), _ZERO)
            equity += sum((amount * closes[m] for m, amount in held), _ZERO)
            ts = bar.ts_ms + sims[n].bar_ms
            if ts == last_ts:
                curve[-1] = point(ts, equity)
            else:
                curve.append(point(ts, equity))
            last_ts = ts
        return curve

    def _start_value(self) -> tuple[Decimal, list[tuple[int, Decimal]]]:
        """Return the starting cash at par and the starting base holdings as (market index, amount)."""
        markets = [s._market for s in self._sims.values()]
        base_market: dict[str, int] = {}
        for n, market in enumerate(markets):
            base_market.setdefault(market.base, n)
        quotes = {market.quote for market in markets}
        cash = _ZERO
        held: list[tuple[int, Decimal]] = []
        for currency, amount in self._start_balances.items():
            if currency in quotes or currency not in base_market:
                cash += amount
            else:
                held.append((base_market[currency], amount))
        return cash, held

    # ----------------------------------------------------------------- orders

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Accept one order on ``symbol``'s market, filled from that market's next bar on.

        Raises:
            OrderRejected: a filter failed, the client id is open on any market, or a stop would trigger at once.
            PostOnlyWouldCross: a post-only limit crosses the last close.
            InsufficientFunds: the shared account's free balance does not cover the order.
        """
        sim = self.market_sim(symbol)
        for other in self._sims.values():
            if other is not sim and client_order_id in other._open:
                raise OrderRejected(
                    f"{symbol} {params.side.value} {quantity}: duplicate client order id {client_order_id}"
                )
        return await sim.place_order(symbol, params, quantity, client_order_id)

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order of ``symbol`` and release its funds (``OrderNotFound`` if not open)."""
        return await self.market_sim(symbol).cancel_order(symbol, client_order_id)

    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order of ``symbol`` up by client id; ``None`` when the simulator never saw it."""
        return await self.market_sim(symbol).fetch_order(symbol, client_order_id)

    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return the open orders of ``symbol``, oldest first."""
        return await self.market_sim(symbol).fetch_open_orders(symbol)

    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the fills of ``symbol`` at or after ``since_ms`` (epoch ms; ``None`` = all), oldest first."""
        return await self.market_sim(symbol).fetch_my_trades(symbol, since_ms)

    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the shared account's balances by currency."""
        return self.account.balances()

    # ----------------------------------------------------------------- callbacks of the markets

    def _on_update(self, update: OrderUpdate | AccountUpdate) -> None:
        if isinstance(update, Fill):
            self.fills.append(update)
        self.emit(update)

    def _on_fill(self, index: int, balances: dict[str, Balance]) -> None:
        sim = self._sims[self.symbols[index]]
        self._changes.append((self._done, index, sim._quote_total, sim._base_total))
        listener = self.balance_listener
        if listener is not None:
            listener(balances)
