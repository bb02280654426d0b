"""The kill -9 chaos run: the bot trades on the emulator and is SIGKILLed at random moments, then restarted.

Kill moments (seeded): at a random time while trading; right after a journaled intent and before its
request leaves (the bot kills itself through ``TRADING_BOT_CHAOS_KILL_AFTER_INTENT``); and while the
emulator holds back the answer to an order it has already accepted (``accept_then_timeout``). After the
kills, prices stop moving, one last orderly run reconciles and stops with SIGTERM, and the emulator's own
logs are checked against the journal.

The run targets the spot venue (``harness.SPOT``: a buy grid on BTC/USDT) or the USDⓈ-M venue
(``harness.USDM``: a sell grid on the perpetual BTC/USDT:USDT, funding settled every
``FUNDING_INTERVAL_MS``, the mark driven by the price walk); on the swap the ledger also checks the venue's
position and its funding payments against the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.stress.harness import KEY
from tests.stress.harness import SECRET
from tests.stress.harness import SPOT
from tests.stress.harness import Ledger
from tests.stress.harness import RequestRecorder
from tests.stress.harness import Target
from tests.stress.harness import check_ledger
from tests.stress.harness import grid_config
from tests.stress.harness import start_bot
from tests.stress.harness import wait_for_log
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.futures.config import FuturesConfig

CHAOS_BOT = Path(__file__).resolve().parent / "chaos_bot.py"  # runbot.py + a SIGKILL after a journaled intent
BOT_ID = "cx"
D = Decimal
PARAMS = {"quantity": "0.001", "take_profit": "0.004", "max_orders": 6, "wait_time": 1, "fill_timeout": 1,
          "recheck_interval": 1}  # fmt: skip
PERP_PARAMS = {**PARAMS, "quantity": "0.002", "direction": "sell", "post_only_retries": 3}
"""The swap's grid: shorts opened post-only, taken profit reduce-only (0.002 BTC: above the 5 USDT minimum)."""
FUNDING_INTERVAL_MS = 1500
"""The USDⓈ-M venue's funding interval in the chaos run, ms (Binance: 8 h)."""


@dataclass
class ChaosResult:
    """What a chaos run saw and what it checked."""

    kills: Counter[str] = field(default_factory=Counter)
    ledger: Ledger = field(default_factory=Ledger)
    final_exit_code: int | None = None

    @property
    def ok(self) -> bool:
        """True when every exactly-once rule held and the final run exited 0."""
        return self.ledger.ok and self.final_exit_code == 0


async def drive_prices(
    emu: BinanceEmulator, rng: random.Random, stop: asyncio.Event, sell_below: Decimal = D(0), target: Target = SPOT
) -> None:
    """A seeded walk of ``target``'s symbol around 60,000 with trades that fill resting orders (sells printed
    ``sell_below`` under the bid, to reach bids resting deeper than the touch)."""
    mid = D("60000")
    while not stop.is_set():
        mid += D(rng.choice((-3, -2, -1, 0, 1, 2, 3)))
        bid, ask = mid - D("0.05"), mid + D("0.05")
        await target.quote(emu, bid, ask)
        if rng.random() < 0.5:
            side = rng.choice(("buy", "sell"))
            await target.trade(emu, ask if side == "buy" else bid - sell_below, D("0.01"), side)
        await asyncio.sleep(0.02)


AFTER_INTENT_WAIT_S = 15.0
"""How long an ``after_intent`` run may live before the runner kills it instead of the seam, seconds."""
HOLD_DELAY_S = 5
"""How long the emulator holds back an accepted order's answer in an ``accept_hold`` run, seconds."""
HOLD_WAIT_S = 15.0
"""How long an ``accept_hold`` run may take to send the order whose answer is held, seconds."""


async def until_held(emu: BinanceEmulator, timeout_s: float) -> bool:
    """Wait until the armed accept-then-timeout fault has taken an order POST (the emulator disarms it then);
    False if none came within ``timeout_s``. The kill then lands while that answer is held back, however
    slowly a loaded machine started the bot."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while emu.faults().get("accept_then_timeout"):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def run_chaos(workdir: Path, kills: int, seed: int = 20261121, target: Target = SPOT) -> ChaosResult:
    """Run ``kills`` kill -9 cycles and one orderly final run on ``target``'s venue; return what the logs show.

    ``seed`` fixes the kill modes and moments, and (apart) the price walk: the two never share a generator,
    so how far the walk got does not change which kills a seed makes."""
    rng = random.Random(seed)
    result = ChaosResult()
    log = workdir / "bot.log"
    futures = FuturesConfig(funding_interval_ms=FUNDING_INTERVAL_MS) if target.swap else None
    async with BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=20, futures=futures)) as emu:
        await target.quote(emu, D("59999.95"), D("60000.05"))
        params = PERP_PARAMS if target.swap else PARAMS
        config = grid_config(workdir, emu, bot_id=BOT_ID, params=params, target=target)
        requests = RequestRecorder(emu)
        stop_prices, stop_recording = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            recorder = tg.create_task(requests.run(stop_recording))
            driver = tg.create_task(drive_prices(emu, random.Random(f"{seed}-prices"), stop_prices, target=target))
            for i in range(kills):
                mode = rng.choice(("random", "random", "after_intent", "accept_hold"))
                entry = [str(CHAOS_BOT), "0.5", str(seed + i)] if mode == "after_intent" else None
                since = log.stat().st_size if log.exists() else 0
                proc = await start_bot(workdir, config, log, entry=entry)
                started = await wait_for_log(proc, log, since)
                if mode == "accept_hold" and started:
                    emu.set_faults(accept_then_timeout=True, accept_timeout_delay_s=HOLD_DELAY_S)
                    await until_held(emu, HOLD_WAIT_S)
                if started:
                    wait_s = rng.uniform(0.3, 2.5)  # accept_hold: less than HOLD_DELAY_S after the held POST
                    if mode == "after_intent":  # let the seam fire (p = 0.5 per intent), even on a loaded machine
                        wait_s = AFTER_INTENT_WAIT_S
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), timeout=wait_s)
                if proc.returncode is None:
                    proc.send_signal(signal.SIGKILL)
                await proc.wait()
                result.kills[mode if proc.returncode == -signal.SIGKILL else f"{mode}:exit{proc.returncode}"] += 1
                emu.set_faults(accept_then_timeout=False)
            stop_prices.set()
            await driver
            # The final, orderly run: reconcile everything, then SIGTERM (prices no longer move: nothing fills).
            since = log.stat().st_size
            proc = await start_bot(workdir, config, log)
            await wait_for_log(proc, log, since)
            await asyncio.sleep(1.5)
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            result.final_exit_code = await asyncio.wait_for(proc.wait(), timeout=30)
            stop_recording.set()
            await recorder
        result.ledger = await check_ledger(emu, requests, workdir / "var" / "journal.db", BOT_ID, target=target)
    return result


def describe(result: ChaosResult) -> dict[str, Any]:
    """Return the result as JSON-friendly data."""
    return {
        "ok": result.ok,
        "kills": dict(result.kills),
        **result.ledger.describe(),
        "final_exit_code": result.final_exit_code,
    }
