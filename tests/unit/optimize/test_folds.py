"""Walk-forward folds and the held-out tail: no overlap, no look-ahead, every bar used once per role."""

from __future__ import annotations

import itertools

import pytest

from trading_bot.errors import ConfigError
from trading_bot.optimize.folds import holdout
from trading_bot.optimize.folds import walk_forward

TS = [1_000 + 60_000 * i for i in range(1_003)]


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_walk_forward_out_of_sample_starts_after_in_sample_and_windows_do_not_overlap(k: int) -> None:
    """Rule: fold i optimises window i-1 and tests window i; each OOS bar is after every IS bar of its fold."""
    folds = walk_forward(TS, k)
    assert [f.number for f in folds] == list(range(1, k + 1))
    for fold in folds:
        assert fold.out_of_sample is not None
        assert fold.in_sample.start_ms <= fold.in_sample.end_ms < fold.out_of_sample.start_ms  # no look-ahead
    for earlier, later in itertools.pairwise(folds):
        assert later.in_sample == earlier.out_of_sample  # rolling: the tested window is the next one optimised
    oos = [f.out_of_sample for f in folds]
    windows = [folds[0].in_sample, *oos]
    for a, b in itertools.pairwise(windows):
        assert a is not None
        assert b is not None
        assert a.end_ms < b.start_ms  # no overlap
    assert sum(w.bars for w in windows if w is not None) == len(TS)  # every bar in exactly one window
    assert windows[0].start_ms == TS[0]
    assert windows[-1] is not None
    assert windows[-1].end_ms == TS[-1]


def test_window_bounds_are_bar_times_so_a_backtest_can_rerun_them() -> None:
    """Rule: window ends are bar open times (``backtest --from MS --to MS`` keeps the same bars)."""
    for fold in walk_forward(TS, 3):
        assert fold.in_sample.start_ms in TS
        assert fold.in_sample.end_ms in TS
        count = sum(1 for t in TS if fold.in_sample.start_ms <= t <= fold.in_sample.end_ms)
        assert count == fold.in_sample.bars


def test_holdout_keeps_the_tail_out_of_sample() -> None:
    """Rule: ``--oos 0.3`` holds out the last 30 % of the bars, after the in-sample head."""
    fold = holdout(TS, 0.3)
    assert fold.out_of_sample is not None
    assert fold.out_of_sample.bars == round(len(TS) * 0.3)
    assert fold.in_sample.bars + fold.out_of_sample.bars == len(TS)
    assert fold.in_sample.end_ms < fold.out_of_sample.start_ms
    assert fold.out_of_sample.end_ms == TS[-1]


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.999])
def test_bad_holdouts_are_refused(fraction: float) -> None:
    """Rule: a fraction outside (0, 1), or a side with fewer than 10 bars, is a ConfigError."""
    with pytest.raises(ConfigError):
        holdout(TS, fraction)


@pytest.mark.parametrize("folds", [0, 500])
def test_bad_walk_forwards_are_refused(folds: int) -> None:
    """Rule: no fold, or windows of fewer than 10 bars, is a ConfigError."""
    with pytest.raises(ConfigError):
        walk_forward(TS, folds)
