"""``runbot.py backtest`` as a user runs it: ``--periods-per-year`` and the ``--report`` directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

DATA = Path("/work/shared/data")
DAILY = DATA / "coinbase_BTCUSD_1d.csv"
SAMPLES = Path(__file__).parents[2] / "trading_bot/sample_data"
BTCUSDT = SAMPLES / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
BTCUSDC = SAMPLES / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
SMA = ("backtest", "--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--fraction", "1")
USD_RULES = ("--tick-size", "0.01", "--lot-step", "0.00000001")  # BTC/USD is not a bundled market

needs_data = pytest.mark.skipif(not DAILY.is_file(), reason="shared data folder not available")


@pytest.mark.parametrize("value", ["0", "-252", "nan", "inf", "abc", ""])
def test_bad_periods_per_year_exits_2_with_one_line_naming_the_flag(workdir: Path, value: str) -> None:
    """Rule: --periods-per-year must be a finite number > 0; anything else is exit 2, one line, no traceback."""
    proc = run_cli(*SMA, "--data", str(BTCUSDT), "--periods-per-year", value, cwd=workdir)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: --periods-per-year:")
    assert "Traceback" not in proc.stderr


@needs_data
def test_periods_per_year_overrides_the_calendar_in_the_json_metrics(workdir: Path) -> None:
    """Rule: daily 24/7 data annualises with 365 unless --periods-per-year says otherwise."""
    base = json.loads(run_cli(*SMA, *USD_RULES, "--data", str(DAILY), "--json", cwd=workdir).stdout)["metrics"]
    given = json.loads(
        run_cli(*SMA, *USD_RULES, "--data", str(DAILY), "--periods-per-year", "252", "--json", cwd=workdir).stdout
    )
    assert base["periods_per_year"] == 365
    assert given["metrics"]["periods_per_year"] == 252
    assert given["metrics"]["sharpe"] == pytest.approx(base["sharpe"] * (252 / 365) ** 0.5, rel=1e-6)


def _fills_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_report_on_bundled_bars_is_self_contained_with_candles_fills_and_csvs(workdir: Path) -> None:
    """Rule: --report DIR writes an offline HTML (plotly.js inline) with candles, fill markers, the fills
    table and warnings section, plus trades.csv, fills.csv (every fill) and equity.csv by bar open time."""
    out = workdir / "rep"
    proc = run_cli(*SMA, "--data", str(BTCUSDT), "--symbol", "BTC/USDT", "--report", str(out), "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert "Plotly.newPlot" in page
    assert '"type":"candlestick"' in page
    assert "<h2>Warnings (0)</h2>" in page
    fills = _fills_rows(out / "fills.csv")
    assert len(fills) == doc["run"]["fills"] > 0
    assert all(f["fee_currency"] for f in fills)
    assert f"<td>{fills[0]['price']}</td>" in page  # the fills table
    equity = (out / "equity.csv").read_text(encoding="utf-8").splitlines()
    assert equity[0].startswith("bar_open_ts_ms,bar_open_time,")
    assert equity[1].split(",")[:2] == ["1678406400000", "2023-03-10T00:00:00.000+00:00"]  # first bar's open
    assert (out / "trades.csv").is_file()


def test_report_of_several_symbols_draws_candles_per_instrument(workdir: Path) -> None:
    """Rule: a --symbol A --symbol B backtest still writes a report, one candle chart per instrument."""
    out = workdir / "rep"
    proc = run_cli(*SMA, "--symbol", "BTC/USDT", "--symbol", "BTC/USDC", "--data", f"BTC/USDT={BTCUSDT}",
                   "--data", f"BTC/USDC={BTCUSDC}", "--report", str(out), cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('"type":"candlestick"') == 2
    assert 'id="price-chart-0"' in page
    assert 'id="price-chart-1"' in page
    assert {f["symbol"] for f in _fills_rows(out / "fills.csv")} <= {"BTC/USDT", "BTC/USDC"}
