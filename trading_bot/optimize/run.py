"""One ``optimize`` run: the folds (whole data, held-out tail or walk-forward), a study per fold, the OOS check.

For each fold the study runs ``trials`` trials on the in-sample window (``trading_bot.optimize.study``), then the
best ``top`` in-sample trials are rerun on the out-of-sample window in the same worker pool. The winning trial
is the best in-sample trial of the last fold (the most recent window: what one would trade next).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import optuna

from exchanges.recorded import data_kind
from exchanges.recorded import load_bars
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.metrics import Metrics
from trading_bot.errors import ConfigError
from trading_bot.optimize.folds import Fold
from trading_bot.optimize.folds import holdout
from trading_bot.optimize.folds import walk_forward
from trading_bot.optimize.results import FoldResult
from trading_bot.optimize.results import deflated_sharpe_of
from trading_bot.optimize.results import ranked_trials
from trading_bot.optimize.space import SearchSpace
from trading_bot.optimize.study import make_sampler
from trading_bot.optimize.study import open_study
from trading_bot.optimize.study import run_trials
from trading_bot.optimize.study import worker_pool
from trading_bot.optimize.worker import LOWER_IS_BETTER
from trading_bot.optimize.worker import OBJECTIVE_ALIASES
from trading_bot.optimize.worker import TrialTask
from trading_bot.optimize.worker import bar_times
from trading_bot.optimize.worker import init_worker
from trading_bot.optimize.worker import run_trial

__all__ = ["OptimizeResult", "OptimizeSpec", "check_objective", "optimise"]

_NOT_OBJECTIVES = frozenset({"start_ts_ms", "end_ts_ms", "periods_per_year", "start_equity"})


def check_objective(name: str) -> str:
    """Return the study direction (``maximize``/``minimize``) of objective ``name``.

    Raises:
        ConfigError: not a metric.
    """
    metric = OBJECTIVE_ALIASES.get(name, name)
    known = [f.name for f in dataclasses.fields(Metrics) if f.name not in _NOT_OBJECTIVES]
    if metric not in known:
        raise ConfigError(f"--objective: unknown objective {name!r}; give return or one of: {', '.join(known)}")
    return "minimize" if metric in LOWER_IS_BETTER else "maximize"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimizeSpec:
    """What to optimise (the flags of ``runbot.py optimize``)."""

    base: BacktestSpec
    space: SearchSpace
    objective: str = "sharpe"
    min_trades: int = 1
    trials: int = 100
    timeout_s: float | None = None
    jobs: int = 1
    sampler: str = "tpe"
    seed: int | None = None
    storage: str | None = None
    study: str = "optimize"
    walk_forward: int | None = None
    oos: float | None = None
    top: int = 10


@dataclass(slots=True, kw_only=True)
class OptimizeResult:
    """The folds' results, the winning trial, and where the time went (seconds)."""

    spec: OptimizeSpec
    direction: str
    folds: list[FoldResult]
    interrupted: bool
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def maximise(self) -> bool:
        """Whether a higher objective is better."""
        return self.direction == "maximize"

    @property
    def winner(self) -> optuna.trial.FrozenTrial | None:
        """The best in-sample trial of the last fold that has one."""
        for fold in reversed(self.folds):
            if fold.best is not None:
                return fold.best
        return None

    @property
    def winner_fold(self) -> FoldResult | None:
        """The fold of ``winner``."""
        for fold in reversed(self.folds):
            if fold.best is not None:
                return fold
        return None


def _folds(spec: OptimizeSpec) -> tuple[list[Fold], float]:
    started = time.perf_counter()
    base = spec.base
    bars = tuple(p for p in base.data if data_kind(p) == "bars")
    if spec.walk_forward is None and spec.oos is None:
        return [Fold(1, _unbounded(), None)], 0.0  # every bar: no window to cut, nothing to read here
    if not bars or len(bars) != len(base.data) or base.symbols:
        raise ConfigError("--walk-forward/--oos: need one symbol's bar data")
    ts = bar_times(load_bars(bars, base.start_ms, base.end_ms))
    seconds = time.perf_counter() - started
    if spec.walk_forward is not None:
        return walk_forward(ts, spec.walk_forward), seconds
    assert spec.oos is not None
    return [holdout(ts, spec.oos)], seconds


def _unbounded() -> Any:
    from trading_bot.optimize.folds import Window

    return Window(-1, -1, 0)


def _bounds(window: Any) -> tuple[int | None, int | None]:
    return (None, None) if window.bars == 0 else (window.start_ms, window.end_ms)


def _study_name(spec: OptimizeSpec, fold: Fold, count: int) -> str:
    if spec.walk_forward is not None:
        return f"{spec.study}:fold{fold.number}of{count}"
    return f"{spec.study}:in-sample" if spec.oos is not None else spec.study


def optimise(spec: OptimizeSpec, on_told: Callable[[str, optuna.Study], None] | None = None,
             on_fold: Callable[[Fold, int], None] | None = None) -> OptimizeResult:  # fmt: skip
    """Run every fold's study and its out-of-sample check (see the module docstring).

    Raises:
        ConfigError: an unknown objective or sampler, an unreachable storage, a study made with other settings.
    """
    direction = check_objective(spec.objective)
    folds, load_seconds = _folds(spec)
    results: list[FoldResult] = []
    timing = {"data_load_parent": load_seconds, "optuna": 0.0, "prepare": 0.0, "engine": 0.0, "metrics": 0.0}
    interrupted = False
    loads: dict[float, float] = {}
    executed = told = 0
    started = time.perf_counter()
    with worker_pool(spec.jobs, init_worker, (spec.base,)) as pool:
        for fold in folds:
            if on_fold is not None:
                on_fold(fold, len(folds))
            name = _study_name(spec, fold, len(folds))
            start, end = _bounds(fold.in_sample)
            identity = _identity(spec, start, end)
            sampler = make_sampler(spec.sampler, spec.space, spec.seed)
            study = open_study(url=spec.storage, name=name, direction=direction, sampler=sampler, identity=identity)

            def task(number: int, params: dict[str, Any], start: int | None = start, end: int | None = end) -> Any:
                return TrialTask(number=number, params=params, start_ms=start, end_ms=end, objective=spec.objective,
                                 min_trades=spec.min_trades)  # fmt: skip

            stats = run_trials(study, pool=pool, space=spec.space, make_task=task, trials=spec.trials,
                               jobs=spec.jobs, timeout_s=spec.timeout_s,
                               on_told=on_told or (lambda state, s: None))  # fmt: skip
            timing["optuna"] += stats.optuna_seconds
            executed += len(stats.outcomes)
            told += sum(stats.told.values())
            for outcome in stats.outcomes:
                for key in ("prepare", "engine", "metrics"):
                    timing[key] += outcome.seconds.get(key, 0.0)
                loads[outcome.seconds.get("pid", 0.0)] = outcome.seconds.get("worker_load", 0.0)
            ranked, rejected = ranked_trials(study)
            tried = len({_point(t) for t in ranked}
                        | {_point(t) for t in rejected if "constraint" not in str(t.user_attrs.get("rejected"))})
            result = FoldResult(fold=fold, study_name=name, ranked=ranked, rejected=rejected, trials_tried=tried,
                                deflated_sharpe=deflated_sharpe_of(ranked, tried))  # fmt: skip
            if fold.out_of_sample is not None and ranked and not stats.interrupted:
                oos_start, oos_end = _bounds(fold.out_of_sample)
                top = ranked[: spec.top]
                tasks = [TrialTask(number=t.number, params=t.user_attrs["strategy_params"], start_ms=oos_start,
                                   end_ms=oos_end, objective=spec.objective, min_trades=0) for t in top]  # fmt: skip
                result.oos = {o.number: o for o in pool.map(_run, tasks)}
            results.append(result)
            if stats.interrupted:
                interrupted = True
                break
    timing["data_load_workers"] = sum(loads.values())
    timing["trials"] = float(told)  # trials told to the study (repeated points included)
    timing["backtests"] = float(executed)  # backtests run (a repeated point is not run again)
    timing["wall"] = time.perf_counter() - started
    return OptimizeResult(spec=spec, direction=direction, folds=results, interrupted=interrupted, timing=timing)


def _point(trial: optuna.trial.FrozenTrial) -> str:
    """The trial's parameters as one text: repeated points count once among the trials tried."""
    return json.dumps(trial.user_attrs.get("strategy_params", trial.params), sort_keys=True, default=str)


def _run(task: TrialTask) -> Any:
    return run_trial(task)


def _identity(spec: OptimizeSpec, start: int | None, end: int | None) -> dict[str, Any]:
    base = spec.base
    return {
        "strategy": base.strategy,
        "objective": spec.objective,
        "min_trades": spec.min_trades,
        "data": [p.name for p in base.data],
        "symbol": base.symbol,
        "window": [start, end],
        "space": {r.name: r.text() for r in spec.space.ranges},
        "fixed": {k: str(v) for k, v in spec.space.fixed.items()},
        "costs": [str(base.cash), str(base.fee), str(base.slippage_bps)],
    }
