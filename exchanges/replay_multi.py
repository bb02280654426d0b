"""Recorded market data of several symbols: one ``ReplayFeed`` per symbol, merged exactly in event time.

``MultiReplayFeed`` is a ``MarketDataSource`` of the paper exchange (``exchanges.paper``) that also
offers ``stream_markets(symbols)``: the events of every symbol's feed merged by event time (``ts_ms``,
epoch ms UTC) on the feeds' one ``SimulatedClock``; equal times come in the order of ``symbols``, then
in each feed's own order. The clock is advanced to each event's time before it is yielded, exactly as
``ReplayFeed.stream_market_data`` does for one symbol (so a one-symbol merge is that stream), and a
malformed line in any file raises its ``DataError`` (file and line) when the merge reaches it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence

from exchanges.replay import ReplayFeed
from exchanges.replay import ReplayFile
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.registry import did_you_mean

__all__ = ["MultiReplayFeed"]


def _ts(md: MarketData) -> int:
    return md.ts_ms


class MultiReplayFeed:
    """Several symbols' replay feeds behind one market-data source (see the module docstring).

    Args:
        feeds: one feed per symbol, all on the same ``SimulatedClock`` and at the same ``speed``.

    Raises:
        ConfigError: no feed, two feeds of one symbol, or feeds at different speeds.
        ValueError: the feeds run on different clocks (a programming error).
    """

    def __init__(self, feeds: Sequence[ReplayFeed]) -> None:
        if not feeds:
            raise ConfigError("replay needs at least one data file")
        self.feeds: dict[Symbol, ReplayFeed] = {}
        for feed in feeds:
            if feed.symbol in self.feeds:
                raise ConfigError(f"--replay: {feed.symbol} has two feeds; give all its files to one")
            if feed.clock is not feeds[0].clock:
                raise ValueError("every replay feed of one run must share the run's SimulatedClock")
            if feed.speed != feeds[0].speed:
                raise ConfigError(
                    f"--speed: {feed.symbol} replays at {feed.speed}, {feeds[0].symbol} at {feeds[0].speed}; "
                    "use one speed"
                )
            self.feeds[feed.symbol] = feed
        self.clock = feeds[0].clock
        self.speed = feeds[0].speed

    def feed(self, symbol: Symbol) -> ReplayFeed:
        """Return the feed of ``symbol``.

        Raises:
            ConfigError: no feed serves ``symbol`` (naming the close ones).
        """
        feed = self.feeds.get(symbol)
        if feed is None:
            raise ConfigError(
                f"the replay serves {', '.join(self.feeds)}, not {symbol}{did_you_mean(symbol, self.feeds)}"
            )
        return feed

    def validate(self) -> list[ReplayFile]:
        """Check every feed's files (``ReplayFeed.validate``), in feed order."""
        return [found for feed in self.feeds.values() for found in feed.validate()]

    async def connect(self) -> None:
        """Check the files up front (``validate``)."""
        self.validate()

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets of every feed (each feed's ``load_markets``)."""
        markets: dict[Symbol, Market] = {}
        for feed in self.feeds.values():
            markets.update(await feed.load_markets())
        return markets

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return ``symbol``'s latest event streamed, or its data's first event."""
        return await self.feed(symbol).fetch_bbo(symbol)

    async def close(self) -> None:
        """Close every feed."""
        for feed in self.feeds.values():
            await feed.close()

    def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Stream one symbol alone (its feed's ``stream_market_data``)."""
        return self.feed(symbol).stream_market_data(symbol)

    def iter_markets(self, symbols: Sequence[Symbol]) -> Iterator[MarketData]:
        """Yield the events of ``symbols`` merged in event time, synchronously (the clock is untouched).

        Raises:
            ConfigError: a symbol without a feed, or one given twice.
            DataError: a file is malformed (raised when the bad line is reached).
        """
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"--symbol: {', '.join(symbols)} names a symbol twice")
        sources = [self.feed(s).iter_events() for s in symbols]
        if len(sources) == 1:
            return sources[0]
        return heapq.merge(*sources, key=_ts)

    async def stream_markets(self, symbols: Sequence[Symbol]) -> AsyncIterator[MarketData]:
        """Yield the events of ``symbols`` merged in event time, advancing the clock to each event's time first.

        With a ``speed``, sleeps ``Δt / speed`` real seconds between events of different times, as one feed does.

        Raises:
            ConfigError: a symbol without a feed, or one given twice.
            DataError: a file is malformed (raised when the bad line is reached).
        """
        feeds = self.feeds
        advance = self.clock.advance_to
        speed = self.speed
        prev_ts: int | None = None
        for md in self.iter_markets(symbols):
            if speed is not None:
                if prev_ts is not None and md.ts_ms > prev_ts:
                    await asyncio.sleep((md.ts_ms - prev_ts) / 1000 / speed)
                prev_ts = md.ts_ms
            advance(md.ts_ms)
            feeds[md.symbol]._latest = md
            yield md
