"""Backtest run time with declared indicators computed over the whole series at once, and bar by bar.

    python bench/indicator_precompute.py [--data FILE] [--repeat 3] [--strategy NAME ...]

For each SDK strategy (defaults: the four that declare an indicator), runs the same in-process backtest
``--repeat`` times with the precomputation (the venue's ``bars_ahead``, as every backtest does) and with
it switched off (``bars_ahead`` answering ``None``, as live), alternating, and prints the median
``run_seconds`` (the bot run: no data loading, no metrics) of each and their ratio. Both must give the same
trade fingerprint; the script stops with exit code 1 if they do not. Default data: FIL/USDT 1m (175,680 bars).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchanges.backtest import BarExchange
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest
from trading_bot.log import configure_logging

FIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_FILUSDT_1m.csv.gz"
STRATEGIES = ("macd_trend", "rsi_reversion", "bollinger_breakout", "momentum")
_ORIGINAL = BarExchange.bars_ahead


def _run(strategy: str, data: Path, precompute: bool) -> tuple[float, str, int]:
    BarExchange.bars_ahead = _ORIGINAL if precompute else (lambda self, symbol: None)  # type: ignore[method-assign]
    spec = BacktestSpec(strategy=strategy, params={}, data=(data,), symbol="FIL/USDT")
    result: Any = asyncio.run(prepare_backtest(spec).run())
    return float(result.run_seconds), str(result.fingerprint), len(result.fills)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=FIL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategy", action="append", default=None)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"error: {args.data} not found (--data FILE)", file=sys.stderr)
        return 2
    repeat = max(1, args.repeat)
    configure_logging("error", "json")  # as runbot.py backtest (warning) without the denied-order lines
    print(f"data: {args.data.name}; {repeat} run(s) each, alternating; median run_seconds")
    print(f"{'strategy':<20} {'fills':>7} {'bar by bar':>11} {'precomputed':>12} {'ratio':>7}")
    for strategy in args.strategy or STRATEGIES:
        times: dict[bool, list[float]] = {True: [], False: []}
        prints: set[str] = set()
        fills = 0
        for _ in range(repeat):
            for precompute in (False, True):
                seconds, fingerprint, fills = _run(strategy, args.data, precompute)
                times[precompute].append(seconds)
                prints.add(fingerprint)
        if len(prints) != 1:
            print(f"error: {strategy}: the two modes traded differently", file=sys.stderr)
            return 1
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"{strategy:<20} {fills:>7,} {off:>10.2f}s {on:>11.2f}s {on / off:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
