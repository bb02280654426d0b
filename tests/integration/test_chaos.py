"""kill -9 at random moments, restart with the same journal: nothing lost, nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.chaos import describe
from tests.stress.chaos import run_chaos


@pytest.mark.asyncio
async def test_twenty_kill9_restarts_send_no_order_twice_and_lose_no_fill(tmp_path: Path) -> None:
    result = await run_chaos(tmp_path, kills=20)
    verdict = describe(result)

    assert sum(result.kills.values()) == 20, verdict
    ledger = result.ledger
    assert ledger.posts > 0, verdict
    assert ledger.exchange_fills > 0, verdict
    assert ledger.duplicate_posts == [], verdict  # no client order id was ever sent twice
    assert ledger.fills_missing_in_journal == [], verdict  # every exchange fill is in the journal...
    assert ledger.fills_twice_in_journal == [], verdict  # ...exactly once
    assert ledger.journal_position == ledger.exchange_position, verdict
    assert ledger.untracked_orders == [], verdict  # no order the bot sent is left untracked
    assert result.final_exit_code == 0, verdict
    # the after_intent kills came from the test seam (tests/stress/chaos_bot.py), between journal and request
    assert "chaos_kill_after_intent" in (tmp_path / "bot.log").read_text(), verdict
