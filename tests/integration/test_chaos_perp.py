"""kill -9 at random moments on a perpetual swap, restart with the same journal: nothing lost, nothing twice.

Issue 13: the chaos run also covers a perp instrument. A sell grid on BTC/USDT:USDT trades through real ccxt
``binanceusdm`` against the emulator's USDⓈ-M venue, funding settling every 1.5 s, and is SIGKILLed ten times
(at random, right after a journaled intent, while the venue holds back an accepted order's answer). After
the orderly final run: no client order id was sent twice, every fill and every funding payment is journaled
once, and the journal's position equals the venue's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.chaos import describe
from tests.stress.chaos import run_chaos
from tests.stress.harness import USDM

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
