"""A backtest on a perpetual simulates the venue's stop-loss order; on spot the bot watches it (issue 16).

Rule guarded (``strategies.lib.venue_stop``): with ``--market-type swap`` the stop-loss of every entry rests
in the simulator as a reduce-only STOP_MARKET order, which the core fills inside the bar that reaches its
trigger (a long's sell stop at the trigger, or lower when the bar opened through it); every such fill is
counted as the ``sl`` barrier. On spot the same run closes at market on the bar after the breach. Real data:
Binance USD-M BTC/USDT 5m bars.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import prepare_backtest

BTC = Path("/work/shared/data/binanceusdm_BTCUSDT_5m.csv.gz")
PARAMS = {"bar_timeframe": "5m", "stop_loss": "0.01"}


async def _run(market_type: str) -> tuple[Any, list[dict[str, Any]]]:
    spec = BacktestSpec(strategy="momentum", params=PARAMS, data=(BTC,), market_type=market_type)
    with capture_logs() as logs:
        result = await prepare_backtest(spec).run()
    return result, [e for e in logs if e.get("event") == "exit_fired"]


@pytest.mark.asyncio
async def test_a_swap_backtest_fills_the_stop_loss_on_the_venue_at_its_trigger_and_spot_watches_it() -> None:
    if not BTC.exists():
        pytest.skip(f"{BTC} not present")
    swap, swap_fired = await _run("swap")
    spot, spot_fired = await _run("spot")

    assert swap_fired, "no stop-loss fired"
    assert all(e.get("on_venue") for e in swap_fired)  # the simulator filled the resting stop
    assert all(Decimal(e["price"]) <= Decimal(e["trigger"]) for e in swap_fired)  # a sell stop: trigger or worse
    assert any(Decimal(e["price"]) == Decimal(e["trigger"]) for e in swap_fired)
    assert spot_fired
    assert not any(e.get("on_venue") for e in spot_fired)  # spot: the bot's own close at market
    assert swap.fingerprint != spot.fingerprint
