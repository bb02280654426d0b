"""A backtest of two real symbols at once (Binance.US BTC/USDT and BTC/USDC 1m bars, March 2023, the USDC
de-peg) on one shared account: both trade, the output has one block per instrument plus the portfolio, and
(each quote currency starting with the cash, which never binds here) each instrument's trade fingerprint and
metrics equal a single-symbol backtest of its file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import SAMPLE
from tests.integration.conftest import run_cli

USDT = SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
USDC = SAMPLE / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
STRATEGY = ("--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--quantity", "0.01")


def _backtest(workdir: Path, *args: str) -> dict[str, Any]:
    proc = run_cli("backtest", *STRATEGY, "--json", *args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def test_two_symbol_backtest_fingerprints_and_metrics_equal_single_symbol_backtests(workdir: Path) -> None:
    both = _backtest(workdir, "--data", str(USDT), "--data", f"BTC/USDC={USDC}",
                     "--symbol", "BTC/USDT", "--symbol", "BTC/USDC")  # fmt: skip
    alone = {s: _backtest(workdir, "--data", str(f)) for s, f in (("BTC/USDT", USDT), ("BTC/USDC", USDC))}

    assert set(both["instruments"]) == {"BTC/USDT", "BTC/USDC"}
    for symbol, single in alone.items():
        block = both["instruments"][symbol]
        assert block["fills"] > 0
        assert block["fingerprint"] == single["fingerprint"]
        assert block["metrics"] == single["metrics"]
    assert both["run"]["fills"] == sum(s["run"]["fills"] for s in alone.values())
    assert both["metrics"]["start_equity"] == "20000"  # the portfolio: both quote currencies' cash, at par


def test_a_several_symbol_backtest_refuses_tick_data_and_names_the_replay_instead(workdir: Path) -> None:
    quotes = SAMPLE / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
    other = workdir / "binance_BTCUSDC_quotes_2024-08-08.csv.gz"
    other.write_bytes(quotes.read_bytes())
    proc = run_cli("backtest", *STRATEGY, "--data", str(quotes), "--data", str(other),
                   "--symbol", "BTC/USDT", "--symbol", "BTC/USDC", cwd=workdir)  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--replay" in proc.stderr, proc.stderr


def test_a_symbol_without_data_is_named(workdir: Path) -> None:
    proc = run_cli("backtest", *STRATEGY, "--data", str(USDT), "--symbol", "BTC/USDT", "--symbol", "ETH/USDT",
                   cwd=workdir)  # fmt: skip
    assert proc.returncode == 2
    assert "ETH/USDT" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
