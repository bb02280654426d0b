"""The journal's tables as the current code writes them (schema version 5: "journal v3" plus the audit log).

Portable SQLAlchemy Core: the same tables on SQLite and PostgreSQL. Money and quantities are ``TEXT``
columns holding ``str(Decimal)`` (:class:`DecimalText`), never floats; timestamps are integer epoch ms.

Every order, fill, risk decision, adoption and strategy snapshot names its ``venue``: the venue's name in
the config (a ``venues`` key, or in the one-venue shorthand the exchange name, e.g. ``binance``). A fill
is one row per ``(venue, symbol, trade_id)`` (two venues may both have trade id 1 on one symbol). A
strategy snapshot is one row per ``(strategy, instrument)``, the instrument being the text
``venue:symbol`` of the strategy instance (``""``: bot-wide state such as the risk manager's ``@risk``,
or a snapshot migrated from a journal that did not say which instrument it was for).

A perpetual swap's funding payment is one row per ``(venue, symbol, payment_id)`` (``funding_payments``,
schema 4); its position is not stored: it is the sum of the instrument's fills (a liquidation is journaled
as the venue's fill, ``portfolio.LIQUIDATION_ORDER_ID``), as for spot (``schema`` says why).

Every operator command a running bot executed (halt, resume, reduce-only, cancel-all, flatten, from the monitor's
API, Telegram or ``ctl``) is one ``operator_actions`` row (schema 5): the audit log of who did what, when.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Dialect
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import PrimaryKeyConstraint
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.types import TypeDecorator

__all__ = [
    "BIG_ID",
    "BOT_WIDE",
    "INSTRUMENT_LENGTH",
    "VENUE_LENGTH",
    "DecimalText",
    "adoptions",
    "fills",
    "funding_payments",
    "metadata",
    "operator_actions",
    "orders",
    "risk_decisions",
    "runs",
    "schema_version",
    "sequences",
    "strategy_state",
    "strategy_state_history",
]

VENUE_LENGTH = 32
"""Longest venue name (``trading_bot.domain.instrument.VENUE_NAME_PATTERN``)."""

INSTRUMENT_LENGTH = 160
"""Longest ``venue:symbol`` text stored as a snapshot's instrument."""

BOT_WIDE = ""
"""The ``strategy_state.instrument`` of state that belongs to no one instrument (and of migrated v1 snapshots)."""


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


BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
"""A row id: SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit serial."""

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
    Column("venue", String(VENUE_LENGTH), nullable=False),
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
    Index("ix_orders_instrument_created", "venue", "symbol", "created_ms"),
    Index("ix_orders_bot_status", "bot_id", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("venue", String(VENUE_LENGTH), nullable=False),
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
    UniqueConstraint("venue", "symbol", "trade_id", name="uq_fills_venue_symbol_trade"),
    Index("ix_fills_instrument_ts", "venue", "symbol", "ts_ms"),
    Index("ix_fills_client_order_id", "client_order_id"),
)

strategy_state = Table(
    "strategy_state",
    metadata,
    Column("strategy", String(128), nullable=False),
    Column("instrument", String(INSTRUMENT_LENGTH), nullable=False),
    Column("venue", String(VENUE_LENGTH), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    PrimaryKeyConstraint("strategy", "instrument", name="pk_strategy_state"),
)

strategy_state_history = Table(
    "strategy_state_history",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("strategy", String(128), nullable=False),
    Column("instrument", String(INSTRUMENT_LENGTH), nullable=False),
    Column("venue", String(VENUE_LENGTH), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Index("ix_strategy_state_history_key", "strategy", "instrument", "id"),
)

risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("venue", String(VENUE_LENGTH), nullable=False),
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
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("bot_id", String(64), nullable=False),
    Column("venue", String(VENUE_LENGTH), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("journal_sequence", BigInteger, nullable=False),
    Column("exchange_sequence", BigInteger, nullable=False),
    Column("new_sequence", BigInteger, nullable=False),
    Column("orders", Text, nullable=False),
    Column("fills", Text, nullable=False),
)
"""One row per ``--adopt`` start that took the exchange's history of this bot into an older journal."""

funding_payments = Table(
    "funding_payments",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("venue", String(VENUE_LENGTH), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("payment_id", String(128), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("amount", DecimalText, nullable=False),
    Column("asset", String(32), nullable=False),
    Column("rate", DecimalText, nullable=False),
    Column("mark_price", DecimalText, nullable=False),
    Column("quantity", DecimalText, nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
    UniqueConstraint("venue", "symbol", "payment_id", name="uq_funding_venue_symbol_payment"),
    Index("ix_funding_instrument_ts", "venue", "symbol", "ts_ms"),
)
"""One perpetual-swap funding settlement of the bot's position (schema 4): ``amount`` in ``asset`` (the settle
currency; negative = paid), ``rate`` per funding interval, ``mark_price`` and the signed ``quantity`` it was
settled on, ``ts_ms`` the venue's time and ``recorded_ms`` ours (epoch ms); ``payment_id`` is the venue's id
(Binance income ``tranId``), so a payment delivered twice is one row; ``run_id`` the run that recorded it."""

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", BIG_ID, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=True),
    Column("bot_id", String(64), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("who", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("instrument", String(INSTRUMENT_LENGTH), nullable=True),
    Column("reason", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_operator_actions_bot_ts", "bot_id", "ts_ms"),
)
"""One operator command the bot executed (schema 5, the audit log): ``who`` the surface and the person
(``api:127.0.0.1``, ``telegram:12345``; never a secret), ``action`` its wire name (``halt``, ``flatten``...),
``instrument`` as given (``venue:symbol``, a bare symbol, or ``NULL`` = every instrument), ``reason`` the
operator's text (at most 200 characters), ``ok`` and ``detail`` the outcome, ``ts_ms`` when the bot executed
it (the bot's clock, epoch ms); ``run_id`` the run that executed it."""
