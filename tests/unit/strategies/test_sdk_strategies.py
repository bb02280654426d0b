"""The five SDK strategies backtested through the real engine on real FIL/USDT 1m bars.

Each run must trade and be deterministic: the same data and params give the same trade fingerprint,
run after run (pinned here, so a change of a strategy's rules shows as a changed fingerprint).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import cast

import pytest

from strategies import STRATEGIES
from strategies.base import BaseStrategy
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest

DATA = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
START_MS = 1_690_848_000_000
BARS = 5_000

CASES: dict[str, tuple[dict[str, Any], int, str]] = {
    "momentum": ({"lookback": 20, "threshold": "0.005"}, 15,
                 "9c1c4fd1f9ed2edc86031b306e66ac7d04d09396128dc7be28d38ab0e5e0a31f"),
    "rsi_reversion": ({}, 31, "b9de0e49604c1d53deb6b315a4130fcc64cbb96d0668bc4626b19172be07d2a8"),
    "macd_trend": ({}, 439, "23901955e9e600cf2b8804265b5ce9d3cf2a4efb7063706fa6449fce79ab0b2b"),
    "bollinger_breakout": ({}, 180, "a8a94fbc753ef35cee96ac3bc51f703d8b848386ae0c95827933e92010f0c27b"),
    "dca": ({"interval_bars": 120, "amount": "500", "take_profit": "0.01"}, 35,
            "b09bcad2f8817945f33b46baa93e7c8b11bcd581aab84c548a2b6c986c4d3b3b"),
}  # fmt: skip


def _spec(name: str, params: dict[str, Any]) -> BacktestSpec:
    if not DATA.exists():
        pytest.skip(f"{DATA} not present")
    return BacktestSpec(strategy=name, params=params, data=(DATA,), symbol="FIL/USDT",
                        end_ms=START_MS + (BARS - 1) * 60_000, cash=Decimal(10_000))  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_backtest_on_real_bars_trades_and_is_deterministic(name: str) -> None:
    params, fills, fingerprint = CASES[name]

    first = await prepare_backtest(_spec(name, params)).run()
    second = await prepare_backtest(_spec(name, params)).run()

    assert first.exit_code == 0
    assert first.events == BARS
    assert len(first.fills) == fills
    assert first.round_trips  # it entered and exited
    assert first.fingerprint == second.fingerprint == fingerprint
    assert first.warnings == ()  # no order denied, none refused by the simulator


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_sdk_strategy_is_registered_with_search_ranges_and_stated_rules(name: str) -> None:
    cls = cast("type[BaseStrategy[Any]]", STRATEGIES.get(name))
    assert cls.__module__.startswith("strategies.")
    assert "Rules" in (__import__(cls.__module__, fromlist=["_"]).__doc__ or "")
    ranged = [f for f in cls.Params.model_fields.values()
              if isinstance(f.json_schema_extra, dict) and "search" in f.json_schema_extra]  # fmt: skip
    assert ranged, f"{name} declares no search range"
