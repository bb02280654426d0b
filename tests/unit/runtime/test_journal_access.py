"""Opening the journal: the one-bot lock, private file modes, read-only access, one-line runtime errors.

Real SQLite files in ``tmp_path``; the lock is also tested across processes (``test_journal_lock``).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import OperationalError
from trading_bot.runtime.journal.lock import advisory_key
from trading_bot.runtime.journal.lock import lock_path
from trading_bot.runtime.journal.store import Journal

pytestmark = pytest.mark.asyncio


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # what a shell outside systemd usually has: files 0644, directories 0755
    yield
    os.umask(previous)


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _order(seq: int) -> Order:
    return Order(
        client_order_id=ClientOrderId(f"tb1-{seq}"),
        symbol=Symbol("BTC/USDT"),
        side=OrderSide.BUY,
        quantity=Decimal("0.001"),
        order_type=OrderType.LIMIT,
        price=Decimal("60000"),
        client_tag="x" * 2000,  # a large row fills pages fast
        created_ms=seq,
        updated_ms=seq,
    )


# -- one bot per journal -----------------------------------------------------------------------------


async def test_second_bot_on_a_locked_journal_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = await Journal.open(_url(path), lock_as="tb1")
    try:
        with pytest.raises(ConfigError, match=rf"in use by another bot \(pid {os.getpid()}, bot id tb1"):
            await Journal.open(_url(path), lock_as="tb1")
        reader = await Journal.open(_url(path), read_only=True)  # read commands take no lock
        await reader.close()
    finally:
        await first.close()

    again = await Journal.open(_url(path), lock_as="tb1")  # released on close
    await again.close()


async def test_lock_file_beside_the_journal_records_pid_and_bot_id(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await Journal.open(_url(path), lock_as="tb7")
    try:
        record = lock_path(path).read_text()
    finally:
        await journal.close()
    assert lock_path(path) == tmp_path / "journal.db.lock"
    assert f'"pid": {os.getpid()}' in record
    assert '"bot_id": "tb7"' in record


async def test_postgres_advisory_lock_key_is_stable_and_per_bot_id() -> None:
    assert advisory_key("tb1") == advisory_key("tb1")
    assert advisory_key("tb1") != advisory_key("tb2")
    assert -(2**63) <= advisory_key("tb1") < 2**63


# -- file modes --------------------------------------------------------------------------------------


async def test_journal_files_and_the_data_dir_the_bot_creates_are_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "var" / "state" / "journal.db"
    journal = await Journal.open(_url(path), lock_as="tb1")
    try:
        await journal.start_run("tb1", "hash", 1)  # the WAL and its index exist while it runs
        modes = {p.name: _mode(p) for p in path.parent.iterdir()}
    finally:
        await journal.close()

    assert _mode(tmp_path / "var") == 0o700
    assert _mode(path.parent) == 0o700
    assert modes == {"journal.db": 0o600, "journal.db-wal": 0o600, "journal.db-shm": 0o600, "journal.db.lock": 0o600}


async def test_an_existing_data_dir_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o750)
    journal = await Journal.open(_url(data_dir / "journal.db"), lock_as="tb1")
    await journal.close()

    assert _mode(data_dir) == 0o750
    assert _mode(data_dir / "journal.db") == 0o600


# -- read-only opening -------------------------------------------------------------------------------


async def test_read_only_open_of_an_empty_file_reports_no_journal_and_leaves_it_empty(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.touch()

    with pytest.raises(ConfigError, match=rf"no journal at {path} \(the file is empty\)"):
        await Journal.open(_url(path), read_only=True)

    assert path.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.db"]


async def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "var" / "journal.db"

    with pytest.raises(ConfigError, match=rf"no journal at {path} \(no such file\)"):
        await Journal.open(_url(path), read_only=True)

    assert list(tmp_path.iterdir()) == []


async def test_read_only_open_reads_a_journal_without_changing_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await Journal.open(_url(path))
    await journal.start_run("tb1", "hash", 1)
    await journal.close()
    before = path.read_bytes()

    reader = await Journal.open(_url(path), read_only=True)
    try:
        assert (await reader.last_run()) is not None
        with pytest.raises(OperationalError, match=r"read-only|readonly"):
            await reader.start_run("tb1", "hash", 2)
    finally:
        await reader.close()

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.db"]  # no -wal, -shm or lock file


async def test_read_only_open_sees_rows_a_running_bot_has_committed_to_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    bot = await Journal.open(_url(path), lock_as="tb1")
    try:
        run_id = await bot.start_run("tb1", "hash", 1)
        reader = await Journal.open(_url(path), read_only=True)
        try:
            last = await reader.last_run()
        finally:
            await reader.close()
    finally:
        await bot.close()
    assert last is not None
    assert last.id == run_id


# -- runtime failures --------------------------------------------------------------------------------


async def test_disk_full_while_recording_an_intent_is_one_line_operational_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await Journal.open(_url(path))
    run_id = await journal.start_run("tb1", "hash", 1)
    intents = journal._intents
    assert intents is not None
    pages = (path.stat().st_size // 4096) + 8
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(intents._executor, intents._connection.execute, f"PRAGMA max_page_count={pages}")

    async def fill_the_disk() -> None:
        for seq in range(1, 10_000):
            await journal.record_intent(_order(seq), run_id, "tb1")

    try:
        with pytest.raises(OperationalError) as raised:
            await fill_the_disk()
    finally:
        await journal.close()
    message = str(raised.value)
    assert "\n" not in message
    assert "the disk is full" in message
    assert str(path) in message


@pytest.mark.skipif(
    "TRADING_BOT_TEST_PG_URL" not in os.environ, reason="set TRADING_BOT_TEST_PG_URL to test the PostgreSQL lock"
)
async def test_postgres_journal_refuses_a_second_bot_with_the_same_bot_id_only() -> None:
    url = os.environ["TRADING_BOT_TEST_PG_URL"]
    first = await Journal.open(url, lock_as="tb1")
    try:
        with pytest.raises(ConfigError, match=r"bot id tb1 is already running on journal .*trading-bot pid"):
            await Journal.open(url, lock_as="tb1")
        other = await Journal.open(url, lock_as="tb2")  # many bots share one PostgreSQL journal
        await other.close()
    finally:
        await first.close()
    again = await Journal.open(url, lock_as="tb1")
    await again.close()
