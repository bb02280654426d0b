"""``runbot.py ctl``: status and operator commands against a running bot's monitor (both real processes).

Rules guarded: ``ctl status`` prints the trading state and each instrument; ``ctl halt`` halts the bot (the
next ``status`` says halted, with the reason given; the journaling of operator actions is
``test_monitor.py``'s: a replay keeps no journal); a command that does not apply (flatten
of an unknown instrument) exits 1 with its detail; a missing or wrong token and an unreachable bot exit 1
with one line; an unknown action or a bad flag exits 2; the token is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.conftest import run_cli
from tests.integration.test_monitor_cli import REPLAY
from tests.integration.test_monitor_cli import _free_port

TOKEN = "ctl-monitor-token-0123456789abcdef"


async def _ctl(*args: str, **env: str) -> tuple[int | None, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "ctl", *args, env=cli_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


async def _until_up(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the monitor did not come up")


@pytest.mark.asyncio
async def test_ctl_reads_status_halts_the_bot_and_refuses_what_does_not_apply(tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), *REPLAY, "--speed", "3", "--monitor", "--monitor-port", str(port),
        "--log-format", "json", cwd=tmp_path, env=cli_env(TRADING_BOT__MONITOR__TOKEN=TOKEN),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    try:
        await _until_up(port)
        before = await _ctl("status", "--url", url, "--token-file", str(token_file))
        halted = await _ctl("halt", "--url", url, "--reason", "maintenance", TRADING_BOT__MONITOR__TOKEN=TOKEN)
        after = await _ctl("status", "--url", url, "--json", TRADING_BOT__MONITOR__TOKEN=TOKEN)
        unknown = await _ctl("flatten", "--url", url, "--instrument", "DOGE/USDT", TRADING_BOT__MONITOR__TOKEN=TOKEN)
        no_token = await _ctl("halt", "--url", url)
        wrong = await _ctl("resume", "--url", url, TRADING_BOT__MONITOR__TOKEN="x" * 32)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), timeout=60)

    assert before[0] == 0, before
    assert "trading state active" in before[1]
    assert "BTC/USDT" in before[1]
    assert halted[0] == 0, halted
    assert "halt: trading state halted" in halted[1]
    assert after[0] == 0
    assert json.loads(after[1])["trading_state"] == "halted"
    assert "maintenance" in json.loads(after[1])["trading_state_reason"]
    assert unknown[0] == 1
    assert "unknown instrument 'DOGE/USDT'" in unknown[2]
    assert no_token[0] == 1
    assert "no token given (HTTP 401)" in no_token[2]
    assert wrong[0] == 1
    assert "the token was refused (HTTP 403)" in wrong[2]
    for _code, out, err in (before, halted, after, unknown, no_token, wrong):
        assert TOKEN not in out + err


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["explode"], 2, "unknown action 'explode'"),
        (["halt", "--instrument", "BTC/USDT"], 2, "--instrument applies to cancel-all and flatten only"),
        (["status", "--url", "ftp://x"], 2, "--url: expected http://HOST:PORT"),
        (["status", "--url", "http://127.0.0.1:99999"], 2, "--url: the port must be 0..65535"),
        (["status", "--timeout", "nan"], 2, "--timeout"),
        (["status", "--token-file", "/nonexistent/token"], 2, "--token-file /nonexistent/token: cannot be read"),
        (["status", "--url", "http://127.0.0.1:9", "--timeout", "2"], 1, "cannot reach the bot's monitor"),
    ],
)
def test_ctl_bad_input_and_an_unreachable_bot_are_one_line(args: list[str], code: int, text: str) -> None:
    done = run_cli("ctl", *args)

    assert done.returncode == code, done.stderr
    assert text in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
