"""The hand-over between a live market-data feed and a consumer that may fall behind.

A bot that awaits an order round trip (tens of milliseconds) while quotes arrive every few
milliseconds falls behind the feed. A plain FIFO then hands it quotes that are older at every step,
and each order it prices on them is older still: post-only orders priced at a stale touch are
refused as crossing, over and over. ``MarketDataQueue`` keeps the consumer on the newest book
instead: quotes conflate, trades keep their order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace

from trading_bot.domain import MarketData
from trading_bot.errors import ExchangeError
from trading_bot.log import get_logger

__all__ = ["MarketDataQueue"]

_log = get_logger(__name__)

_DROP_LOG_EVERY = 1000  # dropped trades are logged at the first and then every this many


class MarketDataQueue:
    """Quotes and trades of one symbol, handed to a single consumer in the order that keeps it current.

    * A quote replaces any quote not yet taken: the consumer gets the newest book, never a backlog.
    * Trades are kept in arrival order, at most ``max_trades`` of them (past that the oldest is dropped
      and counted in ``dropped_trades``). Each trade is handed over carrying the newest book known when
      it is taken, so a decision made on a trade event is priced on the current market.
    * Pending trades go first, then the pending quote, then a failure set by ``fail`` (so nothing
      received before the failure is lost).

    Not thread-safe: producers and the consumer run on one event loop.
    """

    def __init__(self, max_trades: int = 1000) -> None:
        self._trades: deque[MarketData] = deque()
        self._max_trades = max_trades
        self._quote: MarketData | None = None  # the newest quote not yet taken
        self._book: MarketData | None = None  # the newest quote, taken or not
        self._failure: ExchangeError | None = None
        self._ready = asyncio.Event()
        self.dropped_trades = 0

    def put_quote(self, md: MarketData) -> None:
        """Make ``md`` the newest book; it replaces a quote the consumer has not taken yet."""
        self._quote = self._book = md
        self._ready.set()

    def put_trade(self, md: MarketData) -> None:
        """Queue the public trade ``md`` (``md.trade`` set) behind the trades already waiting."""
        if len(self._trades) >= self._max_trades:
            self._trades.popleft()
            self.dropped_trades += 1
            if self.dropped_trades % _DROP_LOG_EVERY == 1:
                _log.warning("market_data_trades_dropped", symbol=md.symbol, dropped=self.dropped_trades,
                             kept=self._max_trades)  # fmt: skip
        self._trades.append(md)
        self._ready.set()

    def fail(self, error: ExchangeError) -> None:
        """End the feed: ``get`` raises ``error`` once what was received before it has been taken."""
        self._failure = error
        self._ready.set()

    async def get(self) -> MarketData:
        """Return the next event, waiting for one.

        Raises:
            ExchangeError: the failure given to ``fail``, once nothing received before it is left.
        """
        while True:
            if self._trades:
                md, book = self._trades.popleft(), self._book
                if book is not None and (md.bid != book.bid or md.ask != book.ask):
                    md = replace(md, bid=book.bid, ask=book.ask, bid_size=book.bid_size, ask_size=book.ask_size)
                return md
            quote = self._quote
            if quote is not None:
                self._quote = None
                return quote
            if self._failure is not None:
                raise self._failure
            self._ready.clear()
            await self._ready.wait()
