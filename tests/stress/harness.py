"""What the stress runs share: the grid config, starting the real CLI, a full copy of the emulator's request
log, and the exactly-once checks of the emulator's own logs against the journal (a SQLite file).

Used by ``tests.stress.chaos`` (kill -9) and ``tests.stress.storm`` (fault storm).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_bot.emulator import BinanceEmulator
from trading_bot.runtime.journal.store import Journal

__all__ = [
    "KEY",
    "ROOT",
    "SECRET",
    "SYMBOL",
    "Ledger",
    "RequestRecorder",
    "check_ledger",
    "grid_config",
    "own",
    "param",
    "start_bot",
    "wait_for_log",
]

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "stress-key", "stress-secret"
SYMBOL = "BTC/USDT"
D = Decimal


def grid_config(
    workdir: Path,
    emu: BinanceEmulator,
    *,
    bot_id: str,
    params: Mapping[str, object],
    shutdown_timeout_s: float = 10,
    request_timeout_s: float = 2,
) -> Path:
    """Write the bot's config file (the grid on the emulator, keep orders on shutdown, no data-age, order-rate
    or price-band rule) to ``workdir/config.json`` and return its path."""
    config = {
        "bot": {"bot_id": bot_id, "data_dir": str(workdir / "var"), "heartbeat_s": 0.2, "on_shutdown": "keep",
                "shutdown_timeout_s": shutdown_timeout_s},
        "exchange": {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": request_timeout_s},
        "strategy": {"name": "grid", "params": dict(params)},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    return path


async def start_bot(
    workdir: Path,
    config: Path,
    log: Path,
    extra_env: Mapping[str, str] | None = None,
    *,
    summary: Path | None = None,
    entry: Sequence[str] | None = None,
    exchange_keys: bool = True,
) -> asyncio.subprocess.Process:
    """Start ``runbot.py --config CONFIG --log-format json`` in ``workdir``; its log (stderr) is appended to
    ``log``. With ``summary``, ``--json`` is passed and the end-of-run summary (stdout) is written there.
    ``exchange_keys=False`` leaves out the ``exchange`` section's keys. ``entry`` replaces ``runbot.py`` (the
    script and its own arguments, e.g. the chaos test's ``chaos_bot.py``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_BOT")}
    if exchange_keys:  # the one-venue shorthand's keys (a config of several venues takes its keys in extra_env)
        env.update({"TRADING_BOT__EXCHANGE__API_KEY": KEY, "TRADING_BOT__EXCHANGE__SECRET": SECRET})
    env.update(extra_env or {})
    args = [*(entry or [str(ROOT / "runbot.py")]), "--config", str(config), "--log-format", "json"]
    if summary is not None:
        args.append("--json")
    with log.open("ab") as err:
        if summary is None:
            return await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=workdir, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err
            )
        with summary.open("wb") as out:
            return await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=workdir, env=env, stdout=out, stderr=err
            )


async def wait_for_log(
    proc: asyncio.subprocess.Process, log: Path, since: int, needle: bytes = b"bot_started", timeout_s: float = 20
) -> bool:
    """Wait until ``needle`` appears in ``log`` after byte ``since``; False if the bot exited or time ran out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if proc.returncode is not None:
            return False
        if needle in log.read_bytes()[since:]:
            return True
        await asyncio.sleep(0.05)
    return False


class RequestRecorder:
    """Keeps every entry of the emulator's request log (the emulator itself keeps only the last 10,000).

    ``poll()`` copies the entries that arrived since the last call; ``run(stop)`` polls every 0.2 s until
    ``stop`` is set, then once more. An entry is copied once it has its answer status (a request still
    waiting, e.g. on injected latency, is taken at a later poll).
    """

    def __init__(self, emu: BinanceEmulator) -> None:
        self.emu = emu
        self.entries: list[dict[str, object]] = []
        self._seq = 0

    def poll(self) -> None:
        """Copy the answered entries that arrived since the last poll (in arrival order)."""
        for entry in self.emu.requests_after(self._seq):
            if entry["status"] is None:
                break
            self.entries.append(entry)
            self._seq = int(str(entry["seq"]))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every 0.2 s until ``stop`` is set, then once more."""
        while not stop.is_set():
            self.poll()
            await asyncio.sleep(0.2)
        self.poll()

    def flush(self) -> None:
        """Copy every remaining entry, answered or not (call once the bot is gone)."""
        for entry in self.emu.requests_after(self._seq):
            self.entries.append(entry)
            self._seq = int(str(entry["seq"]))

    def order_posts(self) -> list[dict[str, object]]:
        """Return the ``POST /api/v3/order`` entries, oldest first."""
        return [r for r in self.entries if r["method"] == "POST" and str(r["path"]).endswith("/order")]


@dataclass
class Ledger:
    """The exactly-once checks: the emulator's own request log, orders and fills against the journal."""

    posts: int = 0
    duplicate_posts: list[str] = field(default_factory=list)
    exchange_fills: int = 0
    journal_fills: int = 0
    fills_missing_in_journal: list[str] = field(default_factory=list)
    fills_twice_in_journal: list[str] = field(default_factory=list)
    journal_position: Decimal = field(default_factory=Decimal)
    exchange_position: Decimal = field(default_factory=Decimal)
    untracked_orders: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every exactly-once rule held."""
        return (
            not self.duplicate_posts
            and not self.fills_missing_in_journal
            and not self.fills_twice_in_journal
            and self.journal_position == self.exchange_position
            and not self.untracked_orders
        )

    def describe(self) -> dict[str, Any]:
        """Return the checks as JSON-friendly data."""
        return {
            "order_posts": self.posts,
            "duplicate_posts": self.duplicate_posts,
            "exchange_fills": self.exchange_fills,
            "journal_fills": self.journal_fills,
            "fills_missing_in_journal": self.fills_missing_in_journal,
            "fills_twice_in_journal": self.fills_twice_in_journal,
            "journal_position": str(self.journal_position),
            "exchange_position": str(self.exchange_position),
            "untracked_orders": self.untracked_orders,
        }


def param(entry: Mapping[str, object], name: str) -> str:
    """Return request parameter ``name`` of a request-log entry ("" if absent)."""
    params = entry.get("params")
    return str(params.get(name, "")) if isinstance(params, dict) else ""


def own(rows: list[dict[str, object]], bot_id: str) -> list[dict[str, object]]:
    """Return the rows (orders, fills) whose ``clientOrderId`` carries ``bot_id``'s prefix."""
    prefix = f"{bot_id}-"
    return [r for r in rows if str(r.get("clientOrderId", "")).startswith(prefix)]


async def check_ledger(
    emu: BinanceEmulator, requests: RequestRecorder, journal_db: Path, bot_id: str, venue: str | None = None
) -> Ledger:
    """Check the emulator's logs against the journal at ``journal_db``: no client order id POSTed twice (every
    POST counts, whatever its answer), every exchange fill of ``bot_id`` journaled exactly once, journal
    position == exchange position, every order the exchange holds for ``bot_id`` known to the journal.
    ``venue`` narrows the journal to the emulator's venue (a bot on several)."""
    requests.flush()
    posts = [param(r, "newClientOrderId") for r in requests.order_posts()]
    result = Ledger(posts=len(posts), duplicate_posts=[c for c, n in Counter(posts).items() if n > 1])
    fills = own(emu.fills(), bot_id)
    result.exchange_fills = len(fills)
    result.exchange_position = sum(
        (D(str(f["qty"])) if str(f["side"]).upper() == "BUY" else -D(str(f["qty"])) for f in fills), D(0)
    )
    journal = await Journal.open(f"sqlite+aiosqlite:///{journal_db}")
    try:
        journal_fills = await journal.fills(symbol=SYMBOL, venue=venue)
        journal_orders = {o.client_order_id for o in await journal.orders(symbol=SYMBOL, venue=venue)}
        result.journal_position = await journal.position(SYMBOL, venue)
    finally:
        await journal.close()
    result.journal_fills = len(journal_fills)
    counts = Counter(str(f.trade_id) for f in journal_fills)
    result.fills_twice_in_journal = [t for t, n in counts.items() if n > 1]
    result.fills_missing_in_journal = [str(f["id"]) for f in fills if str(f["id"]) not in counts]
    sent = {str(o["clientOrderId"]) for o in own(emu.orders(), bot_id)}
    result.untracked_orders = sorted(sent - journal_orders)
    return result
