"""Versions and migrations of the journal's schema, and its SQLite and dialect specifics.

The tables are in ``tables`` (current shape) and ``schema_v1`` (the frozen shapes of versions 1 and 2);
this module re-exports the current ones. Versioning: ``schema_version`` holds one row per applied
migration. ``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``; :func:`apply_migrations`
runs the missing steps in order, all in the caller's one transaction. To change the schema, append a
step and update ``tables``; freeze the shapes the earlier steps create first (as ``schema_v1`` does).

Versions: 1 created the first tables, 2 added ``adoptions`` (together "journal v1": no venue), 3 is
"journal v2" (``upgrade``): a ``venue`` column on every order, fill, denial, adoption and snapshot, fills
unique per ``(venue, symbol, trade_id)``, snapshots keyed by ``(strategy, instrument)``. **The venue of
v1 rows** is the venue of the bot that opens the file for writing (``Journal.open(venue=...)``, from its
config's ``select_venue``): a v1 journal records no venue anywhere (``runs`` has no exchange column, client
order ids name only the bot), and it belonged to that one bot id and account. A v1 snapshot gets the
instrument ``venue:symbol`` when the file's orders and fills name one symbol, else ``""`` (see
``upgrade``).

Version 4 is "journal v3" (perpetual swaps, :func:`create_v4`): it adds the ``funding_payments`` table, one
row per ``(venue, symbol, payment_id)``, and changes no other table: every earlier row stays as it was, so
the six tables step 3 rebuilds are still exactly the shapes in ``tables`` (a later step that changes one of
them must first freeze those shapes, as ``schema_v1`` froze versions 1 and 2, and point ``upgrade`` at them;
``tests/integration/test_journal_migration.py`` fails until it does). **No position table**: a swap's
position (signed quantity and average entry) is the sum of its fills, as for spot, a liquidation being
journaled as the venue's fill; a stored copy could disagree with the fills after a ``kill -9`` between the
two writes, and what fills cannot give (leverage, margin mode) is set on the venue from the config at every
start (``configure_perp``) and reported back by it (``PositionReport``), which the start-up and periodic
cross-check (``runtime.position_check``) compare with the fills' position.

Version 5 (:func:`create_v5`) adds the ``operator_actions`` table, the audit log of operator commands (halt,
resume, reduce-only, cancel-all, flatten: who, when, what, the outcome), and changes no other table.

Concurrency and crashes: the migration is one transaction. On SQLite it starts with ``BEGIN IMMEDIATE``
(``sqlite_on_begin``), so a second process opening the file at the same time waits for the write lock
(``busy_timeout``) and then finds the schema current; on PostgreSQL a transaction advisory lock does the
same. A crash part-way rolls the whole migration back (SQLite and PostgreSQL DDL are transactional).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.runtime.journal.rows import AdoptionRecord
from trading_bot.runtime.journal.rows import FundingRecord
from trading_bot.runtime.journal.rows import OperatorActionRecord
from trading_bot.runtime.journal.rows import RiskDecisionFields
from trading_bot.runtime.journal.rows import RiskDecisionRecord
from trading_bot.runtime.journal.rows import RunRecord
from trading_bot.runtime.journal.rows import bot_id_of
from trading_bot.runtime.journal.rows import decode_state
from trading_bot.runtime.journal.rows import encode_state
from trading_bot.runtime.journal.rows import fill_from_row
from trading_bot.runtime.journal.rows import fill_to_row
from trading_bot.runtime.journal.rows import funding_from_row
from trading_bot.runtime.journal.rows import funding_to_row
from trading_bot.runtime.journal.rows import operator_action_from_row
from trading_bot.runtime.journal.rows import operator_action_to_row
from trading_bot.runtime.journal.rows import order_from_row
from trading_bot.runtime.journal.rows import order_to_row
from trading_bot.runtime.journal.schema_v1 import create_v1
from trading_bot.runtime.journal.schema_v1 import create_v2
from trading_bot.runtime.journal.tables import BOT_WIDE
from trading_bot.runtime.journal.tables import DecimalText
from trading_bot.runtime.journal.tables import adoptions
from trading_bot.runtime.journal.tables import fills
from trading_bot.runtime.journal.tables import funding_payments
from trading_bot.runtime.journal.tables import metadata
from trading_bot.runtime.journal.tables import operator_actions
from trading_bot.runtime.journal.tables import orders
from trading_bot.runtime.journal.tables import risk_decisions
from trading_bot.runtime.journal.tables import runs
from trading_bot.runtime.journal.tables import schema_version
from trading_bot.runtime.journal.tables import sequences
from trading_bot.runtime.journal.tables import strategy_state
from trading_bot.runtime.journal.tables import strategy_state_history
from trading_bot.runtime.journal.upgrade import VENUE_INFO_KEY
from trading_bot.runtime.journal.upgrade import upgrade_v3

__all__ = [
    "BOT_WIDE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_LOCK_OPTION",
    "AdoptionRecord",
    "DecimalText",
    "FundingRecord",
    "Migration",
    "OperatorActionRecord",
    "RiskDecisionFields",
    "RiskDecisionRecord",
    "RunRecord",
    "adoptions",
    "apply_migrations",
    "bot_id_of",
    "check_older",
    "check_version",
    "create_v4",
    "create_v5",
    "current_version",
    "decode_state",
    "encode_state",
    "fill_from_row",
    "fill_to_row",
    "fills",
    "funding_from_row",
    "funding_payments",
    "funding_to_row",
    "insert_ignore",
    "journal_version",
    "metadata",
    "operator_action_from_row",
    "operator_action_to_row",
    "operator_actions",
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


def create_v4(conn: Connection) -> None:
    """Schema step 4 ("journal v3"): add the ``funding_payments`` table (no other table changes)."""
    funding_payments.create(conn, checkfirst=True)


def create_v5(conn: Connection) -> None:
    """Schema step 5: add the ``operator_actions`` table, the audit log (no other table changes)."""
    operator_actions.create(conn, checkfirst=True)


MIGRATIONS: list[Migration] = [create_v1, create_v2, upgrade_v3, create_v4, create_v5]
"""Schema steps in order; ``MIGRATIONS[i]`` moves the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version the current code writes (5: "journal v3" and the operator audit log)."""

_MIGRATION_LOCK_KEY = 0x7472_6164_696E_6701
"""PostgreSQL transaction advisory lock that serialises migrations of one database between processes."""


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


def check_older(version: int, supported: int, name: str = "journal") -> None:
    """Refuse, for reading, a journal whose schema ``version`` is older than the ``supported`` one.

    A reader never migrates; the bot does at its next start (or ``runbot.py migrate-journal``).

    Raises:
        ConfigError: the journal ``name`` was written by an older version of the bot.
    """
    if 0 < version < supported:
        raise ConfigError(
            f"journal {name} has schema version {version}, older than this code's ({supported}): migrate it "
            "first (it keeps every row): start the bot on it once, or run `runbot.py migrate-journal --config "
            "FILE` (or --db URL --venue NAME)"
        )


def apply_migrations(
    conn: Connection,
    now_ms: int,
    migrations: Sequence[Migration] = MIGRATIONS,
    name: str = "journal",
    venue: str | None = None,
) -> list[int]:
    """Bring the schema up to ``len(migrations)``; return the versions applied (empty when up to date).

    Run inside one transaction: either every missing step lands, with its ``schema_version`` row, or none.
    On PostgreSQL a transaction advisory lock first serialises concurrent migrations (SQLite: the caller
    begins with ``BEGIN IMMEDIATE``, see :func:`sqlite_on_begin`).

    Args:
        venue: the venue given to rows of an older journal that has none (step 3, ``upgrade``).

    Raises:
        ConfigError: this code may not use the database (see :func:`journal_version`), or an older journal
            with rows needs ``venue``.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    conn.info[VENUE_INFO_KEY] = venue
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


WRITE_LOCK_OPTION = "journal_begin_immediate"
"""Execution option: a connection with it set to True begins with ``BEGIN IMMEDIATE`` (takes the write lock)."""


def sqlite_on_begin(conn: Any) -> None:
    """Start every transaction with an explicit ``BEGIN`` (a ``begin`` event listener).

    ``BEGIN IMMEDIATE`` when the connection has the ``WRITE_LOCK_OPTION`` execution option (the migration:
    the version is read under the write lock, so two processes never both migrate).
    """
    immediate = bool(conn.get_execution_options().get(WRITE_LOCK_OPTION))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
