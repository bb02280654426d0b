"""kill -9 at random moments of a bot trading on two venues, restarted on the same journal: on each venue
nothing lost and nothing twice, and no client order id ever sent to both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.chaos_venues import run_venue_chaos


@pytest.mark.asyncio
async def test_kill9_restarts_of_a_two_venue_bot_reconcile_both_venues_with_nothing_lost_or_twice(
    tmp_path: Path,
) -> None:
    result = await run_venue_chaos(tmp_path, kills=8)
    verdict = result.describe()

    assert sum(result.kills.values()) == 8, verdict
    assert sum(n for mode, n in result.kills.items() if ":exit" not in mode) >= 6, verdict  # really killed
    assert result.final_exit_code == 0, verdict
    assert result.duplicate_posts_across_venues == [], verdict
    for venue, ledger in result.ledgers.items():
        assert ledger.posts > 0, (venue, verdict)
        assert ledger.exchange_fills > 0, (venue, verdict)
        assert ledger.duplicate_posts == [], (venue, verdict)
        assert ledger.fills_missing_in_journal == [], (venue, verdict)  # every fill of the venue is journaled...
        assert ledger.fills_twice_in_journal == [], (venue, verdict)  # ...once, under that venue
        assert ledger.journal_position == ledger.exchange_position, (venue, verdict)
        assert ledger.untracked_orders == [], (venue, verdict)
