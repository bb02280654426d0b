"""Impossible market data is refused at every boundary: replay and backtest files, and the ccxt adapter.

The CLI runs as a subprocess on real recorded data with one impossible row spliced in; the ccxt boundary
is real ccxt over loopback against the emulator, whose ``bad_quotes`` / ``bad_trades`` faults stream
impossible quotes and prints.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import ExchangeConfig
from tests.integration.conftest import QUOTES
from tests.integration.conftest import TRADES
from tests.integration.conftest import run_cli
from trading_bot.domain import LiveClock
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol

SYMBOL = Symbol("BTC/USDT")
GRID = ("--strategy", "grid", "--exchange", "binance", "--quantity", "0.001", "--take-profit", "0.02",
        "--max-orders", "10", "--wait-time", "35")  # fmt: skip
SMA = ("--strategy", "sma_cross", "--fast", "3", "--slow", "8", "--bar-seconds", "5", "--quantity", "0.01")
BAD_LINE = 20_002  # the file's line of the spliced row (line 1 is the header)


def _spliced_quotes(directory: Path, rows: int = 40_000) -> Path:
    """Write the bundled quotes' first ``rows`` rows with row ``BAD_LINE`` made ``bid=-2, ask=-1``."""
    with gzip.open(QUOTES, "rt", newline="") as src:
        lines = [next(src) for _ in range(rows + 1)]
    fields = lines[BAD_LINE - 1].split(",")
    fields[1], fields[3] = "-2", "-1"
    lines[BAD_LINE - 1] = ",".join(fields)
    path = directory / QUOTES.name  # keeps the name that carries BTC/USDT
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == errors[0]
    return errors[0]


def test_replay_with_one_bid_minus_2_ask_minus_1_quote_is_refused_naming_file_and_line(workdir: Path) -> None:
    path = _spliced_quotes(workdir)

    proc = run_cli(*GRID, "--symbol", "BTC/USDT", "--replay", str(path), "--replay", str(TRADES), cwd=workdir)

    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == f"error: {path}:{BAD_LINE}: bid -2 must be > 0"
    assert proc.stdout == ""  # no summary for a replay cut short by bad data


def test_backtest_whose_data_breaks_mid_file_prints_no_metrics_and_writes_no_report(workdir: Path) -> None:
    path = _spliced_quotes(workdir)
    report = workdir / "report"

    proc = run_cli("backtest", *SMA, "--data", str(path), "--report", str(report), cwd=workdir)

    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == f"error: {path}:{BAD_LINE}: bid -2 must be > 0"
    assert proc.stdout == ""  # no metrics table, no fingerprint
    assert not report.exists()


def test_backtest_json_whose_data_breaks_mid_file_prints_no_json(workdir: Path) -> None:
    path = _spliced_quotes(workdir)

    proc = run_cli("backtest", *SMA, "--data", str(path), "--json", cwd=workdir)

    assert proc.returncode == 2
    assert _one_error_line(proc.stderr).endswith(f"{path}:{BAD_LINE}: bid -2 must be > 0")
    assert proc.stdout == ""


def test_replay_of_a_btcusdt_file_with_symbol_eth_usdt_is_refused(workdir: Path) -> None:
    proc = run_cli(*GRID, "--symbol", "ETH/USDT", "--replay", str(QUOTES), cwd=workdir)

    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --symbol ETH/USDT: data file {QUOTES} carries BTC/USDT (from its name); pass --symbol BTC/USDT, "
        "or rename the file if it really holds ETH/USDT data"
    ]
    assert proc.stdout == ""


def test_backtest_of_a_btcusdt_file_with_symbol_eth_usdt_is_refused(workdir: Path) -> None:
    proc = run_cli("backtest", *SMA, "--symbol", "ETH/USDT", "--data", str(QUOTES), "--data", str(TRADES),
                   cwd=workdir)  # fmt: skip

    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: --symbol ETH/USDT: data file {QUOTES} carries BTC/USDT")
    assert proc.stdout == ""


# -- the ccxt boundary, against the emulator ------------------------------------------------------------


async def _until(predicate: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _collect(stream: AsyncIterator[MarketData], seen: list[MarketData]) -> None:
    async for md in stream:
        seen.append(md)


@pytest.mark.asyncio
async def test_impossible_quotes_and_trades_from_the_venue_are_dropped_counted_and_alerted() -> None:
    from trading_bot.emulator import BinanceEmulator
    from trading_bot.emulator import EmulatorConfig

    async with BinanceEmulator(EmulatorConfig(symbols=(SYMBOL,), history_bars=0)) as emulator:
        config = ExchangeConfig(name="binance", ccxt_options=emulator.ccxt_options(), api_key=SecretStr("k"),
                                secret=SecretStr("s"), request_timeout_s=5)  # fmt: skip
        client = CcxtExchange(config, LiveClock(), public_only=True)
        await client.connect()
        seen: list[MarketData] = []
        rejected: Callable[[str], int] = lambda kind: client.rejections.counts.get(kind, 0)  # noqa: E731
        try:
            with capture_logs() as logs:
                async with asyncio.TaskGroup() as tg:
                    reader = tg.create_task(_collect(client.stream_market_data(SYMBOL), seen))
                    n = 0

                    async def quote(bid: str) -> None:  # each quote a new top of book, so each is streamed
                        nonlocal n
                        n += 1
                        await emulator.set_quote(SYMBOL, bid, str(Decimal(bid) + 10), str(1 + n % 7), "1")

                    for _ in range(150):  # until the stream is subscribed and a first good quote arrives
                        await quote("60000")
                        if seen:
                            break
                        await asyncio.sleep(0.1)
                    assert seen, "no quote arrived from the emulator"
                    emulator.set_faults(bad_quotes=12)
                    for i in range(12):  # one at a time: ccxt keeps only the newest of quotes it has not handed out
                        await quote(str(60_001 + i))
                        await _until(lambda i=i: rejected("quote") == i + 1, f"bad quote {i + 1} to be rejected")
                    emulator.set_faults(bad_trades=3)
                    for i in range(3):
                        await emulator.trade(SYMBOL, "60010", "0.5", "buy")
                        await _until(lambda i=i: rejected("trade") == i + 1, f"bad trade {i + 1} to be rejected")
                    await quote("61000")
                    await emulator.trade(SYMBOL, "61000", "0.25", "sell")
                    await _until(lambda: any(md.trade is not None for md in seen), "the good trade")
                    reader.cancel()
        finally:
            await client.close()

    assert client.rejections.counts == {"quote": 12, "trade": 3}
    assert all(md.bid > 0 and md.ask > 0 for md in seen)  # nothing impossible reached the consumer
    assert [md.trade.quantity for md in seen if md.trade is not None] == [Decimal("0.25")]
    events: list[dict[str, Any]] = [e for e in logs if e["event"] == "market_data_rejected"]
    assert len(events) == 15
    assert {e["symbol"] for e in events} == {SYMBOL}
    assert events[0]["reason"] == "bid -2.0 must be > 0"
    assert events[-1]["reason"] == "quantity -1.0 must be > 0"
    alerts = [e for e in events if e.get("alert")]
    assert len(alerts) == 1  # at the 10th within 60 s, then at most once a window
    assert alerts[0]["count"] == 10
    assert alerts[0]["log_level"] == "error"
