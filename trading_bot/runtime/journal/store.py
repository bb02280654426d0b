"""The journal: runs, orders, fills, strategy state and risk decisions in a SQL database.

(Over 500 lines: one class, the journal's one read/write surface; each method is one short query, and
splitting them across modules would split the write lock and the error translation they share.)

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

Venues (schema v3, "journal v2"): every order, fill, denial, adoption and snapshot row names its venue.
A journal is opened with the bot's venue (``venue``) and instrument (``instrument``, ``venue:symbol``):
a write that names no venue (or snapshot that names no instrument) gets them, and a v1 file is migrated
with that venue (``schema``). A read that names no venue reads every venue (what a one-venue bot sees
is unchanged).

Funding (schema v4, "journal v3"): a perpetual swap's funding payments, one row per ``(venue, symbol,
payment id)`` (:meth:`Journal.record_funding`, or queued on the writer), written with the same
insert-or-ignore as the fills, so a payment delivered twice (the user stream, then the start's catch-up)
is one row.

Operator actions (schema v5): every operator command the bot executed (halt, resume, reduce-only,
cancel-all, flatten), one ``operator_actions`` row each, queued on the writer
(:meth:`JournalWriter.submit_operator_action`) and read back with :meth:`Journal.operator_actions`: the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from collections.abc import Collection
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from typing import Unpack

from sqlalchemy import RowMapping
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from trading_bot.domain import ZERO
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain.instrument import VENUE_NAME_PATTERN
from trading_bot.domain.instrument import split_venue
from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.log import get_logger
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.access import JournalLocation
from trading_bot.runtime.journal.access import check_sqlite_file
from trading_bot.runtime.journal.access import locate
from trading_bot.runtime.journal.access import prepare_sqlite_file
from trading_bot.runtime.journal.access import translate
from trading_bot.runtime.journal.connect import connect
from trading_bot.runtime.journal.connect import lock_postgres
from trading_bot.runtime.journal.connect import unlock_postgres
from trading_bot.runtime.journal.intent import SqliteIntentWriter
from trading_bot.runtime.journal.lock import FileLock
from trading_bot.runtime.journal.rows import AdoptionRecord
from trading_bot.runtime.journal.rows import FundingRecord
from trading_bot.runtime.journal.rows import OperatorActionRecord
from trading_bot.runtime.journal.rows import RiskDecisionFields
from trading_bot.runtime.journal.rows import RiskDecisionRecord
from trading_bot.runtime.journal.rows import RunRecord
from trading_bot.runtime.journal.rows import risk_row
from trading_bot.runtime.journal.writer import JournalWriter

__all__ = [
    "DEFAULT_VENUE",
    "OPEN_STATUSES",
    "SEQUENCE_BLOCK",
    "AdoptionRecord",
    "FundingRecord",
    "Journal",
    "JournalWriter",
    "OperatorActionRecord",
    "RiskDecisionFields",
    "RiskDecisionRecord",
    "RunRecord",
]

_log = get_logger(__name__)

OPEN_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.INITIALIZED} | {s for s in OrderStatus if s.is_open})
"""Statuses :meth:`Journal.open_orders` returns: maybe on the exchange (INITIALIZED = intent, outcome unknown)."""

DEFAULT_VENUE = "default"
"""The venue of rows written through a journal opened without one (tests, tools; a bot always gives its own)."""

SEQUENCE_BLOCK = 50
"""Client-order-id sequence numbers a run reserves at a time (``JournalLink.next``)."""

_STATE_HISTORY_KEEP = 100
# quantity: an order sized at the fill (OrderParams.quote_quantity) takes its filled quantity
_ORDER_MUTABLE = (
    "status", "quantity", "filled_quantity", "average_price", "fees", "exchange_order_id", "reason", "updated_ms",
)  # fmt: skip


class Journal:
    """The bot's durable record; open with :meth:`open`, close with :meth:`close`.

    Safe to share between tasks of one event loop. Several processes may read the same SQLite file
    (readers see every committed write); one bot writes it, which ``lock_as`` enforces (``lock``).
    Every database failure surfaces as a one-line ``ConfigError`` or ``OperationalError``
    (``access.translate``), never as a raw driver error.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        intents: SqliteIntentWriter | None = None,
        *,
        location: JournalLocation | None = None,
        read_only: bool = False,
        venue: str | None = None,
        instrument: str | None = None,
    ) -> None:
        """Wrap an engine whose schema is migrated (and the SQLite intent fast path); use :meth:`open`.

        ``venue`` / ``instrument``: what a write naming none gets (``DEFAULT_VENUE`` / ``schema.BOT_WIDE``).
        """
        self._engine = engine
        self.venue = venue or DEFAULT_VENUE
        self.instrument = js.BOT_WIDE if instrument is None else instrument
        self._any_instrument = instrument is None
        self._intents = intents
        self._write_lock = asyncio.Lock()
        self.location = location or locate(engine.url.render_as_string(hide_password=False))
        self.read_only = read_only
        self.migrated: list[int] = []
        """The schema versions :meth:`open` applied (empty: the journal was up to date)."""
        self._file_lock: FileLock | None = None
        self._pg_lock: tuple[AsyncConnection, str] | None = None

    @classmethod
    async def open(
        cls,
        db_url: str,
        *,
        migrations: list[js.Migration] | None = None,
        read_only: bool = False,
        lock_as: str | None = None,
        venue: str | None = None,
        instrument: str | None = None,
    ) -> Journal:
        """Connect to ``db_url`` and migrate the schema (SQLite: create the file, ``0600``, and its directory).

        Args:
            db_url: SQLAlchemy async URL, e.g. ``sqlite+aiosqlite:///var/lib/bot/journal.db``.
            migrations: schema steps to apply (tests only); defaults to ``schema.MIGRATIONS``.
            read_only: open an existing journal for reading only: nothing is created, migrated or written.
            lock_as: take the one-bot lock for this bot id (``lock``) before anything is written.
            venue: the bot's venue name (``VENUE_NAME_PATTERN``): written on rows that name none, and given
                to the rows of a v1 journal when it is migrated (``schema``).
            instrument: the bot's instrument, ``venue:symbol``: the key of snapshots that name none.

        Raises:
            ConfigError: bad URL, driver missing, not a journal, newer schema, journal in use by another bot,
                (read-only) no journal there or an older schema, a bad venue name, a v1 journal with rows
                opened for writing without a venue.
            OperationalError: permission denied, read-only or full disk, database unreachable.
        """
        if venue is not None and not VENUE_NAME_PATTERN.fullmatch(venue):
            raise ConfigError(
                f"journal venue {venue!r}: a venue name is lower-case letters, digits and _ (at most 32 characters)"
            )
        location = locate(db_url)
        steps = js.MIGRATIONS if migrations is None else migrations
        file_lock = None
        try:
            if lock_as is not None and location.path is not None:
                check_sqlite_file(location.path, write=True)
                prepare_sqlite_file(location.path)
                file_lock = FileLock.acquire(location.path, lock_as)
            engine, applied = await connect(location, read_only=read_only, migrations=steps, venue=venue)
        except Exception as exc:
            if file_lock is not None:
                file_lock.release()
            raise translate(exc, location) from None
        journal = cls(engine, location=location, read_only=read_only, venue=venue, instrument=instrument)
        journal.migrated = applied
        journal._file_lock = file_lock
        try:
            if lock_as is not None and location.path is None and not location.is_sqlite:
                journal._pg_lock = (await lock_postgres(engine, lock_as, location.shown), lock_as)
            if location.path is not None and not read_only:
                journal._intents = await SqliteIntentWriter.open(str(location.path), js.orders)
        except BaseException as exc:
            await journal.close()
            if isinstance(exc, Exception):
                raise translate(exc, location) from None
            raise
        _log.info("journal_opened", url=location.shown, version=len(steps), migrated=applied, read_only=read_only)
        return journal

    async def close(self) -> None:
        """Close every connection and release the bot lock; the journal cannot be used afterwards."""
        try:
            if self._intents is not None:
                await self._intents.close()
            if self._pg_lock is not None:
                conn, bot_id = self._pg_lock
                self._pg_lock = None
                with contextlib.suppress(Exception):  # the session ends below either way
                    await unlock_postgres(conn, bot_id)
            await self._engine.dispose()
        finally:
            if self._file_lock is not None:
                self._file_lock.release()
                self._file_lock = None
        _log.info("journal_closed")

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; a database failure becomes a one-line error (``access.translate``)."""
        try:
            async with self._write_lock, self._engine.begin() as conn:
                yield conn
        except (DBAPIError, sqlite3.Error, OSError) as exc:
            raise translate(exc, self.location) from exc

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection; a database failure becomes a one-line error."""
        try:
            async with self._engine.connect() as conn:
                yield conn
        except (DBAPIError, sqlite3.Error, OSError) as exc:
            raise translate(exc, self.location) from exc

    # -- runs and sequences ----------------------------------------------------------------------
    async def start_run(self, bot_id: str, config_hash: str, started_ms: int) -> int:
        """Record the start of a run; return its id."""
        async with self._tx() as conn:
            result = await conn.execute(
                insert(js.runs).values(bot_id=bot_id, config_hash=config_hash, started_ms=started_ms)
            )
            run_id = result.inserted_primary_key
            assert run_id is not None
            return int(run_id[0])

    async def finish_run(self, run_id: int, stopped_ms: int, exit_reason: str, exit_code: int) -> None:
        """Record how run ``run_id`` ended."""
        async with self._tx() as conn:
            await conn.execute(
                update(js.runs)
                .where(js.runs.c.id == run_id)
                .values(stopped_ms=stopped_ms, exit_reason=exit_reason, exit_code=exit_code)
            )

    async def last_run(self, bot_id: str | None = None) -> RunRecord | None:
        """Return the most recent run (of ``bot_id``, when given), or ``None`` when there is none."""
        stmt = select(js.runs)
        if bot_id is not None:
            stmt = stmt.where(js.runs.c.bot_id == bot_id)
        async with self._read() as conn:
            row = (await conn.execute(stmt.order_by(js.runs.c.id.desc()).limit(1))).mappings().first()
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
        async with self._tx() as conn:
            bump = update(seq).where(seq.c.bot_id == bot_id).values(last_sequence=seq.c.last_sequence + count)
            if (await conn.execute(bump)).rowcount == 0:
                await conn.execute(insert(seq).values(bot_id=bot_id, last_sequence=count))
                return 1
            last = (await conn.execute(select(seq.c.last_sequence).where(seq.c.bot_id == bot_id))).scalar_one()
            return int(last) - count + 1

    async def reserved_sequence(self, bot_id: str) -> int:
        """Return the highest sequence number ever reserved for ``bot_id`` (0 when none was)."""
        stmt = select(js.sequences.c.last_sequence).where(js.sequences.c.bot_id == bot_id)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return 0 if value is None else int(value)

    async def advance_sequence(self, bot_id: str, at_least: int) -> int:
        """Move ``bot_id``'s reserved sequence up to ``at_least`` (never down); return the reserved value."""
        seq = js.sequences
        async with self._tx() as conn:
            bump = (
                update(seq).where(seq.c.bot_id == bot_id, seq.c.last_sequence < at_least).values(last_sequence=at_least)
            )
            if (await conn.execute(bump)).rowcount == 0:
                await conn.execute(
                    js.insert_ignore(conn.dialect.name, seq).values(bot_id=bot_id, last_sequence=at_least)
                )
            value = (await conn.execute(select(seq.c.last_sequence).where(seq.c.bot_id == bot_id))).scalar_one()
            return int(value)

    async def record_adoption(self, **fields: Any) -> None:
        """Record one ``--adopt`` start (the columns of ``schema.adoptions`` but ``id``; ``venue`` optional)."""
        async with self._tx() as conn:
            await conn.execute(insert(js.adoptions).values(**({"venue": self.venue} | fields)))

    async def adoptions(self) -> list[AdoptionRecord]:
        """Return the recorded ``--adopt`` starts, oldest first."""
        async with self._read() as conn:
            rows = (await conn.execute(select(js.adoptions).order_by(js.adoptions.c.id))).mappings().all()
        return [AdoptionRecord(**row) for row in rows]

    # -- orders and fills ------------------------------------------------------------------------
    async def record_intent(self, order: Order, run_id: int, bot_id: str, venue: str | None = None) -> None:
        """Write the intent of ``order`` on ``venue`` (``None``: the journal's) before it is sent; committed and
        durable when this returns.

        Raises:
            OperationalError: the client order id is already journaled (it must never be sent twice)
                or ``run_id`` is unknown.
        """
        row = js.order_to_row(order) | {"run_id": run_id, "bot_id": bot_id, "venue": venue or self.venue}
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
        except (DBAPIError, sqlite3.Error, OSError) as exc:
            problem = translate(exc, self.location)
            raise OperationalError(f"could not record the intent of {order.client_order_id}: {problem}") from exc
        _log.debug("journal_intent_recorded", client_order_id=order.client_order_id, run_id=run_id)

    async def record_order(self, order: Order, venue: str | None = None) -> None:
        """Store the current state of ``order``; insert it on ``venue`` (``None``: the journal's) when missing
        (an adopted order).

        A snapshot older than the stored one (smaller ``updated_ms``) is ignored, so a stale queued write
        cannot undo a newer one.
        """
        async with self._tx() as conn:
            await self._upsert_order(conn, js.order_to_row(order) | {"venue": venue or self.venue})

    async def record_fill(self, fill: Fill, recorded_ms: int, venue: str | None = None) -> bool:
        """Insert ``fill`` on ``venue`` (``None``: the journal's) unless its ``(venue, symbol, trade_id)`` is
        already journaled; return True if new."""
        row = js.fill_to_row(fill, recorded_ms, venue or self.venue)
        async with self._tx() as conn:
            result = await conn.execute(js.insert_ignore(conn.dialect.name, js.fills).values(**row))
            return bool(result.rowcount == 1)

    async def has_fill(self, trade_id: str, symbol: str, venue: str | None = None) -> bool:
        """Return True if the fill ``(trade_id, symbol)`` is journaled (on ``venue``; ``None``: on any)."""
        stmt = select(js.fills.c.id).where(js.fills.c.trade_id == trade_id, js.fills.c.symbol == symbol)
        if venue is not None:
            stmt = stmt.where(js.fills.c.venue == venue)
        async with self._read() as conn:
            return (await conn.execute(stmt.limit(1))).first() is not None

    async def last_fill_ms(self, symbol: str, venue: str | None = None) -> int | None:
        """Return the exchange time (epoch ms) of the latest journaled fill of ``symbol`` (on ``venue``)."""
        stmt = select(func.max(js.fills.c.ts_ms)).where(js.fills.c.symbol == symbol)
        if venue is not None:
            stmt = stmt.where(js.fills.c.venue == venue)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)

    async def position(self, symbol: str, venue: str | None = None) -> Decimal:
        """Return the signed sum of the journaled fills of ``symbol`` (on ``venue``; ``None``: every venue)
        (buys +, sells −), in base currency."""
        stmt = select(js.fills.c.side, js.fills.c.quantity).where(js.fills.c.symbol == symbol)
        if venue is not None:
            stmt = stmt.where(js.fills.c.venue == venue)
        total = ZERO
        async with self._read() as conn:
            for side, quantity in await conn.execute(stmt):
                total += quantity if side == OrderSide.BUY.value else -quantity
        return total

    # -- funding payments (perpetual swaps) --------------------------------------------------------
    async def record_funding(
        self,
        payment: FundingPayment,
        recorded_ms: int,
        *,
        asset: str,
        venue: str | None = None,
        run_id: int | None = None,
    ) -> bool:
        """Insert ``payment`` (in ``asset``, the settle currency) on ``venue`` (``None``: the journal's) unless its
        ``(venue, symbol, id)`` is already journaled; return True if new."""
        row = js.funding_to_row(payment, venue=venue or self.venue, asset=asset, run_id=run_id, recorded_ms=recorded_ms)
        async with self._tx() as conn:
            result = await conn.execute(js.insert_ignore(conn.dialect.name, js.funding_payments).values(**row))
            return bool(result.rowcount == 1)

    async def funding_payments(
        self,
        *,
        symbol: str | None = None,
        venue: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
        bot_id: str | None = None,
    ) -> list[FundingRecord]:
        """Return the journaled funding payments in venue-time order (``since_ms``: ``ts_ms`` at or after it,
        epoch ms; ``limit``: only the latest ones, still oldest first; ``bot_id``: only those its runs recorded)."""
        table = js.funding_payments
        stmt = _where(select(table), table, symbol=symbol, venue=venue)
        if bot_id is not None:
            stmt = stmt.where(table.c.run_id.in_(select(js.runs.c.id).where(js.runs.c.bot_id == bot_id)))
        if since_ms is not None:
            stmt = stmt.where(table.c.ts_ms >= since_ms)
        rows = await self._oldest_first(stmt.order_by(table.c.ts_ms.desc(), table.c.id.desc()), limit)
        return [js.funding_from_row(row) for row in rows]

    async def last_funding_ms(self, symbol: str, venue: str | None = None) -> int | None:
        """Return the venue time (epoch ms) of the latest journaled funding payment of ``symbol`` (on ``venue``)."""
        table = js.funding_payments
        stmt = _where(select(func.max(table.c.ts_ms)), table, symbol=symbol, venue=venue)
        async with self._read() as conn:
            value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)

    async def open_orders(
        self, bot_id: str | None = None, symbol: str | None = None, venue: str | None = None
    ) -> list[Order]:
        """Return orders that may still be on the exchange (``OPEN_STATUSES``), oldest first."""
        return [order for _, order in await self.open_orders_by_venue(bot_id, symbol, venue)]

    async def open_orders_by_venue(
        self, bot_id: str | None = None, symbol: str | None = None, venue: str | None = None
    ) -> list[tuple[str, Order]]:
        """Return ``(venue, order)`` of the orders that may still be on the exchange, oldest first."""
        stmt = select(js.orders).where(js.orders.c.status.in_(sorted(s.value for s in OPEN_STATUSES)))
        stmt = _where(stmt, js.orders, bot_id=bot_id, symbol=symbol, venue=venue)
        return await self._select_orders(stmt, None)

    async def recent_closed_orders(self, bot_id: str, symbol: str, limit: int, venue: str | None = None) -> list[Order]:
        """Return the latest ``limit`` orders of ``bot_id`` on ``symbol`` (and ``venue``, when given) that are over
        (filled, cancelled, rejected, expired), oldest first: what a restart needs to settle a strategy
        snapshot older than them."""
        stmt = select(js.orders).where(js.orders.c.status.not_in(sorted(s.value for s in OPEN_STATUSES)))
        stmt = _where(stmt, js.orders, bot_id=bot_id, symbol=symbol, venue=venue)
        return [order for _, order in await self._select_orders(stmt, limit)]

    async def orders(
        self,
        *,
        symbol: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
        bot_id: str | None = None,
        venue: str | None = None,
    ) -> list[Order]:
        """Return orders, oldest first (arguments as :meth:`orders_by_venue`)."""
        found = await self.orders_by_venue(
            symbol=symbol, status=status, since_ms=since_ms, limit=limit, bot_id=bot_id, venue=venue
        )
        return [order for _, order in found]

    async def orders_by_venue(
        self,
        *,
        symbol: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
        bot_id: str | None = None,
        venue: str | None = None,
    ) -> list[tuple[str, Order]]:
        """Return ``(venue, order)`` pairs, oldest first.

        Args:
            bot_id: only the orders of this bot.
            venue: only the orders on this venue.
            symbol: only this market.
            status: one status or several.
            since_ms: only orders created at or after this epoch ms.
            limit: only the latest ``limit`` orders (still returned oldest first).
        """
        stmt = _where(select(js.orders), js.orders, bot_id=bot_id, symbol=symbol, venue=venue)
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
        bot_id: str | None = None,
        venue: str | None = None,
    ) -> list[Fill]:
        """Return fills in exchange-time order (arguments as :meth:`fills_by_venue`)."""
        found = await self.fills_by_venue(
            symbol=symbol, since_ms=since_ms, client_order_id=client_order_id, limit=limit, bot_id=bot_id, venue=venue
        )
        return [fill for _, fill in found]

    async def fills_by_venue(
        self,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        client_order_id: str | None = None,
        limit: int | None = None,
        bot_id: str | None = None,
        venue: str | None = None,
    ) -> list[tuple[str, Fill]]:
        """Return ``(venue, fill)`` pairs in exchange-time order.

        Args:
            bot_id: only the fills of this bot's orders (client ids ``<bot_id>-<seq>``).
            venue: only the fills on this venue.
            symbol: only this market.
            since_ms: only fills with ``ts_ms`` at or after this epoch ms.
            client_order_id: only the fills of this order.
            limit: only the latest ``limit`` fills (still returned oldest first).
        """
        stmt = select(js.fills)
        if bot_id is not None:
            stmt = stmt.where(js.fills.c.client_order_id.startswith(f"{bot_id}-", autoescape=True))
        stmt = _where(stmt, js.fills, symbol=symbol, venue=venue)
        if since_ms is not None:
            stmt = stmt.where(js.fills.c.ts_ms >= since_ms)
        if client_order_id is not None:
            stmt = stmt.where(js.fills.c.client_order_id == client_order_id)
        rows = await self._oldest_first(stmt.order_by(js.fills.c.ts_ms.desc(), js.fills.c.id.desc()), limit)
        return [(row["venue"], js.fill_from_row(row)) for row in rows]

    # -- strategy state and risk decisions -------------------------------------------------------
    async def save_strategy_state(
        self, strategy: str, ts_ms: int, state: Mapping[str, Any], instrument: str | None = None
    ) -> None:
        """Store ``state`` as the latest snapshot of ``strategy`` on ``instrument`` (the last 100 are kept as
        history).

        Args:
            instrument: the instance's ``venue:symbol``; ``None``: the journal's instrument; ``""``
                (``schema.BOT_WIDE``): state of the whole bot (the risk manager's).

        Raises:
            TypeError: a value is not JSON-serialisable (``Decimal`` and sets are accepted).
        """
        key = self.instrument if instrument is None else instrument
        venue = split_venue(key)[0] or self.venue
        text = js.encode_state(state)
        table, history = js.strategy_state, js.strategy_state_history
        async with self._tx() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.strategy == strategy, table.c.instrument == key)
                .values(ts_ms=ts_ms, state=text, venue=venue)
            )
            if result.rowcount == 0:
                await conn.execute(
                    insert(table).values(strategy=strategy, instrument=key, venue=venue, ts_ms=ts_ms, state=text)
                )
            await conn.execute(
                insert(history).values(strategy=strategy, instrument=key, venue=venue, ts_ms=ts_ms, state=text)
            )
            mine = (history.c.strategy == strategy, history.c.instrument == key)
            keep = select(history.c.id).where(*mine).order_by(history.c.id.desc()).limit(_STATE_HISTORY_KEEP)
            await conn.execute(history.delete().where(*mine, history.c.id.not_in(keep.scalar_subquery())))

    async def load_strategy_state(self, strategy: str, instrument: str | None = None) -> dict[str, Any] | None:
        """Return the latest snapshot of ``strategy`` on ``instrument``, or ``None`` if it never saved one.

        ``instrument`` as in :meth:`save_strategy_state`. An instrument without its own snapshot gets the
        strategy's bot-wide one (``schema.BOT_WIDE``) if there is one: a snapshot migrated from a journal
        that did not record its instrument (``upgrade``), or saved by code that named none. ``None`` on a
        journal opened without an instrument (a tool reading a bot's journal) means the bot's one instance:
        the bot-wide snapshot if there is one, else the most recently saved one of ``strategy``.
        """
        key = self.instrument if instrument is None else instrument
        table = js.strategy_state
        stmt = select(table.c.instrument, table.c.ts_ms, table.c.state).where(table.c.strategy == strategy)
        if not (instrument is None and self._any_instrument):
            stmt = stmt.where(table.c.instrument.in_(sorted({key, js.BOT_WIDE})))
        async with self._read() as conn:
            rows = [(str(i), int(ts), str(text)) for i, ts, text in await conn.execute(stmt)]
        found = {i: text for i, _, text in rows}
        text = found.get(key, found.get(js.BOT_WIDE))
        if text is None and rows and instrument is None and self._any_instrument:
            text = max(rows, key=lambda row: row[1])[2]
        return None if text is None else js.decode_state(text)

    async def record_risk_decision(self, **decision: Unpack[RiskDecisionFields]) -> None:
        """Record one risk decision (a denial, or any decision worth keeping); fields as ``RiskDecisionFields``."""
        async with self._tx() as conn:
            await conn.execute(insert(js.risk_decisions).values(**risk_row(decision, self.venue)))

    async def risk_decisions(
        self, *, since_ms: int | None = None, limit: int | None = None, venue: str | None = None
    ) -> list[RiskDecisionRecord]:
        """Return risk decisions oldest first (``limit``: only the latest ones; ``venue``: only on it)."""
        table = js.risk_decisions
        stmt = _where(select(table).order_by(table.c.id.desc()), table, venue=venue)
        if since_ms is not None:
            stmt = stmt.where(table.c.ts_ms >= since_ms)
        rows = await self._oldest_first(stmt, limit)
        return [RiskDecisionRecord(**(dict(row) | {"side": OrderSide(row["side"])})) for row in rows]

    # -- operator actions (the audit log) -------------------------------------------------------------
    async def operator_actions(
        self, *, bot_id: str | None = None, since_ms: int | None = None, limit: int | None = None
    ) -> list[OperatorActionRecord]:
        """Return the journaled operator actions oldest first (``bot_id``: only that bot's; ``since_ms``: executed
        at or after it, epoch ms; ``limit``: only the latest ones)."""
        table = js.operator_actions
        stmt = _where(select(table).order_by(table.c.id.desc()), table, bot_id=bot_id)
        if since_ms is not None:
            stmt = stmt.where(table.c.ts_ms >= since_ms)
        return [js.operator_action_from_row(row) for row in await self._oldest_first(stmt, limit)]

    # -- internals -------------------------------------------------------------------------------
    async def _select_orders(self, stmt: Select[Any], limit: int | None) -> list[tuple[str, Order]]:
        stmt = stmt.order_by(js.orders.c.created_ms.desc(), js.orders.c.client_order_id.desc())
        return [(row["venue"], js.order_from_row(row)) for row in await self._oldest_first(stmt, limit)]

    async def _oldest_first(self, newest_first: Select[Any], limit: int | None) -> list[RowMapping]:
        """Run a query ordered newest first; return its latest ``limit`` rows (``None``: all), oldest first."""
        stmt = newest_first if limit is None else newest_first.limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return list(reversed(rows))

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
        funding_rows: list[dict[str, Any]] = []
        operator_rows: list[dict[str, Any]] = []
        for kind, row in batch:
            if kind == "order":
                latest_orders[row["client_order_id"]] = row  # snapshots: the last one wins
            elif kind == "fill":
                fill_rows.append(row)
            elif kind == "funding":
                funding_rows.append(row)
            elif kind == "operator":
                operator_rows.append(row)
            else:
                risk_rows.append(row)
        async with self._tx() as conn:
            for row in latest_orders.values():
                await self._upsert_order(conn, row)
            if fill_rows:
                await conn.execute(js.insert_ignore(conn.dialect.name, js.fills), fill_rows)
            if risk_rows:
                await conn.execute(insert(js.risk_decisions), risk_rows)
            if funding_rows:
                await conn.execute(js.insert_ignore(conn.dialect.name, js.funding_payments), funding_rows)
            if operator_rows:
                await conn.execute(insert(js.operator_actions), operator_rows)


def _where(stmt: Select[Any], table: Any, **equal: str | None) -> Select[Any]:
    """Add ``column == value`` to ``stmt`` for every given (not ``None``) value."""
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(table.c[name] == value)
    return stmt
