"""L2 book files in the tick replay feed (``exchanges.replay``): the book is the symbol's quote stream, trades
carry the latest book, a book beside quotes is refused, and the replay exchange routes book files to the feed."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.config import ExchangeConfig
from exchanges.factories import replay_paper_exchange
from exchanges.paper import PaperExchange
from exchanges.replay import ReplayFeed
from exchanges.replay_multi import MultiReplayFeed
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError

D = Decimal
SYMBOL = Symbol("BTC/USDT")
SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
BOOK = SAMPLE / "binance_BTCUSDT_book_l2_2024-08-08_2354_2356.csv.gz"
QUOTES = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
TRADES = SAMPLE / "binance_BTCUSDT_trades_2024-08-08.csv.gz"
BOOK_STATES = 1043  # test_recorded_book counts them


def feed(*paths: Path, **kw: object) -> ReplayFeed:
    return ReplayFeed(list(paths), SYMBOL, SimulatedClock(), **kw)  # type: ignore[arg-type]


def test_book_file_alone_replays_one_quote_event_per_book_state_with_its_view() -> None:
    events = list(feed(BOOK, book_depth=10).iter_events())

    assert len(events) == BOOK_STATES
    for md in events:
        assert md.book is not None
        assert len(md.book.bids) == len(md.book.asks) == 10
        assert ((md.bid, md.bid_size), (md.ask, md.ask_size)) == (md.book.bids[0], md.book.asks[0])
        assert md.trade is None
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(events))


def test_trades_merge_with_the_book_by_time_and_carry_the_latest_book() -> None:
    window_end = 1723161300000  # the first 45 s after the first book state
    events = list(feed(BOOK, TRADES, end_ms=window_end).iter_events())

    trades = [md for md in events if md.trade is not None]
    assert trades
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(events))
    latest = None
    last_price = None
    for md in events:
        if md.trade is None:
            latest = md.book
            assert md.last == last_price  # a book event carries the last trade price seen before it
        else:
            last_price = md.trade.price
            assert md.book is latest  # None only for trades before the first book state
            if latest is not None:
                assert (md.bid, md.ask) == (latest.bids[0][0], latest.asks[0][0])
    assert events[0].trade is not None  # 23:54:15.342: a trade before the first book state (15.408)
    assert events[0].book is None


def test_start_ms_skips_early_states_but_a_trade_after_it_carries_the_book_built_before() -> None:
    start = 1723161260000
    events = list(feed(BOOK, TRADES, start_ms=start, end_ms=start + 2000).iter_events())

    assert events
    assert all(md.ts_ms >= start for md in events)
    assert all(md.book is not None for md in events)


@pytest.mark.parametrize("second", [QUOTES, BOOK])
def test_a_book_beside_quotes_or_another_book_of_one_symbol_is_a_config_error(tmp_path: Path, second: Path) -> None:
    other = second
    if second == BOOK:
        other = tmp_path / "binance_BTCUSDT_book_l2_copy.csv.gz"
        other.write_bytes(BOOK.read_bytes())
    replay = feed(BOOK, TRADES, other)

    with pytest.raises(ConfigError, match=r"top of book of one symbol|two L2 books of one symbol") as caught:
        replay.validate()
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError):
        next(replay.iter_events())


def test_book_depth_below_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="book depth"):
        feed(BOOK, book_depth=0)


def test_replay_exchange_routes_a_book_file_to_the_tick_feed_not_the_bar_simulator() -> None:
    clock = SimulatedClock()
    exchange = replay_paper_exchange(ExchangeConfig(name="binance"), clock, {SYMBOL: [BOOK, TRADES]})

    assert isinstance(exchange, PaperExchange)

    async def first() -> Decimal | None:
        async for md in exchange.stream_market_data(SYMBOL):
            return md.book.bids[0][0] if md.book is not None else None
        return None

    assert asyncio.run(first()) is None  # the first event is the trade before the book; it carries none


def test_multi_symbol_feed_keeps_each_symbols_book() -> None:
    book_feed = ReplayFeed([BOOK], SYMBOL, clock := SimulatedClock(), end_ms=1723161260000)
    other = ReplayFeed([QUOTES], Symbol("ETH/USDT"), clock, end_ms=1723161260000)

    events = list(MultiReplayFeed([book_feed, other]).iter_markets([SYMBOL, Symbol("ETH/USDT")]))

    assert {md.symbol for md in events if md.book is not None} == {SYMBOL}
    assert any(md.symbol == "ETH/USDT" for md in events)
