"""A trial: one real backtest (``trading_bot.backtest.engine``) in a worker process, data read once per process.

``init_worker(base)`` runs once in each worker process: it reads the bar files of ``base`` in full and keeps
them; every trial's window is then a slice of those bars (``BarColumns`` views share the columns), handed to
``prepare_backtest`` through its ``load`` argument. Quote and trade files stream from disk in every trial (the
replay feed reads them as it goes). ``run_trial`` is a pure function of the task and the base spec: the same
parameters and window give the same metrics and the same trade fingerprint as ``runbot.py backtest``.

Workers ignore SIGINT: Ctrl-C is the parent's to handle (it stops asking for trials and waits for these).
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import itertools
import os
import signal
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchanges.recorded import BarSeries
from exchanges.recorded import data_kind
from exchanges.recorded import load_bars
from trading_bot.backtest.engine import BacktestResult
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.optimize.deflated import return_stats

__all__ = ["TrialOutcome", "TrialTask", "bar_times", "init_worker", "objective_value", "run_trial"]

LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_pct", "max_drawdown_duration_ms", "volatility",
                             "fees_paid", "liquidations"})  # fmt: skip
"""Metrics an optimiser minimises; every other metric is maximised."""

OBJECTIVE_ALIASES = {"return": "total_return"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialTask:
    """What one trial runs: the strategy parameters on bars with open time in ``[start_ms, end_ms]``."""

    number: int
    params: Mapping[str, Any]
    start_ms: int | None
    end_ms: int | None
    objective: str
    min_trades: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialOutcome:
    """A finished trial.

    Attributes:
        number: the task's number.
        value: the objective (``None`` when rejected).
        rejected: why the trial is not ranked (too few round trips, an undefined objective, bad parameters).
        metrics: ``Metrics.to_dict()``.
        fingerprint: the trade fingerprint.
        trades: round trips.
        stats: per-period return moments for the deflated Sharpe ratio (``ReturnStats`` fields), or ``None``.
        seconds: where the time went: ``prepare`` (build, data slice), ``engine`` (the bot run), ``metrics``;
            ``worker_load`` is the process's one data read (``init_worker``), ``pid`` the process.
    """

    number: int
    value: float | None
    rejected: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    trades: int = 0
    stats: dict[str, float] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _State:
    base: BacktestSpec | None = None
    bars: BarSeries | None = None
    load_seconds: float = 0.0


_STATE = _State()


def _is_bars(spec: BacktestSpec) -> bool:
    return all(data_kind(p) in ("bars", "funding") for p in spec.data) and any(
        data_kind(p) == "bars" for p in spec.data
    )


def init_worker(base: BacktestSpec, ignore_sigint: bool = True) -> float:
    """Read ``base``'s bar files once for this process; return the seconds it took (0 for quotes/trades)."""
    if ignore_sigint:  # started with SIGINT blocked (``study._submit_trial``): ignore it, then let it through
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from trading_bot.log import configure_logging

    configure_logging("error", "json")
    started = time.perf_counter()
    _STATE.base = base
    _STATE.bars = None
    if _is_bars(base) and not base.symbols:
        bar_files = tuple(p for p in base.data if data_kind(p) == "bars")
        _STATE.bars = load_bars(bar_files, base.start_ms, base.end_ms)
    _STATE.load_seconds = time.perf_counter() - started
    return _STATE.load_seconds


def worker_load_seconds() -> float:
    """Return the seconds this process spent reading data in ``init_worker``."""
    return _STATE.load_seconds


def _sliced(paths: Sequence[Path], start_ms: int | None, end_ms: int | None) -> BarSeries:
    """``load_bars`` from the bars read once: the ones with open time in ``[start_ms, end_ms]``."""
    del paths
    series = _STATE.bars
    assert series is not None
    ts = bar_times(series)
    first = 0 if start_ms is None else bisect.bisect_left(ts, start_ms)
    stop = len(ts) if end_ms is None else bisect.bisect_right(ts, end_ms)
    if first >= stop:
        raise DataError("no bars in the trial's window")
    bars = series.bars[first:stop]
    window = ts[first:stop]
    steps = [b - a for a, b in itertools.pairwise(window)]
    return BarSeries(bars=bars, interval_ms=min(steps) if steps else None, price_decimals=series.price_decimals)


def bar_times(series: BarSeries) -> Sequence[int]:
    """The bars' open times, epoch ms (the column itself when the bars are columns)."""
    ts = getattr(series.bars, "_ts", None)
    rows = getattr(series.bars, "_rows", None)
    if ts is not None and rows is not None and rows == range(len(ts)):
        return ts  # type: ignore[no-any-return]
    return [b.ts_ms for b in series.bars]


def objective_value(metrics: Any, objective: str) -> float | None:
    """Return the objective's value from ``Metrics`` (``return`` = ``total_return``), ``None`` if undefined."""
    value = getattr(metrics, OBJECTIVE_ALIASES.get(objective, objective))
    if value is None:
        return None
    number = float(value) if isinstance(value, Decimal | int | float) else None
    return number


def _curve_floats(result: BacktestResult) -> Sequence[float]:
    floats = getattr(result.equity, "floats", None)
    if floats is not None:
        return floats  # type: ignore[no-any-return]
    return [float(p.equity) for p in result.equity]


def run_trial(task: TrialTask) -> TrialOutcome:
    """Run one backtest for ``task`` (in a process ``init_worker`` prepared) and measure it."""
    base = _STATE.base
    assert base is not None, "init_worker first"
    spec = dataclasses.replace(base, params={**base.params, **task.params},
                               start_ms=task.start_ms if task.start_ms is not None else base.start_ms,
                               end_ms=task.end_ms if task.end_ms is not None else base.end_ms)  # fmt: skip
    started = time.perf_counter()
    try:
        prepared = prepare_backtest(spec, load=_sliced) if _STATE.bars is not None else prepare_backtest(spec)
    except ConfigError as exc:  # parameters the model refuses (a relation the space does not know)
        return TrialOutcome(number=task.number, value=None, rejected=f"invalid parameters: {exc}")
    prepared_at = time.perf_counter()
    out: list[BacktestResult] = []

    async def main() -> None:
        out.append(await prepared.run())

    asyncio.run(main())
    result = out[0]
    stats = return_stats(_curve_floats(result))
    finished = time.perf_counter()
    engine = result.run_seconds
    seconds = {"prepare": prepared_at - started, "engine": engine, "metrics": finished - prepared_at - engine,
               "worker_load": _STATE.load_seconds, "pid": float(os.getpid())}  # fmt: skip
    metrics = result.metrics
    value = objective_value(metrics, task.objective)
    rejected = None
    if metrics.trade_count < task.min_trades:
        rejected = f"{metrics.trade_count} round trips, fewer than --min-trades {task.min_trades}"
    elif value is None:
        rejected = f"{task.objective} is undefined for this run"
    elif result.exit_code != 0:
        rejected = f"the run failed: {result.stop_reason}"
    return TrialOutcome(
        number=task.number,
        value=value if rejected is None else None,
        rejected=rejected,
        metrics=metrics.to_dict(),
        fingerprint=result.fingerprint,
        trades=metrics.trade_count,
        stats=None if stats is None else dataclasses.asdict(stats),
        seconds=seconds,
    )
