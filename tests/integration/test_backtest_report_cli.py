"""``runbot.py backtest`` as a user runs it: ``--periods-per-year`` and the ``--report`` directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

DATA = Path("/work/shared/data")
DAILY = DATA / "coinbase_BTCUSD_1d.csv"
SAMPLES = Path(__file__).parents[2] / "trading_bot/sample_data"
BTCUSDT = SAMPLES / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
BTCUSDC = SAMPLES / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz"
SMA = ("backtest", "--strategy", "sma_cross", "--fast", "5", "--slow", "20", "--fraction", "1")

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
    base = json.loads(run_cli(*SMA, "--data", str(DAILY), "--json", cwd=workdir).stdout)["metrics"]
    given = json.loads(run_cli(*SMA, "--data", str(DAILY), "--periods-per-year", "252", "--json", cwd=workdir).stdout)
    assert base["periods_per_year"] == 365
    assert given["metrics"]["periods_per_year"] == 252
    assert given["metrics"]["sharpe"] == pytest.approx(base["sharpe"] * (252 / 365) ** 0.5, rel=1e-6)
