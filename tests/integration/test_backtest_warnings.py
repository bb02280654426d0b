"""``runbot.py backtest`` says what went wrong: denied orders, simulator rejections, no fill, grid on bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import run_cli

SAMPLES = Path(__file__).resolve().parents[2] / "trading_bot" / "sample_data"
BARS = SAMPLES / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
QUOTES = SAMPLES / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
TRADES = SAMPLES / "binance_BTCUSDT_trades_2024-08-08.csv.gz"
SHORTS = ("backtest", "--strategy", "sma_cross", "--data", str(BARS), "--fast", "5", "--slow", "20",
          "--quantity", "0.01", "--long-only", "false", "--to", "2023-03-10")  # fmt: skip
# 0.161 BTC at the file's asks (61,556-61,861 USDT) plus fee fits 10,000 USDT, so risk approves; with 100 bps of
# slippage the simulator's market buy needs more than 10,000 and refuses every one
UNPAYABLE_STRATEGY = ("--strategy", "sma_cross", "--fast", "3", "--slow", "8", "--bar-seconds", "5",
                      "--quantity", "0.161")  # fmt: skip
ALL_IN_STRATEGY = ("--strategy", "sma_cross", "--fast", "3", "--slow", "8", "--bar-seconds", "5", "--fraction", "1")
UNPAYABLE = ("backtest", "--data", str(QUOTES), "--data", str(TRADES), *UNPAYABLE_STRATEGY,
             "--slippage-bps", "100")  # fmt: skip
SILENT = ("backtest", "--strategy", "sma_cross", "--data", str(BARS), "--fast", "1000", "--slow", "2000",
          "--quantity", "0.01", "--to", "2023-03-10")  # fmt: skip


def _json(workdir: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(*args, "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _block(stdout: str) -> list[str]:
    """The lines of the ``warnings:`` block (between it and the next blank line)."""
    lines = stdout.splitlines()
    start = lines.index("warnings:") + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return [line.strip() for line in lines[start:end]]


def test_shorts_on_spot_print_a_denied_warning_and_exit_0(workdir: Path) -> None:
    """Rule: orders the risk manager denied are reported (rule, count, first reason); a warning is not an error."""
    proc = run_cli(*SHORTS, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    block = _block(proc.stdout)
    assert proc.stdout.index("Round trips") < proc.stdout.index("warnings:")  # after the metrics table
    denied = [line for line in block if "denied (balance)" in line]
    assert len(denied) == 1
    assert "needs more than the free" in denied[0]
    assert "order_denied" in proc.stderr  # each denial is logged too (the supervisor, at warning)


def test_shorts_on_spot_json_carries_the_denied_warning(workdir: Path) -> None:
    """Rule: --json carries ``warnings``: kind, rule, count, first_reason and the one-line message."""
    doc = _json(workdir, *SHORTS)
    (warning,) = [w for w in doc["warnings"] if w["kind"] == "denied"]
    assert warning["rule"] == "balance"
    assert warning["count"] >= 1
    assert "needs more than the free" in warning["first_reason"]
    assert warning["message"].startswith(f"{warning['count']} order")
    assert set(warning) == {"kind", "rule", "count", "first_reason", "message"}


def test_simulator_rejections_are_warned_counted_and_logged_with_the_reason(workdir: Path) -> None:
    """Rule: simulator refusals (insufficient funds) appear in the block and --json, and are logged at warning."""
    proc = run_cli(*UNPAYABLE, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    block = _block(proc.stdout)
    assert any("rejected (refused)" in line and "needs" in line and "free 10000 USDT" in line for line in block)
    logged = [json.loads(line) for line in proc.stderr.splitlines() if '"order_rejected"' in line]
    assert logged
    assert all(e["level"] == "warning" and "needs" in e["reason"] for e in logged)
    doc = _json(workdir, *UNPAYABLE)
    kinds = {(w["kind"], w["rule"]): w for w in doc["warnings"]}
    assert doc["run"]["fills"] == 0
    assert kinds["no_fill", ""]["count"] == kinds["rejected", "refused"]["count"]  # every submitted one refused


def test_a_run_with_no_order_warns_no_fill(workdir: Path) -> None:
    """Rule: a run that ends without a single fill says so (and why: no order was placed)."""
    proc = run_cli(*SILENT, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _block(proc.stdout) == ["no fill: the strategy placed no order"]
    doc = _json(workdir, *SILENT)
    reason = "the strategy placed no order"
    assert doc["warnings"] == [{"kind": "no_fill", "rule": "", "count": 0, "first_reason": reason,
                                "message": f"no fill: {reason}"}]  # fmt: skip


def test_a_clean_run_has_no_warnings(workdir: Path) -> None:
    """Rule: no block and an empty list when nothing went wrong."""
    args = ("backtest", "--strategy", "sma_cross", "--data", str(BARS), "--fast", "5", "--slow", "20",
            "--quantity", "0.01", "--to", "2023-03-10")  # fmt: skip
    proc = run_cli(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warnings:" not in proc.stdout
    assert _json(workdir, *args)["warnings"] == []


def test_grid_on_bars_is_refused_with_one_line(workdir: Path) -> None:
    """Rule: a strategy that needs a bid/ask spread (the grid) on bar data exits 2 naming the data it needs."""
    proc = run_cli("backtest", "--strategy", "grid", "--data", str(BARS), "--quantity", "0.001",
                   "--take-profit", "0.5", cwd=workdir)  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "--strategy grid" in lines[0]
    assert "quotes or trades" in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_paper_replay_summary_carries_the_same_warnings(workdir: Path) -> None:
    """Rule: ``runbot.py --replay`` ends with the backtest's warnings (text block and JSON ``warnings``), exit 0.

    A replay keeps the live risk defaults, so the all-in orders break the 1,000 USDT order-notional cap.
    """
    args = ("--replay", str(QUOTES), "--replay", str(TRADES), *ALL_IN_STRATEGY)
    proc = run_cli(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    block = _block(proc.stdout)
    assert any(line.endswith("denied (max_order_notional); first: order notional 9,989.42 USDT exceeds the limit "
                             "1,000.00") for line in block)  # fmt: skip
    summary = _json(workdir, *args)
    rules = {(w["kind"], w["rule"]) for w in summary["warnings"]}
    assert rules == {("denied", "max_order_notional"), ("no_fill", "")}
    assert summary["fills"] == 0


def test_a_several_symbol_backtest_carries_the_warnings_of_every_market(workdir: Path) -> None:
    """Rule: a several-symbol run has one warnings list for the run, shorts on spot denied as in one market."""
    usdc = SAMPLES / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
    args = ("backtest", "--strategy", "sma_cross", "--data", str(BARS), "--data", str(usdc), "--symbol", "BTC/USDT",
            "--symbol", "BTC/USDC", "--fast", "5", "--slow", "20", "--quantity", "0.01", "--long-only", "false",
            "--to", "2023-03-10")  # fmt: skip
    doc = _json(workdir, *args)
    (denied,) = [w for w in doc["warnings"] if w["kind"] == "denied"]
    assert denied["rule"] == "balance"
    assert "needs more than the free" in denied["first_reason"]
    assert denied["count"] >= 1


def test_the_report_shows_the_same_warnings(workdir: Path) -> None:
    """Rule: the warnings appear in the HTML report too, the same one-line messages as the terminal block."""
    out = workdir / "rep"
    proc = run_cli(*SHORTS, "--report", str(out), cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (out / "report.html").read_text(encoding="utf-8")
    denied = [line for line in _block(proc.stdout) if "denied (balance)" in line]
    assert denied
    first_words = denied[0].split(":")[0]
    assert first_words in html
