"""The doctor's journal check: the path is there and writable, the schema is one this code reads; nothing created.

SQLite: the journal's directory must exist (a missing one usually means a wrong ``bot.data_dir`` or an
unmounted volume, though the bot would create it), then ``connect.check_journal`` inspects it read-only.
PostgreSQL: the server is asked, read-only and within ``timeout_s``, for the journal's schema version.
"""

from __future__ import annotations

import asyncio

from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import passed
from trading_bot.runtime.doctor.report import skipped
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.access import JournalLocation
from trading_bot.runtime.journal.access import locate
from trading_bot.runtime.journal.access import translate
from trading_bot.runtime.journal.connect import check_journal
from trading_bot.runtime.journal.connect import connect

__all__ = ["check_journal_path"]

_NAME = "journal"


async def check_journal_path(db_url: str | None, timeout_s: float) -> Check:
    """Return the journal check for ``db_url`` (``None``: the run keeps no journal), creating nothing.

    Args:
        db_url: the journal URL the bot would open (``builder.journal_url``).
        timeout_s: bound of a PostgreSQL connection, seconds.
    """
    if db_url is None:
        return skipped(_NAME, "persistence.enabled is false: the bot keeps no journal")
    try:
        location = locate(db_url)
        if location.path is None:
            return await _check_server(location, timeout_s)
        directory = location.path.parent
        if not directory.is_dir():
            return failed(
                _NAME,
                f"the journal's directory {directory} does not exist",
                f"create it, owned by the bot's user (mkdir -m 700 {directory}), or point bot.data_dir / "
                "persistence.db_url at the right place (under systemd StateDirectory= creates it)",
            )
        described = await check_journal(db_url)
    except (ConfigError, OperationalError) as exc:
        return failed(_NAME, str(exc), "see the message; `runbot.py check-config FILE` checks the same path")
    return passed(_NAME, described)


async def _check_server(location: JournalLocation, timeout_s: float) -> Check:
    """Ask a PostgreSQL journal for its schema version, read-only."""
    try:
        async with asyncio.timeout(timeout_s):
            engine, _ = await connect(location, read_only=True, migrations=js.MIGRATIONS, older_ok=True)
            try:
                async with engine.connect() as conn:
                    version = await conn.run_sync(js.current_version)
            finally:
                await engine.dispose()
    except TimeoutError:
        return failed(_NAME, f"journal {location.shown}: no answer within {timeout_s:g} s", _SERVER_FIX)
    except ConfigError as exc:
        if "no journal tables" in str(exc):
            return passed(_NAME, f"journal {location.shown}: reachable, empty; the bot creates its tables at start")
        return failed(_NAME, str(exc), _SERVER_FIX)
    except Exception as exc:
        return failed(_NAME, str(translate(exc, location)), _SERVER_FIX)
    state = "current" if version >= js.SCHEMA_VERSION else f"version {version}, migrated by the bot at its next start"
    return passed(_NAME, f"journal {location.shown}: reachable, schema {state}")


_SERVER_FIX = (
    "check that PostgreSQL runs and accepts this user, and the host, database and password of persistence.db_url"
)
