"""compute_metrics on hand-checked equity curves and fill lists."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from tests.unit.backtest.helpers import make_fill
from trading_bot.backtest.metrics import MS_PER_DAY
from trading_bot.backtest.metrics import MS_PER_YEAR
from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import Metrics
from trading_bot.backtest.metrics import compute_metrics
from trading_bot.backtest.metrics import drawdown_series
from trading_bot.backtest.metrics import infer_periods_per_year
from trading_bot.domain import Fill

Y = MS_PER_YEAR


def _curve(*values: str, step_ms: int = Y) -> list[EquityPoint]:
    return [EquityPoint(i * step_ms, Decimal(v)) for i, v in enumerate(values)]


def _metrics_100_110_99_121() -> Metrics:
    return compute_metrics([], _curve("100", "110", "99", "121"), starting_cash=Decimal(100), buy_and_hold_return=0.3)


def test_total_return_is_end_over_starting_cash_minus_one() -> None:
    metrics = _metrics_100_110_99_121()

    assert metrics.total_return == pytest.approx(0.21)
    assert metrics.net_profit == Decimal(21)
    assert metrics.start_equity == Decimal(100)
    assert metrics.end_equity == Decimal(121)
    assert metrics.buy_and_hold_return == 0.3


def test_max_drawdown_is_peak_to_trough_in_quote_and_fraction() -> None:
    metrics = _metrics_100_110_99_121()

    assert metrics.max_drawdown == Decimal(11)  # 110 -> 99
    assert metrics.max_drawdown_pct == pytest.approx(0.10)


def test_max_drawdown_duration_runs_from_peak_to_recovery() -> None:
    metrics = _metrics_100_110_99_121()

    assert metrics.max_drawdown_duration_ms == 2 * Y  # peak at Y, back above 110 at 3Y


def test_max_drawdown_duration_runs_to_last_point_when_never_recovered() -> None:
    metrics = compute_metrics(
        [], _curve("100", "120", "90", "100"), starting_cash=Decimal(100), buy_and_hold_return=None
    )

    assert metrics.max_drawdown_duration_ms == 2 * Y
    assert metrics.max_drawdown_pct == pytest.approx(0.25)


def test_cagr_compounds_over_n_periods_counted_in_years_of_periods_per_year() -> None:
    """Rule: CAGR = (end / start) ^ (P / N) - 1; here P = 1 a year and N = 3 returns."""
    metrics = _metrics_100_110_99_121()

    assert metrics.cagr == pytest.approx(1.21 ** (1 / 3) - 1)  # 3 years
    assert metrics.calmar == pytest.approx((1.21 ** (1 / 3) - 1) / 0.10)


def test_risk_ratios_use_per_point_returns_and_inferred_yearly_periods() -> None:
    # returns 0.1, -0.1, 2/9; mean 2/27; sample variance 19.29/729; downside sqrt(0.01/3)
    metrics = _metrics_100_110_99_121()

    assert metrics.periods_per_year == pytest.approx(1.0)
    assert metrics.volatility == pytest.approx(math.sqrt(19.29) / 27)
    assert metrics.sharpe == pytest.approx(2 / math.sqrt(19.29))
    assert metrics.sortino == pytest.approx((2 / 27) / math.sqrt(0.01 / 3))


def test_given_periods_per_year_scales_ratios_by_its_square_root() -> None:
    metrics = compute_metrics(
        [], _curve("100", "110", "99", "121"), starting_cash=Decimal(100), buy_and_hold_return=None, periods_per_year=4
    )

    assert metrics.periods_per_year == 4
    assert metrics.sharpe == pytest.approx(2 * 2 / math.sqrt(19.29))


def test_infer_periods_per_year_uses_median_spacing() -> None:
    hour = 3_600_000
    curve = [EquityPoint(0, Decimal(1)), EquityPoint(hour, Decimal(1)), EquityPoint(2 * hour, Decimal(1))]
    curve.append(EquityPoint(50 * hour, Decimal(1)))  # one gap in the data does not move the median

    assert infer_periods_per_year(curve) == pytest.approx(8760.0)


_MONDAY = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def _close_times(open_times: list[int], bar_ms: int) -> list[EquityPoint]:
    """Equity points as the engine makes them: one per bar, at the bar's close time (open + interval)."""
    return [EquityPoint(ts + bar_ms, Decimal(100)) for ts in open_times]


def test_24_7_daily_bars_give_365_periods_a_year() -> None:
    """Rule: bars on every day of the week (24/7) annualise with 365 days' worth of periods."""
    opens = [_MONDAY + d * MS_PER_DAY for d in range(60)]
    assert infer_periods_per_year(_close_times(opens, MS_PER_DAY)) == pytest.approx(365.0)


def test_weekday_only_daily_bars_give_252_periods_although_friday_closes_on_saturday() -> None:
    """Rule: weekday-only daily data → 252; a point belongs to the date its period ends in (Friday's bar is Friday)."""
    opens = [_MONDAY + d * MS_PER_DAY for d in range(70) if d % 7 < 5]
    assert infer_periods_per_year(_close_times(opens, MS_PER_DAY)) == pytest.approx(252.0)


def test_weekday_intraday_sessions_give_252_times_the_bars_of_a_session() -> None:
    """Rule: weekday-only hourly bars of a 7-bar session (14:00-21:00 UTC) → 252 × 7 periods a year."""
    hour = 3_600_000
    opens = [_MONDAY + d * MS_PER_DAY + h * hour for d in range(28) if d % 7 < 5 for h in range(14, 21)]
    assert infer_periods_per_year(_close_times(opens, hour)) == pytest.approx(252.0 * 7)


def test_24_7_hourly_bars_give_8760_periods_a_year() -> None:
    """Rule: 24/7 intraday data annualises with a 365-day year of its interval."""
    hour = 3_600_000
    opens = [_MONDAY + h * hour for h in range(24 * 30)]
    assert infer_periods_per_year(_close_times(opens, hour)) == pytest.approx(8760.0)


def test_less_than_a_week_of_weekday_data_is_taken_as_24_7() -> None:
    """Rule: a curve shorter than a week shows no weekend to miss, so its calendar is 24/7 (365 days)."""
    opens = [_MONDAY + d * MS_PER_DAY for d in range(5)]
    assert infer_periods_per_year(_close_times(opens, MS_PER_DAY)) == pytest.approx(365.0)


def test_weekly_bars_keep_calendar_weeks() -> None:
    """Rule: intervals above a day have no session to count: 365 / 7 periods a year for weekly bars."""
    opens = [_MONDAY + w * 7 * MS_PER_DAY for w in range(20)]
    assert infer_periods_per_year(_close_times(opens, 7 * MS_PER_DAY)) == pytest.approx(365 / 7)


def test_zero_volatility_gives_none_ratios_not_inf() -> None:
    metrics = compute_metrics([], _curve("100", "100", "100"), starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.volatility == 0.0
    assert metrics.sharpe is None
    assert metrics.sortino is None
    assert metrics.calmar is None  # no drawdown
    assert metrics.max_drawdown == 0
    assert metrics.max_drawdown_duration_ms == 0


def test_steady_growth_has_no_sharpe_or_sortino() -> None:
    metrics = compute_metrics([], _curve("100", "110", "121"), starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.sharpe is None  # every return is exactly 0.1
    assert metrics.sortino is None  # no return below zero


def test_single_equity_point_leaves_time_based_statistics_none() -> None:
    metrics = compute_metrics([], _curve("100"), starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.total_return == 0.0
    assert metrics.cagr is None
    assert metrics.volatility is None
    assert metrics.sharpe is None
    assert metrics.periods_per_year is None
    assert metrics.exposure is None
    assert metrics.max_drawdown_duration_ms == 0


def test_empty_equity_uses_starting_cash_as_end_equity() -> None:
    metrics = compute_metrics([], [], starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.end_equity == Decimal(100)
    assert metrics.start_ts_ms is None
    assert metrics.max_drawdown == 0


def test_no_trades_gives_none_trade_statistics() -> None:
    metrics = _metrics_100_110_99_121()

    assert metrics.trade_count == 0
    assert metrics.fill_count == 0
    assert metrics.win_rate is None
    assert metrics.profit_factor is None
    assert metrics.expectancy is None
    assert metrics.fees_paid == 0
    assert metrics.exposure == 0.0


def _two_trades() -> list[Fill]:
    return [
        make_fill("buy", "1", "100", ts_ms=1_000, fee="0.1"),
        make_fill("sell", "1", "110", ts_ms=2_000, fee="0.11"),  # +10 - 0.21 = 9.79
        make_fill("buy", "1", "100", ts_ms=3_000, fee="0.1"),
        make_fill("sell", "1", "95", ts_ms=4_000, fee="0.095"),  # -5 - 0.195 = -5.195
    ]


def test_two_trades_one_win_one_loss_give_half_win_rate_profit_factor_and_expectancy() -> None:
    equity = [EquityPoint(0, Decimal(100)), EquityPoint(5_000, Decimal("104.595"))]

    metrics = compute_metrics(_two_trades(), equity, starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.trade_count == 2
    assert metrics.fill_count == 4
    assert metrics.win_rate == 0.5
    assert metrics.profit_factor == pytest.approx(9.79 / 5.195)
    assert metrics.expectancy == Decimal("2.2975")  # (9.79 - 5.195) / 2
    assert metrics.fees_paid == Decimal("0.405")  # 0.1 + 0.11 + 0.1 + 0.095


def test_profit_factor_is_none_without_a_losing_trade() -> None:
    fills = _two_trades()[:2]

    metrics = compute_metrics(fills, [], starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.win_rate == 1.0
    assert metrics.profit_factor is None


def test_exposure_is_time_weighted_fraction_with_an_open_position() -> None:
    fills = [make_fill("buy", "1", "100", ts_ms=2_000), make_fill("sell", "1", "100", ts_ms=7_000)]
    equity = [EquityPoint(t, Decimal(100)) for t in (0, 5_000, 10_000)]

    metrics = compute_metrics(fills, equity, starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.exposure == pytest.approx(0.5)  # 5 s of 10 s


def test_exposure_counts_a_position_still_open_at_the_end() -> None:
    fills = [make_fill("sell", "1", "100", ts_ms=6_000)]
    equity = [EquityPoint(t, Decimal(100)) for t in (0, 10_000)]

    metrics = compute_metrics(fills, equity, starting_cash=Decimal(100), buy_and_hold_return=None)

    assert metrics.exposure == pytest.approx(0.4)
    assert metrics.trade_count == 0


def test_drawdown_series_gives_absolute_and_relative_fall_per_point() -> None:
    series = drawdown_series(_curve("100", "110", "99", "121"))

    assert [d[0] for d in series] == [Decimal(0), Decimal(0), Decimal(11), Decimal(0)]
    assert [d[1] for d in series] == pytest.approx([0.0, 0.0, 0.1, 0.0])


def test_to_dict_is_json_safe_with_decimals_as_strings_and_none_kept() -> None:
    metrics = compute_metrics(_two_trades(), [], starting_cash=Decimal("100.00"), buy_and_hold_return=None)

    data = metrics.to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["start_equity"] == "100"
    assert data["expectancy"] == "2.2975"
    assert data["sharpe"] is None
    assert data["profit_factor"] == pytest.approx(1.8845043)
    assert data["trade_count"] == 2


def test_to_dict_rounds_floats_to_eight_significant_digits() -> None:
    metrics = _metrics_100_110_99_121()

    assert metrics.to_dict()["sharpe"] == 0.45536944  # 2 / sqrt(19.29) = 0.4553694402...
