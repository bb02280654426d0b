"""``persistence.db_url``: the URL forms users write become the async drivers; everything else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_bot.config import PersistenceSection
from trading_bot.config import load_config
from trading_bot.errors import ConfigError


def _db_url_error(url: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={"TRADING_BOT__PERSISTENCE__DB_URL": url}, dotenv=None)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////var/lib/bot/journal.db", "sqlite+aiosqlite:////var/lib/bot/journal.db"),
        ("SQLite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://bot@db/journal", "postgresql+asyncpg://bot@db/journal"),
        ("postgres://bot@db:5432/journal", "postgresql+asyncpg://bot@db:5432/journal"),
        ("postgresql+asyncpg://bot@db/journal", "postgresql+asyncpg://bot@db/journal"),
    ],
)
def test_db_url_in_the_forms_users_write_gets_the_async_driver(given: str, effective: str) -> None:
    assert PersistenceSection(db_url=given).db_url == effective


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "persistence.db_url: not a database URL; expected sqlite+aiosqlite:///PATH"),
        ("mongodb://x", "persistence.db_url: unsupported database 'mongodb'; expected sqlite+aiosqlite:///PATH"),
        ("postgresql+psycopg2://db/j", "persistence.db_url: unsupported database 'postgresql+psycopg2'"),
        ("sqlite://", "persistence.db_url: a SQLite URL names a file after three slashes"),
        ("sqlite:///:memory:", "persistence.db_url: an in-memory journal forgets every order"),
        ("sqlite://host/x.db", "persistence.db_url: a SQLite URL names a file after three slashes"),
        ("postgresql://", "persistence.db_url: a PostgreSQL URL needs a host and database"),
        ("sqlite:///a\x00b.db", "persistence.db_url: contains a NUL byte"),
    ],
)
def test_unsupported_db_url_is_one_line_naming_the_field_and_the_accepted_forms(url: str, problem: str) -> None:
    assert _db_url_error(url).startswith(problem)


def test_default_journal_url_escapes_characters_a_url_would_cut_off() -> None:
    from sqlalchemy.engine import make_url

    url = PersistenceSection().resolved_db_url(Path("/srv/bot?x#1 %"))

    assert make_url(url).database == "/srv/bot?x#1 %/journal.db"


def test_nul_byte_in_data_dir_is_a_config_error_naming_bot_data_dir() -> None:
    with pytest.raises(ConfigError, match=r"^bot\.data_dir: contains a NUL byte"):
        PersistenceSection().resolved_db_url(Path("var\x00x"))
