"""The replay feed refuses impossible records, naming file, line and field, and files of another symbol."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchanges.replay import ReplayFeed
from tests.kit.bad_records import BAD_QUOTES
from tests.kit.bad_records import BAD_RECORDS
from tests.kit.bad_records import BAD_TRADES
from tests.kit.bad_records import GOOD_QUOTE
from tests.kit.bad_records import QUOTES_HEADER
from tests.kit.bad_records import write_rows
from trading_bot.domain import MarketData
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError

SYMBOL = Symbol("BTC/USDT")


def _events(path: Path, symbol: Symbol = SYMBOL) -> int:
    return sum(1 for _ in ReplayFeed([path], symbol, SimulatedClock()).iter_events())


# quotes and trades: bar files are not this feed's (the bar loader's own test, test_data_bad_records, has the bars)
TICK_RECORDS = BAD_RECORDS[: len(BAD_QUOTES) + len(BAD_TRADES)]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize(("header", "good", "row", "reason"), TICK_RECORDS)
def test_impossible_record_raises_data_error_naming_file_line_and_field(
    tmp_path: Path, suffix: str, header: str, good: str, row: str, reason: str
) -> None:
    path = write_rows(tmp_path / f"data{suffix}", [header, row, good])

    with pytest.raises(DataError) as caught:
        _events(path)

    assert str(caught.value).startswith(f"{path}:2: ")
    assert reason in str(caught.value)


@pytest.mark.parametrize(("header", "good", "row", "reason"), [BAD_RECORDS[0], BAD_RECORDS[len(BAD_QUOTES)]])
def test_impossible_record_mid_file_stops_the_replay_at_its_line(
    tmp_path: Path, header: str, good: str, row: str, reason: str
) -> None:
    def at(text: str, ms: int) -> str:
        return text.replace("1723161254087", str(1723161254087 + ms))

    path = write_rows(tmp_path / "data.csv", [header, at(good, 0), at(good, 1), at(row, 2), at(good, 3)])
    feed = ReplayFeed([path], SYMBOL, SimulatedClock())
    seen: list[MarketData] = []

    with pytest.raises(DataError, match=re.escape(f"data.csv:4: {reason}")):
        seen.extend(feed.iter_events())

    assert seen  # rows before it were replayed (trades sharing a time are held until the time moves on)
    assert all(md.ts_ms < 1723161254087 + 2 for md in seen)  # nothing from it or after it


def test_a_file_named_for_another_symbol_is_refused_naming_file_symbol_and_fix(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "binance_BTCUSDT_quotes_2024-08-08.csv", [QUOTES_HEADER, GOOD_QUOTE])
    feed = ReplayFeed([path], Symbol("ETH/USDT"), SimulatedClock())

    with pytest.raises(ConfigError) as caught:
        feed.validate()

    message = str(caught.value)
    assert message.startswith(f"--symbol ETH/USDT: data file {path} carries BTC/USDT")
    assert "pass --symbol BTC/USDT" in message


def test_a_file_named_for_its_symbol_or_for_none_is_replayed(tmp_path: Path) -> None:
    named = write_rows(tmp_path / "binance_ETHUSDT_quotes.csv", [QUOTES_HEADER, GOOD_QUOTE])
    unnamed = write_rows(tmp_path / "quotes.csv", [QUOTES_HEADER, GOOD_QUOTE])

    ReplayFeed([named, unnamed], Symbol("ETH/USDT"), SimulatedClock()).validate()

    assert _events(named, Symbol("ETH/USDT")) == 1
    assert _events(unnamed, Symbol("ETH/USDT")) == 1
