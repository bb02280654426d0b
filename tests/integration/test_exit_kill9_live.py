"""An exit attached on entry survives a kill -9 (issue 16): after the restart it is still watched, and fires.

The real CLI with real ccxt against the loopback spot emulator (which has no stop orders, so the stop-loss
is watched by the bot), prices moved only by the emulator's controls. The first run's ``dca`` buys on its
first closed 1 s bar with a 1 % stop-loss attached, and is killed with SIGKILL the moment the emulator has
filled the buy: nothing after the fill is given a chance to run. The second run must restore the plan from
the journal, see the price fall 1.7 % below the entry and sell the whole position, once, tagged ``sl``; it
must not buy again (the bar count came back with the plan).
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

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

KEY, SECRET = "exit-key", "exit-secret"
SYMBOL = "BTC/USDT"
PARAMS = {"bar_timeframe": "1s", "interval_bars": 1000, "amount": "100", "take_profit": "10", "stop_loss": "0.01"}
BAR_GAP_S = 1.2
"""Seconds between two pushed quotes: each lands in a later 1 s bar, so it closes the previous one."""


def _config(tmp_path: Path, emu: BinanceEmulator) -> Path:
    config = {
        "bot": {"bot_id": "ex", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 5},
        "strategy": {"name": "dca", "params": PARAMS},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


async def _quote(emu: BinanceEmulator, mid: int) -> None:
    await emu.set_quote(SYMBOL, Decimal(mid) - Decimal("0.5"), Decimal(mid) + Decimal("0.5"))
    await asyncio.sleep(BAR_GAP_S)


def _streaming(emu: BinanceEmulator) -> bool:
    return any(key.startswith("btcusdt@") for conn in emu._hub._conns for key in conn.streams)


def _own(emu: BinanceEmulator, side: str) -> list[dict[str, object]]:
    return [o for o in emu.orders() if str(o.get("clientOrderId", "")).startswith("ex-") and o["side"] == side
            and Decimal(str(o["executedQty"])) > 0]  # fmt: skip


async def _run(
    emu: BinanceEmulator,
    tmp_path: Path,
    config: Path,
    name: str,
    drive: Callable[[], Awaitable[None]],
    done: Callable[[], bool],
    stop: signal.Signals,
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Start the CLI; once it streams the symbol ``drive()`` the market; send ``stop`` as soon as ``done()``."""
    log = tmp_path / f"{name}.log"
    env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--log-format", "json", "--json",
            "--symbol", SYMBOL, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while loop.time() < deadline and proc.returncode is None:
            if "bot_started" in log.read_text() and _streaming(emu):
                break
            await asyncio.sleep(0.1)
        if proc.returncode is None:
            driving = asyncio.ensure_future(drive())
            deadline = loop.time() + 25
            while loop.time() < deadline and proc.returncode is None and not done():
                await asyncio.sleep(0.02)
            proc.send_signal(stop)
            driving.cancel()
            await asyncio.gather(driving, return_exceptions=True)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else {}, events


@pytest.mark.asyncio
async def test_a_stop_loss_attached_on_entry_is_still_watched_after_a_kill_9_and_fires(tmp_path: Path) -> None:
    emulator = BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=None, seed=7,
                                              start_price=Decimal(60_000)))  # fmt: skip
    async with emulator as emu:
        config = _config(tmp_path, emu)

        async def first_bar() -> None:  # the second quote closes the first bar: dca buys
            await _quote(emu, 60_000)
            await _quote(emu, 60_010)
            await asyncio.sleep(30)

        code1, _, events1 = await _run(emu, tmp_path, config, "first", first_bar, lambda: bool(_own(emu, "BUY")),
                                       signal.SIGKILL)  # fmt: skip
        assert code1 == -signal.SIGKILL, events1[-5:]
        (buy,) = _own(emu, "BUY")
        assert _own(emu, "SELL") == []

        async def fall() -> None:  # 1.7 % below the entry: past the 1 % stop-loss
            await _quote(emu, 59_000)
            await _quote(emu, 58_990)
            await asyncio.sleep(30)

        code2, second, events2 = await _run(emu, tmp_path, config, "second", fall, lambda: bool(_own(emu, "SELL")),
                                            signal.SIGTERM)  # fmt: skip

    assert code2 == 0, events2[-5:]
    assert [e for e in events2 if e.get("event") == "exit_restored"], "the plan was not restored from the journal"
    (sell,) = _own(emu, "SELL")
    assert sell["executedQty"] == buy["executedQty"]  # the whole position, once
    assert sell["clientOrderId"] != buy["clientOrderId"]
    fired = [e for e in events2 if e.get("event") == "exit_fired"]
    assert [e["barrier"] for e in fired] == ["sl"]
    assert len(_own(emu, "BUY")) == 1  # no second buy after the restart
    assert second["strategy_summary"]["exits_sl"] == 1
