"""What ``optimize`` prints and writes: the progress bar, the table of top trials, ``--json``, ``--report``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["Progress", "print_result", "reproduce_args", "write_outputs"]


class Progress:
    """A rich progress bar on stderr (trials told, the best value so far) when ``enabled``."""

    def __init__(self, *, enabled: bool, trials: int) -> None:
        self.enabled = enabled
        self.trials = trials
        self._bar: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn
            from rich.progress import MofNCompleteColumn
            from rich.progress import Progress as RichProgress
            from rich.progress import TextColumn
            from rich.progress import TimeElapsedColumn

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
                                     console=Console(stderr=True), transient=True)  # fmt: skip
            self._bar.start()
        return self

    def fold(self, fold: Any, count: int) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        label = f"fold {fold.number}/{count}" if count > 1 else "trials"
        self._task = self._bar.add_task(label, total=self.trials, best="")
        self._done = 0

    def told(self, state: str, study: Any) -> None:
        if self._bar is None or self._task is None:
            return
        self._done += 1
        try:
            best = f"best {study.best_value:.6g} (#{study.best_trial.number})"
        except ValueError:  # no complete trial yet
            best = "no trial ranked yet"
        self._bar.update(self._task, completed=self._done, best=best)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def reproduce_args(result: Any, config_path: Path | None) -> list[str]:
    """The ``runbot.py backtest`` arguments that rerun the winning trial (its window included)."""
    fold = result.winner_fold
    args = ["backtest", "--config", str(config_path or "best.json")]
    for path in result.spec.base.data:
        args += ["--data", str(path)]
    window = fold.fold.in_sample
    if window.bars:
        args += ["--from", str(window.start_ms), "--to", str(window.end_ms)]
    return args


def write_outputs(result: Any, directory: Path, base_config: Path | None) -> dict[str, Path]:
    """Write ``best.json`` and ``report.html`` in ``directory``; return their paths."""
    from trading_bot.backtest.engine import relaxed_risk_config
    from trading_bot.backtest.engine import resolve_market
    from trading_bot.optimize.report import best_config
    from trading_bot.optimize.report import write_html

    directory.mkdir(parents=True, exist_ok=True)
    spec = result.spec.base
    base: dict[str, Any] = json.loads(base_config.read_text(encoding="utf-8")) if base_config is not None else {}
    from exchanges.recorded import guess_symbol

    symbol = spec.symbol or guess_symbol(spec.data[0]) or ""
    market = resolve_market(symbol, 0, spec.fee, None, spec.exchange)
    risk = (spec.risk or relaxed_risk_config()).model_dump(mode="json")
    winner = result.winner
    doc = best_config(base, strategy=spec.strategy, params=winner.user_attrs["strategy_params"], symbol=symbol,
                      quote=market.quote, cash=str(spec.cash), fee=str(spec.fee),
                      slippage_bps=str(spec.slippage_bps), risk=risk)  # fmt: skip
    best = directory / "best.json"
    best.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    sections = [(f"{f.study_name}: {len(f.ranked)} ranked, {len(f.rejected)} rejected", _study(result, f),
                 _html_table(result, f)) for f in result.folds]  # fmt: skip
    page = write_html(directory / "report.html", title=f"Optimise {spec.strategy} ({result.spec.objective})",
                      sections=sections)  # fmt: skip
    return {"best": best, "report": page}


def _study(result: Any, fold: Any) -> Any:
    import optuna

    study = optuna.create_study(direction=result.direction)
    study.add_trials(fold.ranked)
    return study


def _html_table(result: Any, fold: Any) -> str:
    import html

    rows = ["<table><tr><th>#</th><th>params</th><th>in-sample</th><th>out-of-sample</th><th>trades</th></tr>"]
    for trial in fold.ranked[: result.spec.top]:
        oos = fold.oos.get(trial.number)
        rows.append(f"<tr><td>{trial.number}</td><td>{html.escape(_params(trial))}</td><td>{trial.value:.6g}</td>"
                    f"<td>{_fmt(oos.value) if oos else ''}</td><td>{trial.user_attrs['metrics']['trade_count']}</td>"
                    "</tr>")  # fmt: skip
    rows.append("</table>")
    rows.append(f"<p>deflated Sharpe ratio of the best trial: {_fmt(fold.deflated_sharpe)} "
                f"({fold.trials_tried} trials tried)</p>")  # fmt: skip
    warning = fold.warning(result.maximise)
    if warning:
        rows.append(f"<p class='warn'>warning: {html.escape(warning)}</p>")
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _params(trial: Any) -> str:
    params = trial.user_attrs.get("strategy_params", trial.params)
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def _in_vs_out(result: Any) -> dict[str, Any] | None:
    """Mean objective of each fold's best trial in sample and out of sample (folds that have both)."""
    pairs = []
    for fold in result.folds:
        best = fold.best
        oos = fold.oos.get(best.number) if best is not None else None
        if best is not None and oos is not None and oos.value is not None and best.value is not None:
            pairs.append((best.value, oos.value))
    if not pairs:
        return None
    return {"folds": len(pairs), "in_sample": sum(p[0] for p in pairs) / len(pairs),
            "out_of_sample": sum(p[1] for p in pairs) / len(pairs)}  # fmt: skip


def _document(result: Any, paths: dict[str, Path]) -> dict[str, Any]:
    from trading_bot.optimize.results import trial_document

    folds = []
    for fold in result.folds:
        trials = [trial_document(t, fold.oos.get(t.number)) for t in fold.ranked]
        trials += [trial_document(t) for t in fold.rejected]
        window = fold.fold.in_sample
        oos = fold.fold.out_of_sample
        folds.append({
            "fold": fold.fold.number, "study": fold.study_name,
            "in_sample": [window.start_ms, window.end_ms] if window.bars else None,
            "out_of_sample": [oos.start_ms, oos.end_ms] if oos is not None else None,
            "trials_tried": fold.trials_tried, "deflated_sharpe": fold.deflated_sharpe,
            "best_oos_rank": fold.best_oos_rank(result.maximise), "warning": fold.warning(result.maximise),
            "trials": trials,
        })  # fmt: skip
    winner = result.winner
    best = None
    if winner is not None:
        best = trial_document(winner, result.winner_fold.oos.get(winner.number))
        best["reproduce"] = ["runbot.py", *reproduce_args(result, paths.get("best"))]
    return {
        "objective": result.spec.objective, "direction": result.direction, "interrupted": result.interrupted,
        "in_vs_out_of_sample": _in_vs_out(result),
        "best": best, "trials": folds[-1]["trials"] if folds else [], "folds": folds,
        "warnings": [w for w in (f.warning(result.maximise) for f in result.folds) if w],
        "timing": {k: round(v, 4) for k, v in result.timing.items()},
        "paths": {k: str(v) for k, v in paths.items()},
    }  # fmt: skip


def print_result(result: Any, paths: dict[str, Path], *, json_output: bool) -> None:
    """Print the top trials of every fold, the overfitting figures and the output paths (or one JSON object)."""
    if json_output:
        sys.stdout.write(json.dumps(_document(result, paths), sort_keys=True) + "\n")
        return
    top = result.spec.top
    for fold in result.folds:
        typer.echo(f"{fold.study_name}: {len(fold.ranked)} ranked, {len(fold.rejected)} rejected"
                   f" ({result.spec.objective}, {result.direction})")  # fmt: skip
        typer.echo(f"  {'#':>5}  {'in-sample':>11}  {'out-of-sample':>13}  {'trades':>6}  params")
        for trial in fold.ranked[:top]:
            oos = fold.oos.get(trial.number)
            typer.echo(f"  {trial.number:>5}  {trial.value:>11.6g}  {_fmt(oos.value) if oos else '':>13}  "
                       f"{trial.user_attrs['metrics']['trade_count']:>6}  {_params(trial)}")  # fmt: skip
        typer.echo(f"  deflated Sharpe ratio of the best: {_fmt(fold.deflated_sharpe)} ({fold.trials_tried} trials)")
        warning = fold.warning(result.maximise)
        if warning:
            typer.echo(f"  warning: {warning}")
    summary = _in_vs_out(result)
    if summary is not None:
        typer.echo(f"best trials in vs out of sample over {summary['folds']} fold(s): mean {result.spec.objective} "
                   f"{summary['in_sample']:.6g} in sample, {summary['out_of_sample']:.6g} out of sample")  # fmt: skip
    if result.interrupted:
        typer.echo("interrupted: the finished trials are kept")
    winner = result.winner
    if winner is None:
        rejected = [t for fold in result.folds for t in fold.rejected]
        first = str(rejected[0].user_attrs.get("rejected", rejected[0].state.name.lower())) if rejected else ""
        why = f"{len(rejected)} rejected, the first: {first}" if rejected else "no trial finished"
        typer.echo(f"no trial was ranked: {why}")
        return
    typer.echo(f"best: #{winner.number} {_params(winner)} → {result.spec.objective} {winner.value:.6g}, "
               f"fingerprint {winner.user_attrs['fingerprint']}")  # fmt: skip
    if paths:
        typer.echo(f"report: {paths['report']}\nconfig: {paths['best']}")
        typer.echo("reproduce: runbot.py " + " ".join(reproduce_args(result, paths["best"])))
