#!/usr/bin/env python3
"""Simulator footprint: peak RSS of a bar backtest, and µs per simulated order round trip.

Two measurements, each for one or more source trees side by side in one run (``--tree DIR``, repeatable;
default: this checkout). Each tree runs in its own subprocess with ``PYTHONPATH=DIR``, so a second tree
(e.g. ``git archive <commit> | tar -x -C /tmp/base``) is measured against this one on the same machine
and load.

(a) **Peak RSS**: ``runbot.py backtest --strategy sma_cross --fast 10 --slow 20 --fraction 1`` on
    /work/shared/data/binance_FILUSDT_1m.csv.gz (175,680 bars) and on the 1,000,000-bar seeded random walk
    of ``bench/backtest_vs_field.py`` (same builder, cached in bench/.cache). One process per case; its
    peak resident set comes from ``os.wait4`` (``ru_maxrss``, KiB on Linux), MB = 10**6 bytes.

(b) **µs per order**: the ``churn`` strategy below places one market order whenever it has none open
    (buy, then sell the same quantity, ...), so every event carries an order through the RiskManager →
    order manager → simulator → portfolio → strategy event. The same run with ``--no-orders`` (the
    strategy sees every event and returns nothing) is the baseline; µs/order = (run with orders − run
    without) / fills, best of ``--repeat`` runs each (``BacktestResult.run_seconds``: the bot's run only,
    no loading, no metrics). Bar simulator: the first 30,000 FIL/USDT bars; tick simulator (paper
    matching engine, as ``--replay``): the first 2 minutes of the bundled BTC/USDT quotes + trades.
    At most one order per market event (not again on the passes that follow its order events).

    python bench/sim_footprint.py [--tree DIR ...] [--only rss|orders] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIL = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
TICKS = (
    ROOT / "trading_bot" / "sample_data" / "binance_BTCUSDT_quotes_2024-08-08.csv.gz",
    ROOT / "trading_bot" / "sample_data" / "binance_BTCUSDT_trades_2024-08-08.csv.gz",
)
ORDER_BARS = 30_000


# --------------------------------------------------------------------------- worker (runs inside one tree)
def orders_worker(repeat: int) -> None:
    """Time the churn strategy with and without orders on both simulators; print one JSON line."""
    import asyncio
    from decimal import Decimal

    from strategies import STRATEGIES
    from strategies.base import BaseStrategy
    from strategies.base import StrategyParams
    from trading_bot.backtest.engine import BacktestSpec
    from trading_bot.backtest.engine import prepare_backtest
    from trading_bot.domain import MarketData
    from trading_bot.domain import OrderParams
    from trading_bot.domain import OrderSide
    from trading_bot.domain import OrderType
    from trading_bot.domain import StrategyResult
    from trading_bot.log import configure_logging

    class ChurnParams(StrategyParams):
        quantity: Decimal
        orders: bool = True

    @STRATEGIES.register("churn")
    class Churn(BaseStrategy[ChurnParams]):
        """One market order whenever none is open: buy when flat, else sell, ``quantity`` each."""

        name = "churn"
        Params = ChurnParams
        _last: MarketData | None = None

        def execute_strategy(self, market_data: MarketData) -> StrategyResult:
            ctx = self.ctx
            if not self.params.orders or market_data is self._last or ctx.open_orders():
                return StrategyResult.nothing()
            self._last = market_data
            side = OrderSide.BUY if ctx.position.is_flat else OrderSide.SELL
            order = OrderParams(side=side, quantity=self.params.quantity, order_type=OrderType.MARKET)
            return StrategyResult.place(order)

    import trading_bot

    configure_logging("error", "json")
    first_ts = 1690848000000
    cases = {
        "bars": {"data": (FIL,), "symbol": "FIL/USDT", "quantity": "2", "end_ms": first_ts + (ORDER_BARS - 1) * 60_000},
        "ticks": {"data": TICKS, "symbol": "BTC/USDT", "quantity": "0.001", "end_ms": 1723161254087 + 120_000},
    }
    out: dict[str, Any] = {"_tree": str(Path(trading_bot.__file__).resolve().parents[1])}
    for name, case in cases.items():
        best: dict[bool, tuple[float, int, int]] = {}
        for _ in range(repeat):
            for orders in (False, True):
                spec = BacktestSpec(
                    strategy="churn",
                    params={"quantity": case["quantity"], "orders": orders},
                    data=tuple(Path(p) for p in case["data"]),
                    symbol=case["symbol"],
                    fee=Decimal(0),
                    cash=Decimal(1_000_000),
                    end_ms=case["end_ms"],
                )
                result = asyncio.run(prepare_backtest(spec).run())
                row = (result.run_seconds, len(result.fills), result.events)
                if orders not in best or row[0] < best[orders][0]:
                    best[orders] = row
        (t0, _, events), (t1, fills, _) = best[False], best[True]
        out[name] = {"events": events, "fills": fills, "base_s": t0, "orders_s": t1,
                     "us_per_order": (t1 - t0) / max(fills, 1) * 1e6}  # fmt: skip
    print(json.dumps(out))


# --------------------------------------------------------------------------- driver
def random_walk() -> Path:
    """The 1M-bar walk of bench/backtest_vs_field.py (built once, cached)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from backtest_vs_field import CACHE
    from backtest_vs_field import random_walk as build

    return build(CACHE / "walk_1m.csv")


def peak_rss_mb(tree: Path, data: Path, symbol: str) -> tuple[float, float]:
    """Run one backtest in its own process; return (peak RSS in MB, wall seconds)."""
    cmd = [sys.executable, str(tree / "runbot.py"), "backtest", "--strategy", "sma_cross", "--data", str(data),
           "--symbol", symbol, "--fast", "10", "--slow", "20", "--fraction", "1", "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: the progress lines would fill a pipe and block
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=tree)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            err.seek(0)
            raise SystemExit(f"{tree}: backtest failed ({status}): {err.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1000 * 1.024, wall


def main() -> None:
    """Parse the arguments, run the cases per tree, print the tables."""
    if len(sys.argv) == 3 and sys.argv[1] == "--orders-worker":
        orders_worker(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, action="append", help="source tree to measure (repeatable)")
    parser.add_argument("--only", choices=("rss", "orders"))
    parser.add_argument("--repeat", type=int, default=3, help="orders: runs per case, best kept")
    args = parser.parse_args()
    trees: list[Path] = [t.resolve() for t in (args.tree or [ROOT])]
    if args.only in (None, "orders"):
        print("## µs per simulated order (best of", args.repeat, "runs; with orders − without, per fill)")
        print(f"{'tree':<28}{'sim':<7}{'events':>8}{'fills':>8}{'base s':>9}{'orders s':>10}{'µs/order':>10}")
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": str(tree)}
            cmd = [sys.executable, __file__, "--orders-worker", str(args.repeat)]
            proc = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            rows = json.loads(proc.stdout.strip().splitlines()[-1])
            if rows.pop("_tree") != str(tree):
                raise SystemExit(f"{tree}: the worker imported another tree's trading_bot; check PYTHONPATH")
            for sim, row in rows.items():
                print(f"{str(tree)[-28:]:<28}{sim:<7}{row['events']:>8,}{row['fills']:>8,}{row['base_s']:>9.2f}"
                      f"{row['orders_s']:>10.2f}{row['us_per_order']:>10.1f}")  # fmt: skip
    if args.only in (None, "rss"):
        walk = random_walk()
        print("\n## peak RSS of runbot.py backtest (sma_cross 10/20, fraction 1)")
        print(f"{'tree':<28}{'data':<18}{'peak MB':>9}{'wall s':>8}")
        for tree in trees:
            for label, data, symbol in (("FIL 175,680 bars", FIL, "FIL/USDT"), ("walk 1,000,000", walk, "BTC/USDT")):
                mb, wall = peak_rss_mb(tree, data, symbol)
                print(f"{str(tree)[-28:]:<28}{label:<18}{mb:>9.0f}{wall:>8.1f}")


if __name__ == "__main__":
    main()
