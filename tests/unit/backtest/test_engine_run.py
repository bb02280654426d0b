"""``BacktestRun.run``: what a finished run leaves behind in the process."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest


def _bars(path: Path, count: int) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(count):
        close = 100 + (i % 7) - (i % 11)
        rows.append(f"{i * 60_000},{close},{close + 1},{close - 1},{close},1")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.asyncio
async def test_a_run_restores_the_garbage_collector_it_tuned(tmp_path: Path) -> None:
    before = gc.get_threshold()
    spec = BacktestSpec(strategy="sma_cross", params={"fast": 2, "slow": 4, "fraction": "1"},
                        data=(_bars(tmp_path / "bars.csv", 200),), symbol="BTC/USDT")  # fmt: skip

    result = await prepare_backtest(spec).run()

    assert result.fills  # the run traded
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0  # the loaded data went back to the collector


@pytest.mark.asyncio
async def test_the_result_repr_is_one_short_line_not_the_whole_run(tmp_path: Path) -> None:
    # asyncio.run's teardown reprs the value its coroutine returned: a full dataclass repr of a
    # million-bar result took seconds.
    spec = BacktestSpec(strategy="sma_cross", params={"fast": 2, "slow": 4, "fraction": "1"},
                        data=(_bars(tmp_path / "bars.csv", 2_000),), symbol="BTC/USDT")  # fmt: skip

    result = await prepare_backtest(spec).run()

    text = repr(result)
    assert len(result.equity) == 2_000
    assert "\n" not in text
    assert len(text) < 300
    assert result.fingerprint in text
