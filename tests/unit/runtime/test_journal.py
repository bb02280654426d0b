"""Journal: exact Decimals, write-ahead durability, fill dedup, sequences, migrations, batched writer.

Every test runs on a real SQLite file in ``tmp_path``; the ``db_url`` ones run again on PostgreSQL when
``TRADING_BOT_TEST_PG_URL`` (e.g. ``postgresql+asyncpg://postgres@127.0.0.1/journal_test``) is set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column
from sqlalchemy import Connection
from sqlalchemy import MetaData
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import create_async_engine

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.journal.store import JournalWriter

pytestmark = pytest.mark.asyncio

BTC = Symbol("BTC/USDT")
ETH = Symbol("ETH/USDT")
_PG_URL = os.environ.get("TRADING_BOT_TEST_PG_URL")
_TEST_TABLE = "test_future_table"


def make_order(seq: int, *, bot: str = "bot", symbol: Symbol = BTC, created_ms: int = 1_000, **kw: object) -> Order:
    fields: dict[str, object] = {
        "client_order_id": ClientOrderId(f"{bot}-{seq}"),
        "symbol": symbol,
        "side": OrderSide.BUY,
        "quantity": Decimal("0.5"),
        "order_type": OrderType.LIMIT,
        "price": Decimal("60000.10"),
        "created_ms": created_ms,
        "updated_ms": created_ms,
    }
    return Order(**(fields | kw))  # type: ignore[arg-type]


def make_fill(
    trade: str, coid: str = "bot-1", *, side: OrderSide = OrderSide.BUY, qty: str = "0.1", ts: int = 5
) -> Fill:
    return Fill(
        trade_id=TradeId(trade),
        client_order_id=ClientOrderId(coid),
        symbol=BTC,
        side=side,
        quantity=Decimal(qty),
        price=Decimal("60000.1"),
        fee=Decimal("0.00012"),
        fee_currency="USDT",
        ts_ms=ts,
    )


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        for table in [*(t.name for t in js.metadata.sorted_tables), _TEST_TABLE]:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    await engine.dispose()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'journal.db'}"
    if _PG_URL is None:
        pytest.skip("set TRADING_BOT_TEST_PG_URL to run the journal suite on PostgreSQL")
    await _reset_postgres(_PG_URL)
    return _PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"


@pytest_asyncio.fixture
async def journal(db_url: str) -> AsyncIterator[Journal]:
    journal = await Journal.open(db_url)
    yield journal
    await journal.close()


@pytest_asyncio.fixture
async def run_id(journal: Journal) -> int:
    return await journal.start_run("bot", "cfg", 1_000)


# -- money is exact ---------------------------------------------------------------------------------


async def test_decimals_round_trip_exactly_and_are_stored_as_text(journal: Journal, run_id: int, db_url: str) -> None:
    order = make_order(
        1,
        quantity=Decimal("0.1") + Decimal("0.2"),
        price=Decimal("0.00000001"),
        trigger_price=Decimal("123456789012345678901234567890.123456789"),
        fees=Decimal("1.10"),
    )
    await journal.record_intent(order, run_id, "bot")

    (loaded,) = await journal.orders()
    assert loaded == order
    assert (loaded.quantity, loaded.price, loaded.fees) == (Decimal("0.3"), Decimal("1E-8"), Decimal("1.10"))
    assert str(loaded.fees) == "1.10"  # the exponent survives too
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite+aiosqlite:///")) as raw:
            stored = raw.execute("SELECT quantity, typeof(quantity), trigger_price FROM orders").fetchone()
        assert stored == ("0.3", "text", "123456789012345678901234567890.123456789")


async def test_decimal_column_refuses_a_float(journal: Journal, run_id: int) -> None:
    with pytest.raises((StatementError, TypeError), match="expects Decimal"):
        await journal.record_intent(make_order(1, quantity=0.3), run_id, "bot")


# -- write-ahead intent -----------------------------------------------------------------------------


async def test_intent_survives_close_and_reopen(db_url: str) -> None:
    journal = await Journal.open(db_url)
    run_id = await journal.start_run("bot", "cfg", 1)
    await journal.record_intent(make_order(7), run_id, "bot")
    await journal.close()

    reopened = await Journal.open(db_url)
    try:
        (order,) = await reopened.open_orders("bot")
        assert (order.client_order_id, order.status) == ("bot-7", OrderStatus.INITIALIZED)
    finally:
        await reopened.close()


async def test_the_sqlite_intent_fast_path_stores_exactly_what_the_sqlalchemy_path_stores(tmp_path: Path) -> None:
    # A plain file path takes the one-thread-hop sqlite3 path; a ``file:`` URI takes SQLAlchemy's.
    order = make_order(3, trigger_price=Decimal("1E-8"), post_only=True, client_tag="tp")
    rows = []
    fast = f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}"
    slow = f"sqlite+aiosqlite:///file:{tmp_path / 'slow.db'}?uri=true"
    for url in (fast, slow):
        journal = await Journal.open(url)
        try:
            run_id = await journal.start_run("bot", "cfg", 1)
            await journal.record_intent(order, run_id, "bot")
        finally:
            await journal.close()
    for name in ("fast.db", "slow.db"):
        with sqlite3.connect(tmp_path / name) as raw:
            columns = [c[1] for c in raw.execute("PRAGMA table_info(orders)")]
            select = ", ".join(f"{c}, typeof({c})" for c in columns)
            rows.append(raw.execute(f"SELECT {select} FROM orders").fetchall())  # noqa: S608 (column names)
    assert rows[0] == rows[1]
    assert len(rows[0]) == 1


async def test_committed_intent_is_visible_to_a_second_journal_while_the_first_is_abandoned(sqlite_url: str) -> None:
    first = await Journal.open(sqlite_url)
    run_id = await first.start_run("bot", "cfg", 1)
    await first.record_intent(make_order(1), run_id, "bot")

    second = await Journal.open(sqlite_url)  # the first is never closed, as after a crash
    try:
        assert [o.client_order_id for o in await second.open_orders("bot")] == ["bot-1"]
        assert await second.next_sequence("bot") == 1
    finally:
        await second.close()
        await first.close()


async def test_intent_survives_sigkill_of_the_writing_process(sqlite_url: str) -> None:
    script = f"""
import asyncio, os, signal
from decimal import Decimal
from trading_bot.domain import ClientOrderId, Order, OrderSide, OrderType, Symbol
from trading_bot.runtime.journal.store import Journal

async def main():
    journal = await Journal.open({sqlite_url!r})
    run_id = await journal.start_run("bot", "cfg", 1)
    seq = await journal.next_sequence("bot")
    order = Order(client_order_id=ClientOrderId(f"bot-{{seq}}"), symbol=Symbol("BTC/USDT"), side=OrderSide.SELL,
                  quantity=Decimal("0.001"), order_type=OrderType.LIMIT, price=Decimal("70000.5"))
    await journal.record_intent(order, run_id, "bot")
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stderr=subprocess.PIPE)
    _, stderr = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()

    journal = await Journal.open(sqlite_url)
    try:
        (order,) = await journal.open_orders()
        assert (order.client_order_id, order.price, order.side) == ("bot-1", Decimal("70000.5"), OrderSide.SELL)
        assert await journal.next_sequence("bot") == 2
        last = await journal.last_run()
        assert last is not None
        assert last.stopped_ms is None  # the run ended without a clean stop
    finally:
        await journal.close()


async def test_record_intent_twice_for_one_client_id_raises_and_keeps_the_first(journal: Journal, run_id: int) -> None:
    await journal.record_intent(make_order(1, price=Decimal("1")), run_id, "bot")

    with pytest.raises(OperationalError, match="bot-1"):
        await journal.record_intent(make_order(1, price=Decimal("2")), run_id, "bot")

    assert [o.price for o in await journal.orders()] == [Decimal("1")]


async def test_record_intent_for_an_unknown_run_raises_because_foreign_keys_are_on(journal: Journal) -> None:
    with pytest.raises(OperationalError):
        await journal.record_intent(make_order(1), 999, "bot")


async def test_sqlite_journal_uses_wal_and_full_synchronous(sqlite_url: str) -> None:
    journal = await Journal.open(sqlite_url)
    try:
        async with journal._engine.connect() as conn:
            synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await journal.close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert (synchronous, foreign_keys) == (2, 1)  # 2 = FULL


# -- orders ------------------------------------------------------------------------------------------


async def test_record_order_updates_state_and_inserts_an_adopted_order(journal: Journal, run_id: int) -> None:
    order = make_order(1)
    await journal.record_intent(order, run_id, "bot")
    order.transition(OrderStatus.SUBMITTED, 1_001)
    order.exchange_order_id = "X1"  # type: ignore[assignment]
    order.apply_fill(make_fill("t1", ts=1_002))
    adopted = make_order(2, status=OrderStatus.ACCEPTED, symbol=ETH)

    await journal.record_order(order)
    await journal.record_order(adopted)

    stored, stored_adopted = await journal.orders()
    assert stored == order
    assert (stored.status, stored.filled_quantity, stored.exchange_order_id) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("0.1"),
        "X1",
    )
    assert stored_adopted == adopted
    assert [o.client_order_id for o in await journal.open_orders("bot", ETH)] == ["bot-2"]


async def test_record_order_ignores_a_snapshot_older_than_the_stored_one(journal: Journal, run_id: int) -> None:
    order = make_order(1)
    await journal.record_intent(order, run_id, "bot")
    stale = make_order(1, status=OrderStatus.SUBMITTED, updated_ms=1_001)
    order.transition(OrderStatus.SUBMITTED, 1_001)
    order.transition(OrderStatus.CANCELED, 1_005)
    await journal.record_order(order)

    await journal.record_order(stale)

    assert [o.status for o in await journal.orders()] == [OrderStatus.CANCELED]


async def test_open_orders_returns_initialized_and_open_orders_filtered_by_bot_and_symbol(
    journal: Journal, run_id: int
) -> None:
    statuses = [OrderStatus.INITIALIZED, OrderStatus.ACCEPTED, OrderStatus.FILLED, OrderStatus.DENIED]
    for seq, status in enumerate(statuses, start=1):
        await journal.record_intent(make_order(seq, status=status, created_ms=seq), run_id, "bot")
    await journal.record_intent(make_order(1, bot="other", status=OrderStatus.PARTIALLY_FILLED), run_id, "other")
    await journal.record_intent(make_order(9, symbol=ETH, status=OrderStatus.PENDING_CANCEL), run_id, "bot")

    assert [o.client_order_id for o in await journal.open_orders("bot", BTC)] == ["bot-1", "bot-2"]
    assert {o.client_order_id for o in await journal.open_orders()} == {"bot-1", "bot-2", "other-1", "bot-9"}
    assert [o.client_order_id for o in await journal.open_orders(symbol=ETH)] == ["bot-9"]


async def test_orders_filters_by_symbol_status_since_and_limit_keeps_the_latest(journal: Journal, run_id: int) -> None:
    for seq in range(1, 6):
        status = OrderStatus.FILLED if seq % 2 else OrderStatus.CANCELED
        await journal.record_intent(make_order(seq, created_ms=seq * 10, status=status), run_id, "bot")
    await journal.record_intent(make_order(6, symbol=ETH, created_ms=60), run_id, "bot")

    def ids(orders: list[Order]) -> list[str]:
        return [o.client_order_id for o in orders]

    assert ids(await journal.orders(symbol=BTC, status=OrderStatus.FILLED)) == ["bot-1", "bot-3", "bot-5"]
    assert ids(await journal.orders(status=[OrderStatus.CANCELED, OrderStatus.INITIALIZED])) == [
        "bot-2",
        "bot-4",
        "bot-6",
    ]
    assert ids(await journal.orders(since_ms=40)) == ["bot-4", "bot-5", "bot-6"]
    assert ids(await journal.orders(symbol=BTC, limit=2)) == ["bot-4", "bot-5"]


# -- fills -------------------------------------------------------------------------------------------


async def test_record_fill_twice_keeps_one_row_and_the_second_returns_false(journal: Journal) -> None:
    fill = make_fill("t-1")

    first, second = await journal.record_fill(fill, 10), await journal.record_fill(fill, 11)

    assert (first, second) == (True, False)
    assert await journal.fills() == [fill]
    assert await journal.has_fill("t-1", BTC)
    assert not await journal.has_fill("t-1", ETH)  # dedup is per (trade id, symbol)


async def test_late_fill_for_a_closed_order_is_recorded(journal: Journal, run_id: int) -> None:
    order = make_order(1, status=OrderStatus.CANCELED, updated_ms=2_000)
    await journal.record_intent(order, run_id, "bot")

    assert await journal.record_fill(make_fill("late", "bot-1", ts=3_000), 3_001)

    assert [f.trade_id for f in await journal.fills(client_order_id="bot-1")] == ["late"]


async def test_fills_filter_and_last_fill_ms_and_position_is_the_signed_sum(journal: Journal) -> None:
    await journal.record_fill(make_fill("a", qty="0.1", ts=10), 0)
    await journal.record_fill(make_fill("b", qty="0.2", ts=20), 0)
    await journal.record_fill(make_fill("c", qty="0.05", ts=30, side=OrderSide.SELL), 0)
    await journal.record_fill(make_fill("d", "bot-2", qty="0.00000001", ts=40), 0)

    assert await journal.position(BTC) == Decimal("0.25000001")
    assert await journal.position(ETH) == 0
    assert await journal.last_fill_ms(BTC) == 40
    assert await journal.last_fill_ms(ETH) is None
    assert [f.trade_id for f in await journal.fills(since_ms=20, limit=2)] == ["c", "d"]
    assert [f.trade_id for f in await journal.fills(symbol=BTC, client_order_id="bot-2")] == ["d"]


# -- runs, sequences, strategy state, risk ---------------------------------------------------------------


async def test_runs_record_start_and_finish_and_last_run_is_the_newest(journal: Journal) -> None:
    assert await journal.last_run() is None
    first = await journal.start_run("bot", "h1", 100)
    await journal.finish_run(first, 200, "signal", 0)
    second = await journal.start_run("bot", "h2", 300)

    last = await journal.last_run()

    assert last is not None
    assert (last.id, last.config_hash, last.stopped_ms) == (second, "h2", None)
    assert second > first


async def test_next_sequence_is_monotonic_reserves_blocks_and_survives_reopen(db_url: str) -> None:
    journal = await Journal.open(db_url)
    numbers = [await journal.next_sequence("bot"), await journal.next_sequence("bot", count=5)]
    numbers.append(await journal.next_sequence("other"))
    await journal.close()

    reopened = await Journal.open(db_url)
    try:
        numbers.append(await reopened.next_sequence("bot"))
        with pytest.raises(ValueError, match="count"):
            await reopened.next_sequence("bot", count=0)
    finally:
        await reopened.close()

    assert numbers == [1, 2, 1, 7]


async def test_strategy_state_round_trips_with_decimals_and_the_latest_wins(journal: Journal) -> None:
    assert await journal.load_strategy_state("grid") is None
    await journal.save_strategy_state("grid", 1, {"levels": [Decimal("0.1"), Decimal("1E-8")], "n": 1})
    state = {"levels": [Decimal("100.10")], "nested": {"anchor": Decimal("0.3"), "on": True}, "name": "g"}

    await journal.save_strategy_state("grid", 2, state)

    loaded = await journal.load_strategy_state("grid")
    assert loaded == state
    assert loaded is not None
    assert str(loaded["levels"][0]) == "100.10"


async def test_strategy_state_refuses_values_json_cannot_hold(journal: Journal) -> None:
    with pytest.raises(TypeError, match="object"):
        await journal.save_strategy_state("grid", 1, {"bad": object()})


async def test_risk_decisions_are_recorded_in_order(journal: Journal, run_id: int) -> None:
    await journal.record_risk_decision(
        ts_ms=5, run_id=run_id, client_order_id="bot-1", symbol=BTC, side=OrderSide.BUY,
        quantity=Decimal("0.5"), price=Decimal("60000.10"), rule="max_notional", reason="30000 > 10000",
    )  # fmt: skip
    await journal.record_risk_decision(
        ts_ms=6, run_id=None, client_order_id=None, symbol=BTC, side=OrderSide.SELL,
        quantity=None, price=None, rule="trading_state", reason="halted",
    )  # fmt: skip

    first, second = await journal.risk_decisions()

    assert (first.rule, first.quantity, first.price, first.run_id) == (
        "max_notional",
        Decimal("0.5"),
        Decimal("60000.10"),
        run_id,
    )
    assert (second.side, second.quantity, second.client_order_id) == (OrderSide.SELL, None, None)
    assert [d.rule for d in await journal.risk_decisions(since_ms=6)] == ["trading_state"]


# -- migrations ----------------------------------------------------------------------------------------


def _add_future_table(conn: Connection) -> None:
    Table(_TEST_TABLE, MetaData(), Column("note", Text)).create(conn)


async def _versions(journal: Journal) -> list[int]:
    async with journal._engine.connect() as conn:
        return list((await conn.execute(text("SELECT version FROM schema_version ORDER BY version"))).scalars())


async def test_reopening_a_current_journal_applies_no_migration_and_keeps_data(db_url: str) -> None:
    journal = await Journal.open(db_url)
    await journal.record_fill(make_fill("t"), 1)
    await journal.close()

    reopened = await Journal.open(db_url)
    try:
        assert await _versions(reopened) == list(range(1, js.SCHEMA_VERSION + 1))
        assert len(await reopened.fills()) == 1
    finally:
        await reopened.close()


async def test_opening_a_journal_with_a_newer_migration_list_applies_only_the_new_step(db_url: str) -> None:
    journal = await Journal.open(db_url)
    await journal.record_fill(make_fill("t"), 1)
    await journal.close()

    upgraded = await Journal.open(db_url, migrations=[*js.MIGRATIONS, _add_future_table])
    try:
        assert await _versions(upgraded) == list(range(1, js.SCHEMA_VERSION + 2))
        assert len(await upgraded.fills()) == 1
        async with upgraded._engine.begin() as conn:
            await conn.execute(text("INSERT INTO test_future_table (note) VALUES ('v2 table exists')"))
    finally:
        await upgraded.close()

    with pytest.raises(ConfigError, match="newer than this code"):
        await Journal.open(db_url)  # the current code must not run on a newer journal (exit 2: upgrade the bot)


# -- batched writer ------------------------------------------------------------------------------------


async def test_writer_run_writes_queued_rows_in_batches_of_max_batch(journal: Journal, run_id: int) -> None:
    writer = JournalWriter(journal, SimulatedClock(7), max_batch=4)
    for i in range(10):
        writer.submit_fill(make_fill(f"t{i}", ts=i))
    writer.submit_fill(make_fill("t0"))  # a duplicate is skipped, not an error

    task = asyncio.create_task(writer.run())
    async with asyncio.timeout(5):
        while writer.pending:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.flush()

    assert (writer.batches_written, writer.rows_written) == (3, 11)
    assert [f.trade_id for f in await journal.fills()] == [f"t{i}" for i in range(10)]


async def test_writer_flush_drains_a_snapshot_taken_at_submit_time(journal: Journal, run_id: int) -> None:
    order = make_order(1)
    await journal.record_intent(order, run_id, "bot")
    writer = JournalWriter(journal, SimulatedClock(0))
    order.transition(OrderStatus.SUBMITTED, 1_001)
    writer.submit_order_update(order)
    order.transition(OrderStatus.ACCEPTED, 1_002)
    writer.submit_order_update(order)
    order.transition(OrderStatus.CANCELED, 1_003)  # changed after the last submit: not written
    writer.submit_risk_decision(
        ts_ms=1, run_id=run_id, client_order_id=None, symbol=BTC, side=OrderSide.BUY,
        quantity=None, price=None, rule="rate", reason="too fast",
    )  # fmt: skip

    await writer.flush()

    assert writer.pending == 0
    assert writer.batches_written == 1
    assert [o.status for o in await journal.orders()] == [OrderStatus.ACCEPTED]
    assert [d.rule for d in await journal.risk_decisions()] == ["rate"]


async def test_writer_run_keeps_rows_queued_and_raises_after_max_failures(sqlite_url: str) -> None:
    journal = await Journal.open(sqlite_url)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///")) as raw:
        raw.execute("DROP TABLE fills")  # every fill write now fails
    writer = JournalWriter(journal, SimulatedClock(0), max_failures=2)
    writer.submit_fill(make_fill("t1"))
    try:
        with pytest.raises(OperationalError, match="2 batch writes failed"):
            async with asyncio.timeout(5):
                await writer.run()
        assert writer.pending == 1  # nothing was dropped
    finally:
        await journal.close()
