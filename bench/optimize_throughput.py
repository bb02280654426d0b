"""Trials per minute of ``runbot.py optimize`` on FIL/USDT 1m (175,680 bars), sma_cross, 100 trials, --jobs 1 and 2.

Runs the real command as a subprocess (``--json``) and prints, per job count: wall time, trials/minute, and where
the time went (data load in the parent and once per worker, engine, metrics, building the run, Optuna ask/tell),
then the parallel efficiency (trials/minute at 2 jobs over 1 job). Also prints the load average before and
after, since the machine may be shared. Not part of the test suite.

    .venv/bin/python bench/optimize_throughput.py [--trials 100] [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")


def run(jobs: int, trials: int, data: Path) -> dict[str, float]:
    cmd = [sys.executable, str(ROOT / "runbot.py"), "optimize", "--strategy", "sma_cross", "--data", str(data),
           "--space", "fast=5:50", "--space", "slow=20:200:5", "--fix", "fraction=1", "--min-trades", "0",
           "--trials", str(trials), "--jobs", str(jobs), "--seed", "1", "--json"]  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - started
    timing = json.loads(out.stdout)["timing"]
    timing["process_wall"] = wall
    return timing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()}")
    rates: dict[int, float] = {}
    backtest_rates: dict[int, float] = {}
    for jobs in (1, 2):
        t = run(jobs, args.trials, args.data)
        rate = t["trials"] / t["process_wall"] * 60
        rates[jobs] = rate
        backtest_rates[jobs] = t["backtests"] / t["process_wall"] * 60
        print(f"--jobs {jobs}: {t['trials']:.0f} trials ({t['backtests']:.0f} backtests run; repeated points are "
              f"not rerun) in {t['process_wall']:.1f} s (loop {t['wall']:.1f} s) = "
              f"{rate:.1f} trials/min, {t['backtests'] / t['process_wall'] * 60:.1f} backtests/min; "
              f"summed over workers: engine {t['engine']:.1f} s, metrics {t['metrics']:.1f} s, "
              f"build {t['prepare']:.1f} s, data load parent {t['data_load_parent']:.2f} s + workers "
              f"{t['data_load_workers']:.2f} s; Optuna (parent) {t['optuna']:.2f} s; load average {os.getloadavg()}")
    print(f"parallel efficiency at 2 jobs: {rates[2] / rates[1]:.2f}x trials/min, "
          f"{backtest_rates[2] / backtest_rates[1]:.2f}x backtests/min")


if __name__ == "__main__":
    main()
