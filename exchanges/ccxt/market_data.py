"""Live market data of a ccxt account: quotes and public trades streamed or polled, REST quotes and bars.

WebSocket (``watch_bids_asks`` + ``watch_trades``) where the exchange has it, else REST polling every
``poll_interval_s``. A swap's quotes and trades also carry its mark price, funding rate and next funding
time: streamed (ccxt pro ``watch_mark_price``: Binance ``@markPrice@1s``) where the exchange has it, else
polled over REST every ``MARK_INTERVAL_S`` (``fetch_funding_rate``: Binance ``premiumIndex``); a mark that
cannot be had leaves the events without one (``mark_stream_failed``), it never stops the quotes.

Every record is checked once, here (``exchanges/ccxt/parse.py``): one that is malformed or impossible is
logged as ``market_data_rejected``, dropped (it never reaches the strategy) and counted per kind, with an
alert past a threshold (``exchanges/ccxt/rejections.py``). A transient failure of a feeding loop
reconnects it with ``Backoff`` (``market_stream_reconnect``); a permanent one ends the stream with that
error, after what was received before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.market_queue import MarketDataQueue
from exchanges.ccxt.parse import MarkUpdate
from exchanges.ccxt.parse import ticker_from_book
from exchanges.ccxt.parse import to_bar
from exchanges.ccxt.parse import to_mark
from exchanges.ccxt.parse import to_quote
from exchanges.ccxt.parse import to_trade_event
from exchanges.ccxt.parse import to_trade_tick
from exchanges.ccxt.rejections import MarketDataRejections
from exchanges.ccxt.retry import Backoff
from exchanges.ccxt.retry import retry_transient
from trading_bot.domain import Bar
from trading_bot.domain import Clock
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ExchangeError
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger

__all__ = ["MARK_INTERVAL_S", "POLL_INTERVAL_S", "MarketStreams"]

_log = get_logger(__name__)

POLL_INTERVAL_S = 1.0
"""REST polling period where there is no WebSocket, seconds."""
MARK_INTERVAL_S = 5.0
"""REST polling period of a swap's mark price and funding rate, seconds."""


class MarketStreams:
    """The market-data part of one ccxt adapter.

    Args:
        session: the ccxt client and markets.
        clock: stamps records the exchange left without a time, and ``last_market_data_ms``.
        rejections: where refused records are counted.
        track_symbol: called with each symbol streamed (so the user stream cross-checks it too).
        poll_interval_s: REST polling period where there is no WebSocket, seconds.

    Attributes:
        last_market_data_ms: clock time of the last market event accepted (a staleness signal).
        poll_interval_s: REST polling period, seconds (read at every poll).
    """

    def __init__(
        self,
        session: CcxtSession,
        clock: Clock,
        rejections: MarketDataRejections,
        track_symbol: Callable[[Symbol], None],
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._session = session
        self._clock = clock
        self._rejections = rejections
        self._track_symbol = track_symbol
        self._quotes: dict[Symbol, MarketData] = {}
        self._marks: dict[Symbol, MarkUpdate] = {}
        self.mark_interval_s = MARK_INTERVAL_S
        self.last_market_data_ms: int | None = None
        self.poll_interval_s = poll_interval_s

    # -- REST ------------------------------------------------------------------------------------------

    @retry_transient()
    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the best bid and ask from REST (ticker, or the order book when the ticker lacks them).

        Raises:
            BadExchangeResponse: the answer is malformed or an impossible quote (``market_data_rejected``).
        """
        try:
            t = await self._rest_quote(symbol)
        except BadExchangeResponse as e:
            self._rejections.reject("quote", symbol, "rest", str(e))
            raise
        md = self._quote(symbol, t, "rest")
        if md is None:
            raise BadExchangeResponse(f"fetch_bbo {symbol}: unusable quote from {self._session.name}")
        return md

    async def _rest_quote(self, symbol: Symbol) -> Mapping[str, Any] | None:
        session = self._session
        ex = session.client
        t: Any = await session.call(session.ctx("fetch_ticker", symbol), ex.fetch_ticker, symbol)
        if not isinstance(t, Mapping) or t.get("bid") is None or t.get("ask") is None:
            book = await session.call(session.ctx("fetch_order_book", symbol), ex.fetch_order_book, symbol, 5)
            t = ticker_from_book(book)
        return t if isinstance(t, Mapping) else None

    @retry_transient()
    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return bars of ``timeframe`` (``1m``, ``1h``...) from ``since_ms`` (epoch ms), open time ascending."""
        session = self._session
        rows = await session.call(
            session.ctx("fetch_ohlcv", symbol), session.client.fetch_ohlcv, symbol, timeframe, since_ms, limit
        )
        bars = []
        for row in rows or ():
            try:
                bars.append(to_bar(row))
            except (BadExchangeResponse, TypeError, ValueError) as e:
                self._rejections.reject("bar", symbol, "ohlcv", str(e))
        return sorted(bars, key=lambda b: b.ts_ms)

    # -- streams ---------------------------------------------------------------------------------------

    async def stream(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield quotes and public trades of ``symbol`` until the consumer stops iterating.

        A consumer that falls behind gets the newest book, not a backlog of quotes (``MarketDataQueue``).
        The feeding loops live in a TaskGroup owned by this generator; they never raise into it (a
        permanent error is queued and raised here), so closing the generator cancels them cleanly.
        """
        await self._session.load_markets()
        self._session.market(symbol)
        self._track_symbol(symbol)
        queue = MarketDataQueue()
        ex = self._session.client
        async with asyncio.TaskGroup() as tg:
            loops: list[Coroutine[Any, Any, None]]
            if self._session.ws and ex.has.get("watchBidsAsks"):
                loops = [self._ws_loop(symbol, queue, "quotes")]
                if ex.has.get("watchTrades"):
                    loops.append(self._ws_loop(symbol, queue, "trades"))
            else:
                loops = [self._poll_loop(symbol, queue)]
            if self._session.market(symbol).contract:
                if self._session.ws and ex.has.get("watchMarkPrice"):
                    loops.append(self._mark_loop(symbol, queue, stream=True))
                elif ex.has.get("fetchFundingRate"):
                    loops.append(self._mark_loop(symbol, queue, stream=False))
            tasks = [tg.create_task(loop, name=f"market-data-{symbol}") for loop in loops]
            failure: ExchangeError | None = None
            try:
                while True:
                    try:
                        md = await queue.get()
                    except ExchangeError as e:
                        failure = e
                        break
                    yield md
            except GeneratorExit:
                pass  # the consumer closed the stream: stop the loops, leave the TaskGroup cleanly
            finally:
                for task in tasks:
                    task.cancel()
        if failure is not None:
            raise failure

    def _publish(self, queue: MarketDataQueue, md: MarketData) -> None:
        self.last_market_data_ms = self._clock.now_ms()
        mark = self._marks.get(md.symbol)
        if mark is not None:
            md = replace(md, mark_price=mark.mark_price, funding_rate=mark.funding_rate,
                         next_funding_ms=mark.next_funding_ms)  # fmt: skip
        if md.trade is None:
            self._quotes[md.symbol] = md
            queue.put_quote(md)  # a slow consumer gets the newest book, not a growing backlog
        else:
            queue.put_trade(md)

    async def _ws_loop(self, symbol: Symbol, queue: MarketDataQueue, kind: str) -> None:
        session = self._session
        ex = session.client
        backoff = Backoff("market_stream_reconnect", symbol=symbol, stream=kind)
        while True:
            try:
                if kind == "quotes":
                    tickers = await session.call(session.ctx("watch_bids_asks", symbol), ex.watch_bids_asks, [symbol])
                    md = self._quote(symbol, (tickers or {}).get(symbol), "ws")
                    if md is not None:
                        self._publish(queue, md)
                else:
                    trades = await session.call(session.ctx("watch_trades", symbol), ex.watch_trades, symbol)
                    for t in trades or ():
                        md = self._trade_event(symbol, t)
                        if md is not None:
                            self._publish(queue, md)
                backoff.succeeded()
            except (TransientExchangeError, BadExchangeResponse) as e:
                await backoff.failed(e)
            except ExchangeError as e:
                _log.error("market_stream_failed", symbol=symbol, stream=kind, error=str(e))
                queue.fail(e)
                return

    async def _poll_loop(self, symbol: Symbol, queue: MarketDataQueue) -> None:
        backoff = Backoff("market_stream_reconnect", symbol=symbol, stream="poll")
        while True:
            try:
                self._publish(queue, await self.fetch_bbo(symbol))
                backoff.succeeded()
                await asyncio.sleep(self.poll_interval_s)
            except BadExchangeResponse:  # already counted as market_data_rejected; the next poll may be fine
                await asyncio.sleep(self.poll_interval_s)
            except TransientExchangeError as e:
                await backoff.failed(e)
            except ExchangeError as e:
                queue.fail(e)
                return

    async def _mark_loop(self, symbol: Symbol, queue: MarketDataQueue, *, stream: bool) -> None:
        """Stream (or poll) the swap's mark and funding; each new mark re-publishes the newest quote carrying it."""
        session = self._session
        ex = session.client
        backoff = Backoff("market_stream_reconnect", symbol=symbol, stream="mark")
        source = "ws" if stream else "rest"
        while True:
            try:
                if stream:
                    raw = await session.call(session.ctx("watch_mark_price", symbol), ex.watch_mark_price, symbol)
                else:
                    raw = await session.call(session.ctx("fetch_funding_rate", symbol), ex.fetch_funding_rate, symbol)
                self._marks[symbol] = to_mark(raw if isinstance(raw, Mapping) else {})
                quote = self._quotes.get(symbol)
                if quote is not None:
                    self._publish(queue, quote)
                backoff.succeeded()
                if not stream:
                    await asyncio.sleep(self.mark_interval_s)
            except BadExchangeResponse as e:
                self._rejections.reject("mark", symbol, source, str(e))
                await asyncio.sleep(self.mark_interval_s)
            except TransientExchangeError as e:
                await backoff.failed(e)
            except ExchangeError as e:  # the quotes go on without a mark; risk falls back to the mid
                _log.warning("mark_stream_failed", symbol=symbol, error=str(e))
                return

    def _quote(self, symbol: Symbol, t: Mapping[str, Any] | None, source: str) -> MarketData | None:
        """Return a quote that passes ``quote_problem``, or reject it (``market_data_rejected``) and return None."""
        try:
            return to_quote(symbol, t, self._clock.now_ms())
        except (BadExchangeResponse, TypeError, ValueError, AttributeError) as e:
            self._rejections.reject("quote", symbol, source, str(e))
            return None

    def _trade_event(self, symbol: Symbol, t: Mapping[str, Any]) -> MarketData | None:
        """Return a public trade carrying the newest book, or ``None`` (rejected, or before the first quote)."""
        quote = self._quotes.get(symbol)
        try:
            tick = to_trade_tick(symbol, t, self._clock.now_ms())
        except (BadExchangeResponse, TypeError, ValueError, AttributeError) as e:
            self._rejections.reject("trade", symbol, "ws_trade", str(e))
            return None
        if quote is None:
            return None  # a trade before the first quote: no book to attach it to
        return to_trade_event(tick, quote)
