"""Opening the journal's database: the engine, read-only access, migrations and the PostgreSQL bot lock.

:func:`connect` is what :meth:`Journal.open <trading_bot.runtime.journal.store.Journal.open>` does
before it has a journal: check the SQLite file (:mod:`~trading_bot.runtime.journal.access`), create it
private to the bot's user, build the async engine with the journal's PRAGMAs and bring the schema up to
date. With ``read_only=True`` nothing is created or migrated: the SQLite file is opened with
``mode=ro`` and ``PRAGMA query_only``, and a missing, empty or foreign file is reported, never written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from trading_bot.errors import ConfigError
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.access import JournalLocation
from trading_bot.runtime.journal.access import check_sqlite_file
from trading_bot.runtime.journal.access import locate
from trading_bot.runtime.journal.access import prepare_sqlite_file
from trading_bot.runtime.journal.access import translate
from trading_bot.runtime.journal.lock import advisory_key
from trading_bot.runtime.journal.lock import holder_name

__all__ = ["check_journal", "connect", "lock_postgres", "unlock_postgres"]

_NO_JOURNAL_FIX = (
    "it is created when the bot runs (python runbot.py --config FILE); or point --db / --config at the bot's journal"
)


async def connect(
    location: JournalLocation,
    *,
    read_only: bool,
    migrations: list[js.Migration],
    venue: str | None = None,
    older_ok: bool = False,
) -> tuple[AsyncEngine, list[int]]:
    """Return an engine on the journal at ``location`` and the schema versions applied (none when read-only).

    Args:
        venue: the venue older rows get when the schema is migrated (``schema`` explains the choice).
        older_ok: (read-only) accept a schema older than ``migrations`` (``check_journal``: the bot will
            migrate it); readers otherwise refuse it, since the current queries need the current tables.

    Raises:
        ConfigError: the file is not a journal (see ``access.check_sqlite_file``), its schema is newer than
            this code, (read-only) older than it, or there is no journal at the path; (writing) an older
            journal with rows and no ``venue``.
        OperationalError: permissions, read-only or full disk.
        Exception: a raw database or driver error; the caller translates it (``access.translate``).
    """
    url: URL = location.url
    kwargs: dict[str, Any] = {}
    path = location.path
    if location.is_sqlite and path is None and (url.database or "") in ("", ":memory:"):
        kwargs["poolclass"] = StaticPool  # one shared in-memory database (tests)
    if path is not None:
        state = check_sqlite_file(path, write=not read_only)
        if read_only and state != "database":
            reason = "the file is empty" if state == "empty" else "no such file"
            raise ConfigError(f"no journal at {path} ({reason}): {_NO_JOURNAL_FIX}")
        if read_only:
            url = _read_only_url(path)
        elif state == "missing":
            prepare_sqlite_file(path)
    engine = create_async_engine(url, **kwargs)
    if location.is_sqlite:
        on_connect = js.sqlite_on_connect_read_only if read_only else js.sqlite_on_connect
        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", js.sqlite_on_begin)
    try:
        if read_only:
            async with engine.connect() as conn:
                version = await conn.run_sync(js.journal_version, len(migrations), location.name)
            if version == 0:
                raise ConfigError(f"no journal at {location.name} (no journal tables in it): {_NO_JOURNAL_FIX}")
            if not older_ok:
                js.check_older(version, len(migrations), location.name)
            return engine, []
        async with engine.connect() as conn:
            await conn.execution_options(**{js.WRITE_LOCK_OPTION: True})  # SQLite: BEGIN IMMEDIATE
            async with conn.begin():
                now_ms = time.time_ns() // 1_000_000
                applied = await conn.run_sync(js.apply_migrations, now_ms, migrations, location.name, venue)
        return engine, applied
    except BaseException:
        await engine.dispose()
        raise


async def check_journal(db_url: str) -> str:
    """Check, creating and changing nothing, that a bot could open the journal at ``db_url``; describe it.

    SQLite: the path (a file, or a directory the bot may create it in), its permissions, and an existing
    file's header and schema (opened read-only). PostgreSQL: the URL and the driver only; the server is
    first asked when the bot starts.

    Raises:
        ConfigError: what the bot would refuse with exit 2 (bad URL, no driver, not a journal, newer schema).
        OperationalError: what would stop it with exit 1 (permissions, read-only file).
    """
    location = locate(db_url)
    if location.path is None:
        return f"journal {location.shown}: the URL and its driver are usable (the server is asked at start)"
    state = check_sqlite_file(location.path, write=True)
    if state == "missing":
        return f"journal {location.path} does not exist yet; the bot creates it at its first start"
    if state == "empty":
        return f"journal {location.path} is an empty file; the bot creates its tables at its first start"
    try:
        engine, _ = await connect(location, read_only=True, migrations=js.MIGRATIONS, older_ok=True)
        try:
            async with engine.connect() as conn:
                version = await conn.run_sync(js.current_version)
        finally:
            await engine.dispose()
    except Exception as exc:
        raise translate(exc, location) from None
    if version < js.SCHEMA_VERSION:
        return (
            f"journal {location.path}: a readable journal, writable by this user, of schema version {version}: the "
            f"bot migrates it to version {js.SCHEMA_VERSION} at its next start, keeping every row"
        )
    return f"journal {location.path}: a readable journal, writable by this user"


def _read_only_url(path: Path) -> URL:
    """Return the URL that opens ``path`` read-only, creating nothing beside it.

    ``mode=ro`` when a ``-wal`` file exists (a bot runs, or was killed: committed rows may sit in the WAL,
    which SQLite reads through the existing ``-shm``). Without one, every committed row is in the database
    file itself, and ``immutable=1`` reads it without creating ``-wal``/``-shm`` files or taking locks (a bot
    starting meanwhile writes to a new WAL, not to the file being read).
    """
    query = {"mode": "ro", "uri": "true"}
    if not path.with_name(path.name + "-wal").exists():
        query["immutable"] = "1"
    return URL.create("sqlite+aiosqlite", database=f"file:{quote(str(path))}", query=query)


async def lock_postgres(engine: AsyncEngine, bot_id: str, shown: str) -> AsyncConnection:
    """Take the session advisory lock of ``bot_id`` on a connection of its own; return that connection.

    Raises:
        ConfigError: another session (another bot with this bot id) holds it; the message names it.
    """
    key = advisory_key(bot_id)
    conn = await engine.connect()
    try:
        await conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": _app_name(bot_id)})
        locked = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar_one()
        holder = None if locked else await _pg_holder(conn, key)
        await conn.commit()  # the lock belongs to the session; no transaction stays open
    except BaseException:
        await conn.close()
        raise
    if not locked:
        await conn.close()
        raise ConfigError(
            f"bot id {bot_id} is already running on journal {shown} ({holder or 'holder unknown'}); stop that bot "
            "first, or give this one another bot.bot_id (one bot per bot id and journal)"
        )
    return conn


async def unlock_postgres(conn: AsyncConnection, bot_id: str) -> None:
    """Release the advisory lock taken by :func:`lock_postgres` and close its connection."""
    try:
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(bot_id)})
        await conn.commit()
    finally:
        await conn.close()


def _app_name(bot_id: str) -> str:
    return f"trading-bot {holder_name(bot_id)}"[:63]  # PostgreSQL keeps 63 bytes


async def _pg_holder(conn: AsyncConnection, key: int) -> str | None:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    query = text(
        "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :high AND l.objid::bigint = :low "
        "AND l.objsubid = 1 LIMIT 1"
    )
    row = (await conn.execute(query, {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF})).first()
    if row is None:
        return None
    name, address = row
    return f"{name or 'another session'} from {address or 'this host'}"
