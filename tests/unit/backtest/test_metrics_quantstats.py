"""The backtest's Sharpe, Sortino, volatility, CAGR and max drawdown agree with quantstats on real equity curves.

quantstats (a dev dependency, pinned) is the reference the README's formulas are checked against. Its
definitions match ours with ``periods=P`` (our periods per year) and ``rf=0``:

* ``sharpe``: ``mean / std(ddof=1) × √P``; ``volatility``: ``std(ddof=1) × √P``;
* ``sortino``: ``mean / √(Σ r² over r < 0 / N) × √P`` — the downside deviation divides by *all* N
  returns, not only the negative ones (ours does the same);
* ``cagr``: ``(1 + compounded return) ^ (P / N) - 1``, years = ``N / P`` (quantstats 0.0.86 counts
  periods, not calendar days; older releases used calendar days, hence the pin);
* ``max_drawdown``: ``min(equity / running max) - 1``, negative (ours is the same fall as a positive fraction).

Tolerance: relative 1e-9. Both sides compute in float64 from the same equity values (our ``float(Decimal)``
and pandas' parse of the same text); they differ only in summation order (``math.fsum`` against pandas'
pairwise sums), which moves the last few of the 16 significant digits, so 1e-9 is far above that noise and far
below any difference of definition (a ddof or an N - 1 against N shows at 1e-3 on these curves).
"""

from __future__ import annotations

import csv
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import quantstats as qs

from trading_bot.backtest.engine import BacktestResult
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import run_backtest
from trading_bot.backtest.market_specs import MarketSpec

DAILY = Path("/work/shared/data/coinbase_BTCUSD_1d.csv")
MINUTES = Path(__file__).parents[3] / "trading_bot/sample_data/binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
REL = 1e-9

needs_data = pytest.mark.skipif(not DAILY.is_file(), reason="shared data folder not available")


def _run(path: Path, symbol: str = "BTC/USD", periods_per_year: float | None = None) -> BacktestResult:
    params = {"fast": 10, "slow": 30, "fraction": "1"}
    # BTC/USD is not a bundled market: its rules are given, as the CLI's --tick-size/--lot-step would
    rules = MarketSpec(tick_size=Decimal("0.01"), lot_step=Decimal("0.00000001"))
    return run_backtest(BacktestSpec(strategy="sma_cross", params=params, data=(path,), symbol=symbol,
                                     periods_per_year=periods_per_year, market_spec=rules))  # fmt: skip


def _returns(result: BacktestResult) -> pd.Series:
    index = pd.to_datetime([p.ts_ms for p in result.equity], unit="ms")
    equity = pd.Series([float(p.equity) for p in result.equity], index=index)
    return equity.pct_change().dropna()


def _assert_agrees(result: BacktestResult, periods: float) -> None:
    returns = _returns(result)
    metrics = result.metrics
    assert metrics.periods_per_year == pytest.approx(periods, rel=1e-12)
    assert result.round_trips  # the curve moves: a strategy that traded
    assert metrics.sharpe == pytest.approx(qs.stats.sharpe(returns, periods=periods), rel=REL)
    assert metrics.sortino == pytest.approx(qs.stats.sortino(returns, periods=periods), rel=REL)
    assert metrics.volatility == pytest.approx(qs.stats.volatility(returns, periods=periods), rel=REL)
    assert metrics.cagr == pytest.approx(qs.stats.cagr(returns, periods=periods), rel=REL)
    equity = pd.Series([float(p.equity) for p in result.equity], index=returns.index.insert(0, pd.Timestamp(0)))
    assert metrics.max_drawdown_pct == pytest.approx(-qs.stats.max_drawdown(equity), rel=REL)


@needs_data
def test_daily_24_7_data_annualises_with_365_and_agrees_with_quantstats() -> None:
    """Rule: 24/7 daily bars → 365 periods a year; every ratio equals quantstats' with periods=365."""
    _assert_agrees(_run(DAILY), 365.0)


@needs_data
def test_weekday_only_daily_data_annualises_with_252_and_agrees_with_quantstats(tmp_path: Path) -> None:
    """Rule: daily bars with no weekends (real BTC/USD prices, the Saturday and Sunday bars removed) → 252."""
    path = tmp_path / "weekdays_BTCUSD_1d.csv"
    with DAILY.open(newline="") as src, path.open("w", newline="") as dst:
        rows = csv.reader(src)
        out = csv.writer(dst)
        out.writerow(next(rows))
        out.writerows(r for r in rows if datetime.fromtimestamp(int(r[0]) / 1000, tz=UTC).weekday() < 5)
    _assert_agrees(_run(path), 252.0)


def test_minute_bars_annualise_with_a_year_of_minutes_and_agree_with_quantstats() -> None:
    """Rule: 24/7 one-minute bars (bundled sample, < 1 week) → 525,600 periods; quantstats agrees with them."""
    _assert_agrees(_run(MINUTES, symbol="BTC/USDT"), 525_600.0)


@needs_data
def test_periods_per_year_given_overrides_the_calendar_everywhere() -> None:
    """Rule: --periods-per-year N (BacktestSpec.periods_per_year) replaces the calendar in every ratio and CAGR."""
    result = _run(DAILY, periods_per_year=252.0)
    _assert_agrees(result, 252.0)
    assert result.metrics.sharpe != _run(DAILY).metrics.sharpe
    assert Decimal(str(result.metrics.periods_per_year)) == 252
