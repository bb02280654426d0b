"""Journal v3 (schema 4): perpetual-swap funding payments, one row per (venue, symbol, payment id).

A real SQLite file (and PostgreSQL when ``TRADING_BOT_TEST_PG_URL`` is set, as ``test_journal``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from tests.unit.runtime.test_journal import db_url  # noqa: F401 (the sqlite/postgresql fixture)
from trading_bot.domain import FundingPayment
from trading_bot.domain import SimulatedClock
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.journal.store import JournalWriter

pytestmark = pytest.mark.asyncio

SWAP = "BTC/USDT:USDT"
D = Decimal


def payment(pid: str, ts: int, amount: str = "-0.06000123", symbol: str = SWAP) -> FundingPayment:
    return FundingPayment(
        id=pid, symbol=symbol, ts_ms=ts, rate=D("0.0001"), mark_price=D("60001.23"), quantity=D("0.01"),
        amount=D(amount),
    )  # fmt: skip


@pytest_asyncio.fixture
async def journal(db_url: str) -> AsyncIterator[Journal]:  # noqa: F811
    journal = await Journal.open(db_url, venue="binance")
    yield journal
    await journal.close()


async def test_record_funding_twice_keeps_one_row_and_says_which_call_was_new(journal: Journal) -> None:
    """Rule: a funding payment is recorded once by its venue id (insert-or-ignore, as fills)."""
    run_id = await journal.start_run("bot", "cfg", 1)
    assert await journal.record_funding(payment("tran-1", 1000), 5, asset="USDT", run_id=run_id)
    assert not await journal.record_funding(payment("tran-1", 1000), 6, asset="USDT", run_id=run_id)
    (record,) = await journal.funding_payments()
    assert record.payment == payment("tran-1", 1000)  # every Decimal exact, as text
    assert (record.venue, record.asset, record.run_id, record.recorded_ms) == ("binance", "USDT", run_id, 5)


async def test_the_writer_queues_funding_and_a_duplicate_in_or_across_batches_is_one_row(journal: Journal) -> None:
    """Rule: the batched path skips a payment already journaled, in the same batch or a later one."""
    writer = JournalWriter(journal, SimulatedClock(7))
    writer.submit_funding(payment("tran-1", 1000), asset="USDT")
    writer.submit_funding(payment("tran-1", 1000), asset="USDT")
    await writer.flush()
    writer.submit_funding(payment("tran-1", 1000), asset="USDT")
    writer.submit_funding(payment("tran-2", 2000, "0.5"), asset="USDT", venue="okx")
    await writer.flush()
    records = await journal.funding_payments()
    assert [(r.venue, r.payment.id, r.recorded_ms) for r in records] == [("binance", "tran-1", 7), ("okx", "tran-2", 7)]


async def test_the_same_payment_id_on_two_venues_or_two_symbols_is_two_payments(journal: Journal) -> None:
    """Rule: payment ids are unique per venue and symbol only (two venues may both have id 1)."""
    assert await journal.record_funding(payment("1", 1000), 1, asset="USDT", venue="binance")
    assert await journal.record_funding(payment("1", 1000), 1, asset="USDT", venue="okx")
    assert await journal.record_funding(payment("1", 1000, symbol="ETH/USDT:USDT"), 1, asset="USDT")
    assert len(await journal.funding_payments()) == 3
    assert [r.venue for r in await journal.funding_payments(symbol=SWAP, venue="okx")] == ["okx"]


async def test_funding_queries_filter_by_time_and_give_the_latest_time(journal: Journal) -> None:
    for i, ts in enumerate((3000, 1000, 2000)):
        await journal.record_funding(payment(f"p{i}", ts), 1, asset="USDT")
    assert [r.payment.ts_ms for r in await journal.funding_payments()] == [1000, 2000, 3000]
    assert [r.payment.ts_ms for r in await journal.funding_payments(since_ms=2000)] == [2000, 3000]
    assert [r.payment.ts_ms for r in await journal.funding_payments(limit=1)] == [3000]
    assert await journal.last_funding_ms(SWAP, "binance") == 3000
    assert await journal.last_funding_ms(SWAP, "okx") is None
    assert await journal.last_funding_ms("ETH/USDT:USDT") is None


async def test_amounts_are_stored_as_exact_text_never_floats(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}", venue="binance")
    try:
        await journal.record_funding(payment("p", 1, "-0.000000000000000001"), 1, asset="USDT")
    finally:
        await journal.close()
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT amount, typeof(amount), rate, asset FROM funding_payments").fetchone()
    assert row == ("-1E-18", "text", "0.0001", "USDT")
