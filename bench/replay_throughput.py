#!/usr/bin/env python3
"""Replay throughput: market events per second through the whole pipeline at --speed max.

Runs the bundled 11 minutes of Binance BTC/USDT quotes + trades (93,078 events) through the real
supervisor, RiskManager, order manager and paper matching engine, exactly as ``runbot.py --replay``
does, several times, and prints the median. ``--profile`` prints the top functions by own time.

    python bench/replay_throughput.py [--strategy sma_cross|grid] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_bot.config import load_config  # noqa: E402
from trading_bot.log import configure_logging  # noqa: E402
from trading_bot.runtime.builder import BotPlan  # noqa: E402
from trading_bot.runtime.builder import build_bot  # noqa: E402

DATA = ROOT / "trading_bot" / "sample_data"
FILES = (DATA / "binance_BTCUSDT_quotes_2024-08-08.csv.gz", DATA / "binance_BTCUSDT_trades_2024-08-08.csv.gz")
PARAMS: dict[str, dict[str, Any]] = {
    "sma_cross": {"fast": 3, "slow": 8, "bar_seconds": 5, "quantity": "0.01"},
    "grid": {"quantity": "0.001", "take_profit": "0.02", "max_orders": 10, "wait_time": 35},
}


def run_once(strategy: str) -> dict[str, Any]:
    """Run one replay and return its summary."""
    config = load_config(None, overrides={"strategy": {"name": strategy, "params": PARAMS[strategy]}}, dotenv=None)
    bot = build_bot(config, BotPlan(paper=True, replay=FILES, speed=None))
    result = asyncio.run(bot.run())
    return result.summary


def main() -> None:
    """Parse arguments, run the benchmark, print a table row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strategy", default="sma_cross", choices=sorted(PARAMS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    configure_logging("error", "json")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_once(args.strategy)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
        return
    rates, walls = [], []
    summary: dict[str, Any] = {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        summary = run_once(args.strategy)
        wall = time.perf_counter() - start
        walls.append(wall)
        rates.append(summary["market_events"] / wall)
    events, fills = summary["market_events"], summary.get("fills")
    print(f"strategy={args.strategy} events={events} fills={fills} repeat={args.repeat}")
    print(f"median wall {statistics.median(walls):.3f} s   median {statistics.median(rates):,.0f} events/s "
          f"(best {max(rates):,.0f})")


if __name__ == "__main__":
    main()
