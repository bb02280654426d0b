"""One bot per journal, end to end: two real bot processes on one journal against the emulator.

The second is refused with exit 2 and one line naming the first one's pid; after ``kill -9`` of the
first, a restart takes the journal at once (the kernel dropped the lock with the process). While the bot
runs, the files it created in its data directory are private to its user (umask 022 notwithstanding).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import test_live_emulator as live
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.test_live_emulator import KEY
from tests.integration.test_live_emulator import SECRET
from tests.integration.test_live_emulator import _write_config
from trading_bot.emulator import BinanceEmulator

walking_emulator = live.walking_emulator  # the live tests' emulator fixture (seeded random walk)
_PARAMS = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": False}


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # inherited by the bot processes: files 0644 unless the bot says otherwise
    yield
    os.umask(previous)


async def _start(tmp_path: Path, config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--log-format", "json",
        cwd=tmp_path, env=cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _until(condition: Callable[[], bool], proc: asyncio.subprocess.Process, timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert proc.returncode is None, "the bot exited early"
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def _holds_lock(lock: Path, proc: asyncio.subprocess.Process) -> Callable[[], bool]:
    def check() -> bool:
        with contextlib.suppress(OSError):
            return f'"pid": {proc.pid},' in lock.read_text()
        return False

    return check


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.asyncio
async def test_second_bot_on_the_same_journal_exits_2_and_kill_9_leaves_no_stale_lock(
    tmp_path: Path, walking_emulator: BinanceEmulator, umask_022: None
) -> None:
    config = _write_config(tmp_path, walking_emulator, "sma_cross", _PARAMS)
    data_dir = tmp_path / "var"
    lock = data_dir / "journal.db.lock"
    first = await _start(tmp_path, config)
    try:
        await _until(_holds_lock(lock, first), first)
        await _until(lambda: (data_dir / "journal.db-wal").exists(), first)
        modes = {p.name: _mode(p) for p in data_dir.iterdir()}

        second = await _start(tmp_path, config)
        _, err = await asyncio.wait_for(second.communicate(), timeout=60)

        assert second.returncode == 2, err.decode()[-2000:]
        errors = [line for line in err.decode().splitlines() if line.startswith("error:")]
        assert len(errors) == 1, err.decode()[-2000:]
        assert f"journal {data_dir / 'journal.db'} is in use by another bot (pid {first.pid}, bot id e2e" in errors[0]
        assert "Traceback" not in err.decode()
        assert first.returncode is None  # the first bot trades on
    finally:
        if first.returncode is None:
            first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.communicate(), timeout=30)

    assert _mode(data_dir) == 0o700
    assert modes == {"journal.db": 0o600, "journal.db-wal": 0o600, "journal.db-shm": 0o600, "journal.db.lock": 0o600}

    third = await _start(tmp_path, config)  # right after kill -9: the lock died with the process
    try:
        await _until(_holds_lock(lock, third), third)
        third.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(third.communicate(), timeout=60)
    finally:
        if third.returncode is None:
            third.kill()
    assert third.returncode == 0, err.decode()[-2000:]
