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

import json
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import TypedDict

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

from trading_bot.domain import ClientOrderId
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import TradeId
from trading_bot.errors import OperationalError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "DecimalText",
    "Migration",
    "RiskDecisionFields",
    "RiskDecisionRecord",
    "RunRecord",
    "apply_migrations",
    "bot_id_of",
    "current_version",
    "decode_state",
    "encode_state",
    "fill_from_row",
    "fill_to_row",
    "fills",
    "insert_ignore",
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

_V1_TABLES = (runs, orders, fills, strategy_state, strategy_state_history, risk_decisions, sequences)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(_V1_TABLES), checkfirst=True)


MIGRATIONS: list[Migration] = [_create_v1]
"""Schema steps in order; ``MIGRATIONS[i]`` moves the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version the current code writes."""


def current_version(conn: Connection) -> int:
    """Return the schema version of the database behind ``conn`` (0 for an empty database)."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    version = conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none()
    return 0 if version is None else int(version)


def apply_migrations(conn: Connection, now_ms: int, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring the schema up to ``len(migrations)``; return the versions applied (empty when up to date).

    Run inside one transaction: either every missing step lands, with its ``schema_version`` row, or none.

    Raises:
        OperationalError: the database is newer than this code (a downgrade is never attempted).
    """
    schema_version.create(conn, checkfirst=True)
    version = current_version(conn)
    if version > len(migrations):
        raise OperationalError(
            f"journal schema version {version} is newer than this code supports ({len(migrations)}); upgrade the bot"
        )
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


# -- records and rows <-> domain objects


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run of the bot: ``stopped_ms is None`` means it is running or ended without a clean stop."""

    id: int
    bot_id: str
    config_hash: str
    started_ms: int
    stopped_ms: int | None
    exit_reason: str | None
    exit_code: int | None


class RiskDecisionFields(TypedDict):
    """The fields of one risk decision, passed as keywords to ``record_risk_decision``.

    ``ts_ms`` is epoch ms; ``quantity`` (base currency) and ``price`` (quote) may be unknown (``None``).
    """

    ts_ms: int
    run_id: int | None
    client_order_id: str | None
    symbol: str
    side: OrderSide
    quantity: Decimal | None
    price: Decimal | None
    rule: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskDecisionRecord:
    """One risk decision as journaled (usually a denial)."""

    id: int
    ts_ms: int
    run_id: int | None
    client_order_id: str | None
    symbol: str
    side: OrderSide
    quantity: Decimal | None
    price: Decimal | None
    rule: str
    reason: str


def bot_id_of(client_order_id: str) -> str | None:
    """Return the ``<bot-id>`` prefix of a ``<bot-id>-<sequence>`` client order id, or ``None``."""
    prefix, sep, sequence = client_order_id.rpartition("-")
    if not sep or not prefix or not sequence.isdigit():
        return None
    return prefix


def order_to_row(order: Order) -> dict[str, Any]:
    """Return the ``orders`` columns of a snapshot of ``order`` (without ``run_id`` and ``bot_id``)."""
    return {
        "client_order_id": str(order.client_order_id),
        "exchange_order_id": None if order.exchange_order_id is None else str(order.exchange_order_id),
        "symbol": str(order.symbol),
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "time_in_force": order.time_in_force.value,
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "client_tag": order.client_tag,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "fees": order.fees,
        "reason": order.reason,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def order_from_row(row: Mapping[Any, Any]) -> Order:
    """Rebuild an ``Order`` from an ``orders`` row (enums by value, Decimals exact)."""
    exchange_order_id = row["exchange_order_id"]
    return Order(
        client_order_id=ClientOrderId(row["client_order_id"]),
        symbol=Symbol(row["symbol"]),
        side=OrderSide(row["side"]),
        quantity=row["quantity"],
        order_type=OrderType(row["order_type"]),
        price=row["price"],
        time_in_force=TimeInForce(row["time_in_force"]),
        post_only=bool(row["post_only"]),
        reduce_only=bool(row["reduce_only"]),
        trigger_price=row["trigger_price"],
        client_tag=row["client_tag"],
        status=OrderStatus(row["status"]),
        exchange_order_id=None if exchange_order_id is None else ExchangeOrderId(exchange_order_id),
        filled_quantity=row["filled_quantity"],
        average_price=row["average_price"],
        fees=row["fees"],
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
        reason=row["reason"],
    )


def fill_to_row(fill: Fill, recorded_ms: int) -> dict[str, Any]:
    """Return the ``fills`` columns of ``fill``, recorded at ``recorded_ms``."""
    return {
        "trade_id": str(fill.trade_id),
        "client_order_id": str(fill.client_order_id),
        "exchange_order_id": None if fill.exchange_order_id is None else str(fill.exchange_order_id),
        "symbol": str(fill.symbol),
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "liquidity": fill.liquidity.value,
        "ts_ms": fill.ts_ms,
        "recorded_ms": recorded_ms,
    }


def fill_from_row(row: Mapping[Any, Any]) -> Fill:
    """Rebuild a ``Fill`` from a ``fills`` row."""
    exchange_order_id = row["exchange_order_id"]
    return Fill(
        trade_id=TradeId(row["trade_id"]),
        client_order_id=ClientOrderId(row["client_order_id"]),
        symbol=Symbol(row["symbol"]),
        side=OrderSide(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        fee=row["fee"],
        fee_currency=row["fee_currency"],
        ts_ms=int(row["ts_ms"]),
        liquidity=LiquiditySide(row["liquidity"]),
        exchange_order_id=None if exchange_order_id is None else ExchangeOrderId(exchange_order_id),
    )


_DECIMAL_TAG = "__decimal__"


def _encode_default(value: object) -> object:
    if isinstance(value, Decimal):
        return {_DECIMAL_TAG: str(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"strategy state value of type {type(value).__name__} is not JSON-serialisable")


def _decode_object(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and _DECIMAL_TAG in obj:
        return Decimal(obj[_DECIMAL_TAG])
    return obj


def encode_state(state: Mapping[str, Any]) -> str:
    """Serialise a strategy snapshot to JSON; ``Decimal`` values are tagged so they load back exactly.

    Raises:
        TypeError: a value is neither JSON-native, ``Decimal`` nor a set.
        ValueError: a float is NaN or infinite.
    """
    return json.dumps(dict(state), default=_encode_default, allow_nan=False, separators=(",", ":"))


def decode_state(text: str) -> dict[str, Any]:
    """Load a snapshot written by :func:`encode_state` (tagged Decimals come back as ``Decimal``)."""
    loaded = json.loads(text, object_hook=_decode_object)
    if not isinstance(loaded, dict):
        raise ValueError("stored strategy state is not a JSON object")
    return loaded
