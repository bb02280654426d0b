"""The Optuna side: storage, sampler, and the ask/tell loop that feeds worker processes.

The parent process owns the study: it asks Optuna for a point, sends the trial to a ``ProcessPoolExecutor``
worker (``trading_bot.optimize.worker``), and tells Optuna the result. Workers never touch the storage, so the
same loop works for an in-memory study, a SQLite file and a PostgreSQL server shared by many machines (every
machine runs the same command with the same ``--storage`` and ``--study``; Optuna hands each ``ask`` a new
trial, so no trial runs twice and the study's total is the sum of what each machine ran). With ``--jobs 1`` and a
seed, trials are asked and told one after the other: the run is deterministic.

RDB storages keep a heartbeat for running trials (recorded by this loop); trials of a process that was killed
stop beating and are marked failed by ``fail_stale_trials`` when the next process opens the study (after
``grace_period`` seconds), so a resumed study never waits on them.

A point this process already ran (TPE proposes integer points again) is told the same result without running
the backtest again: a backtest is a pure function of its parameters and data.

Ctrl-C (SIGINT): no new trial is asked, the running ones finish and are told; a second Ctrl-C tells them failed
at once (their workers still finish the backtest in hand before the pool shuts down). Finished trials stay in
the study. SIGINT is counted by a handler while the loop runs, so it never lands between an ask and its tell.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import optuna

from trading_bot.errors import ConfigError
from trading_bot.optimize.space import SearchSpace
from trading_bot.optimize.space import grid_values
from trading_bot.optimize.worker import TrialOutcome
from trading_bot.optimize.worker import TrialTask

__all__ = ["LoopStats", "make_sampler", "open_study", "run_trials", "suggest"]

SAMPLERS = ("tpe", "random", "grid", "cmaes")
optuna.logging.set_verbosity(optuna.logging.WARNING)  # the command prints its own progress and results
HEARTBEAT_S = 10
GRACE_PERIOD_S = 60


def make_sampler(name: str, space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """Return the Optuna sampler ``name`` (``tpe``, ``random``, ``grid``, ``cmaes``) seeded with ``seed``.

    Raises:
        ConfigError: an unknown name, or ``grid`` over a continuous range.
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({r.name: grid_values(r) for r in space.ranges}, seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"--sampler: one of {', '.join(SAMPLERS)}, got {name!r}")


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """Return the study storage: in memory (``None``), else Optuna's RDB storage at ``url``.

    Raises:
        ConfigError: a URL SQLAlchemy cannot parse or a database it cannot reach (one line).
    """
    if url is None:
        return optuna.storages.InMemoryStorage()
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words; it is what we need
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                                  grace_period=GRACE_PERIOD_S)  # fmt: skip
        except Exception as exc:
            racing = ("already exists", "UNIQUE constraint failed", "duplicate key", "database is locked")
            if any(text in str(exc) for text in racing) and attempt < 4:  # another process is creating the schema
                time.sleep(0.5)
                continue
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"--storage {_redact(url)}: cannot open the study storage: {first}") from None
    raise AssertionError("unreachable")


def _redact(url: str) -> str:
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, _ = head.partition("://")
    return f"{scheme}{sep}***@{tail}"


def open_study(
    *, url: str | None, name: str, direction: str, sampler: optuna.samplers.BaseSampler, identity: dict[str, Any]
) -> optuna.Study:
    """Create or load the study ``name``; refuse one made for another strategy, objective or data.

    Raises:
        ConfigError: the storage cannot be opened, or the study exists with another ``identity``.
    """
    storage = open_storage(url)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=direction,  # type: ignore[arg-type]
            sampler=sampler,
            load_if_exists=True,
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"--storage: cannot create study {name!r}: {first}") from None
    known = study.user_attrs.get("identity")
    if known is None:
        study.set_user_attr("identity", identity)
    elif known != identity:
        diff = sorted(k for k in set(known) | set(identity) if known.get(k) != identity.get(k))
        raise ConfigError(
            f"--study {name}: this study was made with other settings ({', '.join(diff)}); use another --study name"
        )
    if url is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    return study


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Ask ``trial`` for a value of every range; return the strategy parameters (fixed ones included)."""
    params: dict[str, Any] = dict(space.fixed)
    for rng in space.ranges:
        if rng.kind == "int":
            step = int(rng.step or 1)
            params[rng.name] = trial.suggest_int(rng.name, int(rng.low), int(rng.high), step=step, log=rng.log)
        elif rng.kind == "float":
            value = trial.suggest_float(rng.name, rng.low, rng.high, step=rng.step, log=rng.log)
            params[rng.name] = repr(value)
        else:
            params[rng.name] = trial.suggest_categorical(rng.name, list(rng.choices))
    return params


@dataclass(slots=True)
class LoopStats:
    """What the loop did: trials told per state, seconds spent in Optuna (ask, suggest, tell), interrupted."""

    told: dict[str, int] = field(default_factory=dict)
    optuna_seconds: float = 0.0
    interrupted: bool = False
    outcomes: list[TrialOutcome] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    trial: optuna.Trial
    params: dict[str, Any]


def _tell_safely(study: optuna.Study, trial: optuna.Trial, value: float | None = None, **kwargs: Any) -> None:
    """``study.tell``; the grid sampler's ``study.stop()`` once its grid is done is meant for ``optimize`` only.

    Optuna records the trial before the sampler's ``after_trial`` hook raises, so the error is dropped here and
    the loop stops on ``is_exhausted``.
    """
    try:
        if value is None:
            study.tell(trial, **kwargs)
        else:
            study.tell(trial, value, **kwargs)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def _tell(study: optuna.Study, pending: _Pending, outcome: TrialOutcome | None, note: str) -> str:
    trial = pending.trial
    trial.set_user_attr("strategy_params", pending.params)
    if outcome is None:
        trial.set_user_attr("rejected", note)
        _tell_safely(study, trial, state=optuna.trial.TrialState.FAIL)
        return "failed"
    trial.set_user_attr("metrics", outcome.metrics)
    trial.set_user_attr("fingerprint", outcome.fingerprint)
    trial.set_user_attr("seconds", outcome.seconds)
    if outcome.stats is not None:
        trial.set_user_attr("stats", outcome.stats)
    if outcome.rejected is not None:
        trial.set_user_attr("rejected", outcome.rejected)
        _tell_safely(study, trial, state=optuna.trial.TrialState.PRUNED)
        return "rejected"
    _tell_safely(study, trial, outcome.value)
    return "complete"


def run_trials(
    study: optuna.Study,
    *,
    pool: ProcessPoolExecutor,
    space: SearchSpace,
    make_task: Callable[[int, dict[str, Any]], TrialTask],
    trials: int,
    jobs: int,
    timeout_s: float | None,
    on_told: Callable[[str, optuna.Study], None],
) -> LoopStats:
    """Ask, run and tell ``trials`` feasible trials, ``jobs`` at a time, until done, timed out or interrupted.

    A point that breaks a constraint is told pruned at once (``rejected``: the constraint) and not counted.
    """
    loop = _Loop(study, pool, space, make_task, trials, jobs, timeout_s, on_told)
    with _sigint_counter() as interrupts:
        while True:
            if interrupts[0]:
                loop.stopping = loop.stats.interrupted = True
            if interrupts[0] > 1:
                loop.abandon()
                break
            loop.fill()
            if not loop.running:
                break
            loop.collect()
    return loop.stats


@contextlib.contextmanager
def _sigint_counter() -> Iterator[list[int]]:
    """Count SIGINTs instead of raising ``KeyboardInterrupt`` (which could strike between ask and tell)."""
    count = [0]
    if threading.current_thread() is not threading.main_thread():
        yield count
        return

    def handler(signum: int, frame: object) -> None:
        count[0] += 1

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield count
    finally:
        signal.signal(signal.SIGINT, previous)


class _Loop:
    """The state of ``run_trials``: running futures, counts, the stop flag."""

    def __init__(self, study: optuna.Study, pool: ProcessPoolExecutor, space: SearchSpace,
                 make_task: Callable[[int, dict[str, Any]], TrialTask], trials: int, jobs: int,
                 timeout_s: float | None, on_told: Callable[[str, optuna.Study], None]) -> None:  # fmt: skip
        self.study, self.pool, self.space, self.make_task = study, pool, space, make_task
        self.trials, self.jobs, self.timeout_s, self.on_told = trials, jobs, timeout_s, on_told
        self.stats = LoopStats()
        self.running: dict[Future[TrialOutcome], _Pending] = {}
        self.started = time.monotonic()
        self.asked = self.infeasible = 0
        self.stopping = False
        self.last_beat = 0.0
        self.results: dict[str, TrialOutcome] = {}
        self.heartbeat = isinstance(study._storage, optuna.storages.RDBStorage)

    def count(self, state: str) -> None:
        self.stats.told[state] = self.stats.told.get(state, 0) + 1
        self.on_told(state, self.study)

    def _may_ask(self) -> bool:
        if len(self.running) >= self.jobs or self.asked >= self.trials or self.stopping:
            return False
        if self.timeout_s is not None and time.monotonic() - self.started >= self.timeout_s:
            return False
        return not _grid_done(self.study)

    def fill(self) -> None:
        while self._may_ask():
            t0 = time.perf_counter()
            trial = self.study.ask()
            params = suggest(trial, self.space)
            broken = self.space.feasible(params)
            if broken is not None:
                trial.set_user_attr("strategy_params", params)
                trial.set_user_attr("rejected", f"constraint {broken}")
                _tell_safely(self.study, trial, state=optuna.trial.TrialState.PRUNED)
                self.stats.optuna_seconds += time.perf_counter() - t0
                self.infeasible += 1
                if self.infeasible > 100 * self.trials:
                    raise ConfigError("--space: the sampler keeps proposing points that break the constraints")
                continue
            self.asked += 1
            known = self.results.get(_key(params))
            if known is not None:  # a point already run here: a backtest is a pure function, tell the same result
                trial.set_user_attr("same_as", known.number)
                self.count(_tell(self.study, _Pending(trial, params), known, ""))
                self.stats.optuna_seconds += time.perf_counter() - t0
                continue
            self.stats.optuna_seconds += time.perf_counter() - t0
            self.running[_submit_trial(self.pool, self.make_task(trial.number, params))] = _Pending(trial, params)

    def collect(self) -> None:
        done, _ = wait(list(self.running), timeout=0.25, return_when=FIRST_COMPLETED)
        if self.heartbeat and time.monotonic() - self.last_beat >= HEARTBEAT_S / 2:
            self.last_beat = time.monotonic()
            storage: Any = self.study._storage  # the heartbeat API lives on the storage
            for pending in self.running.values():
                storage.record_heartbeat(pending.trial._trial_id)
        for future in done:
            pending = self.running.pop(future)
            t0 = time.perf_counter()
            try:
                outcome = future.result()
            except Exception as exc:  # a crashed trial is a failed trial; the study goes on
                self.count(_tell(self.study, pending, None, f"crashed: {type(exc).__name__}: {exc}"))
                continue
            self.stats.outcomes.append(outcome)
            self.results[_key(pending.params)] = outcome
            state = _tell(self.study, pending, outcome, "")
            self.stats.optuna_seconds += time.perf_counter() - t0
            self.count(state)

    def abandon(self) -> None:
        for pending in self.running.values():
            self.count(_tell(self.study, pending, None, "interrupted"))
        self.running.clear()
        self.stats.interrupted = True


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _grid_done(study: optuna.Study) -> bool:
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


def _run(task: TrialTask) -> TrialOutcome:
    from trading_bot.optimize.worker import run_trial

    return run_trial(task)


def _submit_trial(pool: ProcessPoolExecutor, task: TrialTask) -> Future[TrialOutcome]:
    """Submit ``task`` with SIGINT blocked in this thread, so a worker the pool spawns now starts with it blocked.

    A spawned worker spends its first ~0.5 s importing before ``init_worker`` ignores SIGINT; a Ctrl-C to the
    process group then would print that worker's ``KeyboardInterrupt`` traceback and break the pool. The
    child inherits the blocked mask across exec, and ``init_worker`` ignores SIGINT before unblocking it; a
    Ctrl-C that reaches this process meanwhile stays pending and is handled as soon as the mask is restored.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(_run, task)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def worker_pool(jobs: int, initializer: Callable[..., Any], initargs: tuple[Any, ...]) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` spawned worker processes, each initialised once; on exit, queued work is cancelled."""
    import multiprocessing

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                               initargs=initargs)  # fmt: skip
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def params_text(params: dict[str, Any]) -> str:
    """Return parameters as one compact JSON object text (for tables)."""
    return json.dumps(params, sort_keys=True, separators=(",", "="))
