"""Two minutes of seeded fault storm (5xx bursts, 429 + Retry-After, WebSocket drops, latency spikes beyond the
request timeout, clock skew, accept-then-timeout) against the CLI trading the grid on the emulator, SIGTERM
under faults, one calm final run: nothing sent twice, every fill journaled once, no take-profit lost, exit 0.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.stress.storm import EXIT_MARGIN_S
from tests.stress.storm import KINDS
from tests.stress.storm import SHUTDOWN_TIMEOUT_S
from tests.stress.storm import describe
from tests.stress.storm import run_storm


@pytest.mark.asyncio
async def test_two_minute_fault_storm_sends_nothing_twice_loses_no_fill_and_no_take_profit(tmp_path: Path) -> None:
    result = await run_storm(tmp_path, duration_s=120)
    verdict = describe(result)
    ledger = result.ledger

    assert set(result.episodes) == set(KINDS), verdict  # every kind of fault was injected
    assert ledger.posts > 0, verdict
    assert ledger.exchange_fills > 0, verdict
    assert result.take_profit_fills > 0, verdict  # take-profits filled: cycles completed under the storm
    assert ledger.duplicate_posts == [], verdict  # no client order id POSTed twice (whatever the answer)
    assert ledger.fills_missing_in_journal == [], verdict  # every exchange fill of ours is journaled...
    assert ledger.fills_twice_in_journal == [], verdict  # ...exactly once
    assert ledger.journal_position == ledger.exchange_position, verdict
    assert ledger.untracked_orders == [], verdict
    # No take-profit lost: the sells placed hedge exactly the filled opens, each at or above its target.
    assert result.take_profit_placed == result.filled_open, verdict
    assert result.sells_ended_unfilled == [], verdict
    assert result.below_target == [], verdict
    assert result.queued_exits_at_end == [], verdict  # none still owed after the final run
    assert Decimal(result.unhedged_at_end) == 0, verdict
    assert result.events["grid_exit_order_lost"] == 0, verdict
    # SIGTERM with faults active: exit 0 within shutdown_timeout_s + margin; the calm final run exits 0 too.
    assert [code for code, _ in result.storm_exits] == [0], verdict
    assert all(s <= SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S for _, s in result.storm_exits), verdict
    assert result.unexpected_exits == [], verdict
    assert result.final_exit_code == 0, verdict
    assert result.tracebacks == 0, verdict
    assert result.ok, verdict
