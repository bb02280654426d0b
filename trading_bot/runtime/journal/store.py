"""The journal: runs, orders, fills, strategy state and risk decisions in a SQL database.

SQLAlchemy 2 async Core over any URL; the default is SQLite through aiosqlite at a file
(``sqlite+aiosqlite:///path/journal.db``); ``postgresql+asyncpg://...`` works the same (the SQL is
portable; only the PRAGMAs below are SQLite-specific). Money is stored as exact Decimal strings.

Two write paths:

* **Direct, awaited** (:class:`Journal`): :meth:`Journal.record_intent` is the write-ahead record of an
  order; it is committed and on disk before it returns, so the request may then leave. On a SQLite
  file it goes through :class:`~trading_bot.runtime.journal.intent.SqliteIntentWriter` (a plain
  ``sqlite3`` connection in its own thread, ~0.3 ms instead of ~1.1 ms). Other ``record_*`` methods
  commit before returning too.
* **Batched** (:class:`JournalWriter`): the hot loop queues order snapshots, fills and risk decisions
  with sync ``submit_*`` calls; the writer's ``run()`` task writes them in batches, one transaction each.
  On shutdown, cancel ``run()`` and await :meth:`JournalWriter.flush`.

Durability on SQLite (applied to every connection):

* ``journal_mode=WAL``: readers never block the writer, and a second process (or a restart after
  ``kill -9``) sees every committed transaction.
* ``synchronous=FULL``: each commit fsyncs the WAL, so a committed intent survives a power loss or
  an OS crash, not only a process crash. ``NORMAL`` would lose the last commits on power loss, which
  could let a restarted bot re-send an order it had already sent. The cost is one fsync per commit
  (~0.1-10 ms depending on the disk); the batched writer amortises it over many rows.
* ``foreign_keys=ON`` and ``busy_timeout=5000`` ms (another process holding the write lock is waited
  for, not failed).

Within one process writes are serialised by an ``asyncio.Lock`` (SQLite has one writer anyway), and
every write transaction starts with a write, so deferred transactions never need a lock upgrade.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections import deque
from collections.abc import Collection
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Unpack

from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select

from trading_bot.domain import ZERO
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.errors import OperationalError
from trading_bot.log import get_logger
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.intent import SqliteIntentWriter
from trading_bot.runtime.journal.schema import RiskDecisionFields
from trading_bot.runtime.journal.schema import RiskDecisionRecord
from trading_bot.runtime.journal.schema import RunRecord

__all__ = ["OPEN_STATUSES", "Journal", "JournalWriter", "RiskDecisionFields", "RiskDecisionRecord", "RunRecord"]

_log = get_logger(__name__)

OPEN_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.INITIALIZED} | {s for s in OrderStatus if s.is_open})
"""Statuses :meth:`Journal.open_orders` returns: maybe on the exchange (INITIALIZED = intent, outcome unknown)."""

_STATE_HISTORY_KEEP = 100
_ORDER_MUTABLE = ("status", "filled_quantity", "average_price", "fees", "exchange_order_id", "reason", "updated_ms")


class Journal:
    """The bot's durable record; open with :meth:`open`, close with :meth:`close`.

    Safe to share between tasks of one event loop. Several processes may open the same SQLite file
    (readers see every committed write), but only one bot should write to it.
    """

    def __init__(self, engine: AsyncEngine, intents: SqliteIntentWriter | None = None) -> None:
        """Wrap an engine whose schema is migrated (and the SQLite intent fast path); use :meth:`open`."""
        self._engine = engine
        self._intents = intents
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, db_url: str, *, migrations: list[js.Migration] | None = None) -> Journal:
        """Connect to ``db_url``, create the SQLite file's directory if needed and migrate the schema.

        Args:
            db_url: SQLAlchemy async URL, e.g. ``sqlite+aiosqlite:///var/lib/bot/journal.db``.
            migrations: schema steps to apply (tests only); defaults to ``schema.MIGRATIONS``.

        Raises:
            OperationalError: the database is newer than this code, or its dialect is unsupported.
        """
        url = make_url(db_url)
        is_sqlite = url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        sqlite_file: Path | None = None  # a plain file path gets the intent fast path
        if is_sqlite:
            database = url.database or ""
            if database in ("", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            elif not database.startswith("file:"):
                sqlite_file = Path(database).expanduser()  # noqa: ASYNC240 (once, at start)
                sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        elif url.get_backend_name() != "postgresql":
            raise OperationalError(f"journal: database {url.get_backend_name()!r} is not supported")
        engine = create_async_engine(url, **kwargs)
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", js.sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", js.sqlite_on_begin)
        steps = js.MIGRATIONS if migrations is None else migrations
        try:
            async with engine.begin() as conn:
                applied = await conn.run_sync(js.apply_migrations, time.time_ns() // 1_000_000, steps)
        except BaseException:
            await engine.dispose()
            raise
        intents = None
        if sqlite_file is not None:
            try:
                intents = await SqliteIntentWriter.open(str(sqlite_file), js.orders)
            except BaseException:
                await engine.dispose()
                raise
        _log.info("journal_opened", url=url.render_as_string(hide_password=True), version=len(steps), migrated=applied)
        return cls(engine, intents)

    async def close(self) -> None:
        """Close every connection; the journal cannot be used afterwards."""
        if self._intents is not None:
            await self._intents.close()
        await self._engine.dispose()
        _log.info("journal_closed")

    # -- runs and sequences ----------------------------------------------------------------------
    async def start_run(self, bot_id: str, config_hash: str, started_ms: int) -> int:
        """Record the start of a run; return its id."""
        async with self._write_lock, self._engine.begin() as conn:
            result = await conn.execute(
                insert(js.runs).values(bot_id=bot_id, config_hash=config_hash, started_ms=started_ms)
            )
            run_id = result.inserted_primary_key
            assert run_id is not None
            return int(run_id[0])

    async def finish_run(self, run_id: int, stopped_ms: int, exit_reason: str, exit_code: int) -> None:
        """Record how run ``run_id`` ended."""
        async with self._write_lock, self._engine.begin() as conn:
            await conn.execute(
                update(js.runs)
                .where(js.runs.c.id == run_id)
                .values(stopped_ms=stopped_ms, exit_reason=exit_reason, exit_code=exit_code)
            )

    async def last_run(self) -> RunRecord | None:
        """Return the most recent run, or ``None`` on a fresh journal."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(js.runs).order_by(js.runs.c.id.desc()).limit(1))).mappings().first()
        if row is None:
            return None
        return RunRecord(**row)

    async def next_sequence(self, bot_id: str, count: int = 1) -> int:
        """Reserve ``count`` consecutive sequence numbers for ``bot_id``; return the first (1 on a new bot).

        The reservation is committed before it returns, so numbers are never reused, even after a crash.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        seq = js.sequences
        async with self._write_lock, self._engine.begin() as conn:
            bump = update(seq).where(seq.c.bot_id == bot_id).values(last_sequence=seq.c.last_sequence + count)
            if (await conn.execute(bump)).rowcount == 0:
                await conn.execute(insert(seq).values(bot_id=bot_id, last_sequence=count))
                return 1
            last = (await conn.execute(select(seq.c.last_sequence).where(seq.c.bot_id == bot_id))).scalar_one()
            return int(last) - count + 1

    # -- orders and fills ------------------------------------------------------------------------
    async def record_intent(self, order: Order, run_id: int, bot_id: str) -> None:
        """Write the intent of ``order`` before it is sent; committed and durable when this returns.

        Raises:
            OperationalError: the client order id is already journaled (it must never be sent twice)
                or ``run_id`` is unknown.
        """
        row = js.order_to_row(order) | {"run_id": run_id, "bot_id": bot_id}
        try:
            async with self._write_lock:
                if self._intents is not None:
                    await self._intents.insert(row)  # SQLite file: one thread hop (see journal_intent)
                else:
                    async with self._engine.begin() as conn:
                        await conn.execute(insert(js.orders).values(**row))
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise OperationalError(
                f"journal refused the intent of {order.client_order_id} (duplicate client id or unknown run {run_id})"
            ) from exc
        except sqlite3.Error as exc:
            raise OperationalError(f"journal could not record the intent of {order.client_order_id}: {exc}") from exc
        _log.debug("journal_intent_recorded", client_order_id=order.client_order_id, run_id=run_id)

    async def record_order(self, order: Order) -> None:
        """Store the current state of ``order``; insert it when missing (an adopted order).

        A snapshot older than the stored one (smaller ``updated_ms``) is ignored, so a stale queued write
        cannot undo a newer one.
        """
        async with self._write_lock, self._engine.begin() as conn:
            await self._upsert_order(conn, js.order_to_row(order))

    async def record_fill(self, fill: Fill, recorded_ms: int) -> bool:
        """Insert ``fill`` unless its ``(trade_id, symbol)`` is already journaled; return True if new."""
        async with self._write_lock, self._engine.begin() as conn:
            result = await conn.execute(
                js.insert_ignore(conn.dialect.name, js.fills).values(**js.fill_to_row(fill, recorded_ms))
            )
            return bool(result.rowcount == 1)

    async def has_fill(self, trade_id: str, symbol: str) -> bool:
        """Return True if the fill ``(trade_id, symbol)`` is journaled."""
        stmt = select(js.fills.c.id).where(js.fills.c.trade_id == trade_id, js.fills.c.symbol == symbol).limit(1)
        async with self._engine.connect() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def last_fill_ms(self, symbol: str) -> int | None:
        """Return the exchange time (epoch ms) of the latest journaled fill of ``symbol``."""
        stmt = select(func.max(js.fills.c.ts_ms)).where(js.fills.c.symbol == symbol)
        async with self._engine.connect() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)

    async def position(self, symbol: str) -> Decimal:
        """Return the signed sum of the journaled fills of ``symbol`` (buys +, sells −), in base currency."""
        stmt = select(js.fills.c.side, js.fills.c.quantity).where(js.fills.c.symbol == symbol)
        total = ZERO
        async with self._engine.connect() as conn:
            for side, quantity in await conn.execute(stmt):
                total += quantity if side == OrderSide.BUY.value else -quantity
        return total

    async def open_orders(self, bot_id: str | None = None, symbol: str | None = None) -> list[Order]:
        """Return orders that may still be on the exchange (``OPEN_STATUSES``), oldest first."""
        stmt = select(js.orders).where(js.orders.c.status.in_(sorted(s.value for s in OPEN_STATUSES)))
        if bot_id is not None:
            stmt = stmt.where(js.orders.c.bot_id == bot_id)
        if symbol is not None:
            stmt = stmt.where(js.orders.c.symbol == symbol)
        return await self._select_orders(stmt, None)

    async def orders(
        self,
        *,
        symbol: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        """Return orders, oldest first.

        Args:
            symbol: only this market.
            status: one status or several.
            since_ms: only orders created at or after this epoch ms.
            limit: only the latest ``limit`` orders (still returned oldest first).
        """
        stmt = select(js.orders)
        if symbol is not None:
            stmt = stmt.where(js.orders.c.symbol == symbol)
        if status is not None:
            statuses = [status] if isinstance(status, OrderStatus) else list(status)
            stmt = stmt.where(js.orders.c.status.in_([s.value for s in statuses]))
        if since_ms is not None:
            stmt = stmt.where(js.orders.c.created_ms >= since_ms)
        return await self._select_orders(stmt, limit)

    async def fills(
        self,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        client_order_id: str | None = None,
        limit: int | None = None,
    ) -> list[Fill]:
        """Return fills in exchange-time order.

        Args:
            symbol: only this market.
            since_ms: only fills with ``ts_ms`` at or after this epoch ms.
            client_order_id: only the fills of this order.
            limit: only the latest ``limit`` fills (still returned oldest first).
        """
        stmt = select(js.fills)
        if symbol is not None:
            stmt = stmt.where(js.fills.c.symbol == symbol)
        if since_ms is not None:
            stmt = stmt.where(js.fills.c.ts_ms >= since_ms)
        if client_order_id is not None:
            stmt = stmt.where(js.fills.c.client_order_id == client_order_id)
        stmt = stmt.order_by(js.fills.c.ts_ms.desc(), js.fills.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [js.fill_from_row(row) for row in reversed(rows)]

    # -- strategy state and risk decisions -------------------------------------------------------
    async def save_strategy_state(self, strategy: str, ts_ms: int, state: Mapping[str, Any]) -> None:
        """Store ``state`` as the latest snapshot of ``strategy`` (the last 100 are kept as history).

        Raises:
            TypeError: a value is not JSON-serialisable (``Decimal`` and sets are accepted).
        """
        text = js.encode_state(state)
        table, history = js.strategy_state, js.strategy_state_history
        async with self._write_lock, self._engine.begin() as conn:
            result = await conn.execute(
                update(table).where(table.c.strategy == strategy).values(ts_ms=ts_ms, state=text)
            )
            if result.rowcount == 0:
                await conn.execute(insert(table).values(strategy=strategy, ts_ms=ts_ms, state=text))
            await conn.execute(insert(history).values(strategy=strategy, ts_ms=ts_ms, state=text))
            keep = (
                select(history.c.id)
                .where(history.c.strategy == strategy)
                .order_by(history.c.id.desc())
                .limit(_STATE_HISTORY_KEEP)
            )
            await conn.execute(
                history.delete().where(history.c.strategy == strategy, history.c.id.not_in(keep.scalar_subquery()))
            )

    async def load_strategy_state(self, strategy: str) -> dict[str, Any] | None:
        """Return the latest snapshot of ``strategy``, or ``None`` if it never saved one."""
        stmt = select(js.strategy_state.c.state).where(js.strategy_state.c.strategy == strategy)
        async with self._engine.connect() as conn:
            text = (await conn.execute(stmt)).scalar_one_or_none()
        return None if text is None else js.decode_state(text)

    async def record_risk_decision(self, **decision: Unpack[RiskDecisionFields]) -> None:
        """Record one risk decision (a denial, or any decision worth keeping); fields as ``RiskDecisionFields``."""
        async with self._write_lock, self._engine.begin() as conn:
            await conn.execute(insert(js.risk_decisions).values(**_risk_row(decision)))

    async def risk_decisions(
        self, *, since_ms: int | None = None, limit: int | None = None
    ) -> list[RiskDecisionRecord]:
        """Return risk decisions oldest first (``limit``: only the latest ones)."""
        table = js.risk_decisions
        stmt = select(table).order_by(table.c.id.desc())
        if since_ms is not None:
            stmt = stmt.where(table.c.ts_ms >= since_ms)
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [RiskDecisionRecord(**(dict(row) | {"side": OrderSide(row["side"])})) for row in reversed(rows)]

    # -- internals -------------------------------------------------------------------------------
    async def _select_orders(self, stmt: Select[Any], limit: int | None) -> list[Order]:
        stmt = stmt.order_by(js.orders.c.created_ms.desc(), js.orders.c.client_order_id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [js.order_from_row(row) for row in reversed(rows)]

    async def _upsert_order(self, conn: AsyncConnection, row: dict[str, Any]) -> None:
        table = js.orders
        result = await conn.execute(
            update(table)
            .where(table.c.client_order_id == row["client_order_id"], table.c.updated_ms <= row["updated_ms"])
            .values({name: row[name] for name in _ORDER_MUTABLE})
        )
        if result.rowcount == 0:  # missing (adopted order) or the stored snapshot is newer
            full = row | {"run_id": None, "bot_id": js.bot_id_of(row["client_order_id"])}
            await conn.execute(js.insert_ignore(conn.dialect.name, table).values(**full))

    async def _write_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        latest_orders: dict[str, dict[str, Any]] = {}
        fill_rows: list[dict[str, Any]] = []
        risk_rows: list[dict[str, Any]] = []
        for kind, row in batch:
            if kind == "order":
                latest_orders[row["client_order_id"]] = row  # snapshots: the last one wins
            elif kind == "fill":
                fill_rows.append(row)
            else:
                risk_rows.append(row)
        async with self._write_lock, self._engine.begin() as conn:
            for row in latest_orders.values():
                await self._upsert_order(conn, row)
            if fill_rows:
                await conn.execute(js.insert_ignore(conn.dialect.name, js.fills), fill_rows)
            if risk_rows:
                await conn.execute(insert(js.risk_decisions), risk_rows)


def _risk_row(decision: RiskDecisionFields) -> dict[str, Any]:
    return dict(decision) | {"side": OrderSide(decision["side"]).value}


class JournalWriter:
    """Batched, non-blocking journal writes for the hot loop.

    ``submit_*`` are sync and O(1): they snapshot the object and queue it. :meth:`run` (a long-lived task
    the supervisor owns) writes the queue in batches of at most ``max_batch`` rows, one transaction per
    batch; a write in progress is shielded from cancellation, so a cancel never splits a transaction.
    On shutdown cancel ``run()``, then ``await flush()`` to write what is left. Failed batches stay
    queued and are retried with back-off; after ``max_failures`` failures in a row ``run()`` raises
    ``OperationalError``.

    Args:
        journal: the open journal.
        clock: stamps ``recorded_ms`` of queued fills.
        max_batch: rows per transaction.
        max_failures: consecutive failed batches before ``run()`` gives up.
    """

    def __init__(self, journal: Journal, clock: Clock, *, max_batch: int = 500, max_failures: int = 10) -> None:
        """Create an idle writer; start :meth:`run` in the supervisor's TaskGroup."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._journal = journal
        self._clock = clock
        self._max_batch = max_batch
        self._max_failures = max_failures
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._inflight: asyncio.Task[None] | None = None
        self.batches_written = 0
        self.rows_written = 0

    @property
    def pending(self) -> int:
        """Return the number of queued rows not yet committed."""
        return len(self._pending)

    def submit_order_update(self, order: Order) -> None:
        """Queue a snapshot of ``order`` (taken now; later changes to the object are not included)."""
        self._enqueue("order", js.order_to_row(order))

    def submit_fill(self, fill: Fill) -> None:
        """Queue ``fill``; a fill already journaled under its ``(trade_id, symbol)`` is skipped."""
        self._enqueue("fill", js.fill_to_row(fill, self._clock.now_ms()))

    def submit_risk_decision(self, **decision: Unpack[RiskDecisionFields]) -> None:
        """Queue a risk decision (same fields as :meth:`Journal.record_risk_decision`)."""
        self._enqueue("risk", _risk_row(decision))

    async def run(self) -> None:
        """Write queued rows until cancelled.

        Raises:
            OperationalError: ``max_failures`` batches in a row failed to write.
        """
        failures = 0
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._inflight is None or self._inflight.done():
                self._inflight = asyncio.create_task(self._write_next(), name="journal_write_batch")
            try:
                await asyncio.shield(self._inflight)
            except asyncio.CancelledError:
                raise
            except SQLAlchemyError as exc:
                failures += 1
                _log.error("journal_write_failed", error=repr(exc), failures=failures, pending=len(self._pending))
                if failures >= self._max_failures:
                    raise OperationalError(f"journal: {failures} batch writes failed in a row: {exc}") from exc
                await asyncio.sleep(min(0.1 * 2 ** (failures - 1), 5.0))
            else:
                failures = 0

    async def flush(self) -> None:
        """Write everything queued (including a batch interrupted by cancelling :meth:`run`)."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            try:
                await inflight
            except SQLAlchemyError as exc:
                _log.warning("journal_write_retry_on_flush", error=repr(exc))
        while self._pending:
            await self._write_next()

    def _enqueue(self, kind: str, row: dict[str, Any]) -> None:
        self._pending.append((kind, row))
        self._wake.set()

    async def _write_next(self) -> None:
        async with self._lock:
            batch = list(itertools.islice(self._pending, self._max_batch))
            if not batch:
                return
            await self._journal._write_batch(batch)
            for _ in batch:
                self._pending.popleft()
            self.batches_written += 1
            self.rows_written += len(batch)
