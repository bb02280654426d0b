"""Restart rule, live: a restarted ``sma_cross`` trades on its first bar after the restart (issue 16).

The real CLI with real ccxt against the loopback emulator, whose prices move only by its controls. The
first run sees a falling market (fast SMA below slow, no order), then SIGTERM journals its state. The
second run sees fewer new bars than the slow window holds (``slow`` = 4; it gets 2), the second of them
far above the rest: an up-cross on the first bar built from the second run's own quotes. Only a
strategy whose averages are ready from its first bar after the restart can buy there; one that waited
``slow`` bars again would not trade at all.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.restart_live import push_quote
from tests.integration.restart_live import run_until
from tests.integration.restart_live import still_emulator
from tests.integration.restart_live import write_config
from trading_bot.emulator import BinanceEmulator

KEYS = ("restart-key", "restart-secret")
PARAMS = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": True}


def _own_buys(emu: BinanceEmulator) -> list[dict[str, object]]:
    return [o for o in emu.orders() if str(o.get("clientOrderId", "")).startswith("rs-") and o["side"] == "BUY"]


@pytest.mark.asyncio
async def test_a_restarted_live_sma_cross_trades_on_its_first_bar_after_the_restart(tmp_path: Path) -> None:
    async with still_emulator(KEYS, seed=5) as emu:
        config = write_config(tmp_path, emu, "rs", "sma_cross", PARAMS)

        async def falling() -> None:  # 6 closed bars, fast below slow all along: no cross, no order
            for i in range(7):
                await push_quote(emu, 60_000 - 50 * i)

        code1, first, events1 = await run_until(emu, tmp_path, config, "first", KEYS, falling)
        assert code1 == 0, events1[-5:]
        assert _own_buys(emu) == []
        assert first["strategy_summary"] == {"signals": 0}

        async def jump() -> None:  # 2 new bars (< slow): the second quote closes the bar of the first
            await push_quote(emu, 61_000)
            await push_quote(emu, 61_010)  # a changed quote: an unchanged one is not published

        code2, second, events2 = await run_until(emu, tmp_path, config, "second", KEYS, jump,
                                                 lambda: bool(_own_buys(emu)))

    assert code2 == 0, events2[-5:]
    restored = [e for e in events2 if e.get("event") == "strategy_state_restored"]
    assert restored, "the second run did not restore the journaled state"
    buys = _own_buys(emu)
    assert len(buys) == 1, buys  # the up-cross on the first bar of the restarted run's own quotes
    assert Decimal(str(buys[0]["origQty"])) == Decimal("0.001")
    assert second["strategy_summary"] == {"signals": 1}  # the restored count plus this run's one cross
