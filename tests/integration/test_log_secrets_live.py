"""Debug logs of a live run with real ccxt against the emulator carry no signature, key or secret.

At ``--log-level debug`` ccxt logs every request it sends (``GET https://...&timestamp=...&signature=...,
Request: {'X-MBX-APIKEY': ...}``) through stdlib logging, which the bot routes into its own log pipeline.
The signature changes with every request, so it cannot be registered as a secret: the pipeline must
mask it by name. The bot runs as a subprocess; assertions are on its captured stderr.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.log import REDACTED

KEY, SECRET = "debug-log-key-1234", "debug-log-secret-5678"
HEADER_TOKEN = "hdr-tok-9c1e55a0"


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[BinanceEmulator]:
    config = EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=0.05, seed=5, history_bars=30)
    async with BinanceEmulator(config) as emu:
        yield emu


@pytest.mark.asyncio
async def test_debug_logs_of_a_live_run_show_no_request_signature_key_or_secret(
    tmp_path: Path, emulator: BinanceEmulator
) -> None:
    config = {
        "bot": {"bot_id": "dbg", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
        "exchange": {"name": "binance", "ccxt_options": emulator.ccxt_options(), "request_timeout_s": 5},
        "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001"}},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = cli_env(
        TRADING_BOT__EXCHANGE__API_KEY=KEY,
        TRADING_BOT__EXCHANGE__SECRET=SECRET,
        TRADING_BOT__EXCHANGE__CCXT_OPTIONS__HEADERS=json.dumps({"X-Auth-Token": HEADER_TOKEN}),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "--config", str(path), "--log-format", "json", "--log-level", "debug",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 45

    def signed_requests() -> int:
        return sum(1 for r in emulator.request_log() if "timestamp" in r.get("params", {}))

    while loop.time() < deadline and proc.returncode is None and signed_requests() < 3:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    logs = err.decode()

    assert proc.returncode == 0, logs[-3000:]
    assert signed_requests() >= 3
    assert "signature=" + REDACTED in logs  # ccxt's debug line for a signed request was logged, masked
    assert re.findall(r"signature=(?!\*{10})[^&\s\"',]+", logs) == []
    assert KEY not in logs
    assert SECRET not in logs
    assert HEADER_TOKEN not in logs
