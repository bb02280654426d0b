"""The ``optimize`` command: a parameter search on Optuna over real backtests (``trading_bot.optimize``).

Exit codes: 0 done (also after Ctrl-C: the finished trials are kept and shown), 2 bad input (one line: an
unknown parameter in ``--space``, an empty or inverted range, an unknown objective or sampler, an unreachable
``--storage``, a constraint no point satisfies, bad data), 1 an output file that could not be written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from typing import Any

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail

__all__ = ["optimize_command"]


MAX_SEED = 2**32 - 1
"""Largest sampler seed (numpy's, under Optuna's samplers)."""


def max_jobs() -> int:
    """Return the most worker processes ``--jobs`` may ask for: two per CPU (each holds the data and a run)."""
    import os

    return 2 * (os.cpu_count() or 1)


@app.command("optimize", help="Search a strategy's parameters on Optuna; every trial is a real backtest.")
def optimize_command(
    data: Annotated[list[Path], typer.Option(help="CSV/CSV.gz data file (as for backtest)")],
    strategy: Annotated[str | None, typer.Option(help="strategy name; default: the config's")] = None,
    symbol: Annotated[str | None, typer.Option(help="market symbol; default: the config's, else the file name")] = None,
    cash: Annotated[str | None, typer.Option(help="starting quote balance [default: 10000]")] = None,
    fee: Annotated[str | None, typer.Option(help="fee rate of every fill [default: 0.001]")] = None,
    slippage_bps: Annotated[str | None, typer.Option(help="market/stop slippage, bps [default: 0]")] = None,
    space: Annotated[
        list[str] | None, typer.Option(help="NAME=LOW:HIGH[:STEP] | NAME=LOW:HIGH:log | NAME=a,b (repeat)")
    ] = None,
    fix: Annotated[list[str] | None, typer.Option(help="NAME=VALUE: hold a parameter fixed (repeat)")] = None,
    objective: Annotated[
        str, typer.Option(help="sharpe | sortino | calmar | return | profit_factor | any metric name")
    ] = "sharpe",
    min_trades: Annotated[int, typer.Option(help="reject trials with fewer round trips", min=0)] = 1,
    trials: Annotated[int, typer.Option(help="trials this process runs (per fold)", min=1)] = 100,
    timeout: Annotated[float | None, typer.Option(help="stop asking for trials after S seconds (per fold)")] = None,
    jobs: Annotated[int, typer.Option(help="worker processes", min=1)] = 1,
    sampler: Annotated[str, typer.Option(help="tpe | random | grid | cmaes")] = "tpe",
    seed: Annotated[int | None, typer.Option(help="sampler seed (deterministic with --jobs 1)")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL: sqlite:///study.db, postgresql+psycopg://...")
    ] = None,
    study: Annotated[str | None, typer.Option(help="study name (the same on every machine)")] = None,
    walk_forward: Annotated[int | None, typer.Option(help="K rolling folds: optimise a window, test the next")] = None,
    oos: Annotated[float | None, typer.Option(help="hold out this fraction of the data's tail, e.g. 0.3")] = None,
    top: Annotated[int, typer.Option(help="trials shown and rerun out of sample", min=1)] = 10,
    report: Annotated[Path | None, typer.Option(help="write report.html and best.json in this directory")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")] = False,
    config: Annotated[Path | None, typer.Option(help="JSON config: strategy, costs and risk of the trials")] = None,
) -> None:
    """Run the study (or the walk-forward studies) and print the top trials."""
    from trading_bot.errors import ConfigError
    from trading_bot.errors import DataError

    opts = dict(locals())
    try:
        _optimize(opts)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    except KeyboardInterrupt:  # outside the trial loop (opening the study, the out-of-sample reruns)
        kept = ("the study keeps its finished trials; run the command again to go on" if storage is not None
                else "the study was in memory (give --storage sqlite:///study.db to keep and resume one)")
        raise fail(f"interrupted: {kept}", EXIT_FAILURE) from None


def _spec(opts: dict[str, Any]) -> Any:
    from strategies import STRATEGIES
    from trading_bot.backtest.engine import BacktestSpec
    from trading_bot.cli.backtest import _config_choices
    from trading_bot.cli.backtest import run_costs
    from trading_bot.errors import ConfigError
    from trading_bot.optimize.run import OptimizeSpec
    from trading_bot.optimize.space import search_space
    from trading_bot.optimize.study import SAMPLERS

    choices = _config_choices(opts)
    strategy = opts["strategy"] or choices.strategy
    if strategy is None:
        raise ConfigError("--strategy: name the strategy (see list-strategies), or set strategy.name in --config")
    if opts["walk_forward"] is not None and opts["oos"] is not None:
        raise ConfigError("--walk-forward and --oos: give one of them")
    if opts["sampler"] not in SAMPLERS:
        raise ConfigError(f"--sampler: one of {', '.join(SAMPLERS)}, got {opts['sampler']!r}")
    if opts["seed"] is not None and not 0 <= opts["seed"] <= MAX_SEED:
        raise ConfigError(f"--seed: 0..{MAX_SEED} (the samplers' range), got {opts['seed']}")
    most = max_jobs()
    if opts["jobs"] > most:
        raise ConfigError(f"--jobs: at most {most} on this machine (2 per CPU), got {opts['jobs']}")
    cls: Any = STRATEGIES.get(strategy)
    base_params = dict(choices.params) if choices.strategy in (None, strategy) else {}
    space = search_space(strategy, cls.Params, spaces=opts["space"] or (), fixes=opts["fix"] or (), base=base_params)
    cash, fee, slippage = run_costs(opts, choices)
    base = BacktestSpec(strategy=strategy, params={}, data=tuple(opts["data"]), symbol=opts["symbol"] or choices.symbol,
                        cash=cash, fee=fee, slippage_bps=slippage, risk=choices.risk, bot_id=choices.bot_id or "bt",
                        exchange=choices.exchange, cash_currency=None if opts["cash"] else choices.cash_currency,
                        on_shutdown=choices.on_shutdown, heartbeat_s=choices.heartbeat_s)  # fmt: skip
    return OptimizeSpec(base=base, space=space, objective=opts["objective"], min_trades=opts["min_trades"],
                        trials=opts["trials"], timeout_s=opts["timeout"], jobs=opts["jobs"], sampler=opts["sampler"],
                        seed=opts["seed"], storage=opts["storage"], study=opts["study"] or strategy,
                        walk_forward=opts["walk_forward"], oos=opts["oos"], top=opts["top"])  # fmt: skip


def _optimize(opts: dict[str, Any]) -> None:
    from trading_bot.cli.output_optimize import print_result
    from trading_bot.cli.output_optimize import write_outputs
    from trading_bot.log import configure_logging
    from trading_bot.optimize.run import check_objective
    from trading_bot.optimize.run import optimise
    from trading_bot.optimize.study import open_storage

    configure_logging("error", "json" if opts["json_output"] else "auto")
    if opts["report"] is not None:
        from trading_bot.cli.backtest import _check_output

        _check_output("--report", opts["report"], directory=True)
    spec = _spec(opts)
    check_objective(spec.objective)
    if spec.storage is not None:
        open_storage(spec.storage)  # an unreachable URL is exit 2 before any data is read
    from trading_bot.cli.output_optimize import Progress

    with Progress(enabled=not opts["json_output"] and sys.stderr.isatty(), trials=spec.trials) as progress:
        result = optimise(spec, on_told=progress.told, on_fold=progress.fold)
    paths: dict[str, Path] = {}
    if opts["report"] is not None and result.winner is not None:
        try:
            paths = write_outputs(result, opts["report"], opts["config"])
        except OSError as exc:
            raise fail(f"--report: cannot write {exc.filename or opts['report']}: {exc.strerror or exc}",
                       EXIT_FAILURE) from None  # fmt: skip
    print_result(result, paths, json_output=opts["json_output"])
