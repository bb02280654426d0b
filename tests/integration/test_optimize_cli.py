"""``runbot.py optimize`` run as a user runs it: table, JSON, report, best.json reproduced, determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

SAMPLE = Path(__file__).resolve().parents[2] / "trading_bot/sample_data/binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
BASE = ("optimize", "--strategy", "sma_cross", "--data", str(SAMPLE), "--space", "fast=2:30", "--space",
        "slow=10:120", "--fix", "fraction=1")  # fmt: skip


def test_walk_forward_run_writes_table_report_and_a_best_json_that_backtest_reproduces(workdir: Path) -> None:
    """Rule (issue 15, done when): the winning trial's best.json reruns to the same metrics and fingerprint."""
    out = workdir / "out"
    proc = run_cli(*BASE, "--trials", "12", "--jobs", "2", "--seed", "3", "--walk-forward", "3", "--report",
                   str(out), "--json", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert len(doc["folds"]) == 3
    for fold in doc["folds"]:
        assert fold["trials_tried"] >= 1
        values = [t["value"] for t in fold["trials"] if t["state"] == "complete"]
        assert values == sorted(values, reverse=True)  # best first
        assert fold["out_of_sample"][0] > fold["in_sample"][1]
    best = doc["best"]
    assert best == {**doc["folds"][-1]["trials"][0], "reproduce": best["reproduce"]}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script src=\"http" not in page
    assert "plotly" in page.lower()
    assert len(page) > 1_000_000
    assert "optimisation history" in page
    assert "contour" in page
    again = run_cli(*best["reproduce"][1:], "--json", cwd=workdir)
    assert again.returncode == 0, again.stderr[-2000:]
    rerun = json.loads(again.stdout)
    assert rerun["fingerprint"] == best["fingerprint"]
    assert rerun["metrics"] == best["metrics"]


def test_best_json_is_a_config_the_bot_accepts(workdir: Path) -> None:
    """Rule: best.json is a complete config: check-config accepts it as is (paper or live use)."""
    out = workdir / "out"
    proc = run_cli(*BASE, "--trials", "4", "--seed", "1", "--report", str(out), cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best: #" in proc.stdout
    assert "deflated Sharpe ratio" in proc.stdout
    check = run_cli("check-config", str(out / "best.json"), cwd=workdir)
    assert check.returncode == 0, check.stdout + check.stderr
    config = json.loads((out / "best.json").read_text(encoding="utf-8"))
    assert config["strategy"]["name"] == "sma_cross"
    assert set(config["strategy"]["params"]) == {"fast", "slow", "fraction"}


def test_same_seed_and_one_job_give_the_same_trials(workdir: Path) -> None:
    """Rule: with --jobs 1 and a seed, a study is deterministic (same points, same values, same fingerprints)."""
    runs = []
    for _ in range(2):
        proc = run_cli(*BASE, "--trials", "6", "--seed", "11", "--oos", "0.3", "--json", cwd=workdir)
        assert proc.returncode == 0, proc.stderr[-2000:]
        doc = json.loads(proc.stdout)
        runs.append([(t["number"], t["params"], t["value"], t["fingerprint"]) for t in doc["trials"]])
        assert doc["folds"][0]["best_oos_rank"] is not None
    assert runs[0] == runs[1]


def test_trials_with_too_few_round_trips_are_rejected_not_ranked(workdir: Path) -> None:
    """Rule: --min-trades N prunes trials with fewer round trips; they are listed as rejected, never ranked."""
    proc = run_cli(*BASE, "--trials", "3", "--seed", "1", "--min-trades", "100000", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["best"] is None
    assert doc["trials"]
    assert all(t["state"] == "rejected" for t in doc["trials"])
    assert all("fewer than --min-trades" in t["rejected"] for t in doc["trials"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--space", "fsat=5:50"), "has no parameter 'fsat'"),
        (("--space", "fast=50:5"), "empty or inverted range"),
        (("--space", "fast=5:5"), "empty or inverted range"),
        (("--objective", "sharpness"), "unknown objective 'sharpness'"),
        (("--storage", "sqlite:////nonexistent-dir/study.db"), "cannot open the study storage"),
        (("--storage", "nosuchdb://x"), "cannot open the study storage"),
        (("--space", "fast=150:200", "--space", "slow=20:120"), "no point satisfies the constraint fast < slow"),
        (("--sampler", "annealing"), "--sampler"),
        (("--seed", "-1"), "--seed: 0..4294967295"),
        (("--seed", "4294967296"), "--seed: 0..4294967295"),
        (("--jobs", "100000"), "--jobs: at most"),
    ],
)
def test_bad_input_exits_2_with_one_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    """Rule: bad input is exit 2 and one ``error:`` line on stderr, before any trial runs."""
    proc = run_cli(*BASE, "--trials", "2", *args, cwd=workdir)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert message in lines[0], lines[0]


def test_grid_sampler_runs_every_point_once_then_stops(workdir: Path) -> None:
    """Rule: --sampler grid visits each grid point once and stops when the grid is done, before --trials."""
    args = ("optimize", "--strategy", "sma_cross", "--data", str(SAMPLE), "--space", "fast=2:4", "--space",
            "slow=10:20:5", "--fix", "fraction=1", "--sampler", "grid", "--trials", "100", "--json")  # fmt: skip
    proc = run_cli(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    points = [(t["params"]["fast"], t["params"]["slow"]) for t in json.loads(proc.stdout)["trials"]]
    assert sorted(points) == [(f, s) for f in (2, 3, 4) for s in (10, 15, 20)]


@pytest.mark.parametrize("sampler", ["random", "cmaes"])
def test_other_samplers_run(workdir: Path, sampler: str) -> None:
    """Rule: every documented sampler runs trials (cmaes through Optuna's CMA-ES sampler)."""
    proc = run_cli(*BASE, "--trials", "3", "--seed", "1", "--sampler", sampler, "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len([t for t in json.loads(proc.stdout)["trials"] if t["state"] == "complete"]) == 3


def test_timeout_stops_asking_for_trials(workdir: Path) -> None:
    """Rule: --timeout S stops asking for new trials after S seconds; the ones told are ranked."""
    proc = run_cli(*BASE, "--trials", "1000", "--timeout", "0.5", "--seed", "1", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert 1 <= len(doc["trials"]) < 1000


def test_grid_strategy_is_optimised_on_quotes_and_trades(workdir: Path) -> None:
    """Rule: the grid's shipped ranges are searched on tick data (it needs a spread), --fix gives its quantity."""
    data = SAMPLE.parent
    proc = run_cli("optimize", "--strategy", "grid", "--data", str(data / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"),
                   "--data", str(data / "binance_BTCUSDT_trades_2024-08-08.csv.gz"), "--symbol", "BTC/USDT",
                   "--fix", "quantity=0.001", "--space", "max_orders=1:10", "--trials", "2", "--seed", "1",
                   "--min-trades", "0", "--objective", "return", "--json", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    best = json.loads(proc.stdout)["best"]
    assert set(best["params"]) == {"quantity", "max_orders", "take_profit", "wait_time"}


FIL = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")


@pytest.mark.slow
@pytest.mark.skipif(not FIL.is_file(), reason="shared data folder not available")
def test_issue_15_done_when_command_on_fil(workdir: Path) -> None:
    """Rule (issue 15): the done-when command on FIL 1m finishes with a table, report and a reproducible best.json."""
    out = workdir / "out"
    proc = run_cli("optimize", "--strategy", "sma_cross", "--data", str(FIL), "--space", "fast=5:30", "--space",
                   "slow=20:120", "--fix", "fraction=1", "--trials", "50", "--jobs", "2", "--walk-forward", "3",
                   "--report", str(out), "--seed", "1", cwd=workdir, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fold3of3" in proc.stdout
    line = next(t for t in proc.stdout.splitlines() if t.startswith("reproduce: "))
    fingerprint = next(t for t in proc.stdout.splitlines() if t.startswith("best: #")).rsplit(" ", 1)[1]
    again = run_cli(*line.removeprefix("reproduce: runbot.py ").split(), "--json", cwd=workdir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["fingerprint"] == fingerprint
    assert (out / "report.html").stat().st_size > 1_000_000


def test_a_zero_fee_from_the_config_is_kept_as_backtest_keeps_it(workdir: Path) -> None:
    """Rule: optimize takes cash, fee and slippage from the config as backtest does (a 0 is a value, not unset)."""
    config = workdir / "fee0.json"
    config.write_text(json.dumps({"exchange": {"paper": {"maker_fee": "0", "taker_fee": "0"}}}))
    proc = run_cli(*BASE, "--trials", "2", "--seed", "1", "--min-trades", "0", "--config", str(config), "--json",
                   cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(proc.stdout)["trials"]

    assert trials
    assert all(t["metrics"]["fees_paid"] == "0" for t in trials if t["metrics"])
