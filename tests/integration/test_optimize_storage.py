"""Shared studies: several ``optimize`` processes on one SQLite (or PostgreSQL) study, kill and resume, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.conftest import run_cli

SAMPLE = ROOT / "trading_bot/sample_data/binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
BASE = ("optimize", "--strategy", "sma_cross", "--data", str(SAMPLE), "--space", "fast=2:30", "--space",
        "slow=10:120", "--fix", "fraction=1", "--study", "shared")  # fmt: skip
_PG_URL = os.environ.get("TRADING_BOT_TEST_PG_URL")


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start optimize in its own process group (so a test can kill it with its workers, as a crash would)."""
    return subprocess.Popen([sys.executable, str(ROOT / "runbot.py"), *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="shared", storage=url).get_trials(deepcopy=False)


def _finished(url: str) -> int:
    try:
        return sum(t.state.is_finished() for t in _trials(url))
    except KeyError:  # the study is not created yet
        return 0


def _wait_for(url: str, count: int, proc: subprocess.Popen[str], limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while _finished(url) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no trials finished in time"
        time.sleep(0.2)


def _shared_study_is_split_between_processes(url: str, cwd: Path) -> None:
    procs = [_start(*BASE, "--storage", url, "--trials", "6", "--seed", str(seed), "--json", cwd=cwd)
             for seed in (1, 2)]  # fmt: skip
    docs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        docs.append(json.loads(out))
    trials = _trials(url)
    told = [t for t in trials if t.state.is_finished() and "constraint" not in str(t.user_attrs.get("rejected"))]
    assert len(told) == 12  # total = the sum of both processes' --trials
    assert len({t.number for t in trials}) == len(trials)  # no trial twice
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
    assert len(docs[1]["trials"]) >= 6  # each process sees the whole study when it ranks


def test_two_processes_on_one_sqlite_study_share_the_trials(workdir: Path) -> None:
    """Rule: two optimize processes on one --storage/--study split the trials: none twice, total = sum."""
    _shared_study_is_split_between_processes(f"sqlite:///{workdir / 'study.db'}", workdir)


@pytest.mark.skipif(_PG_URL is None, reason="set TRADING_BOT_TEST_PG_URL to run the shared study on PostgreSQL")
def test_two_processes_on_one_postgresql_study_share_the_trials(workdir: Path) -> None:
    """Rule: the many-machine recipe: processes against one PostgreSQL study share it as on SQLite."""
    assert _PG_URL is not None
    _, sep, rest = _PG_URL.partition("://")
    url = f"postgresql+psycopg{sep}{rest}"  # the journal's URL may name asyncpg; Optuna's storage is synchronous
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name="shared", storage=url)
    _shared_study_is_split_between_processes(url, workdir)


def test_a_killed_process_study_resumes_with_its_finished_trials(workdir: Path) -> None:
    """Rule: kill -9 loses only the running trials; rerunning the command continues the same study."""
    url = f"sqlite:///{workdir / 'study.db'}"
    proc = _start(*BASE, "--storage", url, "--trials", "500", "--seed", "1", cwd=workdir)
    _wait_for(url, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the optimize process and its workers: a machine lost mid-study
    proc.communicate(timeout=30)
    kept = {t.number for t in _trials(url) if t.state.is_finished()}
    assert len(kept) >= 3
    again = run_cli(*BASE, "--storage", url, "--trials", "3", "--seed", "2", "--json", cwd=workdir)
    assert again.returncode == 0, again.stderr[-2000:]
    after = _trials(url)
    assert kept <= {t.number for t in after if t.state.is_finished()}  # nothing finished was lost
    new = [t for t in after if t.number > max(kept) and t.state.is_finished()
           and "constraint" not in str(t.user_attrs.get("rejected"))]  # fmt: skip
    assert len(new) == 3


def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(workdir: Path) -> None:
    """Rule: SIGINT stops asking, lets running trials finish, prints the table, exits 0; the study keeps them."""
    url = f"sqlite:///{workdir / 'study.db'}"
    proc = _start(*BASE, "--storage", url, "--trials", "500", "--seed", "1", "--jobs", "2", cwd=workdir)
    _wait_for(url, 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "interrupted: the finished trials are kept" in out
    assert "Traceback" not in err
    trials = _trials(url)
    assert sum(t.state.is_finished() for t in trials) >= 3
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)  # the running ones were told


def test_a_study_made_for_another_objective_is_refused(workdir: Path) -> None:
    """Rule: resuming a stored study with other settings (objective, space, data, costs) is exit 2, one line."""
    url = f"sqlite:///{workdir / 'study.db'}"
    first = run_cli(*BASE, "--storage", url, "--trials", "1", "--seed", "1", cwd=workdir)
    assert first.returncode == 0, first.stderr[-2000:]
    other = run_cli(*BASE, "--storage", url, "--trials", "1", "--objective", "sortino", cwd=workdir)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        "error: --study shared: this study was made with other settings (objective); use another --study name"
    ]


def _running(url: str) -> int:
    try:
        return sum(t.state == optuna.trial.TrialState.RUNNING for t in _trials(url))
    except KeyError:
        return 0


def test_ctrl_c_to_the_group_while_workers_start_prints_no_worker_traceback(workdir: Path) -> None:
    """Rule: a terminal's Ctrl-C reaches the whole process group; a worker still importing ignores it.

    The first trial is sent as the pool spawns its workers, so the SIGINT lands during their start (before
    ``init_worker``): no worker traceback, no broken pool, the table and exit 0.
    """
    url = f"sqlite:///{workdir / 'study.db'}"
    proc = _start(*BASE, "--storage", url, "--trials", "500", "--seed", "1", "--jobs", "2", cwd=workdir)
    deadline = time.monotonic() + 60
    while _running(url) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no trial started in time"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-3000:]
    assert "KeyboardInterrupt" not in err
    assert proc.returncode == 0, err[-2000:]
    assert "interrupted" in out
