"""Journal v2: a v1 journal written by the v1 code (``tests/fixtures/v1_journal.db``) migrates losing nothing.

The fixture was made by commit 6e0d1fb's grid bot on the emulator (``tests/fixtures/make_v1_journal.py``);
``v1_journal_expected.json`` is what that code's ``status``/``orders``/``trades --json`` printed for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import run_cli
from tests.unit.runtime.test_journal import make_fill
from tests.unit.runtime.test_journal import make_order
from trading_bot.domain import FundingPayment
from trading_bot.domain import OrderSide
from trading_bot.errors import ConfigError
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal import tables
from trading_bot.runtime.journal.rows import decode_state
from trading_bot.runtime.journal.store import Journal

FIXTURES = ROOT / "tests" / "fixtures"
V1_DB = FIXTURES / "v1_journal.db"
EXPECTED = json.loads((FIXTURES / "v1_journal_expected.json").read_text())
V1_TABLES = (
    "runs",
    "orders",
    "fills",
    "strategy_state",
    "strategy_state_history",
    "risk_decisions",
    "sequences",
    "adoptions",
)
NEW_KEYS = {"venue", "instrument", "funding", "funding_payments"}  # added since v1


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    shutil.copyfile(V1_DB, path)
    return path


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _dump(path: Path, columns_of: dict[str, list[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the v1 tables, projected on the v1 columns (``columns_of``; default: the file's own)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        dump = {}
        for table in V1_TABLES:
            columns = (columns_of or {}).get(table) or [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            query = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 (the test's own table names)
            dump[table] = sorted(conn.execute(query).fetchall(), key=repr)
    return dump


def _columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in V1_TABLES}


def _version(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])


def _without_new_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_new_keys(v) for k, v in value.items() if k not in NEW_KEYS}
    if isinstance(value, list):
        return [_without_new_keys(v) for v in value]
    return value


def test_v1_fixture_is_a_real_v1_journal_with_orders_fills_and_a_grid_snapshot() -> None:
    """Guards the fixture itself: schema version 2 (journal v1), no venue column, something to migrate."""
    assert _version(V1_DB) == 2
    assert "venue" not in _columns(V1_DB)["fills"]
    dump = _dump(V1_DB)
    assert len(dump["orders"]) == len(EXPECTED["orders"]) > 0
    assert len(dump["fills"]) == len(EXPECTED["trades"]) > 0
    assert [row[0] for row in dump["strategy_state"]] == ["grid"]


def test_migrated_v1_journal_shows_the_same_orders_fills_and_position_in_status_orders_and_trades(
    v1_copy: Path,
) -> None:
    """Rule: a v1 journal migrates to v2 and status shows the same orders, fills and position as before."""
    migrated = run_cli("migrate-journal", "--db", str(v1_copy), "--venue", "binance")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied schema version 3, 4, 5 (venue binance)" in migrated.stdout
    outputs = {}
    for command in ("status", "orders", "trades"):
        done = run_cli(command, "--db", str(v1_copy), "--json")
        assert done.returncode == 0, done.stderr
        outputs[command] = json.loads(done.stdout)
    status = outputs["status"]
    status.pop("journal")
    assert _without_new_keys(status) == EXPECTED["status"]
    assert _without_new_keys(outputs["orders"]) == EXPECTED["orders"]
    assert _without_new_keys(outputs["trades"]) == EXPECTED["trades"]
    assert [p["instrument"] for p in status["positions"]] == ["binance:BTC/USDT"]
    assert {o["venue"] for o in outputs["orders"]} == {"binance"}
    assert {f["venue"] for f in outputs["trades"]} == {"binance"}


@pytest.mark.asyncio
async def test_migration_keeps_every_v1_row_column_for_column_and_gives_each_the_bots_venue(v1_copy: Path) -> None:
    """Rule: losing nothing: every row of every v1 table is in v2 with the same values, plus its venue."""
    before = _dump(v1_copy)
    v1_columns = _columns(v1_copy)
    journal = await Journal.open(_url(v1_copy), lock_as="v1fix", venue="binance", instrument="binance:BTC/USDT")
    try:
        assert journal.migrated == [3, 4, 5]
        state = await journal.load_strategy_state("grid")
    finally:
        await journal.close()
    assert _version(v1_copy) == js.SCHEMA_VERSION
    assert _dump(v1_copy, v1_columns) == before
    with sqlite3.connect(v1_copy) as conn:
        for table in ("orders", "fills", "strategy_state", "strategy_state_history", "risk_decisions", "adoptions"):
            venues = {row[0] for row in conn.execute(f"SELECT DISTINCT venue FROM {table}")}  # noqa: S608
            assert venues <= {"binance"}, table
        keys = conn.execute("SELECT strategy, instrument FROM strategy_state").fetchall()
    assert keys == [("grid", "binance:BTC/USDT")]  # the file's one symbol: the snapshot's instance
    assert state == decode_state(next(row[2] for row in before["strategy_state"]))


@pytest.mark.asyncio
async def test_migration_is_idempotent_a_second_open_changes_nothing(v1_copy: Path) -> None:
    """Rule: migrating twice (a second process, a restart) applies nothing the second time."""
    for expected in ([3, 4, 5], []):
        journal = await Journal.open(_url(v1_copy), venue="binance")
        try:
            assert journal.migrated == expected
        finally:
            await journal.close()
        if expected:
            after_first = _dump(v1_copy)
    assert _dump(v1_copy) == after_first


@pytest.mark.asyncio
async def test_a_v1_journal_with_rows_is_not_migrated_without_a_venue_and_stays_v1(v1_copy: Path) -> None:
    """Rule: v1 rows never get a made-up venue: without one the open fails (exit 2) and the file is untouched."""
    before = _dump(v1_copy)
    with pytest.raises(ConfigError, match="predates venues"):
        await Journal.open(_url(v1_copy))
    assert _version(v1_copy) == 2
    assert _dump(v1_copy) == before


def test_readers_refuse_a_v1_journal_naming_the_migration(v1_copy: Path) -> None:
    """Rule: a reader never migrates; it exits 2 with one line naming migrate-journal."""
    done = run_cli("status", "--db", str(v1_copy))
    assert done.returncode == 2
    assert "migrate-journal" in done.stderr
    assert "Traceback" not in done.stderr
    assert _version(v1_copy) == 2


_CRASHING_MIGRATION = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal import tables
from trading_bot.runtime.journal.store import Journal

def upgrade_then_die(conn):
    js.upgrade_v3(conn)  # every table rebuilt, not yet committed
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(Journal.open({url!r}, venue="binance", migrations=[*js.MIGRATIONS[:2], upgrade_then_die]))
"""


@pytest.mark.asyncio
async def test_a_process_killed_mid_migration_leaves_the_v1_file_intact_and_the_next_open_migrates_it(
    v1_copy: Path,
) -> None:
    """Rule: a crash mid-migration must not corrupt the file: SIGKILL after the rebuild, before the commit."""
    before = _dump(v1_copy)
    script = _CRASHING_MIGRATION.format(root=str(ROOT), url=_url(v1_copy))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    with sqlite3.connect(v1_copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _version(v1_copy) == 2
    assert _dump(v1_copy) == before
    journal = await Journal.open(_url(v1_copy), venue="binance")
    try:
        assert journal.migrated == [3, 4, 5]
        assert len(await journal.fills()) == len(before["fills"])
    finally:
        await journal.close()


_SLOW_MIGRATION = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal import tables
from trading_bot.runtime.journal.store import Journal

def upgrade_slowly(conn):
    js.upgrade_v3(conn)
    print("migrating", flush=True)  # holding the write lock, not yet committed
    time.sleep(1.5)

async def main():
    steps = [*js.MIGRATIONS[:2], upgrade_slowly, *js.MIGRATIONS[3:]]
    journal = await Journal.open({url!r}, venue="binance", migrations=steps)
    print("applied", journal.migrated, len(await journal.fills()), flush=True)
    await journal.close()

asyncio.run(main())
"""

_PLAIN_OPEN = """
import asyncio, sys
sys.path.insert(0, {root!r})
from trading_bot.runtime.journal.store import Journal

async def main():
    journal = await Journal.open({url!r}, venue="binance")
    print("applied", journal.migrated, len(await journal.fills()), flush=True)
    await journal.close()

asyncio.run(main())
"""


def _applied(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("applied"))


def test_a_second_process_opening_during_the_migration_waits_and_finds_the_schema_current(v1_copy: Path) -> None:
    """Rule: two processes opening one v1 file at once migrate it once (BEGIN IMMEDIATE: the second waits)."""
    fills = len(_dump(v1_copy)["fills"])
    first = subprocess.Popen(
        [sys.executable, "-c", _SLOW_MIGRATION.format(root=str(ROOT), url=_url(v1_copy))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "migrating"
    second = subprocess.run(
        [sys.executable, "-c", _PLAIN_OPEN.format(root=str(ROOT), url=_url(v1_copy))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert _applied(out) == f"applied [3, 4, 5] {fills}"
    assert second.returncode == 0, second.stderr
    assert _applied(second.stdout) == f"applied [] {fills}"
    assert _version(v1_copy) == js.SCHEMA_VERSION


@pytest.mark.asyncio
async def test_the_bot_started_on_a_v1_journal_migrates_it_with_its_venue_and_restores_the_grid_snapshot(
    tmp_path: Path,
) -> None:
    """Rule: the migration runs when the bot opens a v1 file; its rows get the bot's venue, its snapshot comes back."""
    import asyncio
    import signal

    from trading_bot.emulator import BinanceEmulator
    from trading_bot.emulator import EmulatorConfig

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copyfile(V1_DB, data_dir / "journal.db")
    before = _dump(data_dir / "journal.db")
    v1_columns = _columns(data_dir / "journal.db")
    key, secret = "mig-key", "mig-secret"
    async with BinanceEmulator(EmulatorConfig(api_key=key, api_secret=secret, walk_interval_s=0.02, seed=3)) as emu:
        config = {
            "bot": {"bot_id": "v1fix", "data_dir": str(data_dir), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 5},
            "strategy": {"name": "grid", "params": {"quantity": "0.001", "take_profit": "0.005", "max_orders": 5}},
            "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_BOT__")}
        env |= {"TRADING_BOT__EXCHANGE__API_KEY": key, "TRADING_BOT__EXCHANGE__SECRET": secret}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(tmp_path / "config.json"), "--log-format",
            "json", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 12
        while loop.time() < deadline and proc.returncode is None and not emu.orders():
            await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    logs = (out + err).decode()
    assert proc.returncode == 0, logs[-3000:]
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    opened = next(e for e in events if e.get("event") == "journal_opened")
    assert opened["migrated"] == [3, 4, 5]
    restored = next(e for e in events if e.get("event") == "strategy_state_restored")
    assert restored["instrument"] == "binance:BTC/USDT"
    after = _dump(data_dir / "journal.db", v1_columns)
    for table in ("fills", "strategy_state_history", "risk_decisions", "runs"):
        assert set(before[table]) <= set(after[table]), table  # nothing lost; the new run added rows
    # every v1 order is still there; the two left open were settled by reconciliation (this emulator never had them)
    assert {row[0] for row in before["orders"]} <= {row[0] for row in after["orders"]}
    with sqlite3.connect(data_dir / "journal.db") as conn:
        assert {r[0] for r in conn.execute("SELECT DISTINCT venue FROM orders")} == {"binance"}
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == len(before["runs"]) + 1


# -- journal v3 (schema 4): funding payments -------------------------------------------------------------

def _funding_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT venue, symbol, payment_id, amount FROM funding_payments").fetchall()


def _funding_payment(pid: str = "tran-1") -> FundingPayment:
    return FundingPayment(
        id=pid, symbol="BTC/USDT:USDT", ts_ms=1_796_200_000_000, rate=Decimal("0.0001"),
        mark_price=Decimal("60000"), quantity=Decimal("0.01"), amount=Decimal("-0.06"),
    )  # fmt: skip


@pytest.mark.asyncio
async def test_the_v1_fixture_migrates_to_v4_keeping_every_row_and_gains_an_empty_funding_table(v1_copy: Path) -> None:
    """Rule: v1 -> v5 in one open: steps 3, 4 and 5 all run, every v1 row is kept, funding can be recorded."""
    before = _dump(v1_copy)
    v1_columns = _columns(v1_copy)
    journal = await Journal.open(_url(v1_copy), venue="binance")
    try:
        assert journal.migrated == [3, 4, 5]
        assert await journal.funding_payments() == []
        assert await journal.record_funding(_funding_payment(), 1, asset="USDT")
    finally:
        await journal.close()
    assert _version(v1_copy) == 5 == js.SCHEMA_VERSION
    assert _dump(v1_copy, v1_columns) == before
    assert _funding_rows(v1_copy) == [("binance", "BTC/USDT:USDT", "tran-1", "-0.06")]


async def _v2_journal(path: Path) -> None:
    """Write a journal v2 (schema 3, the code before funding) with a row in every table."""
    journal = await Journal.open(
        _url(path), migrations=js.MIGRATIONS[:3], venue="binance", instrument="binance:BTC/USDT"
    )
    try:
        run_id = await journal.start_run("v2bot", "hash", 1_000)
        await journal.next_sequence("v2bot", 50)
        order = make_order(1, bot="v2bot")
        await journal.record_intent(order, run_id, "v2bot")
        await journal.record_fill(make_fill("t1", "v2bot-1"), 2_000)
        await journal.record_fill(make_fill("t1", "v2bot-1"), 2_000, venue="okx")
        await journal.save_strategy_state("grid", 3_000, {"levels": 3})
        await journal.record_risk_decision(
            ts_ms=4_000, run_id=run_id, client_order_id=None, symbol="BTC/USDT", side=OrderSide.BUY, quantity=None,
            price=None, rule="max_notional", reason="too big",
        )  # fmt: skip
        await journal.record_adoption(
            ts_ms=5_000, run_id=run_id, bot_id="v2bot", symbol="BTC/USDT", journal_sequence=1, exchange_sequence=2,
            new_sequence=3, orders="v2bot-1", fills="t1",
        )  # fmt: skip
        await journal.finish_run(run_id, 6_000, "done", 0)
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_a_v2_journal_migrates_to_v4_keeping_every_row_column_for_column(tmp_path: Path) -> None:
    """Rule: journal v2 -> v3 (and the audit log) applies steps 4 and 5 only and changes no earlier row."""
    path = tmp_path / "journal.db"
    await _v2_journal(path)
    assert _version(path) == 3
    before = _dump(path)
    assert all(before[t] for t in V1_TABLES), {t: len(rows) for t, rows in before.items()}  # v2: the same tables
    journal = await Journal.open(_url(path), lock_as="v2bot", venue="binance")
    try:
        assert journal.migrated == [4, 5]
        assert len(await journal.fills()) == 2
        assert await journal.record_funding(_funding_payment(), 7_000, asset="USDT")
        assert not await journal.record_funding(_funding_payment(), 8_000, asset="USDT")
    finally:
        await journal.close()
    assert _version(path) == 5
    assert _dump(path) == before
    assert _funding_rows(path) == [("binance", "BTC/USDT:USDT", "tran-1", "-0.06")]


def test_the_readers_refuse_a_v2_journal_until_it_is_migrated_to_v4(tmp_path: Path) -> None:
    """Rule: a reader never migrates: a v2 journal exits 2 naming migrate-journal, which applies step 4."""
    path = tmp_path / "journal.db"
    asyncio.run(_v2_journal(path))
    refused = run_cli("trades", "--db", str(path))
    assert refused.returncode == 2
    assert "migrate-journal" in refused.stderr
    migrated = run_cli("migrate-journal", "--db", str(path), "--venue", "binance")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied schema version 4, 5 (venue binance)" in migrated.stdout
    assert run_cli("trades", "--db", str(path)).returncode == 0


@pytest.mark.asyncio
async def test_the_tables_step_3_builds_are_still_the_current_shapes_so_step_4_changed_none_of_them(
    tmp_path: Path,
) -> None:
    """Rule (schema.py): step 3 builds its tables from ``tables``; a step that changes one must freeze it first.

    If this fails, a later change altered a table step 3 creates: freeze the v3 shapes (as ``schema_v1``
    does for versions 1 and 2) and have ``upgrade`` use them, then update this test.
    """
    path = tmp_path / "journal.db"
    journal = await Journal.open(_url(path), migrations=js.MIGRATIONS[:3])
    await journal.close()
    with sqlite3.connect(path) as conn:
        for table in tables.metadata.sorted_tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table.name})")]
            if table.name in ("funding_payments", "operator_actions"):
                assert columns == [], f"{table.name} belongs to a later step"
                continue
            assert columns == [c.name for c in table.c], table.name
            indexes = {r[1] for r in conn.execute(f"PRAGMA index_list({table.name})") if r[3] == "c"}
            assert indexes == {i.name for i in table.indexes}, table.name


# -- schema 5: the operator audit log -------------------------------------------------------------------

V4_TABLES = (*V1_TABLES, "funding_payments")


def _dump_all(path: Path, tables_: tuple[str, ...] = V4_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables_}  # noqa: S608


@pytest.mark.asyncio
async def test_a_v4_journal_migrates_to_v5_keeping_every_row_and_records_operator_actions_after_it(
    tmp_path: Path,
) -> None:
    """Rule: schema step 5 adds ``operator_actions`` alone: every row of every v4 table is kept, column for column."""
    from trading_bot.runtime.journal.link import JournalLink
    from trading_bot.runtime.operator import OperatorAction
    from trading_bot.runtime.operator import OperatorCommand
    from trading_bot.runtime.operator import OperatorOutcome

    path = tmp_path / "journal.db"
    await _v2_journal(path)
    journal = await Journal.open(_url(path), lock_as="v2bot", venue="binance", migrations=js.MIGRATIONS[:4])
    try:
        assert journal.migrated == [4]
        assert await journal.record_funding(_funding_payment(), 7_000, asset="USDT")
    finally:
        await journal.close()
    assert _version(path) == 4
    before = _dump_all(path)
    assert all(before[t] for t in V4_TABLES), {t: len(rows) for t, rows in before.items()}
    link = JournalLink(_url(path), "v2bot", "hash", venue="binance")

    class _Clock:
        def now_ms(self) -> int:
            return 9_000

    await link.open(_Clock())  # type: ignore[arg-type]
    try:
        assert link.journal.migrated == [5]
        command = OperatorCommand(action=OperatorAction.HALT, who="api:127.0.0.1", reason="maintenance")
        link.record_operator_action(command, OperatorOutcome(ok=True, detail="trading state HALTED",
                                                             trading_state="HALTED", ts_ms=9_500))  # fmt: skip
        await link.writer.flush()
        actions = await link.journal.operator_actions(bot_id="v2bot")
    finally:
        await link.close(10_000, "done", 0)
    assert _version(path) == 5 == js.SCHEMA_VERSION
    after = _dump_all(path)
    for table in V4_TABLES:
        if table == "runs":  # the link's own run was added
            assert set(before[table]) < set(after[table])
        else:
            assert after[table] == before[table], table
    assert [(a.who, a.action, a.instrument, a.reason, a.ok, a.detail, a.ts_ms) for a in actions] == [
        ("api:127.0.0.1", "halt", None, "maintenance", True, "trading state HALTED", 9_500)
    ]
    assert actions[0].run_id == link.run_id
