"""``runbot.py --monitor``: the monitor of a real CLI run (a subprocess replaying recorded quotes).

Rules guarded: with ``--monitor`` and ``TRADING_BOT__MONITOR__TOKEN`` the run serves ``/health`` (200) and the
token-protected API while it trades and stops with exit 0 on SIGTERM; without a token it is refused before it
starts (exit 2, one line naming the variable); a port already taken is one line and exit 1, before trading.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.conftest import run_cli

TOKEN = "cli-monitor-token-0123456789abcdef"
QUOTES = ROOT / "trading_bot" / "sample_data" / "binance_BTCUSDT_quotes_2024-08-08.csv.gz"
REPLAY = ("--strategy", "grid", "--exchange", "binance", "--symbol", "BTC/USDT", "--replay", str(QUOTES),
          "--quantity", "0.001", "--take-profit", "0.02", "--max-orders", "10")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.asyncio
async def test_a_run_with_monitor_serves_health_and_the_api_and_stops_with_exit_0(tmp_path: Path) -> None:
    port = _free_port()
    env = cli_env(TRADING_BOT__MONITOR__TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), *REPLAY, "--speed", "5", "--monitor", "--monitor-port", str(port),
        "--log-format", "json", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    health = status = unauthorized = None
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/health") as answer:
                        health = (answer.status, await answer.json())
                        break
                await asyncio.sleep(0.1)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.get(f"http://127.0.0.1:{port}/api/v1/status", headers=headers) as answer:
                status = (answer.status, await answer.json())
            async with http.post(f"http://127.0.0.1:{port}/api/v1/halt") as answer:
                unauthorized = answer.status
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    logs = err.decode()
    assert health is not None, logs[-3000:]
    assert health[0] == 200, health
    assert health[1]["connected"] is True
    assert status is not None
    assert status[0] == 200
    assert status[1]["instruments"] == ["binance:BTC/USDT"]
    assert unauthorized == 401
    assert proc.returncode == 0, logs[-3000:]
    assert TOKEN not in logs
    assert TOKEN not in out.decode()


def test_monitor_without_a_token_is_refused_before_the_run_with_exit_2(tmp_path: Path) -> None:
    done = run_cli(*REPLAY, "--monitor", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "TRADING_BOT__MONITOR__TOKEN" in lines[0]
    assert "bot_started" not in done.stderr


def test_a_monitor_port_already_taken_is_one_line_and_exit_1_before_trading(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(*REPLAY, "--monitor-port", str(port), cwd=tmp_path, TRADING_BOT__MONITOR__TOKEN=TOKEN)
    assert done.returncode == 1, done.stderr
    assert f"monitor: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "bot_started" not in done.stderr
    assert TOKEN not in done.stderr
