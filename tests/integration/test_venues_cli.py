"""The CLI picks one of several configured venues by ``--symbol VENUE:SYMBOL`` and trades that account.

Real ccxt against the emulator as venue ``main``; venue ``dead`` points at a closed port and must never be
contacted; each venue's keys come from its own ``TRADING_BOT__VENUES__<NAME>__*`` variables.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.conftest import run_cli
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

KEY, SECRET = "venue-main-key", "venue-main-secret"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, main_options: dict[str, Any]) -> Path:
    dead = f"http://127.0.0.1:{_closed_port()}"
    config = {
        "bot": {"bot_id": "ven", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
        "venues": {
            "main": {"name": "binance", "ccxt_options": main_options, "request_timeout_s": 5},
            "dead": {"name": "binance", "ccxt_options": {"urls": {"api": {"public": dead, "private": dead}}}},
        },
        "strategy": {"name": "grid", "params": {"quantity": "0.001", "take_profit": "0.05", "max_orders": 2,
                                                "wait_time": 3600, "fill_timeout": 3600}},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.asyncio
async def test_symbol_with_a_venue_trades_that_venue_with_its_own_keys(tmp_path: Path) -> None:
    async with BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=5)) as emu:
        await emu.set_quote("BTC/USDT", "60000.00", "60000.10")
        config = _config(tmp_path, emu.ccxt_options())
        env = cli_env(TRADING_BOT__VENUES__MAIN__API_KEY=KEY, TRADING_BOT__VENUES__MAIN__SECRET=SECRET)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--symbol", "main:BTC/USDT",
            "--log-format", "json", cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline and proc.returncode is None and not emu.orders():
            await asyncio.sleep(0.1)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        logs = err.decode()

    assert proc.returncode == 0, logs[-3000:]
    assert [o["side"] for o in emu.orders() if str(o["clientOrderId"]).startswith("ven-")] == ["BUY"]
    assert '"instrument": "main:BTC/USDT"' in logs
    assert SECRET not in logs


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("mian:BTC/USDT", "error: bot.symbol: unknown venue 'mian' in 'mian:BTC/USDT' (did you mean 'main'?)"),
        ("BTC/USDT", "error: bot.symbol: BTC/USDT names no venue and 2 are configured; write VENUE:SYMBOL"),
    ],
)
def test_check_config_refuses_a_symbol_naming_no_configured_venue_with_exit_2(
    tmp_path: Path, symbol: str, expected: str
) -> None:
    config = json.loads(_config(tmp_path, {}).read_text())
    config["bot"]["symbol"] = symbol
    (tmp_path / "config.json").write_text(json.dumps(config))

    result = run_cli("check-config", str(tmp_path / "config.json"), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert result.stderr.startswith(expected), result.stderr


def test_check_config_accepts_a_strategy_that_names_its_instruments_on_two_venues(tmp_path: Path) -> None:
    """check-config resolves instruments as the bot does: leg_pair's own, not the default bare bot.symbol."""
    config = {
        "venues": {"spot": {"name": "binance"}, "alt": {"name": "binance"}},
        "strategy": {"name": "leg_pair", "params": {"first": "spot:BTC/USDT", "second": "alt:BTC/USDT",
                                                    "quantity": "0.001"}},
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))

    result = run_cli("check-config", str(tmp_path / "config.json"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
