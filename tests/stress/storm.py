"""The fault-storm soak: the bot trades the grid on the emulator through a seeded storm of faults.

The bot is the real CLI (``runbot.py --config F --log-format json``) as a subprocess with real ccxt. Over
``duration_s`` seconds a seeded schedule runs fault episodes with calm gaps between them: bursts of 5xx
at a high rate, 429 storms with ``Retry-After`` 1-3 s, WebSocket drops, latency spikes of 1-5 s beyond
``request_timeout_s``, clock skew of ± 1.5-4 s, accept-then-timeout windows (every order POST is booked
but its answer held back beyond the request timeout). A seeded, mean-reverting price walk makes the
grid's buys and take-profits fill all along.

The bot is stopped with SIGTERM while faults are active (at the end of the storm; in runs longer than
~4 minutes also every ~150 s, restarted in calm); it must exit 0 within ``shutdown_timeout_s`` + 5 s.
Then prices stop, faults clear, and one calm final run reconciles and places any take-profit still owed,
and is stopped with SIGTERM. Checked from the emulator's own request log, orders and fills against the
journal: no client order id POSTed twice, every exchange fill journaled exactly once, journal position ==
exchange position, every order known to the journal (``tests.stress.harness``); and no take-profit lost:
the take-profit sells placed add up to exactly the filled open quantity, at or above their targets,
and no ``grid_exit_order_lost`` in the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_CEILING
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.stress.harness import KEY
from tests.stress.harness import SECRET
from tests.stress.harness import SYMBOL
from tests.stress.harness import Ledger
from tests.stress.harness import RequestRecorder
from tests.stress.harness import check_ledger
from tests.stress.harness import grid_config
from tests.stress.harness import own
from tests.stress.harness import start_bot
from tests.stress.harness import wait_for_log
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.runtime.journal.store import Journal

__all__ = ["KINDS", "Episode", "StormResult", "describe", "run_storm", "schedule"]

BOT_ID = "st"
D = Decimal
QUANTITY = D("0.001")
TAKE_PROFIT = D("0.004")  # percent: 2.4 USDT at 60,000
PARAMS = {"quantity": str(QUANTITY), "take_profit": str(TAKE_PROFIT), "max_orders": 10, "wait_time": 1,
          "fill_timeout": 1, "recheck_interval": 1, "exit_retry_max": 4}  # fmt: skip
REQUEST_TIMEOUT_S = 2.0
SHUTDOWN_TIMEOUT_S = 10.0
EXIT_MARGIN_S = 5.0  # the README's bound is shutdown_timeout_s + 2 s to the summary, then the interpreter exits
SIGTERM_EVERY_S = 150.0
KINDS = ("5xx", "429", "drop_ws", "latency", "skew", "accept_timeout")
CLEAR: dict[str, object] = {"error_5xx_rate": 0.0, "next_n_5xx": 0, "next_n_429": 0, "latency_ms": 0,
                            "clock_skew_ms": 0, "accept_then_timeout": False}  # fmt: skip
RECONNECTS = ("user_stream_reconnected", "market_stream_reconnect")
COUNTED = ("grid_exit_order_lost", *RECONNECTS)  # counted whatever their level


@dataclass(frozen=True, slots=True)
class Episode:
    """One fault episode: from ``start_s`` to ``end_s`` (seconds from the storm's start), ``kinds`` active
    with ``settings`` (``set_faults`` names); ``sigterm``: the bot is sent SIGTERM at ``end_s``, faults on."""

    start_s: float
    end_s: float
    kinds: tuple[str, ...]
    settings: Mapping[str, object]
    sigterm: bool = False


def _settings(kinds: tuple[str, ...], rng: random.Random) -> dict[str, object]:
    out: dict[str, object] = {}
    if "5xx" in kinds:
        out.update(error_5xx_rate=round(rng.uniform(0.5, 0.95), 2), next_n_5xx=rng.randint(3, 20),
                   error_5xx_status=rng.choice((500, 502, 503, 504)))  # fmt: skip
    if "429" in kinds:
        out.update(next_n_429=1_000_000, retry_after_s=rng.randint(1, 3))
    if "latency" in kinds:
        out.update(latency_ms=int(REQUEST_TIMEOUT_S * 1000) + rng.randint(1000, 5000))
    if "skew" in kinds:
        out.update(clock_skew_ms=rng.choice((-1, 1)) * rng.randint(1500, 4000))
    if "accept_timeout" in kinds:
        out.update(accept_then_timeout=True, accept_timeout_delay_s=round(rng.uniform(3, 8), 1))
    return out


def schedule(duration_s: float, seed: int) -> list[Episode]:
    """Return the seeded fault schedule of a storm of ``duration_s`` seconds.

    Episodes last 4-12 s with calm gaps of 2-6 s; each has one kind, or two (one in three), the first dealt
    from a shuffled deck of every kind (so each kind comes once in every six episodes). The bot gets
    SIGTERM at the end of the storm, and every ~150 s before it in long runs, always at the end of an
    episode with a latency spike and one other kind active.
    """
    rng = random.Random(seed)
    n_stops = max(1, round(duration_s / SIGTERM_EVERY_S))
    stops = [duration_s * (k + 1) / n_stops for k in range(n_stops)]
    episodes: list[Episode] = []
    deck: list[str] = []
    t = rng.uniform(2, 4)
    for stop in stops:
        last = rng.uniform(4, 8)  # the episode that ends with the SIGTERM
        while True:
            length = rng.uniform(4, 12)
            if t + length + rng.uniform(2, 6) > stop - last:
                break
            if not deck:
                deck = rng.sample(KINDS, len(KINDS))
            first = deck.pop()
            kinds = (first, rng.choice([k for k in KINDS if k != first])) if rng.random() < 1 / 3 else (first,)
            episodes.append(Episode(t, t + length, kinds, _settings(kinds, rng)))
            t += length + rng.uniform(2, 6)
        kinds = ("latency", rng.choice([k for k in KINDS if k != "latency"]))
        episodes.append(Episode(max(t, stop - last), stop, kinds, _settings(kinds, rng), sigterm=True))
        t = stop + rng.uniform(2, 4)
    return episodes


@dataclass
class StormResult:
    """What a storm run saw and what it checked (quantities in BTC, times in seconds)."""

    seed: int = 0
    duration_s: float = 0
    episodes: Counter[str] = field(default_factory=Counter)  # fault episodes by kind
    actions: Counter[str] = field(default_factory=Counter)  # drop_ws fired, accept_then_timeout armed
    ledger: Ledger = field(default_factory=Ledger)
    answers: Counter[str] = field(default_factory=Counter)  # non-2xx REST answers by status, and held answers
    events: Counter[str] = field(default_factory=Counter)  # the bot's warning and error events (and any exit lost)
    storm_exits: list[tuple[int | None, float]] = field(default_factory=list)  # (exit code, s from SIGTERM)
    unexpected_exits: list[int | None] = field(default_factory=list)  # the bot ended by itself mid-storm
    final_exit_code: int | None = None
    tracebacks: int = 0
    filled_open: Decimal = field(default_factory=Decimal)
    take_profit_placed: Decimal = field(default_factory=Decimal)
    take_profit_fills: int = 0
    open_buys_filled: int = 0
    sells_ended_unfilled: list[str] = field(default_factory=list)  # a sell cancelled or expired: not ours to do
    below_target: list[str] = field(default_factory=list)
    queued_exits_at_end: list[dict[str, Any]] = field(default_factory=list)
    unhedged_at_end: str = "0"
    final_summary: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0

    @property
    def exit_ok(self) -> bool:
        """Every storm SIGTERM and the final one ended with exit 0 within shutdown_timeout_s + margin."""
        return (
            bool(self.storm_exits)
            and all(code == 0 and s <= SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S for code, s in self.storm_exits)
            and not self.unexpected_exits
            and self.final_exit_code == 0
        )

    @property
    def hedged(self) -> bool:
        """No take-profit lost: sells placed == filled opens, none below target, none lost or still owed."""
        return (
            self.take_profit_placed == self.filled_open
            and not self.sells_ended_unfilled
            and not self.below_target
            and not self.queued_exits_at_end
            and D(self.unhedged_at_end) == 0
            and self.events["grid_exit_order_lost"] == 0
        )

    @property
    def ok(self) -> bool:
        """True when every rule held."""
        return self.ledger.ok and self.hedged and self.exit_ok and self.tracebacks == 0


async def _drive_prices(emu: BinanceEmulator, rng: random.Random, stop: asyncio.Event) -> None:
    """A seeded walk of BTC/USDT pulled back towards 60,000 (σ ≈ 6 USDT, so the 2.4 USDT take-profits fill),
    a 0.1 spread, and public prints at the touch that fill resting orders; a step every 20 ms."""
    mid, center = D("60000"), D("60000")
    while not stop.is_set():
        mid += D(rng.choice((-3, -2, -1, 0, 1, 2, 3))) + ((center - mid) * D("0.05")).quantize(D("0.01"))
        bid, ask = mid - D("0.05"), mid + D("0.05")
        await emu.set_quote(SYMBOL, bid, ask, "1", "1")
        if rng.random() < 0.5:
            side = rng.choice(("buy", "sell"))
            await emu.trade(SYMBOL, ask if side == "buy" else bid, "0.01", side)
        await asyncio.sleep(0.02)


class _Storm:
    """The running storm: the emulator, the bot process, the result being filled in."""

    def __init__(self, workdir: Path, emu: BinanceEmulator, result: StormResult, rng: random.Random) -> None:
        self.workdir, self.emu, self.result, self.rng = workdir, emu, result, rng
        self.log = workdir / "bot.log"
        self.config = grid_config(workdir, emu, bot_id=BOT_ID, params=PARAMS, shutdown_timeout_s=SHUTDOWN_TIMEOUT_S,
                                  request_timeout_s=REQUEST_TIMEOUT_S)  # fmt: skip
        self.runs = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.next_drop = 0.0

    async def start(self) -> None:
        """Start the bot (faults clear) and wait for ``bot_started``."""
        self.emu.set_faults(**CLEAR)
        since = self.log.stat().st_size if self.log.exists() else 0
        self.runs += 1
        summary = self.workdir / f"summary-{self.runs}.json"
        self.proc = await start_bot(self.workdir, self.config, self.log, summary=summary)
        if not await wait_for_log(self.proc, self.log, since, timeout_s=60):  # a loaded 2-core box: ~15 s
            raise AssertionError(f"the bot did not start (run {self.runs}): {self._tail()}")

    def _tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-20:])

    def act(self, episode: Episode) -> None:
        """The repeated actions of an active episode: drop the sockets every 1-4 s, re-arm accept-then-timeout."""
        now = asyncio.get_running_loop().time()
        if "drop_ws" in episode.kinds and now >= self.next_drop:
            self.emu.set_faults(drop_ws=True)
            self.result.actions["drop_ws"] += 1
            self.next_drop = now + self.rng.uniform(1, 4)
        if "accept_timeout" in episode.kinds and not self.emu.faults()["accept_then_timeout"]:
            self.result.actions["accept_then_timeout_armed"] += 1
            self.emu.set_faults(accept_then_timeout=True)

    async def episode(self, episode: Episode, t0: float) -> None:
        """Run one episode (``t0``: when the storm's clock was 0); one that ends with SIGTERM returns once the
        bot has exited."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, t0 + episode.start_s - loop.time()))
        for kind in episode.kinds:
            self.result.episodes[kind] += 1
        self.emu.set_faults(**episode.settings)
        if "accept_timeout" in episode.kinds:
            self.result.actions["accept_then_timeout_armed"] += 1
        self.next_drop = loop.time()
        while loop.time() < t0 + episode.end_s:
            self.act(episode)
            await self._check_alive()
            await asyncio.sleep(0.1)
        if episode.sigterm:
            await self.sigterm(episode)
        self.emu.set_faults(**CLEAR)

    async def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is not None:  # it ended by itself: a failure; carry on with a new run
            self.result.unexpected_exits.append(self.proc.returncode)
            await self.start()

    async def sigterm(self, episode: Episode | None) -> None:
        """SIGTERM the bot (``episode``'s faults stay active, its actions go on) and wait for its exit."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        sent = loop.time()
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = sent + SHUTDOWN_TIMEOUT_S + 30
        while self.proc.returncode is None and loop.time() < deadline:
            if episode is not None:
                self.act(episode)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), timeout=0.1)
        if self.proc.returncode is None:  # hung: a failure; kill it so the run can go on
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            code: int | None = None
        else:
            code = self.proc.returncode
        elapsed = round(loop.time() - sent, 2)
        if episode is not None:
            self.result.storm_exits.append((code, elapsed))
        else:
            self.result.final_exit_code = code
        self.emu.set_faults(**CLEAR)

    def unhedged(self) -> Decimal:
        """Filled open quantity minus the take-profit sells' quantity, from the emulator's orders."""
        orders = own(self.emu.orders(), BOT_ID)
        filled = sum((D(str(o["executedQty"])) for o in orders if o["side"] == "BUY"), D(0))
        return filled - sum((D(str(o["origQty"])) for o in orders if o["side"] == "SELL"), D(0))

    async def final_run(self) -> None:
        """The calm final run: reconcile, place what is owed, then SIGTERM (prices no longer move)."""
        await self.start()
        loop = asyncio.get_running_loop()
        started, deadline = loop.time(), loop.time() + 40
        while loop.time() < deadline and (loop.time() - started < 3 or self.unhedged() != 0):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        await self.sigterm(None)
        summary = self.workdir / f"summary-{self.runs}.json"
        with contextlib.suppress(ValueError):
            self.result.final_summary = json.loads(summary.read_text() or "{}").get("strategy_summary", {})


def _target(buy: Mapping[str, object]) -> tuple[Decimal, Decimal]:
    """Return (filled quantity, take-profit target) of an open buy: its average fill × (1 + tp %), up to the tick."""
    fills = buy["fills"]
    assert isinstance(fills, list)
    qty = sum((D(str(f["qty"])) for f in fills), D(0))
    average = sum((D(str(f["price"])) * D(str(f["qty"])) for f in fills), D(0)) / qty
    return qty, (average * (1 + TAKE_PROFIT / 100)).quantize(D("0.01"), rounding=ROUND_CEILING)


def _check_hedges(emu: BinanceEmulator, result: StormResult) -> None:
    """Take-profits vs filled opens, from the emulator's own order book of ours."""
    orders = own(emu.orders(), BOT_ID)
    buys = [o for o in orders if o["side"] == "BUY" and D(str(o["executedQty"])) > 0]
    sells = [o for o in orders if o["side"] == "SELL"]
    result.open_buys_filled = len(buys)
    result.filled_open = sum((D(str(o["executedQty"])) for o in buys), D(0))
    result.take_profit_placed = sum((D(str(o["origQty"])) for o in sells), D(0))
    result.take_profit_fills = sum(1 for o in sells if D(str(o["executedQty"])) > 0)
    result.sells_ended_unfilled = [
        f"{o['clientOrderId']} {o['status']} executed {o['executedQty']} of {o['origQty']}"
        for o in sells
        if o["status"] in ("CANCELED", "EXPIRED", "REJECTED") and D(str(o["executedQty"])) < D(str(o["origQty"]))
    ]
    # An assignment of sells to filled buys with every sell at or above its buy's target exists iff, for every
    # target t, the sells priced at or above t hold at least the filled quantity of the buys whose target >= t.
    targets = [_target(b) for b in buys]
    for _, t in sorted(targets, key=lambda x: x[1]):
        need = sum((q for q, u in targets if u >= t), D(0))
        have = sum((D(str(s["origQty"])) for s in sells if D(str(s["price"])) >= t), D(0))
        if have < need:
            result.below_target.append(f"buys with target >= {t}: {need} filled, sells priced >= {t}: {have}")
            break


def _read_logs(log: Path, result: StormResult) -> None:
    for line in log.read_text(errors="replace").splitlines():
        if "Traceback" in line:
            result.tracebacks += 1
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (
            entry.get("level") in ("warning", "error", "critical") or entry.get("event") in COUNTED
        ):
            result.events[str(entry.get("event"))] += 1


def _read_answers(requests: RequestRecorder, result: StormResult) -> None:
    for r in requests.entries:
        status = r["status"]
        if isinstance(status, int) and status >= 400:
            result.answers[str(status)] += 1
        if "held_s" in r:
            result.answers["held_back"] += 1


async def _journal_exits(journal_db: Path, result: StormResult) -> None:
    journal = await Journal.open(f"sqlite+aiosqlite:///{journal_db}")
    try:
        state = await journal.load_strategy_state("grid") or {}
    finally:
        await journal.close()
    result.queued_exits_at_end = [
        {"tag": e.get("tag"), "quantity": e.get("quantity"), "price": e.get("price")} for e in state.get("exits", [])
    ]
    result.unhedged_at_end = str(state.get("unhedged", "0"))


async def run_storm(workdir: Path, duration_s: float, seed: int = 20261202) -> StormResult:
    """Trade through ``duration_s`` seconds of seeded fault storm, SIGTERM under faults, one calm final run;
    return what the emulator's logs and the journal show."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    rng = random.Random(seed)
    result = StormResult(seed=seed, duration_s=duration_s)
    emu_config = EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=20, seed=seed)
    async with BinanceEmulator(emu_config) as emu:
        await emu.set_quote(SYMBOL, "59999.95", "60000.05", "1", "1")
        storm = _Storm(workdir, emu, result, random.Random(seed + 1))
        requests = RequestRecorder(emu)
        stop_prices, stop_recording = asyncio.Event(), asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            recorder = tg.create_task(requests.run(stop_recording))
            driver = tg.create_task(_drive_prices(emu, rng, stop_prices))
            try:
                await storm.start()
                t0 = loop.time()
                episodes = schedule(duration_s, seed)
                for episode in episodes:
                    await storm.episode(episode, t0)
                    if episode.sigterm and episode is not episodes[-1]:  # restart in calm; the storm clock waits
                        await storm.start()
                        t0 = loop.time() - episode.end_s
                stop_prices.set()
                await driver
                await storm.final_run()
            finally:
                stop_prices.set()
                if storm.proc is not None and storm.proc.returncode is None:
                    storm.proc.send_signal(signal.SIGKILL)
                    await storm.proc.wait()
                stop_recording.set()
            await recorder
        journal_db = workdir / "var" / "journal.db"
        result.ledger = await check_ledger(emu, requests, journal_db, BOT_ID)
        _check_hedges(emu, result)
        _read_answers(requests, result)
    _read_logs(storm.log, result)
    await _journal_exits(journal_db, result)
    result.wall_s = round(loop.time() - began, 1)
    return result


def describe(result: StormResult) -> dict[str, Any]:
    """Return the result as JSON-friendly data."""
    summary = result.final_summary
    return {
        "ok": result.ok,
        "seed": result.seed,
        "storm_s": result.duration_s,
        "fault_episodes": dict(result.episodes),
        "fault_actions": dict(result.actions),
        "error_answers": dict(result.answers),
        **result.ledger.describe(),
        "open_buys_filled": result.open_buys_filled,
        "filled_open_qty": str(result.filled_open),
        "take_profit_qty_placed": str(result.take_profit_placed),
        "take_profits_filled": result.take_profit_fills,
        "sells_ended_unfilled": result.sells_ended_unfilled,
        "below_target": result.below_target,
        "queued_exits_at_end": result.queued_exits_at_end,
        "unhedged_at_end": result.unhedged_at_end,
        "reconnects": sum(result.events[e] for e in RECONNECTS),
        "take_profit_retries": result.events["grid_exit_retry"],
        "grid_exit_order_lost": result.events["grid_exit_order_lost"],
        "log_warnings_and_errors": dict(sorted(result.events.items())),
        "grid": {k: summary.get(k) for k in ("cycles_completed", "opens_filled", "take_profits_placed",
                                             "exit_retries", "exit_transient_retries", "orders_lost")},
        "storm_exits": [{"exit_code": c, "seconds_from_sigterm": s} for c, s in result.storm_exits],
        "unexpected_exits": result.unexpected_exits,
        "final_exit_code": result.final_exit_code,
        "tracebacks": result.tracebacks,
        "wall_s": result.wall_s,
    }  # fmt: skip
