"""Rules of the replay feed (``exchanges.replay``): formats, merge order, bars refused, data errors."""

from __future__ import annotations

import gzip
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from exchanges.paper import MarketDataSource
from exchanges.replay import ReplayFeed
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError

SYMBOL = Symbol("BTC/USDT")
D = Decimal
QUOTES_HEADER = "timestamp,bid_price,bid_size,ask_price,ask_size,update_id\n"
TRADES_HEADER = "timestamp,price,quantity,side,trade_id\n"
BARS_HEADER = "timestamp,open,high,low,close,volume\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def feed(*paths: Path, **kw: object) -> ReplayFeed:
    return ReplayFeed(list(paths), SYMBOL, SimulatedClock(), **kw)  # type: ignore[arg-type]


def bundled(name: str) -> Path:
    return Path(str(resources.files("trading_bot").joinpath("sample_data", name)))


def test_quote_rows_become_market_data_with_bid_ask_and_sizes(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv.gz", QUOTES_HEADER + "1000,99.5,2,100.5,3,1\n")

    [md] = list(feed(path).iter_events())

    assert md == MarketData(symbol=SYMBOL, ts_ms=1000, bid=D("99.5"), ask=D("100.5"), bid_size=D(2), ask_size=D(3))


def test_trade_before_any_quote_uses_its_price_as_bid_and_ask(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", TRADES_HEADER + "1000,100.1,0.5,buy,7\n")

    [md] = list(feed(path).iter_events())

    assert (md.bid, md.ask, md.last) == (D("100.1"), D("100.1"), D("100.1"))
    assert md.trade is not None
    assert (md.trade.quantity, md.trade.side, md.trade.trade_id) == (D("0.5"), OrderSide.BUY, "7")


def test_merge_keeps_file_order_on_equal_times_and_gives_trades_the_latest_quote(tmp_path: Path) -> None:
    quotes = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n2000,98,1,102,1,2\n")
    trades = write(tmp_path, "t.csv", TRADES_HEADER + "1000,100,1,sell,5\n1500,100,1,buy,6\n2000,97,1,sell,7\n")

    events = list(feed(quotes, trades).iter_events())

    assert [(md.ts_ms, md.trade is not None) for md in events] == [
        (1000, False),
        (1000, True),
        (1500, True),
        (2000, False),
        (2000, True),
    ]
    assert (events[2].bid, events[2].ask) == (D(99), D(101))
    assert events[3].last == D(100)


def test_trades_sharing_a_timestamp_are_ordered_by_trade_id(tmp_path: Path) -> None:
    trades = write(tmp_path, "t.csv", TRADES_HEADER + "1000,1,1,sell,12\n1000,2,1,sell,10\n1000,3,1,sell,11\n")

    ids = [md.trade.trade_id for md in feed(trades).iter_events() if md.trade is not None]

    assert ids == ["10", "11", "12"]


def test_a_bar_file_is_refused_pointing_to_the_bar_simulator(tmp_path: Path) -> None:
    """Rule: one intrabar path: the tick feed refuses bars (the bar simulator replays them), at validate and at read."""
    bars = write(tmp_path, "b.csv", BARS_HEADER + "0,100,101,95,96,10\n")

    with pytest.raises(ConfigError, match=r"b\.csv: holds bars; bar files replay through the bar simulator"):
        feed(bars).validate()
    with pytest.raises(ConfigError, match="bar simulator"):
        list(feed(bars).iter_events())


def test_missing_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: replay file not found"):
        feed(tmp_path / "nope.csv").validate()


def test_corrupt_gzip_raises_data_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 20)

    with pytest.raises(DataError, match=r"bad\.csv\.gz:1: unreadable gzip"):
        feed(path).validate()


def test_truncated_gzip_raises_data_error_when_reached(tmp_path: Path) -> None:
    body = QUOTES_HEADER + "".join(f"{1000 + i},99,1,101,1,{i}\n" for i in range(5000))
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(body.encode())[:-200])

    with pytest.raises(DataError, match=r"cut\.csv\.gz:\d+: unreadable gzip"):
        list(feed(path).iter_events())


def test_unknown_header_raises_data_error_naming_the_expected_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "time,px\n1,2\n")

    with pytest.raises(DataError, match=r"x\.csv:1: unknown columns .*timestamp,bid_price,bid_size,ask_price,ask_size"):
        feed(path).validate()


def test_non_numeric_value_raises_data_error_with_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n2000,abc,1,101,1,2\n")

    with pytest.raises(DataError, match=r"q\.csv:3: not a valid number"):
        list(feed(path).iter_events())


def test_timestamps_going_back_beyond_the_tolerance_raise_data_error(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "5000,99,1,101,1,1\n4950,99,1,101,1,2\n3000,99,1,101,1,3\n")

    with pytest.raises(DataError, match=r"q\.csv:4: timestamps go backwards"):
        list(feed(path).iter_events())


def test_small_backward_step_within_tolerance_is_clamped(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "5000,99,1,101,1,1\n4950,98,1,101,1,2\n")

    times = [md.ts_ms for md in feed(path).iter_events()]

    assert times == [5000, 5000]


def test_crossed_quote_raises_data_error_with_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,102,1,101,1,1\n")

    with pytest.raises(DataError, match=r"q\.csv:2: crossed quote: bid 102 > ask 101"):
        list(feed(path).iter_events())


def test_validate_reports_the_kind_of_each_file(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "q.csv", QUOTES_HEADER),
        write(tmp_path, "t.csv.gz", TRADES_HEADER),
    ]

    kinds = [f.kind for f in feed(*paths).validate()]

    assert kinds == ["quotes", "trades"]


def test_start_and_end_bound_the_events_yielded_but_earlier_quotes_still_set_the_book(tmp_path: Path) -> None:
    quotes = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n3000,98,1,102,1,2\n")
    trades = write(tmp_path, "t.csv", TRADES_HEADER + "2000,100,1,sell,5\n4000,100,1,sell,6\n")

    events = list(feed(quotes, trades, start_ms=2000, end_ms=3000).iter_events())

    assert [md.ts_ms for md in events] == [2000, 3000]
    assert (events[0].bid, events[0].ask) == (D(99), D(101))


@pytest.mark.asyncio
async def test_stream_advances_the_clock_to_each_event_before_yielding_it(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n2500,99,1,101,1,2\n")
    clock = SimulatedClock()
    replay = ReplayFeed([path], SYMBOL, clock)

    seen = [(md.ts_ms, clock.now_ms()) async for md in replay.stream_market_data(SYMBOL)]

    assert seen == [(1000, 1000), (2500, 2500)]
    assert replay.latest is not None
    assert replay.latest.ts_ms == 2500


@pytest.mark.asyncio
async def test_stream_with_a_speed_factor_yields_every_event(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n1001,99,1,101,1,2\n")
    replay = ReplayFeed([path], SYMBOL, SimulatedClock(), speed=1000.0)

    times = [md.ts_ms async for md in replay.stream_market_data(SYMBOL)]

    assert times == [1000, 1001]


@pytest.mark.asyncio
async def test_stream_of_another_symbol_raises_config_error(tmp_path: Path) -> None:
    replay = feed(write(tmp_path, "q.csv", QUOTES_HEADER))

    with pytest.raises(ConfigError, match="serves BTC/USDT"):
        await anext(replay.stream_market_data(Symbol("ETH/USDT")))


@pytest.mark.asyncio
async def test_fetch_bbo_before_streaming_returns_the_first_event_and_markets_are_the_feeds(tmp_path: Path) -> None:
    replay = feed(write(tmp_path, "q.csv", QUOTES_HEADER + "1000,99,1,101,1,1\n2000,98,1,102,1,2\n"))
    source: MarketDataSource = replay

    md = await source.fetch_bbo(SYMBOL)
    markets = await source.load_markets()

    assert (md.ts_ms, md.bid) == (1000, D(99))
    assert list(markets) == [SYMBOL]


def test_full_pass_over_the_bundled_files_yields_every_quote_and_trade() -> None:
    replay = feed(
        bundled("binance_BTCUSDT_quotes_2024-08-08.csv.gz"), bundled("binance_BTCUSDT_trades_2024-08-08.csv.gz")
    )
    quotes = trades = 0
    previous = 0

    for md in replay.iter_events():
        assert md.ts_ms >= previous
        previous = md.ts_ms
        if md.trade is None:
            quotes += 1
        else:
            trades += 1

    assert (quotes, trades) == (73_174, 19_904)
