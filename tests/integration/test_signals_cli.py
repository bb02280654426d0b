"""Signals reach the run command in every phase (issue 10, item 3).

A signal in the first second (imports, config, building the bot) still ends the process cleanly with
exit 0 (never killed by it: 143), and a ``--speed max`` replay, which never waits for anything, still
notices a SIGTERM, or a second signal, within a fraction of a second.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import QUOTES
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env

COPIES = 8  # the bundled 11 minutes of quotes, 8 times over: ~585,000 events, well over 10 s at full speed


@pytest.fixture(scope="module")
def long_quotes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a plain-CSV quote file made of the bundled quotes repeated ``COPIES`` times, later each time."""
    with gzip.open(QUOTES, "rt", newline="") as fh:
        header, *body = fh.read().splitlines()
    rows = [line.split(",", 1) for line in body]
    span = int(rows[-1][0]) - int(rows[0][0]) + 1
    path = tmp_path_factory.mktemp("replay") / "long_quotes.csv"
    with path.open("w", newline="") as out:
        out.write(header + "\n")
        for copy in range(COPIES):
            shift = copy * span
            out.write("".join(f"{int(ts) + shift},{rest}\n" for ts, rest in rows))
    return path


def _popen(workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "runbot.py"), *args, "--log-format", "json", "--json"],
        cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_start(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        seen.append(line)
        if '"bot_started"' in line or time.monotonic() > deadline:
            break
    return seen


def _finish(proc: subprocess.Popen[str], wait_s: float) -> tuple[int, float, str, str]:
    """Wait up to ``wait_s`` for the exit (else kill); return code, seconds waited, stdout, stderr."""
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, time.monotonic() - start, out, err


SMA = ("--strategy", "sma_cross", "--exchange", "binance", "--fast", "3", "--slow", "8", "--bar-seconds", "5",
       "--quantity", "0.01")  # fmt: skip


def test_sigterm_during_a_full_speed_replay_stops_it_at_once_and_exits_0(tmp_path: Path, long_quotes: Path) -> None:
    proc = _popen(tmp_path, *SMA, "--replay", str(long_quotes), "--speed", "max")
    _wait_for_start(proc)
    time.sleep(0.5)

    proc.send_signal(signal.SIGTERM)
    code, waited, out, err = _finish(proc, wait_s=10)

    assert code == 0, err[-2000:]
    assert waited < 2.0
    summary = json.loads(out)
    assert summary["stop_reason"] == "signal SIGTERM"
    assert summary["market_events"] < 73174 * COPIES  # stopped mid-data, not at its end


def test_a_second_signal_during_a_full_speed_replay_forces_exit_1_at_once(tmp_path: Path, long_quotes: Path) -> None:
    proc = _popen(tmp_path, *SMA, "--replay", str(long_quotes), "--speed", "max")
    _wait_for_start(proc)
    time.sleep(0.5)

    proc.send_signal(signal.SIGINT)  # two different signals: two of a kind sent at once may merge into one
    proc.send_signal(signal.SIGTERM)
    code, waited, _, err = _finish(proc, wait_s=10)

    assert code == 1, err[-2000:]
    assert waited < 2.0
    assert re.search(r"^error: second SIG(INT|TERM): forcing exit$", err, re.MULTILINE), err[-2000:]


# From 0.1 s: before that the interpreter itself is still starting (35-80 ms here: site, the editable
# install's finder), and no Python code can catch a signal yet.
@pytest.mark.parametrize("delay_s", [0.1, 0.2, 0.4, 0.6, 0.9])
def test_sigterm_in_the_first_second_exits_0_never_killed_and_without_traceback(tmp_path: Path, delay_s: float) -> None:
    proc = _popen(tmp_path, *SMA, "--replay", str(QUOTES), "--speed", "1")
    time.sleep(delay_s)

    proc.send_signal(signal.SIGTERM)
    code, _, _, err = _finish(proc, wait_s=15)

    assert code == 0, (code, err[-2000:])  # -15 (143 in a shell) would mean the signal killed it
    assert "Traceback" not in err
