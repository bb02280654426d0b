"""Helpers for the stop tests: the CLI as an asyncio subprocess whose stderr is read as it comes."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.emulator import BinanceEmulator

KEY, SECRET = "stop-test-key", "stop-test-secret"
BOT_ID = "e2e"
GRID = {"quantity": "0.001", "take_profit": "0.005", "max_orders": 5, "wait_time": 1, "fill_timeout": 2,
        "recheck_interval": 1}  # fmt: skip


def write_config(
    tmp_path: Path,
    emu: BinanceEmulator,
    *,
    shutdown_timeout_s: float,
    request_timeout_s: float = 5,
    strategy: str = "grid",
    params: dict[str, Any] | None = None,
) -> Path:
    """Write a live config trading on ``emu`` and return its path."""
    config = {
        "bot": {"bot_id": BOT_ID, "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2,
                "shutdown_timeout_s": shutdown_timeout_s, "on_shutdown": "cancel"},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": request_timeout_s},
        "strategy": {"name": strategy, "params": GRID if params is None else params},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@dataclass
class Stopped:
    """How the process ended: exit code, seconds from the signal to the exit, summary, stderr."""

    code: int
    after_signal_s: float
    summary: dict[str, Any]
    stderr: str


@dataclass
class BotProcess:
    """``runbot.py`` running as a subprocess, its stderr lines collected by a reader task."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, cwd: Path, *args: str, keys: bool = True) -> BotProcess:
        """Start ``runbot.py ARGS --log-format json --json`` in ``cwd``."""
        env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET) if keys else cli_env()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), *args, "--log-format", "json", "--json",
            cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        bot = cls(proc)
        bot.reader = asyncio.create_task(bot._read())
        return bot

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace"))

    def logged(self, event: str) -> bool:
        """Return True once a log line with ``"event": "<event>"`` was written."""
        needle = f'"{event}"'
        return any(needle in line for line in self.lines)

    async def wait_until(self, done: Callable[[], bool], timeout_s: float = 30) -> None:
        """Poll ``done()`` until it is true; fail (and kill the bot) after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not done():
            if self.proc.returncode is not None:
                raise AssertionError(f"bot exited early with {self.proc.returncode}: {''.join(self.lines)[-3000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"condition not met in {timeout_s} s: {''.join(self.lines)[-3000:]}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, *, wait_s: float = 30) -> Stopped:
        """Send ``sig`` and wait for the exit (killing the bot after ``wait_s``)."""
        self.proc.send_signal(sig)
        sent = time.monotonic()
        return await self.finish(sent, wait_s)

    async def finish(self, since: float, wait_s: float = 30) -> Stopped:
        """Wait for the exit (killing the bot after ``wait_s``); times are measured from ``since``."""
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=wait_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        elapsed = time.monotonic() - since
        assert self.proc.stdout is not None
        out = (await self.proc.stdout.read()).decode()
        if self.reader is not None:
            await self.reader
        summary = json.loads(out) if out.strip() else {}
        assert self.proc.returncode is not None
        return Stopped(self.proc.returncode, elapsed, summary, "".join(self.lines))


def own(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the emulator's orders or fills that carry the bot's client-id prefix."""
    return [i for i in items if str(i.get("clientOrderId", "")).startswith(f"{BOT_ID}-")]


def own_open_orders(emu: BinanceEmulator) -> list[dict[str, Any]]:
    """Return the bot's orders resting at the emulator."""
    return [o for o in own(emu.orders()) if o["status"] in ("NEW", "PARTIALLY_FILLED")]


def last_run(tmp_path: Path) -> dict[str, Any]:
    """Return the journal's last run row (read straight from the SQLite file)."""
    with sqlite3.connect(tmp_path / "var" / "journal.db") as raw:
        raw.row_factory = sqlite3.Row
        row = raw.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None, "no run recorded"
    return dict(row)


def journal_trade_ids(tmp_path: Path) -> set[str]:
    """Return the trade ids of every fill in the journal."""
    with sqlite3.connect(tmp_path / "var" / "journal.db") as raw:
        return {str(r[0]) for r in raw.execute("SELECT trade_id FROM fills")}
