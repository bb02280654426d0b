"""The journal's tables as schema versions 1 and 2 created them ("journal v1": no venue), frozen.

Migrations 1 and 2 (``schema.MIGRATIONS``) must keep creating exactly what they created when they
shipped, so a new database goes through the same steps as an old file; these definitions never change.
Version 3 (``upgrade``) reads them to copy the old rows into the current tables (``tables``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Connection
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint

from trading_bot.runtime.journal.tables import BIG_ID
from trading_bot.runtime.journal.tables import DecimalText

__all__ = [
    "adoptions_v1",
    "create_v1",
    "create_v2",
    "fills_v1",
    "metadata_v1",
    "orders_v1",
    "risk_decisions_v1",
    "runs_v1",
    "sequences_v1",
    "strategy_state_history_v1",
    "strategy_state_v1",
]

metadata_v1 = MetaData()
"""The tables of schema versions 1 and 2, frozen as they shipped (journal v1: no venue)."""

runs_v1 = Table(
    "runs",
    metadata_v1,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", String(64), nullable=False),
    Column("config_hash", String(128), nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("stopped_ms", BigInteger, nullable=True),
    Column("exit_reason", Text, nullable=True),
    Column("exit_code", Integer, nullable=True),
)

orders_v1 = Table(
    "orders",
    metadata_v1,
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

fills_v1 = Table(
    "fills",
    metadata_v1,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
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

strategy_state_v1 = Table(
    "strategy_state",
    metadata_v1,
    Column("strategy", String(128), primary_key=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
)

strategy_state_history_v1 = Table(
    "strategy_state_history",
    metadata_v1,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("strategy", String(128), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Index("ix_strategy_state_history_strategy", "strategy", "id"),
)

risk_decisions_v1 = Table(
    "risk_decisions",
    metadata_v1,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
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

sequences_v1 = Table(
    "sequences",
    metadata_v1,
    Column("bot_id", String(64), primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
)

adoptions_v1 = Table(
    "adoptions",
    metadata_v1,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
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


def create_v1(conn: Connection) -> None:
    """Schema step 1: create the first tables (runs, orders, fills, strategy state, risk decisions, sequences)."""
    tables = [runs_v1, orders_v1, fills_v1, strategy_state_v1, strategy_state_history_v1, risk_decisions_v1]
    metadata_v1.create_all(conn, tables=[*tables, sequences_v1], checkfirst=True)


def create_v2(conn: Connection) -> None:
    """Schema step 2: add the ``adoptions`` table."""
    adoptions_v1.create(conn, checkfirst=True)
