"""The kill -9 chaos run on two venues: ``leg_pair`` trades one leg on each of two emulators (two accounts, two
API key pairs) and is SIGKILLed at random moments, then restarted on the same journal.

Kill moments (seeded) as in ``tests.stress.chaos``: at a random time while trading, or right after a journaled
intent and before its request leaves (``chaos_bot.py``). After the kills the prices stop, one orderly run
reconciles both venues and stops on SIGTERM, and each emulator's own logs are checked against that venue's
rows of the one journal — plus one rule across them: no client order id was ever sent twice, to either venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.stress.chaos import CHAOS_BOT
from tests.stress.chaos import drive_prices
from tests.stress.harness import Ledger
from tests.stress.harness import RequestRecorder
from tests.stress.harness import check_ledger
from tests.stress.harness import param
from tests.stress.harness import start_bot
from tests.stress.harness import wait_for_log
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

BOT_ID = "cv"
VENUES = ("spot", "alt")
D = Decimal


def _keys(venue: str) -> tuple[str, str]:
    return f"{venue}-chaos-key", f"{venue}-chaos-secret"


def _env() -> dict[str, str]:
    env = {}
    for venue in VENUES:
        key, secret = _keys(venue)
        env[f"TRADING_BOT__VENUES__{venue.upper()}__API_KEY"] = key
        env[f"TRADING_BOT__VENUES__{venue.upper()}__SECRET"] = secret
    return env


def _config(workdir: Path, emulators: dict[str, BinanceEmulator]) -> Path:
    config = {
        "bot": {"bot_id": BOT_ID, "data_dir": str(workdir / "var"), "heartbeat_s": 0.2, "on_shutdown": "keep",
                "shutdown_timeout_s": 10},
        "venues": {v: {"name": "binance", "ccxt_options": e.ccxt_options(), "request_timeout_s": 2}
                   for v, e in emulators.items()},
        "strategy": {"name": "leg_pair", "params": {"first": "spot:BTC/USDT", "second": "alt:BTC/USDT",
                                                    "quantity": "0.001", "offset_bps": 2, "take_profit_bps": 3,
                                                    "max_position": "0.004"}},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    return path


@dataclass
class VenueChaosResult:
    """What the two-venue chaos run saw: kills, one ledger per venue, the posts across both, the last exit."""

    kills: Counter[str] = field(default_factory=Counter)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    duplicate_posts_across_venues: list[str] = field(default_factory=list)
    final_exit_code: int | None = None

    def describe(self) -> dict[str, Any]:
        """Return the result as JSON-friendly data."""
        return {
            "kills": dict(self.kills),
            "venues": {v: ledger.describe() for v, ledger in self.ledgers.items()},
            "duplicate_posts_across_venues": self.duplicate_posts_across_venues,
            "final_exit_code": self.final_exit_code,
        }


async def run_venue_chaos(workdir: Path, kills: int, seed: int = 20261202) -> VenueChaosResult:
    """Run ``kills`` kill -9 cycles of a two-venue bot and one orderly final run; return what the logs show."""
    rng = random.Random(seed)
    result = VenueChaosResult()
    log = workdir / "bot.log"
    async with contextlib.AsyncExitStack() as stack:
        emulators: dict[str, BinanceEmulator] = {}
        for venue in VENUES:
            key, secret = _keys(venue)
            emu = BinanceEmulator(EmulatorConfig(api_key=key, api_secret=secret, history_bars=20))
            emulators[venue] = await stack.enter_async_context(emu)
            await emu.set_quote("BTC/USDT", "59999.95", "60000.05", "1", "1")
        config = _config(workdir, emulators)
        recorders = {v: RequestRecorder(e) for v, e in emulators.items()}
        stop_prices, stop_recording = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            for venue, emu in emulators.items():
                tg.create_task(recorders[venue].run(stop_recording))
                tg.create_task(drive_prices(emu, random.Random(f"{seed}-{venue}"), stop_prices, sell_below=D(10)))
            for i in range(kills):
                mode = rng.choice(("random", "random", "after_intent"))
                entry = [str(CHAOS_BOT), "0.3", str(seed + i)] if mode == "after_intent" else None
                since = log.stat().st_size if log.exists() else 0
                proc = await start_bot(workdir, config, log, _env(), entry=entry, exchange_keys=False)
                if await wait_for_log(proc, log, since):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), timeout=rng.uniform(0.5, 3.0))
                if proc.returncode is None:
                    proc.send_signal(signal.SIGKILL)
                await proc.wait()
                result.kills[mode if proc.returncode == -signal.SIGKILL else f"{mode}:exit{proc.returncode}"] += 1
            stop_prices.set()
            since = log.stat().st_size
            proc = await start_bot(workdir, config, log, _env(), exchange_keys=False)
            await wait_for_log(proc, log, since)
            await asyncio.sleep(1.5)
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            result.final_exit_code = await asyncio.wait_for(proc.wait(), timeout=30)
            stop_recording.set()
        journal = workdir / "var" / "journal.db"
        for venue, emu in emulators.items():
            result.ledgers[venue] = await check_ledger(emu, recorders[venue], journal, BOT_ID, venue=venue)
        posts = [param(r, "newClientOrderId") for rec in recorders.values() for r in rec.order_posts()]
        result.duplicate_posts_across_venues = [c for c, n in Counter(posts).items() if n > 1]
    return result
