"""``runbot.py backtest`` run as a user runs it: JSON schema, report, determinism, parity, bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.integration.conftest import QUOTES
from tests.integration.conftest import TRADES
from tests.integration.conftest import run_cli
from trading_bot.config import load_config
from trading_bot.domain.fingerprint import trade_fingerprint
from trading_bot.runtime.builder import BotPlan
from trading_bot.runtime.builder import build_bot

DATA = Path("/work/shared/data")
DAILY = DATA / "bitstamp+coinbase_BTCUSD_1d.csv"
BARS_ARGS = ("backtest", "--strategy", "sma_cross", "--data", str(DAILY), "--from", "2019-01-01",
             "--to", "2020-12-31", "--fraction", "1", "--tick-size", "0.01", "--lot-step", "0.00000001")  # fmt: skip
TICK_PARAMS = ("--fast", "3", "--slow", "8", "--bar-seconds", "5", "--quantity", "0.01")

needs_data = pytest.mark.skipif(not DAILY.is_file(), reason="shared data folder not available")


@needs_data
def test_backtest_json_is_one_object_with_metrics_trades_and_fingerprint(workdir: Path) -> None:
    proc = run_cli(*BARS_ARGS, "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert set(doc) == {"metrics", "trades", "fingerprint", "run", "warnings"}
    assert len(doc["fingerprint"]) == 64
    assert doc["run"]["events"] == 731
    assert doc["metrics"]["trade_count"] == len(doc["trades"])
    assert doc["trades"]
    assert {"entry_ts", "exit_ts", "entry_price", "exit_price", "pnl"} <= set(doc["trades"][0])


@needs_data
def test_backtest_twice_gives_the_same_fingerprint(workdir: Path) -> None:
    first = json.loads(run_cli(*BARS_ARGS, "--json", cwd=workdir).stdout)
    second = json.loads(run_cli(*BARS_ARGS, "--json", cwd=workdir).stdout)
    assert first["fingerprint"] == second["fingerprint"]
    assert first["metrics"] == second["metrics"]


@needs_data
def test_backtest_report_writes_html_with_charts_and_trades(workdir: Path) -> None:
    proc = run_cli(*BARS_ARGS, "--report", str(workdir / "rep"), cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (workdir / "rep" / "report.html").read_text(encoding="utf-8")
    assert "equity-chart" in page
    assert "drawdown-chart" in page
    assert "Round trips" in page
    assert (workdir / "rep" / "trades.csv").read_text().count("\n") > 1
    assert "trade fingerprint:" in proc.stdout


def test_backtest_on_quotes_and_trades_matches_a_paper_replay_of_the_same_files(workdir: Path) -> None:
    proc = run_cli("backtest", "--strategy", "sma_cross", "--data", str(QUOTES), "--data", str(TRADES),
                   "--symbol", "BTC/USDT", *TICK_PARAMS, "--json", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    backtest = json.loads(proc.stdout)
    replay = run_cli("--strategy", "sma_cross", "--exchange", "binance", "--replay", str(QUOTES),
                     "--replay", str(TRADES), *TICK_PARAMS, "--json", cwd=workdir)  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-2000:]
    summary = json.loads(replay.stdout)
    assert backtest["run"]["fills"] == summary["fills"] > 0
    assert backtest["metrics"]["fees_paid"] == summary["fees"]
    # the replay's summary has no fingerprint: build the same paper replay in-process for its fills
    params = {"fast": 3, "slow": 8, "bar_seconds": 5, "quantity": "0.01"}
    config = load_config(None, overrides={"strategy": {"name": "sma_cross", "params": params}}, dotenv=None)
    bot = build_bot(config, BotPlan(paper=True, replay=(QUOTES, TRADES)))
    asyncio.run(bot.run())
    assert bot.portfolio is not None
    assert trade_fingerprint(bot.portfolio.fills) == backtest["fingerprint"]


def _bad(workdir: Path, *args: str) -> str:
    proc = run_cli("backtest", "--strategy", "sma_cross", *args, cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_missing_file_exits_2_with_one_line(workdir: Path) -> None:
    assert "not found" in _bad(workdir, "--data", str(workdir / "nope.csv"))


def test_wrong_columns_exit_2_with_one_line(workdir: Path) -> None:
    path = workdir / "x.csv"
    path.write_text("time,price\n1,2\n")
    assert "unknown columns" in _bad(workdir, "--data", str(path))


@pytest.mark.parametrize(("rows", "word"), [("120000,1,1,1,1\n60000,1,1,1,1\n", "unsorted"),
                                            ("60000,1,1,1,1\n60000,1,1,1,1\n", "duplicate")])  # fmt: skip
def test_unsorted_or_duplicate_bars_exit_2_with_one_line(workdir: Path, rows: str, word: str) -> None:
    path = workdir / "bars.csv"
    path.write_text("timestamp,open,high,low,close\n" + rows)
    assert word in _bad(workdir, "--data", str(path), "--symbol", "BTC/USDT")


def test_from_after_to_exits_2_with_one_line(workdir: Path) -> None:
    assert "--from is after --to" in _bad(workdir, "--data", str(QUOTES), "--from", "2024-08-09", "--to", "2024-08-08")


def test_unknown_strategy_parameter_exits_2_with_one_line(workdir: Path) -> None:
    assert "unknown parameter --fsat" in _bad(workdir, "--data", str(QUOTES), "--fsat", "3")
