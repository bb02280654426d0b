"""The deflated Sharpe ratio (Bailey & López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection
Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014).

The best of N trials has a high Sharpe ratio partly by luck. The DSR is the probability that the true Sharpe
ratio of the selected trial is above the Sharpe ratio the best of N *unskilled* trials would reach by chance:

* ``SR0 = sqrt(V) × ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))`` (γ = Euler–Mascheroni, V the variance of the
  trials' Sharpe ratios), the expected maximum Sharpe ratio of N trials under the null;
* ``DSR = PSR(SR0) = Φ((SR − SR0) sqrt(T − 1) / sqrt(1 − γ₃ SR + (γ₄ − 1)/4 SR²))`` with T returns of
  skewness γ₃ and (non-excess) kurtosis γ₄.

Every Sharpe ratio here is **per period** (not annualised): the mean over the sample standard deviation of the
equity curve's per-point returns. A DSR above 0.95 is the paper's bar for a finding that survives the number of
trials; below 0.5 the best trial is no better than the luckiest of N coin-flip strategies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["ReturnStats", "deflated_sharpe_ratio", "expected_max_sharpe", "probabilistic_sharpe_ratio", "return_stats"]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class ReturnStats:
    """Moments of per-period returns: ``count`` returns, per-period Sharpe, skewness, kurtosis (normal = 3)."""

    count: int
    sharpe: float
    skew: float
    kurtosis: float


def return_stats(equity: Sequence[float]) -> ReturnStats | None:
    """Return the moments of an equity curve's per-point returns (``None``: fewer than 3 or no variance)."""
    returns = [b / a - 1.0 for a, b in itertools.pairwise(equity) if a > 0]
    n = len(returns)
    if n < 3:
        return None
    mean = math.fsum(returns) / n
    deviations = [r - mean for r in returns]
    m2 = math.fsum(d * d for d in deviations) / n
    if m2 <= 1e-300:
        return None
    m3 = math.fsum(d**3 for d in deviations) / n
    m4 = math.fsum(d**4 for d in deviations) / n
    sample_std = math.sqrt(m2 * n / (n - 1))
    return ReturnStats(count=n, sharpe=mean / sample_std, skew=m3 / m2**1.5, kurtosis=m4 / m2**2)


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, count: int, skew: float, kurtosis: float) -> float:
    """Return PSR: the probability that the true per-period Sharpe exceeds ``benchmark`` given ``count`` returns."""
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance <= 0 or count < 2:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(count - 1) / math.sqrt(variance))


def expected_max_sharpe(sharpe_variance: float, trials: int) -> float:
    """Return SR0, the expected maximum per-period Sharpe of ``trials`` unskilled trials (0 for one trial)."""
    if trials < 2 or sharpe_variance <= 0:
        return 0.0
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe_ratio(
    sharpe: float, sharpe_variance: float, trials: int, count: int, skew: float, kurtosis: float
) -> float:
    """Return DSR = PSR(SR0) for the selected trial's per-period ``sharpe`` (see the module docstring)."""
    return probabilistic_sharpe_ratio(sharpe, expected_max_sharpe(sharpe_variance, trials), count, skew, kurtosis)
