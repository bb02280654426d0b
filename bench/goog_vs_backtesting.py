#!/usr/bin/env python3
"""Our backtest against backtesting.py 0.6.6 on its own GOOG daily data, trade for trade.

backtesting.py runs in its own venv (``bench/.venv-backtesting``, created here: ``pip install
backtesting==0.6.6``); the project does not depend on it. Its bundled ``backtesting/test/GOOG.csv``
(2004-08-19 .. 2013-03-01, 2,148 weekday bars) is converted to our bar format (``timestamp`` = the
bar's open, epoch ms UTC of the date's midnight, ``open,high,low,close,volume``).

The two runs:

* backtesting.py: ``SmaCross`` with ``SMA(close, 10)`` and ``SMA(close, 20)``; ``buy()`` (default size:
  all of the available margin, ``(1 - eps)``) on ``crossover(sma10, sma20)``, ``position.close()`` on
  ``crossover(sma20, sma10)``; ``Backtest(cash=10_000, commission=0.002)``, orders fill at the next
  bar's open (``trade_on_close=False``). It sizes a relative ``buy()`` **at the fill**:
  ``int(margin_available × size // (open × (1 + commission)))`` whole shares, and charges the
  commission on entry and on exit (``price × shares × 0.002``).
* ours: ``runbot.py backtest --strategy sma_cross --data goog.csv --symbol GOOG/USD --tick-size 0.01
  --lot-step 1 --fee 0.002 --cash 10000 --fast 10 --slow 20 --fraction 1 --json``: the entry is a
  market order with ``quote_quantity`` = equity, sized at the next open as
  ``lot-step-floor(amount / (open × (1 + fee)))`` (``OrderParams.quote_quantity``), the fee charged
  on every fill.

Compared: entry and exit time (bar open, ms), size, entry and exit price, and the final equity (to the
cent). Exit code 1 on any mismatch.

    .venv/bin/python bench/goog_vs_backtesting.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / ".venv-backtesting"
VERSION = "0.6.6"
CENT = Decimal("0.01")

_REFERENCE = r"""
import json, sys, warnings
from pathlib import Path
import pandas as pd
import backtesting
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG, SMA

out, long_short = Path(sys.argv[1]), sys.argv[2] == "long-short"
frame = GOOG.copy()
EPOCH, MS = pd.Timestamp("1970-01-01"), pd.Timedelta(milliseconds=1)
ms = [int((t - EPOCH) // MS) for t in frame.index]
with out.open("w") as f:
    f.write("timestamp,open,high,low,close,volume\n")
    for t, row in zip(ms, frame.itertuples(index=False)):
        f.write(f"{t},{row.Open!r},{row.High!r},{row.Low!r},{row.Close!r},{int(row.Volume)}\n")


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()
        elif crossover(self.sma2, self.sma1):
            if long_short:
                self.sell()
            else:
                self.position.close()


warnings.simplefilter("ignore")
stats = Backtest(GOOG, SmaCross, cash=10_000, commission=0.002, exclusive_orders=long_short).run()
utc = lambda t: int((pd.Timestamp(t) - EPOCH) // MS)
trades = [
    {"entry_ts": utc(r.EntryTime), "exit_ts": utc(r.ExitTime), "side": "buy" if r.Size > 0 else "sell",
     "quantity": abs(int(r.Size)),
     "entry_price": repr(float(r.EntryPrice)), "exit_price": repr(float(r.ExitPrice))}
    for r in stats["_trades"].itertuples()
]
print(json.dumps({"version": backtesting.__version__, "trades": trades,
                  "final_equity": repr(float(stats["Equity Final [$]"])), "bars": len(GOOG)}))
"""


def _venv_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"backtesting=={VERSION}"], check=True)
    return python


def _ours(data: Path, long_short: bool) -> dict[str, object]:
    args = [sys.executable, str(ROOT / "runbot.py"), "backtest", "--strategy", "sma_cross", "--data", str(data),
            "--symbol", "GOOG/USD", "--tick-size", "0.01", "--lot-step", "1", "--fee", "0.002", "--cash", "10000",
            "--fast", "10", "--slow", "20", "--fraction", "1", "--json"]  # fmt: skip
    if long_short:
        args[args.index("GOOG/USD")] = "GOOG/USD:USD"
        args += ["--leverage", "1", "--maintenance-rate", "0", "--long-only", "false"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"runbot.py backtest failed ({proc.returncode}): {proc.stderr.strip()}")
    document: dict[str, object] = json.loads(proc.stdout)
    return document


def _final_equity(document: dict[str, object]) -> Decimal:
    """The last equity point (``metrics.end_equity``): cash + shares × the last close, quote currency."""
    metrics = document["metrics"]
    assert isinstance(metrics, dict)
    return Decimal(str(metrics["end_equity"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write goog.csv here instead of a temporary directory")
    parser.add_argument("--long-short", action="store_true",
                        help="backtesting.py's README SmaCross (buy()/sell(), exclusive_orders) against ours "
                             "long/short on GOOG/USD:USD as a 1x swap")  # fmt: skip
    args = parser.parse_args()
    mode = "long-short" if args.long_short else "long"
    python = _venv_python()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "goog.csv"
        ref_proc = subprocess.run([str(python), "-c", _REFERENCE, str(data), mode], capture_output=True, text=True,
                                  check=True)  # fmt: skip
        ref = json.loads(ref_proc.stdout)
        ours = _ours(data, args.long_short)
    their_trades = ref["trades"]
    our_trades = ours["trades"]
    assert isinstance(our_trades, list)
    print(f"backtesting.py {ref['version']} vs runbot.py backtest on GOOG ({ref['bars']} daily bars, {mode})")
    header = f"{'#':>3} {'entry':>10} {'exit':>10} {'side':>4} {'size':>11} {'entry price':>21} {'exit price':>21}  ok"
    print(header)
    mismatches = 0
    for k in range(max(len(their_trades), len(our_trades))):
        theirs = their_trades[k] if k < len(their_trades) else None
        mine = our_trades[k] if k < len(our_trades) else None
        same = (
            theirs is not None
            and mine is not None
            and theirs["entry_ts"] == mine["entry_ts"]
            and theirs["exit_ts"] == mine["exit_ts"]
            and theirs["side"] == mine["side"]
            and Decimal(theirs["quantity"]) == Decimal(mine["quantity"])
            and Decimal(theirs["entry_price"]).quantize(CENT) == Decimal(mine["entry_price"]).quantize(CENT)
            and Decimal(theirs["exit_price"]).quantize(CENT) == Decimal(mine["exit_price"]).quantize(CENT)
        )
        mismatches += not same
        for who, t in (("bt.py", theirs), ("ours", mine)):
            if t is None:
                print(f"{k:>3} {who}: (no trade)")
                continue
            print(f"{k:>3} {_day(t['entry_ts']):>10} {_day(t['exit_ts']):>10} {t['side']:>4} {t['quantity']:>5}"
                  f" ({who:>5})"
                  f" {t['entry_price']:>21} {t['exit_price']:>21}  {'yes' if same else 'NO'}")  # fmt: skip
    their_equity = Decimal(ref["final_equity"])
    our_equity = _final_equity(ours)
    equity_same = their_equity.quantize(CENT) == our_equity.quantize(CENT)
    print(f"trades: backtesting.py {len(their_trades)}, ours {len(our_trades)}, mismatched {mismatches}")
    print(f"final equity: backtesting.py {their_equity:.2f}, ours {our_equity:.2f} "
          f"({'same to the cent' if equity_same else f'differ by {our_equity - their_equity:.2f}'})")  # fmt: skip
    return 0 if mismatches == 0 and equity_same else 1


def _day(ts_ms: object) -> str:
    from datetime import UTC
    from datetime import datetime

    return datetime.fromtimestamp(int(str(ts_ms)) / 1000, UTC).strftime("%Y-%m-%d")


if __name__ == "__main__":
    sys.exit(main())
