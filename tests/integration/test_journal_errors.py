"""Every way the journal can be unusable is one ``error:`` line naming the file (or field) and the fix.

The CLI runs as a subprocess, on real files: ``check-config`` (which checks the journal read-only) and a
live ``run`` (which checks it before it connects anywhere). Configuration problems exit 2, problems of the
machine (permissions, read-only or immutable files) exit 1; never a traceback, never a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.runtime.journal.store import Journal

_IS_ROOT = os.geteuid() == 0
# Root reads and writes any file; without these capabilities it obeys file modes like any user.
_NO_OVERRIDE = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
]


@dataclass(frozen=True)
class Case:
    """One broken journal set-up: what to build in the working directory and what the CLI must say."""

    name: str
    build: Callable[[Path], dict[str, object]]  # returns the config
    code: int
    says: str  # in the error line ("{dir}" is the working directory)
    restricted: bool = False  # run without root's file-permission override


def _data_dir(name: str) -> Callable[[Path], dict[str, object]]:
    return lambda work: {"bot": {"data_dir": str(work / name)}}


def _db_url(url: str) -> Callable[[Path], dict[str, object]]:
    return lambda work: {"persistence": {"db_url": url}}


def _journal(work: Path) -> Path:
    """A real journal with a few rows, closed cleanly (``work/var/journal.db``)."""

    async def fill() -> None:
        journal = await Journal.open(f"sqlite+aiosqlite:///{work / 'var' / 'journal.db'}")
        run_id = await journal.start_run("tb1", "hash", 1)
        await journal.finish_run(run_id, 2, "done", 0)
        for i in range(200):
            await journal.save_strategy_state(f"s{i}", i, {"blob": "x" * 500})
        await journal.close()

    asyncio.run(fill())
    return work / "var" / "journal.db"


def _truncated(work: Path) -> dict[str, object]:
    path = _journal(work)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return _data_dir("var")(work)


def _garbage(work: Path) -> dict[str, object]:
    (work / "var").mkdir()
    (work / "var" / "journal.db").write_bytes(os.urandom(8192))
    return _data_dir("var")(work)


def _short_garbage(work: Path) -> dict[str, object]:
    (work / "var").mkdir()
    (work / "var" / "journal.db").write_text("not a database\n")
    return _data_dir("var")(work)


def _directory(work: Path) -> dict[str, object]:
    (work / "var" / "journal.db").mkdir(parents=True)
    return _data_dir("var")(work)


def _fifo(work: Path) -> dict[str, object]:
    (work / "var").mkdir()
    os.mkfifo(work / "var" / "journal.db")
    return _data_dir("var")(work)


def _data_dir_is_a_file(work: Path) -> dict[str, object]:
    (work / "var").write_text("a file")
    return _data_dir("var")(work)


def _below_a_file(work: Path) -> dict[str, object]:
    (work / "var").write_text("a file")
    return _data_dir("var/bot")(work)


def _foreign_database(work: Path) -> dict[str, object]:
    (work / "var").mkdir()
    with contextlib.closing(sqlite3.connect(work / "var" / "journal.db")) as raw:
        raw.execute("CREATE TABLE trades (id INTEGER PRIMARY KEY, pair TEXT)")  # e.g. another bot's database
        raw.commit()
    return _data_dir("var")(work)


def _newer_schema(work: Path) -> dict[str, object]:
    path = _journal(work)
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)")
        raw.commit()
    return _data_dir("var")(work)


def _unreadable(work: Path) -> dict[str, object]:
    _journal(work).chmod(0o000)
    return _data_dir("var")(work)


def _read_only_file(work: Path) -> dict[str, object]:
    _journal(work).chmod(0o400)
    return _data_dir("var")(work)


def _read_only_dir(work: Path) -> dict[str, object]:
    _journal(work)
    (work / "var").chmod(0o500)
    return _data_dir("var")(work)


def _read_only_parent(work: Path) -> dict[str, object]:
    (work / "locked").mkdir(mode=0o500)
    return _data_dir("locked/var")(work)


def _immutable(work: Path) -> dict[str, object]:
    path = _journal(work)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i needs root on a file system with attributes")
    return _data_dir("var")(work)


def _nul_in_data_dir(work: Path) -> dict[str, object]:
    return {"bot": {"data_dir": "var\x00evil"}}


CASES = [
    Case("truncated file", _truncated, 2, "{dir}/var/journal.db is truncated"),
    Case("garbage file", _garbage, 2, "{dir}/var/journal.db is not a SQLite database"),
    Case("short garbage file", _short_garbage, 2, "{dir}/var/journal.db is not a SQLite database"),
    Case("directory in its place", _directory, 2, "{dir}/var/journal.db is a directory"),
    Case("fifo in its place", _fifo, 2, "{dir}/var/journal.db is not a regular file"),
    Case("data_dir is a file", _data_dir_is_a_file, 2, "bot.data_dir: {dir}/var is a file"),
    Case("data_dir below a file", _below_a_file, 2, "bot.data_dir: {dir}/var is a file"),
    Case("another application's database", _foreign_database, 2, "{dir}/var/journal.db is a SQLite database of"),
    Case("schema newer than the code", _newer_schema, 2, "{dir}/var/journal.db has schema version 99"),
    Case("NUL byte in data_dir", _nul_in_data_dir, 2, "bot.data_dir: contains a NUL byte"),
    Case("not a url", _db_url("not a url"), 2, "persistence.db_url: not a database URL"),
    Case("mongodb url", _db_url("mongodb://x"), 2, "persistence.db_url: unsupported database 'mongodb'"),
    Case("in-memory sqlite", _db_url("sqlite://"), 2, "persistence.db_url: a SQLite URL names a file"),
    Case("NUL byte in db_url", _db_url("sqlite:///var/a\x00b.db"), 2, "persistence.db_url: contains a NUL byte"),
    Case("permission denied", _unreadable, 1, "cannot read the file {dir}/var/journal.db", restricted=True),
    Case("read-only file", _read_only_file, 1, "{dir}/var/journal.db: permission denied", restricted=True),
    Case("read-only directory", _read_only_dir, 1, "cannot write the directory {dir}/var", restricted=True),
    Case(
        "unwritable parent of data_dir",
        _read_only_parent,
        1,
        "cannot write the directory {dir}/locked",
        restricted=True,
    ),
    Case("immutable file", _immutable, 1, "{dir}/var/journal.db: Operation not permitted: the file is immutable"),
]
if importlib.util.find_spec("asyncpg") is None:
    CASES.append(
        Case(
            "postgresql without its driver",
            _db_url("postgresql://bot@db/journal"),
            2,
            "pip install 'trading-bot[postgres]'",
        )
    )


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A working directory; files made immutable or unreadable are restored for the clean-up."""
    yield tmp_path
    for path in [tmp_path, *tmp_path.rglob("*")]:
        with contextlib.suppress(OSError):
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
            path.chmod(0o700)


def _cli(case: Case, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if case.restricted and _IS_ROOT:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: root ignores file modes")
        prefix = _NO_OVERRIDE
    return subprocess.run(
        [*prefix, sys.executable, str(ROOT / "runbot.py"), *args],
        cwd=work, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _snapshot(work: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in work.rglob("*") if not p.is_fifo()}


def _assert_one_error_line(proc: subprocess.CompletedProcess[str], case: Case, work: Path) -> None:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1, proc.stderr
    assert case.says.format(dir=work) in errors[0], errors[0]
    assert proc.returncode == case.code, proc.stderr


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_check_config_reports_an_unusable_journal_in_one_line_and_writes_nothing(case: Case, work: Path) -> None:
    config = work / "config.json"
    config.write_text(json.dumps(case.build(work)))
    before = _snapshot(work)

    proc = _cli(case, work, "check-config", str(config))

    _assert_one_error_line(proc, case, work)
    assert _snapshot(work) == before  # check-config created and changed nothing


# ``run`` checks the journal with the same code as ``check-config``: one case of each kind proves the wiring.
_RUN_CASES = {"truncated file", "directory in its place", "data_dir is a file", "NUL byte in data_dir", "mongodb url",
              "postgresql without its driver", "permission denied", "immutable file"}  # fmt: skip


@pytest.mark.parametrize("case", [c for c in CASES if c.name in _RUN_CASES], ids=lambda c: c.name)
def test_run_refuses_an_unusable_journal_in_one_line_before_trading(case: Case, work: Path) -> None:
    config = work / "config.json"
    config.write_text(json.dumps(case.build(work)))

    proc = _cli(case, work, "--config", str(config), "--strategy", "sma_cross", "--exchange", "binance",
                "--log-format", "json")  # fmt: skip

    _assert_one_error_line(proc, case, work)


def test_freqtrade_style_sqlite_url_is_accepted_as_the_aiosqlite_driver(work: Path) -> None:
    config = work / "config.json"
    config.write_text(json.dumps({"persistence": {"db_url": "sqlite:///var/journal.db"}}))

    proc = subprocess.run(
        [sys.executable, str(ROOT / "runbot.py"), "check-config", str(config)],
        cwd=work, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["persistence"]["db_url"] == "sqlite+aiosqlite:///var/journal.db"
    assert "does not exist yet" in proc.stderr
    assert not (work / "var").exists()  # checked, not created
