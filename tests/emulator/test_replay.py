"""Replay files and the random walk as the emulator's market; klines from a bars file."""

from __future__ import annotations

import asyncio
import csv
import gzip
from decimal import Decimal
from pathlib import Path

import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator import run_emulator

DATA = Path("/work/shared/data")
FIL_BARS = DATA / "binance_FILUSDT_1m.csv.gz"


def _first_rows(path: Path, n: int) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.DictReader(handle)
        return [row for _, row in zip(range(n), reader, strict=False)]


@pytest.mark.asyncio
async def test_klines_from_a_bars_replay_file_paginate_over_the_real_bars() -> None:
    config = EmulatorConfig(replay=FIL_BARS, replay_events_per_s=50, history_bars=0)
    async with BinanceEmulator(config) as emu:
        ex = ccxtpro.binance(emu.ccxt_config())
        try:
            await ex.load_markets()
            rows = _first_rows(FIL_BARS, 2500)
            since = int(rows[0]["timestamp"])
            bars: list[list[float]] = []
            while len(bars) < 2500:
                page = await ex.fetch_ohlcv("FIL/USDT", "1m", since=since, limit=1000)
                bars += page
                since = page[-1][0] + 60_000
            hourly = await ex.fetch_ohlcv("FIL/USDT", "1h", since=int(rows[0]["timestamp"]), limit=2)
        finally:
            await ex.close()
    assert "BTC/USDT" in ex.markets  # the configured symbol stays; FIL/USDT came from the file name
    assert [b[0] for b in bars[:2500]] == [int(r["timestamp"]) for r in rows]
    assert bars[0][1:] == [4.255, 4.256, 4.252, 4.252, 25259.1]
    assert bars[2499][4] == float(rows[2499]["close"])
    assert hourly[0][1] == float(rows[0]["open"])
    assert hourly[0][4] == float(rows[59]["close"])
    assert hourly[0][5] == pytest.approx(sum(float(r["volume"]) for r in rows[:60]))
    assert hourly[1][0] == hourly[0][0] + 3_600_000


@pytest.mark.asyncio
async def test_quotes_replay_moves_the_market_to_the_recorded_prices() -> None:
    path = DATA / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
    config = EmulatorConfig(replay=path, replay_events_per_s=500, history_bars=0)
    async with BinanceEmulator(config) as emu:
        await asyncio.sleep(0.3)
        state = emu.state()["markets"]["BTC/USDT"]  # type: ignore[index]
    assert Decimal("61000") < Decimal(state["bid"]) < Decimal(state["ask"]) < Decimal("63000")
    assert state["update_id"] > 1_050


@pytest.mark.asyncio
async def test_trades_replay_prints_trades_and_a_crossing_buy_fills_at_or_below_its_limit() -> None:
    path = DATA / "binance_XRPETH_trades_2019-10-11.csv.gz"
    config = EmulatorConfig(
        replay=path, replay_events_per_s=2000, history_bars=0, balances={"ETH": Decimal(10), "XRP": Decimal(0)}
    )
    async with BinanceEmulator(config) as emu:
        ex = ccxtpro.binance(emu.ccxt_config())
        try:
            await ex.load_markets()
            order = await ex.create_order("XRP/ETH", "limit", "buy", 100, 0.00145)  # above the early prints
            await asyncio.sleep(0.3)
            trades = await ex.fetch_trades("XRP/ETH")
            fills = emu.fills()
        finally:
            await ex.close()
    assert trades
    assert all(0.001 < t["price"] < 0.002 for t in trades)
    assert order["status"] == "closed"
    assert Decimal(str(fills[0]["price"])) <= Decimal("0.00145")


@pytest.mark.asyncio
async def test_random_walk_moves_the_quote_on_its_own() -> None:
    config = EmulatorConfig(walk_interval_s=0.01, history_bars=0)
    async with BinanceEmulator(config) as emu:
        start = emu.state()["markets"]["BTC/USDT"]["update_id"]  # type: ignore[index]
        await asyncio.sleep(0.2)
        state = emu.state()["markets"]["BTC/USDT"]  # type: ignore[index]
    assert state["update_id"] > start + 5
    assert Decimal(state["bid"]) < Decimal(state["ask"])


@pytest.mark.asyncio
async def test_run_emulator_prints_ccxt_options_and_stops_when_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_emulator(EmulatorConfig(history_bars=0)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    assert '"fetchMarkets"' in out
    assert "/ws-api/v3" in out


def test_emulator_refuses_an_l2_book_file_instead_of_reading_its_levels_as_trades(tmp_path: Path) -> None:
    from trading_bot.emulator.price import load_replay
    from trading_bot.errors import DataError

    path = tmp_path / "book.csv"
    path.write_text(
        "timestamp,update_type,first_update_id,last_update_id,side,price,quantity\n1000,snapshot,1,1,bid,99,1\n"
    )

    with pytest.raises(DataError, match=r"book\.csv:1: an L2 book file; the emulator replays quotes, trades or bars"):
        load_replay(path, "BTC/USDT")
