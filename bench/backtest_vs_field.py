#!/usr/bin/env python3
"""Our backtester against backtesting.py and backtrader on the same SMA(10)/SMA(20) crossover.

Long-only, all-in, enter and exit at the next bar's open, no fees, cash 10,000, fractional units. Ours
runs ``sma_cross --fraction 1`` through the full pipeline (supervisor → strategy → sizer → RiskManager
→ order manager → bar simulator) on a market whose lot step is 1e-8. The reference engines run in
their own venv (``bench/.venv-field``, created here: pip install backtesting backtrader pandas).

Datasets: (a) /work/shared/data/binance_FILUSDT_1m.csv.gz (175,680 bars); (b) 1,000,000 bars of a
seeded random walk (written once to bench/.cache). Trades are compared on entry/exit time and price.
Times exclude imports and data loading: ours is ``TradingBot.run()`` (plus metrics, shown apart),
backtesting.py ``Backtest.run()``, backtrader ``Cerebro.run()``.

With ``--whole``, each engine also runs as a whole process, the way a user runs it: interpreter start,
imports, loading the CSV, the run and its statistics (ours: ``runbot.py backtest ... --json``, which
prints every round trip; theirs: the same strategy in a script that loads the CSV with pandas and prints
its statistics). Each command runs once untimed (so every engine starts with its bytecode cache; the
bench clears ``PYTHONDONTWRITEBYTECODE`` for all of them), then ``--repeat`` times; wall time (min and
median) and peak RSS (``wait4``'s ``ru_maxrss``) per process.

    python bench/backtest_vs_field.py [--dataset fil|walk|both] [--profile] [--whole [--repeat N]]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIELD_VENV = ROOT / "bench" / ".venv-field"
CACHE = ROOT / "bench" / ".cache"
FIL = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
WALK_BARS = 1_000_000


# --------------------------------------------------------------------------- the reference engines
def field_worker(path: str, decimals: int, only: str | None = None) -> dict[str, Any]:
    """Run inside the field venv: both reference engines (or ``only`` one) on ``path``; print one JSON line.

    The averages are compared exactly, as ours are (``Decimal`` sums): both engines get the closes as
    integer ticks (``close × 10**decimals``), sum them over 10 and 20 bars (integer sums, exact in
    float64) and compare ``20 × sum10`` with ``10 × sum20``. With float SMAs, two averages that are
    equal on paper (common on 1m bars with 3-decimal prices) differ in the last bit and create crosses
    that do not exist. A cross is a change of side; an exact tie keeps the last side (backtrader's
    ``CrossOver`` rule). backtesting.py's ``crossover()`` needs a strict change over two bars and misses
    a cross that passes through a tie, so its strategy applies the same rule in ``next()``.
    """
    import numpy as np
    import pandas as pd

    df = pd.read_csv(path, usecols=["timestamp", "open", "high", "low", "close", "volume"])
    df.index = pd.to_datetime(df["timestamp"], unit="ms")
    df = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    df["Ticks"] = np.rint(df["Close"].to_numpy() * 10**decimals).astype(np.int64)
    out: dict[str, Any] = {}
    if only in (None, "backtesting"):
        out["backtesting"] = _run_backtesting_py(df)
    if only in (None, "backtrader"):
        out["backtrader"] = _run_backtrader(df)
    print(json.dumps(out))
    return out


def _run_backtesting_py(df: Any) -> dict[str, Any]:
    """backtesting.py's ``Backtest.run()`` (its statistics included) on ``df``; seconds and trades."""
    import numpy as np
    from backtesting import Backtest
    from backtesting import Strategy

    def side_of_averages(ticks: Any) -> Any:
        """Return sign(20 × sum10 − 10 × sum20) per bar, exact (integer arithmetic); NaN before bar 20."""
        total = np.concatenate(([0], np.cumsum(np.asarray(ticks, dtype=np.int64))))
        out = np.full(len(ticks), np.nan)
        fast = total[20:] - total[10:-10]
        slow = total[20:] - total[:-20]
        out[19:] = np.sign(fast * 20 - slow * 10)
        return out

    class SmaCross(Strategy):
        def init(self) -> None:
            self.side = self.I(side_of_averages, self.data.Ticks)
            self.last_side = 0.0

        def next(self) -> None:
            side = self.side[-1]
            if side != side or side == 0:  # NaN (warm-up) or a tie: the last side holds
                return
            crossed = self.last_side != 0 and side != self.last_side
            self.last_side = side
            if crossed and side > 0 and not self.position:
                self.buy()
            elif crossed and side < 0 and self.position:
                self.position.close()

    bt_scaled = df.copy()
    scale = 1e6  # backtesting.py trades whole units: price per micro-unit keeps sizes fractional
    bt_scaled[["Open", "High", "Low", "Close"]] = bt_scaled[["Open", "High", "Low", "Close"]] / scale
    test = Backtest(bt_scaled, SmaCross, cash=10_000, commission=0, finalize_trades=False)
    start = time.perf_counter()
    stats = test.run()
    return {
        "seconds": time.perf_counter() - start,
        "trades": [
            [int(t.EntryTime.value // 1_000_000), round(t.EntryPrice * scale, 8),
             int(t.ExitTime.value // 1_000_000), round(t.ExitPrice * scale, 8)]
            for t in stats["_trades"].itertuples()
        ],
        "statistics": str(stats),
    }  # fmt: skip


def _run_backtrader(df: Any) -> dict[str, Any]:
    """backtrader's ``Cerebro.run()`` on ``df``; seconds and trades."""
    import backtrader as bt

    class TickData(bt.feeds.PandasData):  # type: ignore[misc]
        lines = ("ticks",)
        params = (("ticks", "Ticks"),)

    class Cross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            fast = bt.ind.SumN(self.data.ticks, period=10)
            slow = bt.ind.SumN(self.data.ticks, period=20)
            self.cross = bt.ind.CrossOver(fast * 20, slow * 10)

        def next(self) -> None:
            if self.cross[0] > 0 and not self.position:
                # 2 % under the cash: backtrader refuses (Margin) a buy the next open cannot pay for,
                # where ours and backtesting.py buy what the cash covers.
                self.buy(size=self.broker.getcash() * 0.98 / self.data.close[0])
            elif self.cross[0] < 0 and self.position:
                self.close()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(TickData(dataname=df))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(10_000)
    cerebro.broker.set_checksubmit(False)
    exits: list[list[Any]] = []

    class Log(bt.Analyzer):  # type: ignore[misc]
        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                ts = int(bt.num2date(order.executed.dt).timestamp() * 1000)
                exits.append([ts, order.executed.price, order.isbuy()])

    cerebro.addanalyzer(Log)
    start = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - start
    trades, entry = [], None
    for ts, price, is_buy in exits:
        if is_buy:
            entry = [ts, round(price, 8)]
        elif entry is not None:
            trades.append([*entry, ts, round(price, 8)])
            entry = None
    return {"seconds": seconds, "trades": trades}


def ensure_field_venv() -> Path:
    """Create bench/.venv-field with the reference engines if it is missing; return its python."""
    python = FIELD_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FIELD_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "backtesting", "backtrader", "pandas"], check=True)
    return python


# --------------------------------------------------------------------------- ours
def random_walk(path: Path, bars: int = WALK_BARS, seed: int = 42) -> Path:
    """Write a seeded random walk of 1m bars (prices with 2 decimals, opens = previous close)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    price, ts = 10_000, 1_600_000_000_000  # in cents
    lines = ["timestamp,open,high,low,close,volume"]
    for _ in range(bars):
        o = price
        c = max(100, o + round(rng.gauss(0, 12)))
        h = max(o, c) + abs(round(rng.gauss(0, 5)))
        low = max(1, min(o, c) - abs(round(rng.gauss(0, 5))))
        lines.append(f"{ts},{o / 100:.2f},{h / 100:.2f},{low / 100:.2f},{c / 100:.2f},1")
        price, ts = c, ts + 60_000
    path.write_text("\n".join(lines) + "\n")
    return path


def run_ours(path: Path, symbol: str, profile: bool) -> dict[str, Any]:
    """Run sma_cross through the full pipeline; return timings and trades."""
    import asyncio
    import cProfile
    import io
    import pstats

    from exchanges.recorded import synthetic_market
    from trading_bot.backtest.engine import BacktestSpec
    from trading_bot.backtest.engine import prepare_backtest
    from trading_bot.log import configure_logging

    configure_logging("error", "json")
    market = synthetic_market(symbol, 3 if "FIL" in symbol else 2, Decimal(0))
    spec = BacktestSpec(strategy="sma_cross", params={"fast": 10, "slow": 20, "fraction": "1"}, data=(path,),
                        symbol=symbol, fee=Decimal(0), market=market)  # fmt: skip
    start = time.perf_counter()
    prepared = prepare_backtest(spec)
    load = time.perf_counter() - start
    profiler = cProfile.Profile() if profile else None
    out: list[Any] = []

    async def main() -> None:
        if profiler is not None:
            profiler.enable()
        out.append(await prepared.run())
        if profiler is not None:
            profiler.disable()

    start = time.perf_counter()
    asyncio.run(main())
    total = time.perf_counter() - start
    result = out[0]
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
        print(text.getvalue())
    trades = [[t.entry_ts, float(t.entry_price), t.exit_ts, float(t.exit_price)] for t in result.round_trips]
    return {"seconds": result.run_seconds, "with_metrics": total, "load": load, "bars": result.events,
            "trades": trades, "fingerprint": result.fingerprint}  # fmt: skip


def compare(ours: list[list[Any]], theirs: list[list[Any]]) -> str:
    """Return ``identical`` or a description of the first difference."""
    if ours == theirs:
        return "identical"
    n = min(len(ours), len(theirs))
    for i in range(n):
        if ours[i] != theirs[i]:
            return f"{len(ours)} vs {len(theirs)} trades; first difference at #{i}: ours {ours[i]} theirs {theirs[i]}"
    return f"{len(ours)} vs {len(theirs)} trades; the first {n} are identical"


def bench(name: str, path: Path, symbol: str, profile: bool) -> None:
    """Run the three engines on one dataset and print the table."""
    python = ensure_field_venv()
    ours = run_ours(path, symbol, profile)
    decimals = 3 if "FIL" in symbol else 2
    proc = subprocess.run([str(python), __file__, "--field-worker", str(path), str(decimals)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    field = json.loads(proc.stdout.strip().splitlines()[-1])
    bars = ours["bars"]
    print(f"\n## {name}: {bars:,} bars  (ours: load {ours['load']:.2f} s, run + metrics {ours['with_metrics']:.2f} s)")
    print(f"{'engine':<16}{'run s':>9}{'bars/s':>12}{'ours ×':>9}  trades  vs ours")
    print(f"{'ours (pipeline)':<16}{ours['seconds']:>9.2f}{bars / ours['seconds']:>12,.0f}{'1.00':>9}  "
          f"{len(ours['trades']):>6}  fingerprint {ours['fingerprint'][:16]}")  # fmt: skip
    for engine in ("backtesting", "backtrader"):
        seconds = field[engine]["seconds"]
        ratio = seconds / ours["seconds"]
        verdict = compare(ours["trades"], field[engine]["trades"])
        print(f"{engine:<16}{seconds:>9.2f}{bars / seconds:>12,.0f}{ratio:>9.2f}  "
              f"{len(field[engine]['trades']):>6}  {verdict}")  # fmt: skip


def _timed(command: list[str]) -> tuple[float, int, str]:
    """Run ``command`` with the bytecode cache allowed; return its wall seconds, peak RSS (MB) and stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KB on Linux)
    seconds = time.perf_counter() - start
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... exited {proc.returncode}")
    return seconds, usage.ru_maxrss // 1024, stdout.decode()


def whole_process(name: str, path: Path, symbol: str, repeat: int) -> None:
    """Time each engine as a whole process (module docstring) and print the table."""
    python = ensure_field_venv()
    decimals = 3 if "FIL" in symbol else 2
    tick = f"{Decimal(1).scaleb(-decimals)}"
    ours = [sys.executable, str(ROOT / "runbot.py"), "backtest", "--strategy", "sma_cross", "--data", str(path),
            "--symbol", symbol, "--fast", "10", "--slow", "20", "--fraction", "1", "--fee", "0",
            "--tick-size", tick, "--lot-step", "0.00000001", "--json"]  # fmt: skip
    engines = {"ours": ours}
    for engine in ("backtesting", "backtrader"):
        engines[engine] = [str(python), __file__, "--field-worker", str(path), str(decimals), engine]
    rows: dict[str, tuple[list[float], int, int]] = {}
    for engine, command in engines.items():
        _timed(command)  # untimed: writes the bytecode cache
        walls, peak, trades = [], 0, 0
        for _ in range(repeat):
            seconds, rss, stdout = _timed(command)
            walls.append(seconds)
            peak = max(peak, rss)
            data = json.loads(stdout.strip().splitlines()[-1])
            trades = len(data["trades"] if engine == "ours" else data[engine]["trades"])
        rows[engine] = (walls, peak, trades)
    base = statistics.median(rows["ours"][0])
    print(f"\n## {name}: whole process, {repeat} runs each")
    print(f"{'engine':<16}{'min s':>8}{'median s':>10}{'ours ×':>9}{'peak MB':>9}  trades")
    for engine, (walls, peak, trades) in rows.items():
        median = statistics.median(walls)
        print(f"{engine:<16}{min(walls):>8.2f}{median:>10.2f}{median / base:>9.2f}{peak:>9}  {trades:>6}")


def main() -> None:
    """Parse the arguments and run the benchmark."""
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--field-worker":  # in the field venv: stdlib imports only
        field_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None)
        return
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=("fil", "walk", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="print our top functions by own time")
    parser.add_argument("--whole", action="store_true", help="also time each engine as a whole process")
    parser.add_argument("--repeat", type=int, default=3, help="--whole: timed runs per engine (default 3)")
    args = parser.parse_args()
    datasets = []
    if args.dataset in ("fil", "both"):
        datasets.append(("(a) Binance FIL/USDT 1m", FIL, "FIL/USDT"))
    if args.dataset in ("walk", "both"):
        datasets.append(("(b) random walk", random_walk(CACHE / "walk_1m.csv"), "RW/USD"))
    for name, path, symbol in datasets:
        bench(name, path, symbol, args.profile)
        if args.whole:
            whole_process(name, path, symbol, max(1, args.repeat))


if __name__ == "__main__":
    main()
