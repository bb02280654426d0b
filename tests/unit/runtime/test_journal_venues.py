"""Journal v2: venues and instruments on every row, on SQLite files and (with TRADING_BOT_TEST_PG_URL) PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from tests.unit.runtime.test_journal import _PG_URL
from tests.unit.runtime.test_journal import BTC
from tests.unit.runtime.test_journal import _reset_postgres
from tests.unit.runtime.test_journal import make_fill
from tests.unit.runtime.test_journal import make_order
from trading_bot.domain import ClientOrderId
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.errors import ConfigError
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal import schema_v1 as v1
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import DEFAULT_VENUE
from trading_bot.runtime.journal.store import Journal

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh journal URL: a SQLite file, and the PostgreSQL test database when TRADING_BOT_TEST_PG_URL is set."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    if _PG_URL is None:
        pytest.skip("set TRADING_BOT_TEST_PG_URL to run the journal suite on PostgreSQL")
    await _reset_postgres(_PG_URL)
    return _PG_URL


async def test_the_same_trade_id_on_two_venues_is_two_fills_and_each_venue_keeps_its_position(url: str) -> None:
    """Rule: the fills' unique key includes the venue (two venues can both have trade id 1 on one symbol)."""
    journal = await Journal.open(url, venue="spot")
    try:
        assert await journal.record_fill(make_fill("1", qty="0.1"), 10)
        assert await journal.record_fill(make_fill("1", qty="0.3"), 10, venue="alt")
        assert not await journal.record_fill(make_fill("1", qty="0.1"), 11)  # a replay on spot: skipped
        assert await journal.position(BTC, "spot") == Decimal("0.1")
        assert await journal.position(BTC, "alt") == Decimal("0.3")
        assert await journal.position(BTC) == Decimal("0.4")  # no venue: every venue, as before venues
        assert [v for v, _ in await journal.fills_by_venue()] == ["spot", "alt"]
        assert await journal.has_fill("1", BTC, "alt")
        assert not await journal.has_fill("1", BTC, "other")
    finally:
        await journal.close()


async def test_one_strategy_on_two_instruments_keeps_two_snapshots(url: str) -> None:
    """Rule: strategy_state is keyed by (strategy, instrument): two grid instances do not overwrite each other."""
    journal = await Journal.open(url, venue="spot", instrument="spot:BTC/USDT")
    try:
        await journal.save_strategy_state("grid", 1, {"level": Decimal("1.5")})
        await journal.save_strategy_state("grid", 2, {"level": Decimal("99")}, "spot:ETH/USDT")
        assert await journal.load_strategy_state("grid") == {"level": Decimal("1.5")}
        assert await journal.load_strategy_state("grid", "spot:ETH/USDT") == {"level": Decimal("99")}
        assert await journal.load_strategy_state("grid", "alt:BTC/USDT") is None
    finally:
        await journal.close()


async def test_an_instrument_without_its_own_snapshot_gets_the_bot_wide_one(url: str) -> None:
    """Rule: a snapshot migrated without an instrument (bot-wide) is what an instance restores until it saves."""
    journal = await Journal.open(url, venue="spot", instrument="spot:BTC/USDT")
    try:
        await journal.save_strategy_state("grid", 1, {"legacy": 1}, js.BOT_WIDE)
        assert await journal.load_strategy_state("grid") == {"legacy": 1}
        await journal.save_strategy_state("grid", 2, {"own": 2})
        assert await journal.load_strategy_state("grid") == {"own": 2}
        assert await journal.load_strategy_state("grid", js.BOT_WIDE) == {"legacy": 1}
    finally:
        await journal.close()


async def test_link_writes_its_own_venue_unless_told_another_and_filters_reads(tmp_path: Path) -> None:
    """Rule: None means the link's venue/instrument; a named venue is written as given (the lead's API)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    clock = SimulatedClock(start_ms=1_000)
    link = JournalLink(url, "bot", "hash", venue="spot", instrument="spot:BTC/USDT")
    await link.open(clock)
    try:
        first, second = make_order(await link.next()), make_order(await link.next())
        await link.record_intent(first)
        await link.record_intent(second, venue="alt")
        link.record_order(first)
        link.record_fill(make_fill("7", str(first.client_order_id)))
        link.record_fill(make_fill("7", str(second.client_order_id)), venue="alt")
        link.record_denial(make_order(99, side=OrderSide.SELL), "max_position", "too big", venue="alt")
        await link.writer.flush()
        await link.save_state("grid", 5, {"n": 1})
        await link.save_state("grid", 6, {"n": 2}, instrument="alt:BTC/USDT")
        journal = link.journal
        assert [(v, o.client_order_id) for v, o in await journal.orders_by_venue()] == [
            ("spot", ClientOrderId("bot-1")),
            ("alt", ClientOrderId("bot-2")),
        ]
        assert [o.client_order_id for o in await journal.orders(venue="alt")] == ["bot-2"]
        assert [v for v, _ in await journal.fills_by_venue()] == ["spot", "alt"]
        assert [d.venue for d in await journal.risk_decisions()] == ["alt"]
        assert await link.load_state("grid") == {"n": 1}
        assert await link.load_state("grid", "alt:BTC/USDT") == {"n": 2}
        assert await link.position(BTC) == Decimal("0.1")
        assert await link.position(BTC, "alt") == Decimal("0.1")
    finally:
        await link.close(clock.now_ms(), "test", 0)


async def test_a_journal_opened_without_a_venue_writes_the_default_venue(url: str) -> None:
    """Rule: tools and tests that name no venue still write a valid row (``DEFAULT_VENUE``)."""
    journal = await Journal.open(url)
    try:
        await journal.record_fill(make_fill("1"), 1)
        assert [v for v, _ in await journal.fills_by_venue()] == [DEFAULT_VENUE]
    finally:
        await journal.close()


async def test_a_bad_venue_name_is_refused_with_one_line(tmp_path: Path) -> None:
    """Rule: bad input is a one-line ConfigError naming the field, before anything is created."""
    with pytest.raises(ConfigError, match="venue 'Bin ance'"):
        await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}", venue="Bin ance")
    assert not (tmp_path / "j.db").exists()


async def test_a_v1_journal_with_rows_migrates_on_sqlite_and_postgresql_and_new_ids_follow_the_copied_ones(
    url: str,
) -> None:
    """Rule: the migration is portable (same steps on PostgreSQL) and later inserts do not collide with copied ids."""
    old = await Journal.open(url, migrations=js.MIGRATIONS[:2])  # a journal v1
    await old.close()
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(v1.runs_v1).values(id=1, bot_id="bot", config_hash="h", started_ms=1))
        await conn.execute(
            insert(v1.fills_v1),
            [
                {
                    "id": 5,
                    "trade_id": "1",
                    "client_order_id": "bot-1",
                    "symbol": "BTC/USDT",
                    "side": "buy",
                    "quantity": Decimal("0.1"),
                    "price": Decimal("1"),
                    "fee": Decimal("0"),
                    "fee_currency": "USDT",
                    "liquidity": "maker",
                    "ts_ms": 1,
                    "recorded_ms": 1,
                },
            ],
        )
        await conn.execute(insert(v1.strategy_state_v1).values(strategy="grid", ts_ms=1, state='{"n":1}'))
        await conn.execute(insert(v1.strategy_state_v1).values(strategy="@risk", ts_ms=1, state='{"r":1}'))
        await conn.execute(
            insert(v1.risk_decisions_v1).values(
                ts_ms=1, run_id=1, client_order_id=None, symbol="BTC/USDT", side="buy", rule="r", reason="x"
            )
        )
    await engine.dispose()
    journal = await Journal.open(url, venue="spot", instrument="spot:BTC/USDT")
    try:
        assert journal.migrated == [3, 4, 5]
        assert [(v, f.trade_id) for v, f in await journal.fills_by_venue()] == [("spot", "1")]
        assert await journal.record_fill(make_fill("2"), 2)  # a new id, after the copied 5
        assert await journal.load_strategy_state("grid") == {"n": 1}  # the file's one symbol: its instance
        assert await journal.load_strategy_state("@risk", js.BOT_WIDE) == {"r": 1}  # bot-wide stays bot-wide
        assert [d.venue for d in await journal.risk_decisions()] == ["spot"]
    finally:
        await journal.close()


async def test_a_tool_opening_the_journal_without_an_instrument_reads_the_bots_one_snapshot(url: str) -> None:
    """Rule: existing readers (``load_strategy_state(name)``) still find what a one-instrument bot saved."""
    bot = await Journal.open(url, venue="spot", instrument="spot:BTC/USDT")
    try:
        await bot.save_strategy_state("grid", 1, {"n": 1})
        await bot.save_strategy_state("grid", 2, {"n": 2})
    finally:
        await bot.close()
    tool = await Journal.open(url)
    try:
        assert await tool.load_strategy_state("grid") == {"n": 2}
        assert await tool.load_strategy_state("grid", "alt:BTC/USDT") is None
        assert await tool.load_strategy_state("sma_cross") is None
    finally:
        await tool.close()
