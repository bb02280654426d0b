"""The deflated Sharpe ratio against the worked example of its paper."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from trading_bot.optimize.deflated import EULER_GAMMA
from trading_bot.optimize.deflated import deflated_sharpe_ratio
from trading_bot.optimize.deflated import expected_max_sharpe
from trading_bot.optimize.deflated import probabilistic_sharpe_ratio
from trading_bot.optimize.deflated import return_stats


def test_deflated_sharpe_matches_the_papers_numerical_example() -> None:
    """Rule: DSR = PSR(SR0), SR0 the expected maximum Sharpe of N unskilled trials.

    Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
    Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 94-107, section "A numerical
    example": N = 100 trials whose annualised Sharpe ratios have variance 1/2, the selected one an annualised SR
    of 2.5 over T = 1250 daily returns with skewness -3 and kurtosis 10. The paper finds SR0 ≈ 0.1132 (daily)
    and DSR ≈ 0.9004. Both are also computed here by hand from the formulas, not only compared to the paper.
    """
    days = 250
    sr = 2.5 / math.sqrt(days)  # 0.1581 per day
    variance = 0.5 / days
    phi_inv = NormalDist().inv_cdf
    sr0_by_hand = math.sqrt(variance) * ((1 - EULER_GAMMA) * phi_inv(1 - 1 / 100)
                                         + EULER_GAMMA * phi_inv(1 - 1 / (100 * math.e)))  # fmt: skip
    z = (sr - sr0_by_hand) * math.sqrt(1250 - 1) / math.sqrt(1 - (-3) * sr + (10 - 1) / 4 * sr**2)
    dsr_by_hand = NormalDist().cdf(z)

    assert expected_max_sharpe(variance, 100) == pytest.approx(sr0_by_hand, rel=1e-12)
    assert expected_max_sharpe(variance, 100) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(sr, variance, 100, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(dsr_by_hand, rel=1e-12)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_one_trial_is_not_deflated() -> None:
    """Rule: with one trial SR0 = 0, so DSR is the PSR against a zero Sharpe."""
    assert expected_max_sharpe(0.01, 1) == 0.0
    assert deflated_sharpe_ratio(0.1, 0.01, 1, 500, 0.0, 3.0) == probabilistic_sharpe_ratio(0.1, 0.0, 500, 0.0, 3.0)


def test_more_trials_deflate_more() -> None:
    """Rule: the same Sharpe ratio is worth less the more trials were tried."""
    values = [deflated_sharpe_ratio(0.05, 0.0004, n, 2000, 0.0, 3.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values, reverse=True)


def test_return_stats_of_a_curve_are_the_sample_moments() -> None:
    """Rule: per-point returns; Sharpe uses the sample stdev, skew and kurtosis the population moments."""
    equity = [100.0, 101.0, 100.0, 102.0, 101.0]
    stats = return_stats(equity)
    assert stats is not None
    returns = [0.01, 100 / 101 - 1, 0.02, 101 / 102 - 1]
    mean = sum(returns) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert stats.count == 4
    assert stats.sharpe == pytest.approx(mean / sd)
    assert return_stats([100.0, 100.0, 100.0, 100.0]) is None
