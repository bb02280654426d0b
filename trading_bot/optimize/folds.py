"""In-sample and out-of-sample windows: a held-out tail, or walk-forward folds.

Windows are cut on bar (event) open times, epoch ms UTC, both ends included, exactly as ``backtest --from
MS --to MS`` keeps bars, so a window's backtest can be rerun from the command line.

* ``holdout(ts, 0.3)``: in-sample is the first 70 % of the bars, out-of-sample the last 30 %.
* ``walk_forward(ts, k)``: the bars are cut into ``k + 1`` windows of equal bar count; fold ``i`` (1..k)
  optimises on window ``i - 1`` and evaluates on window ``i`` (rolling, not anchored). Every out-of-sample
  window starts after its in-sample window ends: nothing of the future is seen while optimising.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trading_bot.errors import ConfigError

__all__ = ["Fold", "Window", "holdout", "walk_forward", "whole"]

_MIN_BARS = 10


@dataclass(frozen=True, slots=True)
class Window:
    """Bars with open time in ``[start_ms, end_ms]``, epoch ms UTC; ``bars`` of them."""

    start_ms: int
    end_ms: int
    bars: int


@dataclass(frozen=True, slots=True)
class Fold:
    """One optimisation: trials run on ``in_sample``; the best are evaluated on ``out_of_sample`` (if any)."""

    number: int
    in_sample: Window
    out_of_sample: Window | None


def _window(ts: Sequence[int], first: int, stop: int) -> Window:
    return Window(ts[first], ts[stop - 1], stop - first)


def holdout(ts: Sequence[int], fraction: float) -> Fold:
    """Return one fold: the head in-sample, the last ``fraction`` of the bars out-of-sample.

    Raises:
        ConfigError: ``fraction`` outside (0, 1), or a side with fewer than 10 bars.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"--oos: a fraction of the data in (0, 1), e.g. 0.3; got {fraction}")
    cut = len(ts) - round(len(ts) * fraction)
    if cut < _MIN_BARS or len(ts) - cut < _MIN_BARS:
        raise ConfigError(f"--oos {fraction}: {len(ts)} bars leave fewer than {_MIN_BARS} on one side")
    return Fold(1, _window(ts, 0, cut), _window(ts, cut, len(ts)))


def walk_forward(ts: Sequence[int], folds: int) -> list[Fold]:
    """Return ``folds`` rolling folds over ``folds + 1`` equal windows (see the module docstring).

    Raises:
        ConfigError: fewer than 1 fold, or windows of fewer than 10 bars.
    """
    if folds < 1:
        raise ConfigError(f"--walk-forward: at least 1 fold, got {folds}")
    parts = folds + 1
    if len(ts) // parts < _MIN_BARS:
        raise ConfigError(f"--walk-forward {folds}: {len(ts)} bars make windows of fewer than {_MIN_BARS} bars")
    edges = [round(i * len(ts) / parts) for i in range(parts + 1)]
    windows = [_window(ts, edges[i], edges[i + 1]) for i in range(parts)]
    return [Fold(i, windows[i - 1], windows[i]) for i in range(1, parts)]


def whole(ts: Sequence[int]) -> Fold:
    """Return one fold over every bar, without an out-of-sample window."""
    return Fold(1, _window(ts, 0, len(ts)), None)
