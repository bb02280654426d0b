"""The one plausibility rule per market-data record kind (``trading_bot.domain.checks``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.kit.bad_records import BAD_BARS
from tests.kit.bad_records import BAD_QUOTES
from tests.kit.bad_records import BAD_TRADES
from tests.kit.bad_records import GOOD_BAR
from tests.kit.bad_records import GOOD_QUOTE
from tests.kit.bad_records import GOOD_TRADE
from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import file_symbol
from trading_bot.domain.checks import file_symbol_problem
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import trade_problem


def _quote(row: str) -> str | None:
    ts, bid, bid_size, ask, ask_size = row.split(",")
    return quote_problem(int(ts), Decimal(bid), Decimal(bid_size), Decimal(ask), Decimal(ask_size))


def _trade(row: str) -> str | None:
    ts, price, quantity, _, _ = row.split(",")
    return trade_problem(int(ts), Decimal(price), Decimal(quantity))


def _bar(row: str) -> str | None:
    ts, *prices = row.split(",")
    o, h, low, c, v = (Decimal(p) for p in prices)
    return bar_problem(int(ts), o, h, low, c, v)


@pytest.mark.parametrize(("row", "reason"), BAD_QUOTES)
def test_quote_problem_names_the_field_of_an_impossible_quote(row: str, reason: str) -> None:
    assert reason in (_quote(row) or "")


@pytest.mark.parametrize(("row", "reason"), BAD_TRADES)
def test_trade_problem_names_the_field_of_an_impossible_trade(row: str, reason: str) -> None:
    assert reason in (_trade(row) or "")


@pytest.mark.parametrize(("row", "reason"), BAD_BARS)
def test_bar_problem_names_the_field_of_an_impossible_bar(row: str, reason: str) -> None:
    assert reason in (_bar(row) or "")


@pytest.mark.parametrize(
    "row",
    [GOOD_QUOTE, "0,100,0,100,0", "1723161254087,100,-0,100.1,0"],  # epoch 0, locked, zero and -0 sizes
)
def test_quote_problem_keeps_plausible_quotes_including_a_locked_book(row: str) -> None:
    assert _quote(row) is None


def test_trade_and_bar_problems_keep_plausible_records() -> None:
    assert _trade(GOOD_TRADE) is None
    assert _bar(GOOD_BAR) is None
    assert _bar("60000,5,5,5,5,0") is None  # a flat bar with no volume


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("binance_BTCUSDT_quotes_2024-08-08.csv.gz", "BTC/USDT"),
        ("binance_FILUSDT_1m.csv.gz", "FIL/USDT"),
        ("binance_BTCUSDT.csv", "BTC/USDT"),
        ("binanceus_BTCFDUSD_1m.csv", "BTC/FDUSD"),
        ("bittrex_UNITTEST-BTC_1m.csv.gz", "UNITTEST/BTC"),
        ("bitstamp_MULTI-USD_1d.csv", None),
        ("ftx_BTC-PERP_1m.csv.gz", None),
        ("bars.csv", None),
    ],
)
def test_file_symbol_reads_the_pair_of_exchange_pair_kind_names(name: str, symbol: str | None) -> None:
    assert file_symbol(name) == symbol


def test_file_symbol_problem_refuses_another_symbol_and_names_file_symbol_and_fix() -> None:
    problem = file_symbol_problem("/data/binance_BTCUSDT_quotes_2024-08-08.csv.gz", "ETH/USDT")

    assert problem is not None
    assert problem.startswith("--symbol ETH/USDT: data file /data/binance_BTCUSDT_quotes_2024-08-08.csv.gz")
    assert "carries BTC/USDT" in problem
    assert "pass --symbol BTC/USDT" in problem


def test_file_symbol_problem_accepts_the_same_pair_a_swap_of_it_and_unnamed_files() -> None:
    assert file_symbol_problem("binance_BTCUSDT_quotes.csv", "BTC/USDT") is None
    assert file_symbol_problem("binanceusdm_BTCUSDT_quotes.csv", "BTC/USDT:USDT") is None
    assert file_symbol_problem("quotes.csv", "ETH/USDT") is None
