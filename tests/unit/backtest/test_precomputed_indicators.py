"""A backtest computes declared indicators over the whole series at once; the trades are the bar-by-bar ones.

Rule guarded (``strategies.lib.declared``, ``trading_bot.runtime.bars``): when the venue knows its bars in
advance (``bars_ahead``), the declared indicators on the data's timeframe are precomputed, and a backtest
gives exactly the trades of the same backtest computing them incrementally (``bars_ahead`` answering
``None``, as live). Real data: FIL/USDT 1m, ten days (14,400 bars), each SDK strategy at its defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exchanges.backtest import BarExchange
from strategies import STRATEGIES
from strategies.lib import RSI
from strategies.rsi_reversion import RsiReversionStrategy
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest
from trading_bot.errors import ConfigError

FIL = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
START_MS = 1_690_848_000_000  # 2023-08-01
END_MS = START_MS + 10 * 86_400_000 - 60_000


async def _run(strategy: str, params: dict[str, Any]) -> Any:
    spec = BacktestSpec(strategy=strategy, params=params, data=(FIL,), symbol="FIL/USDT", start_ms=START_MS,
                        end_ms=END_MS)  # fmt: skip
    return await prepare_backtest(spec).run()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("macd_trend", {}),
        ("rsi_reversion", {"period": 6}),
        ("bollinger_breakout", {"period": 10, "k": 1.5}),
        ("momentum", {"lookback": 10, "threshold": "0.002"}),
    ],
)
async def test_precomputed_indicators_give_the_incremental_trades(
    monkeypatch: pytest.MonkeyPatch, strategy: str, params: dict[str, Any]
) -> None:
    if not FIL.exists():
        pytest.skip(f"{FIL} not present")
    asked: list[int] = []
    original = BarExchange.bars_ahead

    def spy(self: BarExchange, symbol: Any) -> Any:
        ahead = original(self, symbol)
        asked.append(len(ahead[0]) if ahead else 0)
        return ahead

    monkeypatch.setattr(BarExchange, "bars_ahead", spy)
    precomputed = await _run(strategy, params)
    assert asked == [14_400]
    monkeypatch.setattr(BarExchange, "bars_ahead", lambda self, symbol: None)
    incremental = await _run(strategy, params)

    assert len(precomputed.fills) == len(incremental.fills) > 10
    assert precomputed.fingerprint == incremental.fingerprint


class _DeclaresOnAnotherTimeframe(RsiReversionStrategy):
    name = "rsi_on_5m_without_5m"

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.indicator(RSI(3), timeframe="5m")  # not in self.timeframes: it would never be fed


@pytest.mark.asyncio
async def test_an_indicator_declared_on_a_timeframe_the_strategy_lacks_is_a_start_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rule (trading_bot.runtime.bars): declared indicators must be fed; one that never would be (its value
    # None for ever, the strategy silently idle) stops the start with a ConfigError naming the fix.
    if not FIL.exists():
        pytest.skip(f"{FIL} not present")
    monkeypatch.setitem(STRATEGIES._factories, _DeclaresOnAnotherTimeframe.name, _DeclaresOnAnotherTimeframe)
    with pytest.raises(ConfigError, match=r"RSI is declared on timeframe 5m, .* add it to timeframes"):
        await _run(_DeclaresOnAnotherTimeframe.name, {})
