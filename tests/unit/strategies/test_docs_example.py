"""The example strategy of docs/strategies.md runs as printed: a backtest on real 1m bars, decided on 5m bars."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")

_RUN = """
import asyncio, json, sys
from decimal import Decimal
from pathlib import Path
exec(compile(sys.stdin.read(), "docs/strategies.md", "exec"), {"__name__": "ema_cross_example"})
from trading_bot.backtest.engine import BacktestSpec, prepare_backtest
spec = BacktestSpec(strategy="ema_cross", params={"bar_timeframe": "5m"}, data=(Path(sys.argv[1]),),
                    symbol="FIL/USDT", end_ms=1_690_848_000_000 + 2_999 * 60_000, cash=Decimal(10_000))
result = asyncio.run(prepare_backtest(spec).run())
print(json.dumps({"fills": len(result.fills), "exit": result.exit_code, "events": result.events}))
"""


def test_the_documented_example_strategy_backtests_and_trades_on_5m_bars_built_from_1m_data() -> None:
    if not DATA.exists():
        pytest.skip(f"{DATA} not present")
    page = (ROOT / "docs" / "strategies.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.DOTALL)
    assert code is not None

    done = subprocess.run([sys.executable, "-c", _RUN, str(DATA)], input=code.group(1), capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["exit"] == 0
    assert outcome["events"] == 3_000
    assert outcome["fills"] > 0
