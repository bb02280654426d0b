"""Fuzz the market data files: quotes, trades, bars and L2 books as CSV or CSV.gz with random rows.

Rule guarded: any data file — bad numbers, negative, zero, NaN or infinite prices and sizes, ``bid >
ask``, missing or extra columns, timestamps out of order or out of range, ragged rows, a truncated gzip,
binary garbage, bytes that are not UTF-8 — is either read as valid records or refused with the project's
own errors (``DataError``, ``ConfigError``) by every reader: the replay feed (``exchanges/replay.py``),
the backtest loader (``exchanges/recorded.py``), the emulator's replay (``trading_bot/emulator/
price.py``) and the record checks (``trading_bot/domain/checks.py``). Through ``runbot.py backtest --data
F``, ``runbot.py --replay F`` and ``runbot.py emulator --replay F`` it ends with exit 0, 1 or 2, one
``error:`` line on failure, never a traceback or a hang (``tests/fuzz/harness.py``).
"""

from __future__ import annotations

import contextlib
import gzip
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from exchanges.recorded import data_kind
from exchanges.recorded import load_bars
from exchanges.replay import ReplayFeed
from tests.fuzz.harness import assert_clean_exit
from tests.fuzz.harness import budget
from tests.fuzz.harness import run_inprocess
from tests.fuzz.harness import run_subprocess
from tests.fuzz.harness import serve_briefly
from trading_bot.domain import Symbol
from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import trade_problem
from trading_bot.domain.clock import SimulatedClock
from trading_bot.emulator import server as emulator_server
from trading_bot.emulator.price import load_replay
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError

pytestmark = pytest.mark.fuzz

COLUMNS = {
    "quotes": ["timestamp", "bid_price", "bid_size", "ask_price", "ask_size"],
    "trades": ["timestamp", "price", "quantity", "side", "trade_id"],
    "bars": ["timestamp", "open", "high", "low", "close", "volume"],
    "book": ["timestamp", "update_type", "first_update_id", "last_update_id", "side", "price", "quantity"],
}
BAD_NUMBERS = [
    "nan", "NaN", "-nan", "sNaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e999999999", "1e-999999999",
    "-1", "-0", "0", "0.0", "", " ", "abc", "1,5", "0x10", "1_000", "١٢", "²", "1e", "9" * 5000, "1e308",
    "0.00000001", "100000000000000000000000000000", "99999999999999999999.999999999999999999999",
]  # fmt: skip
"""Cell values no price, size or timestamp should take (and a few extreme ones that are valid)."""
T0 = 1_723_075_200_000  # 2024-08-08T00:00:00Z


@st.composite
def cells(draw: st.DrawFn, column: str, index: int, price: Decimal) -> str:
    """One cell: mostly plausible for ``column`` at row ``index``, sometimes hostile."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.sampled_from(BAD_NUMBERS), st.text(max_size=6)))
    if column == "timestamp":
        return str(draw(st.sampled_from([T0 + index * 60_000, T0 + index, T0 - index * 1000, 0, -1, 2**63, 10**16])))
    if column == "side":
        return draw(st.sampled_from(["buy", "sell", "B", "s", "BUY", "x", "", "bid", "ask"]))
    if column == "update_type":
        return draw(st.sampled_from(["snapshot", "delta", "delta", "Snapshot", "x", ""]))
    if column in ("first_update_id", "last_update_id"):
        return str(draw(st.sampled_from([index, index + 1, 0, 10**30, -1])))
    if column == "trade_id":
        return draw(st.sampled_from([str(index), str(10**30), "a1", "", "-3"]))
    if column in ("bid_size", "ask_size", "quantity", "volume"):
        return draw(st.sampled_from(["0.5", "0", "1e-8", "12", "-0.1"]))
    spread = {"bid_price": -1, "ask_price": 1, "low": -2, "high": 2, "open": 0, "close": 1}.get(column, 0)
    return str(price + spread)


def _header(draw: st.DrawFn, kind: str) -> tuple[list[str], str, str]:
    """Return ``(columns, header line, change)``: the kind's columns, maybe one dropped, added, reordered."""
    columns = list(COLUMNS[kind])
    change = draw(st.sampled_from(["none", "none", "none", "drop", "extra", "upper", "bom", "symbol", "swap"]))
    if change == "drop":
        columns.pop(draw(st.integers(0, len(columns) - 1)))
    elif change == "extra":
        columns.append(draw(st.sampled_from(["note", "timestamp", "", "price"])))
    elif change == "symbol":
        columns.append("symbol")
    elif change == "swap":
        columns.reverse()
    header = ",".join(c.upper() if change == "upper" else c for c in columns)
    return columns, "\ufeff" + header if change == "bom" else header, change


def _pack(draw: st.DrawFn, raw: bytes) -> tuple[bytes, str]:
    """Return the file's bytes and kind of packing: plain, gzip, a truncated gzip, gzip plus junk, garbage."""
    packing = draw(st.sampled_from(["plain", "plain", "gzip", "gzip", "truncated", "gzip+junk", "garbage"]))
    if packing == "gzip":
        return gzip.compress(raw), packing
    if packing == "truncated":
        packed = gzip.compress(raw)
        return packed[: draw(st.integers(0, max(0, len(packed) - 1)))], packing
    if packing == "gzip+junk":
        return gzip.compress(raw) + draw(st.binary(min_size=1, max_size=16)), packing
    if packing == "garbage":
        return draw(st.one_of(st.binary(max_size=64), st.just(b"\x1f\x8b" + bytes(30)))), packing
    return raw, packing


@st.composite
def data_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """``(name, bytes)`` of a data file: a header, random rows, plain or gzip (maybe truncated), or garbage."""
    kind = draw(st.sampled_from(sorted(COLUMNS)))
    columns, header, change = _header(draw, kind)
    rows = []
    price = Decimal(draw(st.sampled_from(["100", "0.00001234", "61234.5", "1e-8", "1e15", "3"])))
    for index in range(draw(st.integers(0, 12))):
        row = [draw(cells(c, index, price)) for c in COLUMNS[kind]]
        if "symbol" in columns:
            row.append(draw(st.sampled_from(["BTCUSDT", "BTC/USDT", "ETHUSDT", ""])))
        if change == "swap":
            row.reverse()
        if draw(st.integers(0, 15)) == 0:
            row = row[: draw(st.integers(0, len(row)))] if draw(st.booleans()) else [*row, "extra"]
        rows.append(",".join(row))
    text = "\n".join([header, *rows]) + draw(st.sampled_from(["\n", "", "\r\n", '\n"unclosed', "\n\x00\n"]))
    raw = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\x1f\x8b"])) + raw[at:]
    raw, packing = _pack(draw, raw)
    suffix = ".csv.gz" if packing != "plain" and draw(st.booleans()) else ".csv"
    name = draw(st.sampled_from(["binance_BTCUSDT_data", "data", "binance_ETHUSDT_data"])) + suffix
    return name, raw


def _write(directory: Path, file: tuple[str, bytes]) -> Path:
    path = directory / file[0]
    path.write_bytes(file[1])
    return path


_GOOD_BARS = (
    "data.csv",
    b"timestamp,open,high,low,close,volume\n1723075200000,100,101,99,100.5,1\n1723075260000,100.5,102,100,101,2\n",
)
_HUGE_BAR = ("data.csv", b"timestamp,open,high,low,close\n1723075200000,1e999999,1e999999,1e999999,1e999999\n")


@budget(6)
@given(file=data_files())
@example(file=_GOOD_BARS)
@example(file=_HUGE_BAR)
def test_every_reader_reads_any_data_file_or_refuses_it_with_a_data_error(
    file: tuple[str, bytes], tmp_path: Path
) -> None:
    path = _write(tmp_path, file)
    feed = ReplayFeed([path], Symbol("BTC/USDT"), SimulatedClock(0))
    try:
        feed.validate()
        for _ in feed.iter_events():
            pass
    except (DataError, ConfigError):
        pass
    try:
        data_kind(path)
        load_bars([path])
    except DataError:
        pass
    with contextlib.suppress(DataError):
        load_replay(path, "BTC/USDT")


_DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(["sNaN", "-sNaN", "NaN", "-0", "1e999999999", "-1e-999999999"]).map(Decimal),
)


@budget(3)
@given(ts=st.integers(-(2**70), 2**70), a=_DECIMALS, b=_DECIMALS, c=_DECIMALS, d=_DECIMALS, e=_DECIMALS)
def test_record_checks_answer_for_any_numbers_and_never_raise(
    ts: int, a: Decimal, b: Decimal, c: Decimal, d: Decimal, e: Decimal
) -> None:
    """The checks of trading_bot.domain.checks return a reason or None for any Decimal, signalling NaN included."""
    for problem in (quote_problem(ts, a, b, c, d), trade_problem(ts, a, b), bar_problem(ts, a, b, c, d, e)):
        assert problem is None or isinstance(problem, str)


def _commands(path: Path) -> list[list[str]]:
    return [
        [
            "backtest",
            "--strategy",
            "sma_cross",
            "--fast",
            "2",
            "--slow",
            "3",
            "--symbol",
            "BTC/USDT",
            "--data",
            str(path),
        ],
        ["--strategy", "grid", "--quantity", "0.001", "--take-profit", "0.5", "--replay", str(path)],
        ["emulator", "--port", "0", "--replay", str(path)],
    ]


@budget(2)
@given(file=data_files())
@example(file=_GOOD_BARS)
@example(file=_HUGE_BAR)
def test_backtest_replay_and_emulator_take_any_data_file_with_exit_0_1_or_2_and_one_error_line(
    file: tuple[str, bytes], tmp_path: Path
) -> None:
    path = _write(tmp_path, file)
    with mock.patch.object(emulator_server, "run_emulator", serve_briefly):
        for argv in _commands(path):
            assert_clean_exit(run_inprocess(argv, cwd=tmp_path))


@budget(0.1)
@given(file=data_files())
def test_data_files_in_a_real_process_end_with_exit_0_1_or_2_and_one_error_line(
    file: tuple[str, bytes], tmp_path: Path
) -> None:
    path = _write(tmp_path, file)
    for argv in _commands(path)[:2]:
        assert_clean_exit(run_subprocess(argv, cwd=tmp_path))
