"""Market specs on the command line: a file that names no known symbol needs --symbol and the market's rules."""

from __future__ import annotations

import json
import math
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

PARAMS = ("--strategy", "sma_cross", "--fast", "3", "--slow", "5")


def _goog_like(path: Path) -> Path:
    """Daily bars of a share priced around 100 with two decimals (bar open times, ms)."""
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(80):
        o, c = 100 + 10 * math.sin(i / 4), 100 + 10 * math.sin((i + 1) / 4)
        rows.append(f"{86_400_000 * i},{o:.2f},{max(o, c) + 1:.2f},{min(o, c) - 1:.2f},{c:.2f},1000")
    path.write_text("\n".join(rows) + "\n")
    return path


def _error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_a_file_naming_no_symbol_is_refused_instead_of_running_as_btc_usdt(tmp_path: Path) -> None:
    """GOOG.csv without --symbol exits 2 with one line asking for --symbol (it used to run as BTC/USDT)."""
    line = _error(run_cli("backtest", "--data", str(_goog_like(tmp_path / "GOOG.csv")), *PARAMS, cwd=tmp_path))

    assert "--symbol" in line
    assert "GOOG.csv" in line


def test_an_unbundled_symbol_without_rules_names_the_flags_to_pass(tmp_path: Path) -> None:
    """--symbol GOOG/USD alone exits 2 with one line naming --tick-size, --lot-step and --markets."""
    data = _goog_like(tmp_path / "GOOG.csv")

    line = _error(run_cli("backtest", "--data", str(data), "--symbol", "GOOG/USD", *PARAMS, cwd=tmp_path))

    assert "--tick-size" in line
    assert "--lot-step" in line
    assert "--markets" in line


@pytest.mark.parametrize(("flag", "value"), [("--tick-size", "nan"), ("--lot-step", "0"), ("--tick-size", "-1"),
                                             ("--lot-step", "inf"), ("--min-notional", "-5")])  # fmt: skip
def test_a_bad_spec_flag_exits_2_naming_the_flag(tmp_path: Path, flag: str, value: str) -> None:
    """NaN, inf, zero or negative market rules are bad input: exit 2, one line naming the flag."""
    spec = {"--tick-size": "0.01", "--lot-step": "1", flag: value}
    args = [item for pair in spec.items() for item in pair]

    line = _error(run_cli("backtest", "--data", str(_goog_like(tmp_path / "GOOG.csv")), "--symbol", "GOOG/USD",
                          *args, *PARAMS, cwd=tmp_path))  # fmt: skip

    assert line.startswith(f"error: {flag}:")


def test_goog_like_data_with_a_spec_trades_whole_shares_in_usd(tmp_path: Path) -> None:
    """--symbol GOOG/USD --tick-size 0.01 --lot-step 1: every trade is a whole number of shares, cash in USD."""
    data = _goog_like(tmp_path / "GOOG.csv")

    proc = run_cli("backtest", "--data", str(data), "--symbol", "GOOG/USD", "--tick-size", "0.01", "--lot-step", "1",
                   "--fraction", "1", "--json", *PARAMS, cwd=tmp_path)  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["run"]["symbol"] == "GOOG/USD"
    assert document["trades"]
    assert all(Decimal(t["quantity"]) == Decimal(t["quantity"]).to_integral_value() for t in document["trades"])


def test_a_markets_file_gives_the_rules_and_flags_override_it(tmp_path: Path) -> None:
    """--markets FILE defines GOOG/USD; --lot-step on the command line wins over the file's lot step."""
    data = _goog_like(tmp_path / "GOOG.csv")
    markets = tmp_path / "markets.json"
    markets.write_text('{"GOOG/USD": {"tick_size": "0.01", "lot_step": "0.001"}}')
    base = ("backtest", "--data", str(data), "--symbol", "GOOG/USD", "--markets", str(markets), "--fraction", "1",
            "--json", *PARAMS)  # fmt: skip

    fine = json.loads(run_cli(*base, cwd=tmp_path).stdout)["trades"]
    whole = json.loads(run_cli(*base, "--lot-step", "1", cwd=tmp_path).stdout)["trades"]

    assert any(Decimal(t["quantity"]) % 1 for t in fine)
    assert not any(Decimal(t["quantity"]) % 1 for t in whole)


def test_spec_flags_with_several_symbols_point_to_the_markets_file(tmp_path: Path) -> None:
    """--tick-size names one market's rule: with --symbol given twice it exits 2 asking for --markets FILE."""
    data = _goog_like(tmp_path / "GOOG.csv")
    args = ("--data", f"GOOG/USD={data}", "--data", f"AAPL/USD={data}", "--symbol", "GOOG/USD", "--symbol", "AAPL/USD")

    line = _error(run_cli("backtest", *args, "--tick-size", "0.01", *PARAMS, cwd=tmp_path))

    assert line.startswith("error: --tick-size:")
    assert "--markets" in line


def test_a_markets_file_gives_each_of_several_symbols_its_rules(tmp_path: Path) -> None:
    """Two unbundled share markets in one --markets file: the several-symbol backtest runs on both."""
    data, other = _goog_like(tmp_path / "GOOG.csv"), _goog_like(tmp_path / "AAPL.csv")
    markets = tmp_path / "markets.json"
    markets.write_text('{"GOOG/USD": {"tick_size": "0.01", "lot_step": "1"}, '
                       '"AAPL/USD": {"tick_size": "0.01", "lot_step": "1"}}')  # fmt: skip

    proc = run_cli("backtest", "--data", f"GOOG/USD={data}", "--data", f"AAPL/USD={other}", "--symbol", "GOOG/USD",
                   "--symbol", "AAPL/USD", "--markets", str(markets), "--fraction", "0.5", "--json", *PARAMS,
                   cwd=tmp_path)  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)["instruments"]) == {"GOOG/USD", "AAPL/USD"}


def test_a_custom_swap_on_the_command_line_goes_short(tmp_path: Path) -> None:
    """--symbol GOOG/USD:USD --maintenance-rate 0 --long-only false: a swap run (shorts on margin, funding 0),
    where before the swap's name ran as spot and every short was denied for want of GOOG."""
    data = _goog_like(tmp_path / "GOOG.csv")

    proc = run_cli("backtest", "--data", str(data), "--symbol", "GOOG/USD:USD", "--tick-size", "0.01",
                   "--lot-step", "1", "--maintenance-rate", "0", "--quantity", "1", "--long-only", "false",
                   "--json", *PARAMS, cwd=tmp_path)  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["run"]["symbol"] == "GOOG/USD:USD"
    assert document["metrics"]["funding"] == "0"
    assert "sell" in {t["side"] for t in document["trades"]}
    assert document["warnings"] == []
