"""Helpers for the live restart tests: the CLI against the loopback emulator, whose prices move only by its
controls, run until a condition holds and then stopped with a chosen signal (SIGTERM, or SIGKILL for a crash).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

SYMBOL = "BTC/USDT"
BAR_GAP_S = 1.2
"""Seconds between two pushed quotes: each lands in a later 1 s bar, so it closes the previous one (the
emulator publishes a quote only when it changes)."""


def still_emulator(keys: tuple[str, str], seed: int) -> BinanceEmulator:
    """An emulator of BTC/USDT at 60,000 whose price moves only by ``push_quote`` (no random walk)."""
    return BinanceEmulator(EmulatorConfig(api_key=keys[0], api_secret=keys[1], walk_interval_s=None, seed=seed,
                                          start_price=Decimal(60_000)))  # fmt: skip


def write_config(tmp_path: Path, emu: BinanceEmulator, bot_id: str, strategy: str, params: dict[str, Any]) -> Path:
    """Write a live config for ``strategy`` on the emulator (heartbeat 0.2 s, the data-age and rate rules off)."""
    config = {
        "bot": {"bot_id": bot_id, "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 5},
        "strategy": {"name": strategy, "params": params},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


async def push_quote(emu: BinanceEmulator, mid: int) -> None:
    """Quote ``mid`` ± 0.5, then wait ``BAR_GAP_S``."""
    await emu.set_quote(SYMBOL, Decimal(mid) - Decimal("0.5"), Decimal(mid) + Decimal("0.5"))
    await asyncio.sleep(BAR_GAP_S)


def streaming(emu: BinanceEmulator) -> bool:
    """True once a market stream of the symbol is subscribed (a quote pushed earlier would be missed)."""
    return any(key.startswith("btcusdt@") for conn in emu._hub._conns for key in conn.streams)


async def run_until(
    emu: BinanceEmulator,
    tmp_path: Path,
    config: Path,
    name: str,
    keys: tuple[str, str],
    drive: Callable[[], Awaitable[None]],
    done: Callable[[], bool] | None = None,
    stop: signal.Signals = signal.SIGTERM,
    *,
    symbol: str = SYMBOL,
    ready: Callable[[], bool] | None = None,
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Start the CLI on ``symbol``; once it started and streams it (``ready()``, default: the spot stream is
    subscribed), ``drive()`` the market; send ``stop`` as soon as ``done()`` holds (checked every 20 ms while
    driving, then for up to 25 s; ``None``: once ``drive()`` returned). Return the exit code, the ``--json``
    summary and the JSON log events."""
    streams = ready if ready is not None else lambda: streaming(emu)
    log = tmp_path / f"{name}.log"
    env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=keys[0], TRADING_BOT__EXCHANGE__SECRET=keys[1])
    with log.open("wb") as err:  # a file, not a pipe: a full pipe would stall the bot's logging
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--log-format", "json", "--json",
            "--symbol", symbol, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while loop.time() < deadline and proc.returncode is None:
            if "bot_started" in log.read_text() and streams():
                break
            await asyncio.sleep(0.1)
        if proc.returncode is None:
            driving = asyncio.ensure_future(drive())
            finished = done if done is not None else driving.done
            deadline = loop.time() + 25
            while loop.time() < deadline and proc.returncode is None and not finished():
                await asyncio.sleep(0.02)
            proc.send_signal(stop)
            driving.cancel()
            await asyncio.gather(driving, return_exceptions=True)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else {}, events
