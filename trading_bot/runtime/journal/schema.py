"""Tables and migrations of the journal.

The schema is portable SQLAlchemy Core: the same tables are created on SQLite and on PostgreSQL.
Money and quantities are ``TEXT`` columns holding ``str(Decimal)`` (see :class:`DecimalText`), never
floats, so every value reads back exactly as it was written. Timestamps are integer epoch milliseconds.

Versioning: ``schema_version`` holds one row per applied migration. ``MIGRATIONS[i]`` brings the
schema from version ``i`` to ``i + 1``; :func:`apply_migrations` runs the missing steps in order, each
in the caller's transaction. Version 1 creates everything. To change the schema, append a step (for
example ``ALTER TABLE ... ADD COLUMN``) and update the table definitions below; version 1 then has to
keep creating the *old* shape, so freeze its definitions in ``_create_v1`` before editing them here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Connection
from sqlalchemy import Dialect
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.runtime.journal.rows import AdoptionRecord
from trading_bot.runtime.journal.rows import RiskDecisionFields
from trading_bot.runtime.journal.rows import RiskDecisionRecord
from trading_bot.runtime.journal.rows import RunRecord
from trading_bot.runtime.journal.rows import bot_id_of
from trading_bot.runtime.journal.rows import decode_state
from trading_bot.runtime.journal.rows import encode_state
from trading_bot.runtime.journal.rows import fill_from_row
from trading_bot.runtime.journal.rows import fill_to_row
from trading_bot.runtime.journal.rows import order_from_row
from trading_bot.runtime.journal.rows import order_to_row

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "AdoptionRecord",
    "DecimalText",
    "Migration",
    "RiskDecisionFields",
    "RiskDecisionRecord",
    "RunRecord",
    "adoptions",
    "apply_migrations",
    "bot_id_of",
    "check_version",
    "current_version",
    "decode_state",
    "encode_state",
    "fill_from_row",
    "fill_to_row",
    "fills",
    "insert_ignore",
    "journal_version",
    "metadata",
    "order_from_row",
    "order_to_row",
    "orders",
    "risk_decisions",
    "runs",
    "schema_version",
    "sequences",
    "sqlite_on_begin",
    "sqlite_on_connect",
    "sqlite_on_connect_read_only",
    "strategy_state",
    "strategy_state_history",
]

Migration = Callable[[Connection], None]
"""One schema step: a function that gets a sync ``Connection`` inside the migration transaction."""


class DecimalText(TypeDecorator[Decimal]):
    """A ``Decimal`` stored as its exact string (``TEXT``), e.g. ``"0.3"``, ``"1E-8"``, ``"123456789.123"``.

    Binding anything but a ``Decimal`` raises ``TypeError``: a float here would be a bug upstream.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        """Convert a ``Decimal`` to its exact string form."""
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"journal expects Decimal, got {type(value).__name__} {value!r}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Convert the stored string back to the same ``Decimal``."""
        if value is None:
            return None
        return Decimal(value)


# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", String(64), nullable=False),
    Column("config_hash", String(128), nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("stopped_ms", BigInteger, nullable=True),
    Column("exit_reason", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
)

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("bot_id", String(64), nullable=True),
    Column("exchange_order_id", String(128), nullable=True),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(32), nullable=False),
    Column("quantity", DecimalText, nullable=False),
    Column("price", DecimalText, nullable=True),
    Column("trigger_price", DecimalText, nullable=True),
    Column("time_in_force", String(8), nullable=False),
    Column("post_only", Boolean, nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("client_tag", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("filled_quantity", DecimalText, nullable=False),
    Column("average_price", DecimalText, nullable=True),
    Column("fees", DecimalText, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_orders_status", "status"),
    Index("ix_orders_symbol_created", "symbol", "created_ms"),
    Index("ix_orders_bot_status", "bot_id", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("trade_id", String(128), nullable=False),
    Column("client_order_id", String(64), nullable=False),
    Column("exchange_order_id", String(128), nullable=True),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", DecimalText, nullable=False),
    Column("price", DecimalText, nullable=False),
    Column("fee", DecimalText, nullable=False),
    Column("fee_currency", String(32), nullable=False),
    Column("liquidity", String(8), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
    UniqueConstraint("trade_id", "symbol", name="uq_fills_trade_symbol"),
    Index("ix_fills_symbol_ts", "symbol", "ts_ms"),
    Index("ix_fills_client_order_id", "client_order_id"),
)

strategy_state = Table(
    "strategy_state",
    metadata,
    Column("strategy", String(128), primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
)

strategy_state_history = Table(
    "strategy_state_history",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("strategy", String(128), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Index("ix_strategy_state_history_strategy", "strategy", "id"),
)

risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("client_order_id", String(64), nullable=True),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", DecimalText, nullable=True),
    Column("price", DecimalText, nullable=True),
    Column("rule", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_risk_decisions_ts", "ts_ms"),
)

sequences = Table(
    "sequences",
    metadata,
    Column("bot_id", String(64), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)

adoptions = Table(
    "adoptions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("bot_id", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("journal_sequence", BigInteger, nullable=False),
    Column("exchange_sequence", BigInteger, nullable=False),
    Column("new_sequence", BigInteger, nullable=False),
    Column("orders", Text, nullable=False),
    Column("fills", Text, nullable=False),
)
"""One row per ``--adopt`` start that took the exchange's history of this bot into an older journal."""

_V1_TABLES = (runs, orders, fills, strategy_state, strategy_state_history, risk_decisions, sequences)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(_V1_TABLES), checkfirst=True)


def _create_v2(conn: Connection) -> None:
    adoptions.create(conn, checkfirst=True)


MIGRATIONS: list[Migration] = [_create_v1, _create_v2]
"""Schema steps in order; ``MIGRATIONS[i]`` moves the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version the current code writes."""


def current_version(conn: Connection) -> int:
    """Return the schema version of the database behind ``conn`` (0 for an empty database)."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    version = conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none()
    return 0 if version is None else int(version)


def check_version(version: int, supported: int, name: str = "journal") -> None:
    """Refuse a journal whose schema ``version`` is newer than the ``supported`` one (never downgraded).

    Raises:
        ConfigError: the journal ``name`` was written by a newer version of the bot.
    """
    if version > supported:
        raise ConfigError(
            f"journal {name} has schema version {version}, newer than this code supports ({supported}): it was "
            "written by a newer version of the bot; upgrade the bot, or point persistence.db_url at another journal"
        )


def journal_version(conn: Connection, supported: int, name: str = "journal") -> int:
    """Return the schema version of the journal behind ``conn`` after checking that this code may use it.

    Raises:
        ConfigError: the schema is newer than ``supported`` (see :func:`check_version`), or a SQLite file
            without a journal schema holds other tables (another application's database: never migrated).
    """
    version = current_version(conn)
    check_version(version, supported, name)
    if version == 0 and conn.dialect.name == "sqlite":  # a file holds one application's data
        foreign = sorted(set(inspect(conn).get_table_names()) - set(metadata.tables))
        if foreign:
            raise ConfigError(
                f"journal {name} is a SQLite database of something else (tables {', '.join(foreign[:5])}); point "
                "persistence.db_url (or bot.data_dir) at the bot's own journal"
            )
    return version


def apply_migrations(
    conn: Connection, now_ms: int, migrations: Sequence[Migration] = MIGRATIONS, name: str = "journal"
) -> list[int]:
    """Bring the schema up to ``len(migrations)``; return the versions applied (empty when up to date).

    Run inside one transaction: either every missing step lands, with its ``schema_version`` row, or none.

    Raises:
        ConfigError: this code may not use the database (see :func:`journal_version`).
    """
    version = journal_version(conn, len(migrations), name)
    if version == len(migrations):
        return []  # up to date: nothing written
    schema_version.create(conn, checkfirst=True)
    applied: list[int] = []
    for index in range(version, len(migrations)):
        migrations[index](conn)
        conn.execute(insert(schema_version).values(version=index + 1, applied_ms=now_ms))
        applied.append(index + 1)
    return applied


# -- SQLite and dialect specifics ----------------------------------------------------------------

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite connection waits for another writer's lock before failing."""


def sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    """Apply the journal's PRAGMAs to a new SQLite connection (a ``connect`` event listener)."""
    # Take control of transactions (the sqlite3 module's implicit BEGIN skips DDL); see "begin" below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def sqlite_on_connect_read_only(dbapi_connection: Any, connection_record: Any) -> None:
    """Prepare a read-only SQLite connection: no journal-mode change, ``query_only``, the busy timeout."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def sqlite_on_begin(conn: Any) -> None:
    """Start every transaction with an explicit ``BEGIN`` (a ``begin`` event listener)."""
    conn.exec_driver_sql("BEGIN")


def insert_ignore(dialect: str, table: Table) -> Any:
    """Return an INSERT that skips rows conflicting with a unique key (same SQL on SQLite and PostgreSQL).

    Raises:
        OperationalError: ``dialect`` is neither ``sqlite`` nor ``postgresql``.
    """
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise OperationalError(f"journal: database dialect {dialect!r} is not supported (use sqlite or postgresql)")
