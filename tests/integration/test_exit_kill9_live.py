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
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.restart_live import push_quote
from tests.integration.restart_live import run_until
from tests.integration.restart_live import still_emulator
from tests.integration.restart_live import write_config
from trading_bot.emulator import BinanceEmulator

KEYS = ("exit-key", "exit-secret")
PARAMS = {"bar_timeframe": "1s", "interval_bars": 1000, "amount": "100", "take_profit": "10", "stop_loss": "0.01"}


def _own(emu: BinanceEmulator, side: str) -> list[dict[str, object]]:
    return [o for o in emu.orders() if str(o.get("clientOrderId", "")).startswith("ex-") and o["side"] == side
            and Decimal(str(o["executedQty"])) > 0]  # fmt: skip


@pytest.mark.asyncio
async def test_a_stop_loss_attached_on_entry_is_still_watched_after_a_kill_9_and_fires(tmp_path: Path) -> None:
    async with still_emulator(KEYS, seed=7) as emu:
        config = write_config(tmp_path, emu, "ex", "dca", PARAMS)

        async def first_bar() -> None:  # the second quote closes the first bar: dca buys
            await push_quote(emu, 60_000)
            await push_quote(emu, 60_010)
            await asyncio.sleep(30)

        code1, _, events1 = await run_until(emu, tmp_path, config, "first", KEYS, first_bar,
                                            lambda: bool(_own(emu, "BUY")), signal.SIGKILL)  # fmt: skip
        assert code1 == -signal.SIGKILL, events1[-5:]
        (buy,) = _own(emu, "BUY")
        assert _own(emu, "SELL") == []

        async def fall() -> None:  # 1.7 % below the entry: past the 1 % stop-loss
            await push_quote(emu, 59_000)
            await push_quote(emu, 58_990)
            await asyncio.sleep(30)

        code2, second, events2 = await run_until(emu, tmp_path, config, "second", KEYS, fall,
                                                 lambda: bool(_own(emu, "SELL")))  # fmt: skip

    assert code2 == 0, events2[-5:]
    assert [e for e in events2 if e.get("event") == "exit_restored"], "the plan was not restored from the journal"
    (sell,) = _own(emu, "SELL")
    assert sell["executedQty"] == buy["executedQty"]  # the whole position, once
    assert sell["clientOrderId"] != buy["clientOrderId"]
    fired = [e for e in events2 if e.get("event") == "exit_fired"]
    assert [e["barrier"] for e in fired] == ["sl"]
    assert len(_own(emu, "BUY")) == 1  # no second buy after the restart
    assert second["strategy_summary"]["exits_sl"] == 1
