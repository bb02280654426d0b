"""The kill -9 chaos run: the bot trades on the emulator and is SIGKILLed at random moments, then restarted.

Kill moments (seeded): at a random time while trading; right after a journaled intent and before its
request leaves (the bot, started by ``chaos_bot.py``, kills itself from an ``after_intent`` hook); and while the
emulator holds back the answer to an order it has already accepted (``accept_then_timeout``). After the
kills, prices stop moving, one last orderly run reconciles and stops with SIGTERM, and the emulator's own
logs are checked against the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.runtime.journal.store import Journal

ROOT = Path(__file__).resolve().parents[2]
RUNBOT = ROOT / "runbot.py"
CHAOS_BOT = Path(__file__).resolve().parent / "chaos_bot.py"  # runbot.py + a SIGKILL after a journaled intent
KEY, SECRET = "chaos-key", "chaos-secret"
BOT_ID = "cx"
D = Decimal


@dataclass
class ChaosResult:
    """What a chaos run saw and what it checked."""

    kills: Counter[str] = field(default_factory=Counter)
    posts: int = 0
    duplicate_posts: list[str] = field(default_factory=list)
    exchange_fills: int = 0
    journal_fills: int = 0
    fills_missing_in_journal: list[str] = field(default_factory=list)
    fills_twice_in_journal: list[str] = field(default_factory=list)
    journal_position: Decimal = field(default_factory=Decimal)
    exchange_position: Decimal = field(default_factory=Decimal)
    untracked_orders: list[str] = field(default_factory=list)
    final_exit_code: int | None = None

    @property
    def ok(self) -> bool:
        """True when every exactly-once rule held."""
        return (
            not self.duplicate_posts
            and not self.fills_missing_in_journal
            and not self.fills_twice_in_journal
            and self.journal_position == self.exchange_position
            and not self.untracked_orders
            and self.final_exit_code == 0
        )


async def _drive_prices(emu: BinanceEmulator, rng: random.Random, stop: asyncio.Event) -> None:
    """A seeded walk of BTC/USDT around 60,000 with trades that fill resting orders."""
    mid = D("60000")
    while not stop.is_set():
        mid += D(rng.choice((-3, -2, -1, 0, 1, 2, 3)))
        bid, ask = mid - D("0.05"), mid + D("0.05")
        await emu.set_quote("BTC/USDT", bid, ask, "1", "1")
        if rng.random() < 0.5:
            side = rng.choice(("buy", "sell"))
            await emu.trade("BTC/USDT", ask if side == "buy" else bid, "0.01", side)
        await asyncio.sleep(0.02)


def _config(workdir: Path, emu: BinanceEmulator) -> Path:
    params = {"quantity": "0.001", "take_profit": "0.004", "max_orders": 6, "wait_time": 1, "fill_timeout": 1,
              "recheck_interval": 1}
    config = {
        "bot": {"bot_id": BOT_ID, "data_dir": str(workdir / "var"), "heartbeat_s": 0.2, "on_shutdown": "keep",
                "shutdown_timeout_s": 10},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 2},
        "strategy": {"name": "grid", "params": params},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    return path


async def _start_bot(workdir: Path, config: Path, log: Path, entry: list[str]) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_BOT")}
    env.update({"TRADING_BOT__EXCHANGE__API_KEY": KEY, "TRADING_BOT__EXCHANGE__SECRET": SECRET})
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, *entry, "--config", str(config), "--log-format", "json",
            cwd=workdir, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )


async def _wait_started(proc: asyncio.subprocess.Process, log: Path, since: int, timeout_s: float = 20) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if proc.returncode is not None:
            return False
        if b"bot_started" in log.read_bytes()[since:]:
            return True
        await asyncio.sleep(0.05)
    return False


async def run_chaos(workdir: Path, kills: int, seed: int = 20261121) -> ChaosResult:
    """Run ``kills`` kill -9 cycles and one orderly final run; return what the logs show."""
    rng = random.Random(seed)
    result = ChaosResult()
    log = workdir / "bot.log"
    async with BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=20)) as emu:
        await emu.set_quote("BTC/USDT", "59999.95", "60000.05", "1", "1")
        config = _config(workdir, emu)
        stop_prices = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            driver = tg.create_task(_drive_prices(emu, rng, stop_prices))
            for i in range(kills):
                mode = rng.choice(("random", "random", "after_intent", "accept_hold"))
                entry = [str(CHAOS_BOT), "0.5", str(seed + i)] if mode == "after_intent" else [str(RUNBOT)]
                since = log.stat().st_size if log.exists() else 0
                proc = await _start_bot(workdir, config, log, entry)
                started = await _wait_started(proc, log, since)
                if mode == "accept_hold" and started:
                    emu.set_faults(accept_then_timeout=True, accept_timeout_delay_s=5)
                if started:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), timeout=rng.uniform(0.3, 2.5))
                if proc.returncode is None:
                    proc.send_signal(signal.SIGKILL)
                await proc.wait()
                result.kills[mode if proc.returncode == -signal.SIGKILL else f"{mode}:exit{proc.returncode}"] += 1
                emu.set_faults(accept_then_timeout=False)
            stop_prices.set()
            await driver
        # The final, orderly run: reconcile everything, then SIGTERM (prices no longer move: nothing fills).
        since = log.stat().st_size
        proc = await _start_bot(workdir, config, log, [str(RUNBOT)])
        await _wait_started(proc, log, since)
        await asyncio.sleep(1.5)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        result.final_exit_code = await asyncio.wait_for(proc.wait(), timeout=30)
        await _check(emu, workdir, result)
    return result


async def _check(emu: BinanceEmulator, workdir: Path, result: ChaosResult) -> None:
    own = f"{BOT_ID}-"
    posts = [
        str(r["params"].get("newClientOrderId"))
        for r in emu.request_log()
        if r["method"] == "POST" and str(r["path"]).endswith("/order")
    ]
    result.posts = len(posts)
    result.duplicate_posts = [coid for coid, n in Counter(posts).items() if n > 1]
    fills = [f for f in emu.fills() if str(f.get("clientOrderId", "")).startswith(own)]
    result.exchange_fills = len(fills)
    result.exchange_position = sum(
        (D(str(f["qty"])) if str(f["side"]).upper() == "BUY" else -D(str(f["qty"])) for f in fills), D(0)
    )
    journal = await Journal.open(f"sqlite+aiosqlite:///{workdir / 'var' / 'journal.db'}")
    try:
        journal_fills = await journal.fills(symbol="BTC/USDT")
        journal_orders = {o.client_order_id for o in await journal.orders(symbol="BTC/USDT")}
        result.journal_position = await journal.position("BTC/USDT")
    finally:
        await journal.close()
    result.journal_fills = len(journal_fills)
    counts = Counter(str(f.trade_id) for f in journal_fills)
    result.fills_twice_in_journal = [t for t, n in counts.items() if n > 1]
    result.fills_missing_in_journal = [str(f["id"]) for f in fills if str(f["id"]) not in counts]
    sent = {str(o["clientOrderId"]) for o in emu.orders() if str(o["clientOrderId"]).startswith(own)}
    result.untracked_orders = sorted(sent - journal_orders)


def describe(result: ChaosResult) -> dict[str, Any]:
    """Return the result as JSON-friendly data."""
    return {
        "ok": result.ok,
        "kills": dict(result.kills),
        "order_posts": result.posts,
        "duplicate_posts": result.duplicate_posts,
        "exchange_fills": result.exchange_fills,
        "journal_fills": result.journal_fills,
        "fills_missing_in_journal": result.fills_missing_in_journal,
        "fills_twice_in_journal": result.fills_twice_in_journal,
        "journal_position": str(result.journal_position),
        "exchange_position": str(result.exchange_position),
        "untracked_orders": result.untracked_orders,
        "final_exit_code": result.final_exit_code,
    }
