"""Ranked results of a study, in-sample vs out-of-sample, the deflated Sharpe ratio and the overfitting warning.

Ranked trials are the study's COMPLETE trials (every process's and every earlier run's), best first; trials
rejected for too few round trips, an undefined objective or a broken constraint are PRUNED and never ranked.

Overfitting figures of a fold (``FoldResult``):

* ``oos``: the best ``top`` in-sample trials rerun on the out-of-sample window, each with its objective there;
* ``best_oos_rank``: where the best in-sample trial ranks among them out of sample (1 = still the best); a
  warning is raised when it is not among the top ``OOS_TOP`` (``3``);
* ``deflated_sharpe``: the DSR of the best in-sample trial for the number of distinct points tried (a point the
  sampler proposed twice counts once; points that broke a constraint never ran and do not count) and the
  variance of their per-period Sharpe ratios (``trading_bot.optimize.deflated``), ``None`` when undefined.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import optuna

from trading_bot.optimize.deflated import deflated_sharpe_ratio
from trading_bot.optimize.folds import Fold
from trading_bot.optimize.worker import TrialOutcome

__all__ = ["OOS_TOP", "FoldResult", "deflated_sharpe_of", "ranked_trials", "trial_document"]

OOS_TOP = 3


@dataclass(slots=True, kw_only=True)
class FoldResult:
    """One fold's study and its out-of-sample check (see the module docstring)."""

    fold: Fold
    study_name: str
    ranked: list[optuna.trial.FrozenTrial]
    rejected: list[optuna.trial.FrozenTrial]
    oos: dict[int, TrialOutcome] = field(default_factory=dict)
    deflated_sharpe: float | None = None
    trials_tried: int = 0

    @property
    def best(self) -> optuna.trial.FrozenTrial | None:
        """The best in-sample trial (``None``: no trial was ranked)."""
        return self.ranked[0] if self.ranked else None

    def oos_order(self, maximise: bool) -> list[int]:
        """Trial numbers of ``oos`` by out-of-sample objective, best first (undefined values last)."""
        def key(number: int) -> tuple[int, float]:
            value = self.oos[number].value
            if value is None:
                return (1, 0.0)
            return (0, -value if maximise else value)

        return sorted(self.oos, key=key)

    def best_oos_rank(self, maximise: bool) -> int | None:
        """Rank (1-based) of the best in-sample trial out of sample, ``None`` without OOS results."""
        best = self.best
        if best is None or best.number not in self.oos:
            return None
        return self.oos_order(maximise).index(best.number) + 1

    def warning(self, maximise: bool) -> str | None:
        """The overfitting warning of this fold, if any."""
        rank = self.best_oos_rank(maximise)
        if rank is None or rank <= OOS_TOP:
            return None
        best = self.best
        assert best is not None
        return (f"fold {self.fold.number}: the best in-sample trial (#{best.number}) ranks {rank} of {len(self.oos)} "
                f"out of sample (not in the top {OOS_TOP}): its in-sample edge did not carry over")  # fmt: skip


def ranked_trials(study: optuna.Study) -> tuple[list[optuna.trial.FrozenTrial], list[optuna.trial.FrozenTrial]]:
    """Return (complete trials best first, rejected and failed trials by number)."""
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == states.COMPLETE and t.value is not None]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete.sort(key=lambda t: (sign * float(t.value or 0.0), t.number))
    rejected = [t for t in trials if t.state in (states.PRUNED, states.FAIL)]
    return complete, rejected


def deflated_sharpe_of(ranked: Sequence[optuna.trial.FrozenTrial], tried: int) -> float | None:
    """The DSR of ``ranked[0]`` (per-period Sharpe, moments from its ``stats``) over ``tried`` trials."""
    unique = {str(t.user_attrs.get("strategy_params")): t for t in reversed(ranked)}.values()  # a point once
    sharpes = [t.user_attrs["stats"]["sharpe"] for t in unique if "stats" in t.user_attrs]
    if not ranked or "stats" not in ranked[0].user_attrs or len(sharpes) < 2:
        return None
    stats = ranked[0].user_attrs["stats"]
    variance = statistics.variance(sharpes)
    value = deflated_sharpe_ratio(stats["sharpe"], variance, max(tried, len(sharpes)), int(stats["count"]),
                                  stats["skew"], stats["kurtosis"])  # fmt: skip
    return None if value != value else value  # NaN: undefined


def trial_document(trial: optuna.trial.FrozenTrial, oos: TrialOutcome | None = None) -> dict[str, Any]:
    """One trial as ``--json`` prints it."""
    attrs = trial.user_attrs
    doc: dict[str, Any] = {
        "number": trial.number,
        "state": {"COMPLETE": "complete", "PRUNED": "rejected"}.get(trial.state.name, trial.state.name.lower()),
        "value": trial.value,
        "params": attrs.get("strategy_params", trial.params),
        "metrics": attrs.get("metrics"),
        "fingerprint": attrs.get("fingerprint"),
    }
    if "rejected" in attrs:
        doc["rejected"] = attrs["rejected"]
    if oos is not None:
        doc["oos"] = {"value": oos.value, "metrics": oos.metrics, "fingerprint": oos.fingerprint,
                      "rejected": oos.rejected}  # fmt: skip
    return doc
