"""Schema step 3 ("journal v2"): every order, fill, denial, adoption and snapshot names its venue.

Journal v1 (schema versions 1 and 2, ``schema_v1``) had no venue: one bot traded one symbol on one
exchange account. The step rebuilds the six tables that gain columns or change keys, on SQLite and
PostgreSQL alike with portable statements: create the new table under a temporary name, copy every row
(``INSERT ... SELECT``, ids kept), drop the old table, rename the new one and create its indexes. On
PostgreSQL the id sequences of the copied tables are then moved past the copied ids.

Where the venue of a v1 row comes from: a v1 journal does not record it (``runs`` holds no exchange and
client order ids carry none), so every v1 row gets **the venue of the bot that opens the file for
writing** (``Journal.open(venue=...)``: the venue name of the bot's config, ``BotConfig.select_venue``),
which is the account that v1 bot traded (a journal belongs to one bot id and account). A v1 journal that
holds rows cannot be migrated without a venue (``ConfigError``); an empty one can.

Strategy snapshots: a v1 snapshot was keyed by strategy name alone. When the v1 file's orders and fills
name exactly one symbol, the snapshot gets the instrument ``venue:symbol`` (the instance it belonged to);
otherwise, and for bot-wide keys starting with ``@`` (the risk manager's ``@risk``), the instrument is
``""`` (``tables.BOT_WIDE``), which ``Journal.load_strategy_state`` falls back to.

The whole step runs in the migration's one transaction (``schema.apply_migrations``): a crash or an
error part-way leaves the v1 file as it was, and the next open migrates it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import MetaData
from sqlalchemy import Table
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import union

from trading_bot.errors import ConfigError
from trading_bot.runtime.journal import schema_v1 as v1
from trading_bot.runtime.journal import tables as t

__all__ = ["VENUE_INFO_KEY", "upgrade_v3"]

VENUE_INFO_KEY = "journal_venue"
"""The ``Connection.info`` key through which ``schema.apply_migrations`` hands this step the venue."""

_REBUILT = (
    (v1.orders_v1, t.orders),
    (v1.fills_v1, t.fills),
    (v1.strategy_state_v1, t.strategy_state),
    (v1.strategy_state_history_v1, t.strategy_state_history),
    (v1.risk_decisions_v1, t.risk_decisions),
    (v1.adoptions_v1, t.adoptions),
)
_TEMP_SUFFIX = "_v3new"


def upgrade_v3(conn: Connection) -> None:
    """Rebuild the tables with their venue (see the module docstring); the venue is ``conn.info[VENUE_INFO_KEY]``.

    Raises:
        ConfigError: the v1 tables hold rows and no venue was given.
    """
    venue: str | None = conn.info.get(VENUE_INFO_KEY)
    if venue is None:
        if _has_rows(conn):
            raise ConfigError(
                "journal: this journal predates venues (schema v1) and holds rows; open it with the bot's config "
                "(the bot migrates it at start, giving its rows the bot's venue) or run "
                "`runbot.py migrate-journal --venue NAME`"
            )
        venue = ""  # no rows to name
    instrument = _snapshot_instrument(conn, venue)
    for old, new in _REBUILT:
        _rebuild(conn, old, new, venue, instrument)


def _has_rows(conn: Connection) -> bool:
    return any(conn.execute(select(literal(1)).select_from(old).limit(1)).first() for old, _ in _REBUILT)


def _snapshot_instrument(conn: Connection, venue: str) -> str:
    """Return ``venue:symbol`` when the v1 orders and fills name exactly one symbol, else ``BOT_WIDE``."""
    symbols = union(select(v1.orders_v1.c.symbol), select(v1.fills_v1.c.symbol)).subquery()
    found = conn.execute(select(symbols.c.symbol).limit(2)).scalars().all()
    return f"{venue}:{found[0]}" if len(found) == 1 and venue else t.BOT_WIDE


def _rebuild(conn: Connection, old: Table, new: Table, venue: str, instrument: str) -> None:
    scratch = MetaData()
    t.runs.to_metadata(scratch)  # the foreign keys' target
    temp = new.to_metadata(scratch, name=new.name + _TEMP_SUFFIX)
    temp.indexes.clear()  # index names are per schema: created under their own names after the rename
    temp.create(conn)
    added: dict[str, ColumnElement[Any]] = {"venue": literal(venue)}
    if "instrument" in new.c:
        added["instrument"] = case((old.c.strategy.startswith("@"), t.BOT_WIDE), else_=literal(instrument))
    columns = [c.name for c in new.c]
    source = [old.c[name] if name in old.c else added[name].label(name) for name in columns]
    conn.execute(insert(temp).from_select(columns, select(*source)))
    old.drop(conn)
    conn.execute(text(f"ALTER TABLE {temp.name} RENAME TO {new.name}"))
    for index in new.indexes:
        index.create(conn)
    if conn.dialect.name == "postgresql" and "id" in new.c:
        last = conn.execute(select(func.coalesce(func.max(new.c.id), 0))).scalar_one()
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :next, false)"),
            {"table": new.name, "next": int(last) + 1},
        )
