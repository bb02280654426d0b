"""kill -9 at random moments on a perpetual swap, restart with the same journal: nothing lost, nothing twice.

Issue 13: the chaos run also covers a perp instrument. A sell grid on BTC/USDT:USDT trades through real ccxt
``binanceusdm`` against the emulator's USDⓈ-M venue, funding settling every 1.5 s, and is SIGKILLed ten times
(at random, right after a journaled intent, while the venue holds back an accepted order's answer). After
the orderly final run: no client order id was sent twice, every fill and every funding payment is journaled
once, and the journal's position equals the venue's.

"Every funding payment" is checked for the payments due before the bot's latest ask of the venue's income
history. ``test_funding_settled_while_the_bot_runs_is_journaled_by_that_run`` checks that a running bot asks
(after each announced funding time and once more at shutdown: ``trading_bot.runtime.funding_poll``).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stress.chaos import FUNDING_INTERVAL_MS
from tests.stress.chaos import PERP_PARAMS
from tests.stress.chaos import describe
from tests.stress.chaos import run_chaos
from tests.stress.harness import FUNDING_SETTLE_SLACK_MS
from tests.stress.harness import KEY
from tests.stress.harness import SECRET
from tests.stress.harness import USDM
from tests.stress.harness import RequestRecorder
from tests.stress.harness import check_ledger
from tests.stress.harness import grid_config
from tests.stress.harness import start_bot
from tests.stress.harness import wait_for_log
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.futures.config import FuturesConfig

KILLS = 10
SEED = 20261204  # its kills: 3 random, 3 after_intent, 4 accept_hold (tests.stress.chaos draws them from the seed)


@pytest.mark.asyncio
async def test_ten_kill9_restarts_on_a_perp_send_no_order_twice_and_lose_no_fill_or_funding(tmp_path: Path) -> None:
    result = await run_chaos(tmp_path, kills=KILLS, seed=SEED, target=USDM)
    verdict = describe(result)

    assert sum(result.kills.values()) == KILLS, verdict
    assert {mode.split(":")[0] for mode in result.kills} == {"random", "after_intent", "accept_hold"}, verdict
    ledger = result.ledger
    assert ledger.posts > 0, verdict
    assert ledger.held_posts > 0, verdict  # accept-then-timeout held an accepted /fapi/v1/order answer back
    assert ledger.exchange_fills > 0, verdict
    assert ledger.duplicate_posts == [], verdict  # no client order id was ever sent twice
    assert ledger.fills_missing_in_journal == [], verdict  # every venue fill is in the journal...
    assert ledger.fills_twice_in_journal == [], verdict  # ...exactly once
    assert ledger.journal_position == ledger.exchange_position, verdict  # the journal's = the venue's position
    assert ledger.untracked_orders == [], verdict  # no order the bot sent is left untracked
    assert ledger.exchange_funding > 0, verdict  # the venue funded the bot's position...
    assert ledger.funding_missing_in_journal == [], verdict  # ...and every payment due is journaled...
    assert ledger.funding_twice_in_journal == [], verdict  # ...once
    assert ledger.funding_unknown_to_exchange == [], verdict  # and none the venue never paid
    assert result.final_exit_code == 0, verdict
    assert "chaos_kill_after_intent" in (tmp_path / "bot.log").read_text(), verdict  # the seam fired


async def _until(predicate: Callable[[], object], timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.asyncio
async def test_funding_settled_while_the_bot_runs_is_journaled_by_that_run(tmp_path: Path) -> None:
    futures = FuturesConfig(funding_interval_ms=FUNDING_INTERVAL_MS)
    async with BinanceEmulator(EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=20, futures=futures)) as emu:
        venue = emu.futures
        config = grid_config(tmp_path, emu, bot_id="cf", params=PERP_PARAMS, target=USDM)
        requests, log = RequestRecorder(emu), tmp_path / "bot.log"
        proc = await start_bot(tmp_path, config, log)
        try:
            assert await wait_for_log(proc, log, 0), log.read_text()[-3000:]
            assert await _until(lambda: venue.engine.open_orders(), 20)  # the grid's first short, resting
            opened = venue.engine.open_orders()[0]
            venue.trade(USDM.symbol, opened.price, opened.orig_qty, "buy")  # fills it: the bot is short
            await asyncio.sleep(3 * FUNDING_INTERVAL_MS / 1000 + 1)  # three settlements on that short
            stopped_ms = venue.now_ms()
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), timeout=30)
        ledger = await check_ledger(emu, requests, tmp_path / "var" / "journal.db", "cf", target=USDM)
        paid_while_running = [i for i, ts in USDM.funding(emu) if ts < stopped_ms - FUNDING_SETTLE_SLACK_MS]
    verdict = ledger.describe()

    assert code == 0, log.read_text()[-3000:]
    assert ledger.journal_position == ledger.exchange_position != 0, verdict
    assert len(paid_while_running) >= 2, verdict
    assert ledger.journal_funding >= len(paid_while_running), verdict  # the run journaled what it was paid
