"""``MarketDataQueue``: a consumer that falls behind a live feed acts on the newest book, loses no trade."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exchanges.ccxt.market_queue import MarketDataQueue
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import Symbol
from trading_bot.domain import TradeTick
from trading_bot.errors import TransientExchangeError

SYMBOL = Symbol("BTC/USDT")


def quote(ts: int, bid: str, ask: str) -> MarketData:
    return MarketData(symbol=SYMBOL, ts_ms=ts, bid=Decimal(bid), ask=Decimal(ask))


def trade(ts: int, price: str, book: MarketData) -> MarketData:
    tick = TradeTick(ts_ms=ts, symbol=SYMBOL, price=Decimal(price), quantity=Decimal("1"), side=OrderSide.BUY)
    return MarketData(symbol=SYMBOL, ts_ms=ts, bid=book.bid, ask=book.ask, last=tick.price, trade=tick)


async def drain(queue: MarketDataQueue) -> list[MarketData]:
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(queue.get(), timeout=0.05))
        except TimeoutError:
            return out


@pytest.mark.asyncio
async def test_quotes_not_yet_taken_conflate_to_the_newest_book() -> None:
    queue = MarketDataQueue()
    for i in range(100):
        queue.put_quote(quote(i, f"{100 + i}.00", f"{100 + i}.10"))

    assert [md.ts_ms for md in await drain(queue)] == [99]


@pytest.mark.asyncio
async def test_trades_keep_their_order_and_carry_the_newest_book_when_taken() -> None:
    queue = MarketDataQueue()
    old_book = quote(1, "100.00", "100.10")
    queue.put_quote(old_book)
    queue.put_trade(trade(2, "100.05", old_book))
    queue.put_trade(trade(3, "100.06", old_book))
    queue.put_quote(quote(4, "101.00", "101.10"))

    events = await drain(queue)

    assert [(md.ts_ms, md.last) for md in events if md.trade is not None] == [
        (2, Decimal("100.05")),
        (3, Decimal("100.06")),
    ]
    assert {(md.bid, md.ask) for md in events} == {(Decimal("101.00"), Decimal("101.10"))}
    assert events[-1].ts_ms == 4  # the newest quote comes after the trades


@pytest.mark.asyncio
async def test_trades_past_the_cap_drop_the_oldest_and_count_it() -> None:
    queue = MarketDataQueue(max_trades=3)
    book = quote(0, "100.00", "100.10")
    for ts in range(1, 6):
        queue.put_trade(trade(ts, "100.05", book))

    assert [md.ts_ms for md in await drain(queue)] == [3, 4, 5]
    assert queue.dropped_trades == 2


@pytest.mark.asyncio
async def test_a_failure_is_raised_after_everything_received_before_it() -> None:
    queue = MarketDataQueue()
    book = quote(1, "100.00", "100.10")
    queue.put_quote(book)
    queue.put_trade(trade(2, "100.05", book))
    queue.fail(TransientExchangeError("stream closed"))

    first, second = await queue.get(), await queue.get()

    assert (first.ts_ms, second.ts_ms) == (2, 1)
    with pytest.raises(TransientExchangeError, match="stream closed"):
        await queue.get()


@pytest.mark.asyncio
async def test_a_waiting_consumer_wakes_on_the_next_quote() -> None:
    queue = MarketDataQueue()
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_quote(quote(7, "100.00", "100.10"))

    assert (await asyncio.wait_for(waiter, timeout=1)).ts_ms == 7
