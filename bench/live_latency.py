"""Live-path latency on loopback: a bookTicker event leaving the emulator → the order request arriving at it.

    python bench/live_latency.py [--orders 1000] [--warmup 50] [--gap-ms 15] [--journal on|off|both] [--json]

The Binance emulator runs in this process; the bot is the real CLI (``bench/latency_bot.py`` wraps
``trading_bot.cli.main`` and adds the ``latency_probe`` strategy) in a subprocess, with real ccxt
(async + pro) pointed at the emulator by ``exchange.ccxt_options``. The probe places one post-only buy
2 % below the bid on every quote, through the full pipeline: market stream → supervisor → strategy →
RiskManager (every rule on: market limits, notional, position, open orders, price band, order rate, data
age, balance) → order manager (journal intent first, when on) → ccxt ``create_order`` → HTTP POST.

Closed loop, one event in flight: the driver moves the quote, stamps ``t0 = time.monotonic_ns()`` as
``set_quote`` returns (the bookTicker frame is queued on the socket's writer; it is written on the next
loop turn, so the figure includes that hop), waits for the order POST to reach the emulator's middleware
(``received_ns`` of the request log), then waits ``--gap-ms`` so the bot has handled the answer before
the next quote. ``CLOCK_MONOTONIC`` is shared by both processes. The bot notes the same clock at each
stage (see ``latency_bot.py``), which gives the breakdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trading_bot.emulator import BinanceEmulator  # noqa: E402
from trading_bot.emulator import EmulatorConfig  # noqa: E402
from trading_bot.log import configure_logging  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"
SYMBOL = "BTC/USDT"
_POLL_S = 0.0002
_ORDER_WAIT_S = 3.0

STAGES = (
    ("transport in", "emulator queues bookTicker → ccxt.pro handler (ws write, loopback, aiohttp read, json)"),
    ("market data → strategy", "ccxt bids/asks parse → our adapter, queue, supervisor → execute_strategy"),
    ("our pipeline", "strategy result → risk checks → journal intent → order manager → ccxt create_order"),
    ("ccxt request build", "create_order: params, precision, request dict → sign()"),
    ("ccxt signing", "sign(): urlencode + HMAC-SHA256 of the query"),
    ("ccxt fetch → emulator", "sign() done → fetch → aiohttp client → loopback → emulator middleware"),
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured quote → order, all in ``time.monotonic_ns()``."""

    published_ns: int
    received_ns: int
    update_id: int


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def _write_config(workdir: Path, emu: BinanceEmulator, *, journal: bool, throttle: bool, max_orders: int) -> Path:
    config = {
        "bot": {"bot_id": "lat", "data_dir": str(workdir / "var"), "heartbeat_s": 1.0, "shutdown_timeout_s": 10,
                "on_shutdown": "keep"},
        "exchange": {
            "name": "binance",
            # ccxt's client-side throttle spaces requests rateLimit (50 ms for binance) apart: a rate policy,
            # not latency, so it is off here (a user keeps or tunes it through the same option).
            "ccxt_options": {**emu.ccxt_options(), "enableRateLimit": throttle},
            "request_timeout_s": 5,
        },
        "strategy": {"name": "latency_probe", "params": {}},
        "risk": {
            "max_open_orders": max_orders,
            "max_orders_per_minute": 1_000_000,
            "max_order_notional": 1000,
            "max_position_notional": 5000,
            "price_band_pct": 5,
            "max_data_age_s": 30,
        },
        "logging": {"level": "info", "format": "json"},
        "persistence": {"enabled": journal},
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    return path


def _order_posts(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in entries if e["method"] == "POST" and e["path"] == "/api/v3/order"]


async def _wait_for_order(emu: BinanceEmulator, after_seq: int, timeout_s: float) -> dict[str, object] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        posts = _order_posts(emu.requests_after(after_seq))
        if posts:
            return posts[0]
        await asyncio.sleep(_POLL_S)
    return None


async def _move_quote(emu: BinanceEmulator, i: int) -> tuple[int, int]:
    """Move the bid by a whole dollar (a new top every time); return (t0 ns, update id)."""
    bid = Decimal(60000 + i % 200)
    await emu.set_quote(SYMBOL, bid, bid + Decimal("0.01"), Decimal("0.5"), Decimal("0.5"))
    published_ns = time.monotonic_ns()
    market = emu.state()["markets"]
    assert isinstance(market, dict)
    return published_ns, int(market[SYMBOL]["update_id"])


async def run_once(
    *, journal: bool, throttle: bool, orders: int, warmup: int, gap_s: float, progress: bool
) -> dict[str, Any]:
    """Start an emulator and the bot, measure ``orders`` quote → order latencies; return the figures."""
    balances = {"USDT": Decimal(10_000_000), "BTC": Decimal(10)}
    config = EmulatorConfig(api_key=KEY, api_secret=SECRET, balances=balances, history_bars=30)
    with tempfile.TemporaryDirectory(prefix="live-latency-") as tmp:
        workdir = Path(tmp)
        async with BinanceEmulator(config) as emu:
            await emu.set_quote(SYMBOL, Decimal(60000), Decimal("60000.01"))
            cfg = _write_config(workdir, emu, journal=journal, throttle=throttle, max_orders=orders + warmup + 100)
            trace = workdir / "stamps.json"
            env = {**os.environ, "TRADING_BOT__EXCHANGE__API_KEY": KEY, "TRADING_BOT__EXCHANGE__SECRET": SECRET,
                   "LATENCY_TRACE_OUT": str(trace), "PYTHONPATH": str(ROOT)}
            with (workdir / "bot.log").open("wb") as log:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, str(ROOT / "bench" / "latency_bot.py"), "--config", str(cfg), "--json",
                    cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
                )
                try:
                    samples, missed, ready_orders = await _drive(emu, proc, orders + warmup, gap_s, progress)
                finally:
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
            if proc.returncode != 0:
                tail = (workdir / "bot.log").read_text()[-2000:]
                raise SystemExit(f"the bot exited {proc.returncode}:\n{tail}")
            stamps = json.loads(trace.read_text())
            summary = json.loads(out.decode()) if out.strip() else {}
    measured = samples[warmup:]
    return _figures(measured, stamps, ready_orders + warmup, missed, journal, summary)


async def _drive(
    emu: BinanceEmulator, proc: asyncio.subprocess.Process, count: int, gap_s: float, progress: bool
) -> tuple[list[Sample], int, int]:
    # Readiness: one quote every 0.5 s until the bot's first order arrives, then let it settle.
    i = 0
    seq = 0  # the request-log number of the last order POST seen
    while True:
        if proc.returncode is not None:
            raise SystemExit(f"the bot exited {proc.returncode} before it was ready")
        await _move_quote(emu, i)
        i += 1
        post = await _wait_for_order(emu, seq, 0.5)
        if post is not None:
            break
    await asyncio.sleep(1.0)
    ready = _order_posts(emu.requests_after(0))
    seq = cast(int, ready[-1]["seq"])
    samples: list[Sample] = []
    missed = 0
    for n in range(count):
        published_ns, update_id = await _move_quote(emu, i)
        i += 1
        post = await _wait_for_order(emu, seq, _ORDER_WAIT_S)
        if post is None:
            missed += 1
        else:
            seq = cast(int, post["seq"])
            samples.append(Sample(published_ns, cast(int, post["received_ns"]), update_id))
        await asyncio.sleep(gap_s)
        if progress and (n + 1) % 250 == 0:
            print(f"  {n + 1}/{count} orders", file=sys.stderr, flush=True)
    return samples, missed, len(ready)


def _figures(
    samples: list[Sample], stamps: dict[str, list[Any]], offset: int, missed: int, journal: bool,
    summary: dict[str, Any],
) -> dict[str, Any]:
    totals_us = [(s.received_ns - s.published_ns) / 1000 for s in samples]
    result: dict[str, Any] = {
        "journal": journal,
        "orders": len(samples),
        "missed": missed,
        "p50_us": round(_percentile(totals_us, 50), 1),
        "p90_us": round(_percentile(totals_us, 90), 1),
        "p99_us": round(_percentile(totals_us, 99), 1),
        "max_us": round(max(totals_us), 1),
        "mean_us": round(statistics.fmean(totals_us), 1),
        "bot_orders_denied": summary.get("orders", {}).get("denied") if isinstance(summary.get("orders"), dict)
        else None,
    }
    ws_by_update = {u: t for t, u in stamps["ws"]}
    per_stage: list[list[float]] = [[] for _ in STAGES]
    lists = [stamps[k] for k in ("strategy", "create_order", "sign_start", "sign_end", "fetch")]
    if missed == 0 and all(len(lst) == offset + len(samples) for lst in lists):
        for k, s in enumerate(samples):
            ws = ws_by_update.get(s.update_id)
            if ws is None:
                continue
            strat, create, sign0, sign1, _fetch = (lst[offset + k] for lst in lists)
            points = (s.published_ns, ws, strat, create, sign0, sign1, s.received_ns)
            for j in range(len(STAGES)):
                per_stage[j].append((points[j + 1] - points[j]) / 1000)
        result["stages"] = [
            {
                "stage": name,
                "what": what,
                "p50_us": round(_percentile(values, 50), 1),
                "p99_us": round(_percentile(values, 99), 1),
                "mean_us": round(statistics.fmean(values), 1),
            }
            for (name, what), values in zip(STAGES, per_stage, strict=True)
            if values
        ]
    else:
        result["stages"] = []
        result["stage_note"] = "stage stamps did not line up one per order; only end-to-end figures are given"
    return result


def _print(result: dict[str, Any]) -> None:
    label = "journal on" if result["journal"] else "journal off"
    print(f"\n{label}: {result['orders']} orders, {result['missed']} missed")
    print(f"  bookTicker → order request: p50 {result['p50_us'] / 1000:.3f} ms   p90 {result['p90_us'] / 1000:.3f} ms"
          f"   p99 {result['p99_us'] / 1000:.3f} ms   max {result['max_us'] / 1000:.3f} ms")
    if result["stages"]:
        print(f"  {'stage':<24} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}  what")
        for st in result["stages"]:
            print(f"  {st['stage']:<24} {st['p50_us']:>8.1f} {st['p99_us']:>8.1f} {st['mean_us']:>8.1f}  {st['what']}")
    else:
        print(f"  ({result.get('stage_note')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="measured orders per run (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="orders sent first and not measured (default 50)")
    parser.add_argument("--gap-ms", type=float, default=15.0, help="pause after each order arrives (default 15)")
    parser.add_argument("--journal", choices=("on", "off", "both"), default="both", help="journal setting(s) to run")
    parser.add_argument("--ccxt-throttle", action="store_true", help="keep ccxt's enableRateLimit on (adds its wait)")
    parser.add_argument("--json", action="store_true", help="print one JSON list of results instead of tables")
    args = parser.parse_args()
    if args.orders < 1 or args.warmup < 0 or args.gap_ms < 0:
        parser.error("--orders must be ≥ 1, --warmup and --gap-ms ≥ 0")
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.journal]
    configure_logging("warning", "console")  # the in-process emulator logs every order at info
    results = []
    for journal in settings:
        if not args.json:
            print(f"running {args.orders} + {args.warmup} warm-up orders, journal {'on' if journal else 'off'} …",
                  file=sys.stderr, flush=True)
        result = asyncio.run(
            run_once(
                journal=journal,
                throttle=args.ccxt_throttle,
                orders=args.orders,
                warmup=args.warmup,
                gap_s=args.gap_ms / 1000,
                progress=not args.json,
            )
        )
        results.append(result)
        if not args.json:
            _print(result)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
