"""Restart rule, live: a restarted ``sma_cross`` trades on its first bar after the restart (issue 16).

The real CLI with real ccxt against the loopback emulator, whose prices move only by its controls. The
first run sees a falling market (fast SMA below slow, no order), then SIGTERM journals its state. The
second run sees fewer new bars than the slow window holds (``slow`` = 4; it gets 2), the second of them
far above the rest: an up-cross on the first bar built from the second run's own quotes. Only a
strategy whose averages are ready from its first bar after the restart can buy there; one that waited
``slow`` bars again would not trade at all.
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

KEY, SECRET = "restart-key", "restart-secret"
SYMBOL = "BTC/USDT"
PARAMS = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": True}
BAR_GAP_S = 1.2
"""Seconds between two pushed quotes: each lands in a later 1 s bucket, so it closes the previous bar
(the emulator publishes a quote only when it changes)."""


def _config(tmp_path: Path, emu: BinanceEmulator) -> Path:
    config = {
        "bot": {"bot_id": "rs", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 5},
        "strategy": {"name": "sma_cross", "params": PARAMS},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


async def _quote(emu: BinanceEmulator, mid: int) -> None:
    await emu.set_quote(SYMBOL, Decimal(mid) - Decimal("0.5"), Decimal(mid) + Decimal("0.5"))
    await asyncio.sleep(BAR_GAP_S)


def _streaming(emu: BinanceEmulator) -> bool:
    """True once a market stream of the symbol is subscribed (a quote pushed earlier would be missed)."""
    return any(key.startswith("btcusdt@") for conn in emu._hub._conns for key in conn.streams)


async def _run(
    emu: BinanceEmulator,
    tmp_path: Path,
    config: Path,
    name: str,
    drive: Callable[[], Awaitable[None]],
    done: Callable[[], bool],
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Start the CLI; once it started and streams the symbol, ``drive()`` the market; SIGTERM on ``done()`` (≤ 20 s)."""
    log = tmp_path / f"{name}.log"
    env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET)
    with log.open("wb") as err:  # a file, not a pipe: a full pipe would stall the bot's logging
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
            await drive()
            deadline = loop.time() + 20
            while loop.time() < deadline and proc.returncode is None and not done():
                await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else {}, events


def _own_buys(emu: BinanceEmulator) -> list[dict[str, object]]:
    return [o for o in emu.orders() if str(o.get("clientOrderId", "")).startswith("rs-") and o["side"] == "BUY"]


@pytest.mark.asyncio
async def test_a_restarted_live_sma_cross_trades_on_its_first_bar_after_the_restart(tmp_path: Path) -> None:
    emulator = BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=None, seed=5,
                                              start_price=Decimal(60_000)))  # fmt: skip
    async with emulator as emu:
        config = _config(tmp_path, emu)

        async def falling() -> None:  # 6 closed bars, fast below slow all along: no cross, no order
            for i in range(7):
                await _quote(emu, 60_000 - 50 * i)

        code1, first, events1 = await _run(emu, tmp_path, config, "first", falling, lambda: True)
        assert code1 == 0, events1[-5:]
        assert _own_buys(emu) == []
        assert first["strategy_summary"] == {"signals": 0}

        async def jump() -> None:  # 2 new bars (< slow): the second quote closes the bar of the first
            await _quote(emu, 61_000)
            await _quote(emu, 61_010)  # a changed quote: an unchanged one is not published

        code2, second, events2 = await _run(emu, tmp_path, config, "second", jump, lambda: bool(_own_buys(emu)))

    assert code2 == 0, events2[-5:]
    restored = [e for e in events2 if e.get("event") == "strategy_state_restored"]
    assert restored, "the second run did not restore the journaled state"
    buys = _own_buys(emu)
    assert len(buys) == 1, buys  # the up-cross on the first bar of the restarted run's own quotes
    assert Decimal(str(buys[0]["origQty"])) == Decimal("0.001")
    assert second["strategy_summary"] == {"signals": 1}  # the restored count plus this run's one cross
