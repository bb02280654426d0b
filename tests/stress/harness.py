"""What the stress runs share: the grid config, starting the real CLI, a full copy of the emulator's request
log, and the exactly-once checks of the emulator's own logs against the journal (a SQLite file).

A run targets one of the emulator's venues (``Target``): ``SPOT`` (``binance``, ``BTC/USDT``, orders on
``/api/v3/order``) or ``USDM`` (``binanceusdm``, the perpetual ``BTC/USDT:USDT`` on the USDⓈ-M venue,
orders on ``/fapi/v1/order``, positions and funding payments checked too).

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
    "FUNDING_SETTLE_SLACK_MS",
    "KEY",
    "ROOT",
    "SECRET",
    "SPOT",
    "SYMBOL",
    "USDM",
    "Ledger",
    "RequestRecorder",
    "Target",
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
FUNDING_SETTLE_SLACK_MS = 500
"""A payment timed this long before the bot's funding catch-up asked for the history must be in its answer
(the emulator settles at the scheduled time, late only by its event loop's delay), ms."""


@dataclass(frozen=True, slots=True)
class Target:
    """One of the emulator's venues a stress run trades: its exchange name, symbol and order path, and how to
    read its own logs (orders, fills, position, funding payments) and move its prices.

    Attributes:
        exchange: the config's ``exchange.name`` (``binance``, ``binanceusdm``).
        symbol: the ccxt unified symbol traded.
        order_path: the REST path of an order POST (``newClientOrderId`` in its parameters).
        swap: the USDⓈ-M venue (``emu.futures``): a perpetual with a venue position and funding.
    """

    exchange: str
    symbol: str
    order_path: str
    swap: bool = False

    def exchange_section(self, emu: BinanceEmulator, request_timeout_s: float) -> dict[str, object]:
        """Return the config's ``exchange`` section for this venue of ``emu`` (a swap at leverage 5)."""
        if not self.swap:
            return {"name": self.exchange, "ccxt_options": emu.ccxt_options(), "request_timeout_s": request_timeout_s}
        return {"name": self.exchange, "market_type": "swap", "leverage": 5, "ccxt_options": emu.ccxt_usdm_options(),
                "request_timeout_s": request_timeout_s}  # fmt: skip

    def orders(self, emu: BinanceEmulator) -> list[dict[str, object]]:
        """Return every order the venue booked (``clientOrderId`` among the keys)."""
        if not self.swap:
            return emu.orders()
        return [o.rest() for o in emu.futures.engine.orders.values()]

    def fills(self, emu: BinanceEmulator) -> list[dict[str, object]]:
        """Return every fill the venue made (``id``, ``qty``, ``side`` and ``clientOrderId`` among the keys)."""
        if not self.swap:
            return emu.fills()
        orders = emu.futures.engine.orders
        return [{**f.rest(), "clientOrderId": orders[f.order_id].client_order_id} for f in emu.futures.engine.fills]

    def position(self, emu: BinanceEmulator, own_fills: list[dict[str, object]]) -> Decimal:
        """Return the venue's signed position in base units: a swap's from its margin account, a spot pair's
        the signed sum of ``own_fills`` (the account's balance holds more than the bot's)."""
        if self.swap:
            return next(D(str(p["quantity"])) for p in emu.futures.positions() if p["symbol"] == self.symbol)
        return sum(
            (D(str(f["qty"])) if str(f["side"]).upper() == "BUY" else -D(str(f["qty"])) for f in own_fills), D(0)
        )

    def funding(self, emu: BinanceEmulator) -> list[tuple[str, int]]:
        """Return the venue's funding payments of the symbol as ``(id, time ms)``, oldest first (spot: none)."""
        if not self.swap:
            return []
        market_id = emu.futures.market(self.symbol).market_id
        return [(str(r.tran_id), r.time_ms) for r in emu.futures.engine.income
                if r.symbol == market_id and r.income_type == "FUNDING_FEE"]  # fmt: skip

    async def quote(self, emu: BinanceEmulator, bid: Decimal, ask: Decimal) -> None:
        """Move the touch to ``bid``/``ask`` (a swap: the mark to the mid, the book one tick around it), matching
        resting orders it crosses."""
        if self.swap:
            emu.futures.set_mark(self.symbol, (bid + ask) / 2)
        else:
            await emu.set_quote(self.symbol, bid, ask, "1", "1")

    async def trade(self, emu: BinanceEmulator, price: Decimal, qty: Decimal, taker_side: str) -> None:
        """Print a public trade that fills resting orders at or through ``price``."""
        if self.swap:
            emu.futures.trade(self.symbol, price, qty, taker_side)
        else:
            await emu.trade(self.symbol, price, qty, taker_side)


SPOT = Target(exchange="binance", symbol=SYMBOL, order_path="/api/v3/order")
USDM = Target(exchange="binanceusdm", symbol="BTC/USDT:USDT", order_path="/fapi/v1/order", swap=True)


def grid_config(
    workdir: Path,
    emu: BinanceEmulator,
    *,
    bot_id: str,
    params: Mapping[str, object],
    shutdown_timeout_s: float = 10,
    request_timeout_s: float = 2,
    target: Target = SPOT,
) -> Path:
    """Write the bot's config file (the grid on ``target``'s venue of the emulator, keep orders on shutdown, no
    data-age, order-rate or price-band rule) to ``workdir/config.json`` and return its path."""
    config = {
        "bot": {"bot_id": bot_id, "data_dir": str(workdir / "var"), "heartbeat_s": 0.2, "on_shutdown": "keep",
                "shutdown_timeout_s": shutdown_timeout_s, "symbol": target.symbol},
        "exchange": target.exchange_section(emu, request_timeout_s),
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

    def order_posts(self, path: str = SPOT.order_path) -> list[dict[str, object]]:
        """Return the ``POST`` entries of ``path`` (an order POST: ``/api/v3/order``, ``/fapi/v1/order``), oldest
        first."""
        return [r for r in self.entries if r["method"] == "POST" and r["path"] == path]

    def last_ts(self, method: str, path: str) -> int | None:
        """Return the server time (epoch ms) of the latest ``method`` ``path`` request, or ``None``."""
        times = [int(str(r["ts"])) for r in self.entries if r["method"] == method and r["path"] == path]
        return max(times, default=None)


@dataclass
class Ledger:
    """The exactly-once checks: the emulator's own request log, orders, fills (and a swap's position and funding
    payments) against the journal."""

    posts: int = 0
    held_posts: int = 0
    duplicate_posts: list[str] = field(default_factory=list)
    exchange_fills: int = 0
    journal_fills: int = 0
    fills_missing_in_journal: list[str] = field(default_factory=list)
    fills_twice_in_journal: list[str] = field(default_factory=list)
    journal_position: Decimal = field(default_factory=Decimal)
    exchange_position: Decimal = field(default_factory=Decimal)
    untracked_orders: list[str] = field(default_factory=list)
    exchange_funding: int = 0
    journal_funding: int = 0
    funding_missing_in_journal: list[str] = field(default_factory=list)
    funding_twice_in_journal: list[str] = field(default_factory=list)
    funding_unknown_to_exchange: list[str] = field(default_factory=list)
    funding_after_last_catch_up: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every exactly-once rule held (a payment settled after the last catch-up is not due yet)."""
        return (
            not self.duplicate_posts
            and not self.fills_missing_in_journal
            and not self.fills_twice_in_journal
            and self.journal_position == self.exchange_position
            and not self.untracked_orders
            and not self.funding_missing_in_journal
            and not self.funding_twice_in_journal
            and not self.funding_unknown_to_exchange
        )

    def describe(self) -> dict[str, Any]:
        """Return the checks as JSON-friendly data."""
        return {
            "order_posts": self.posts,
            "held_posts": self.held_posts,
            "duplicate_posts": self.duplicate_posts,
            "exchange_fills": self.exchange_fills,
            "journal_fills": self.journal_fills,
            "fills_missing_in_journal": self.fills_missing_in_journal,
            "fills_twice_in_journal": self.fills_twice_in_journal,
            "journal_position": str(self.journal_position),
            "exchange_position": str(self.exchange_position),
            "untracked_orders": self.untracked_orders,
            "exchange_funding": self.exchange_funding,
            "journal_funding": self.journal_funding,
            "funding_missing_in_journal": self.funding_missing_in_journal,
            "funding_twice_in_journal": self.funding_twice_in_journal,
            "funding_unknown_to_exchange": self.funding_unknown_to_exchange,
            "funding_after_last_catch_up": self.funding_after_last_catch_up,
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
    emu: BinanceEmulator,
    requests: RequestRecorder,
    journal_db: Path,
    bot_id: str,
    venue: str | None = None,
    target: Target = SPOT,
) -> Ledger:
    """Check ``target``'s venue of the emulator against the journal at ``journal_db``: no client order id POSTed
    twice (every POST counts, whatever its answer; ``held_posts`` counts those whose answer an accept-then-timeout
    fault held back), every exchange fill of ``bot_id`` journaled exactly once,
    journal position == exchange position, every order the exchange holds for ``bot_id`` known to the journal.
    A swap's funding: every payment the venue settled before the last catch-up (the bot's latest ``GET
    /fapi/v1/income``, less ``FUNDING_SETTLE_SLACK_MS``) journaled, none twice, none the venue did not pay; the
    ones settled since are listed (a running bot journals them at its next start). ``venue`` narrows the
    journal to the emulator's venue (a bot on several)."""
    requests.flush()
    entries = requests.order_posts(target.order_path)
    posts = [param(r, "newClientOrderId") for r in entries]
    result = Ledger(posts=len(posts), duplicate_posts=[c for c, n in Counter(posts).items() if n > 1],
                    held_posts=sum(1 for r in entries if "held_s" in r))  # fmt: skip
    fills = own(target.fills(emu), bot_id)
    result.exchange_fills = len(fills)
    result.exchange_position = target.position(emu, fills)
    journal = await Journal.open(f"sqlite+aiosqlite:///{journal_db}")
    try:
        journal_fills = await journal.fills(symbol=target.symbol, venue=venue)
        journal_orders = {o.client_order_id for o in await journal.orders(symbol=target.symbol, venue=venue)}
        result.journal_position = await journal.position(target.symbol, venue)
        journal_funding = [r.payment.id for r in await journal.funding_payments(symbol=target.symbol, venue=venue)]
    finally:
        await journal.close()
    result.journal_fills = len(journal_fills)
    counts = Counter(str(f.trade_id) for f in journal_fills)
    result.fills_twice_in_journal = [t for t, n in counts.items() if n > 1]
    result.fills_missing_in_journal = [str(f["id"]) for f in fills if str(f["id"]) not in counts]
    sent = {str(o["clientOrderId"]) for o in own(target.orders(emu), bot_id)}
    result.untracked_orders = sorted(sent - journal_orders)
    _check_funding(result, target.funding(emu), journal_funding, requests.last_ts("GET", "/fapi/v1/income"))
    return result


def _check_funding(
    result: Ledger, paid: list[tuple[str, int]], journaled: list[str], last_catch_up_ms: int | None
) -> None:
    due_before = -1 if last_catch_up_ms is None else last_catch_up_ms - FUNDING_SETTLE_SLACK_MS
    counts = Counter(journaled)
    paid_ids = {i for i, _ in paid}
    result.exchange_funding, result.journal_funding = len(paid), len(journaled)
    result.funding_twice_in_journal = [i for i, n in counts.items() if n > 1]
    result.funding_unknown_to_exchange = sorted(set(counts) - paid_ids)
    result.funding_missing_in_journal = [i for i, ts in paid if ts < due_before and i not in counts]
    result.funding_after_last_catch_up = [i for i, ts in paid if ts >= due_before and i not in counts]
