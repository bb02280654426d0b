"""Background market drivers: the seeded random walk and the replay of a recorded file."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Protocol

from trading_bot.emulator.klines import BarStore
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.price import QuoteEvent
from trading_bot.emulator.price import RandomWalk
from trading_bot.emulator.price import ReplayFile
from trading_bot.emulator.price import TradeEvent
from trading_bot.log import get_logger

__all__ = ["MarketDriver", "run_replay", "run_walk"]

_log = get_logger(__name__)
_MIN_SLEEP_S = 0.005


class MarketDriver(Protocol):
    """What a feed drives: the emulator's control surface."""

    def now_ms(self) -> int:
        """Return the server clock in epoch milliseconds."""

    async def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal = ..., ask_qty: Decimal = ...
    ) -> None:
        """Move the external top of book."""

    async def trade(self, symbol: str, price: Decimal, qty: Decimal, taker_side: str) -> None:
        """Print a public trade."""


async def run_walk(driver: MarketDriver, market: MarketState, walk: RandomWalk, interval_s: float) -> None:
    """Move ``market`` by one random-walk step every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        mid = (market.bid + market.ask) / 2
        quote, trade = walk.next(mid, driver.now_ms())
        await driver.set_quote(market.symbol, quote.bid, quote.ask, quote.bid_qty, quote.ask_qty)
        if trade is not None:
            await driver.trade(market.symbol, trade.price, trade.qty, "buy" if trade.taker_buy else "sell")


async def run_replay(
    driver: MarketDriver,
    market: MarketState,
    replay: ReplayFile,
    bars: BarStore,
    *,
    speed: float,
    events_per_s: float | None,
    loop: bool,
    start_index: int,
) -> None:
    """Play ``replay`` into ``market`` at a time factor ``speed`` or a fixed ``events_per_s``.

    With ``loop`` the file starts over at the end; otherwise the market stops moving.
    """
    index = start_index
    while True:
        count = await _play_once(driver, market, replay, bars, speed, events_per_s, index)
        _log.info("emulator_replay_end", symbol=market.symbol, events=count, loop=loop)
        if not loop:
            return
        index = 0


async def _play_once(
    driver: MarketDriver,
    market: MarketState,
    replay: ReplayFile,
    bars: BarStore,
    speed: float,
    events_per_s: float | None,
    index: int,
) -> int:
    event_loop = asyncio.get_running_loop()
    wall_start = event_loop.time()
    first_ms: int | None = None
    count = 0
    debt = 0.0
    for event in replay.iter_from(index, market.filters.tick_size):
        if first_ms is None:
            first_ms = event.time_ms
        if events_per_s is not None:
            debt += 1.0 / events_per_s
            if debt >= _MIN_SLEEP_S:
                await asyncio.sleep(debt)
                debt = 0.0
        else:
            due = wall_start + (event.time_ms - first_ms) / 1000.0 / speed
            wait = due - event_loop.time()
            if wait >= _MIN_SLEEP_S:
                await asyncio.sleep(wait)
        if count % 500 == 0:
            await asyncio.sleep(0)
        bars.cursor_ms = event.time_ms
        if isinstance(event, QuoteEvent):
            await driver.set_quote(market.symbol, event.bid, event.ask, event.bid_qty, event.ask_qty)
        elif isinstance(event, TradeEvent):
            await _replay_trade(driver, market, event)
        count += 1
    return count


async def _replay_trade(driver: MarketDriver, market: MarketState, event: TradeEvent) -> None:
    tick = market.filters.tick_size
    if event.taker_buy and (event.price != market.ask or market.bid >= event.price):
        await driver.set_quote(market.symbol, event.price - tick, event.price, market.bid_qty, market.ask_qty)
    elif not event.taker_buy and (event.price != market.bid or market.ask <= event.price):
        await driver.set_quote(market.symbol, event.price, event.price + tick, market.bid_qty, market.ask_qty)
    await driver.trade(market.symbol, event.price, event.qty, "buy" if event.taker_buy else "sell")
