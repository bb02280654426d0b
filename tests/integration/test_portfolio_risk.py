"""The exposure cap through the real supervisor (its RiskContext carries the one-instrument book at the mark).

0.1 BTC bought at market (ask 60,001), marked at mid 60,000.5: gross exposure 6,000.05 USDT. With
``max_gross_exposure`` 6,500 a further buy of 0.01 at 60,000 (→ 6,600.05) is refused with rule
``exposure``; a sell of 0.05 (an exit) goes out.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from risk.config import RiskConfig
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult

D = Decimal


@pytest.mark.asyncio
async def test_gross_exposure_cap_refuses_an_open_over_it_and_lets_an_exit_out() -> None:
    plan = {
        1000: [OrderParams(side=OrderSide.BUY, quantity=D("0.1"), order_type=OrderType.MARKET, client_tag="buy")],
        2000: [
            OrderParams(side=OrderSide.BUY, quantity=D("0.01"), price=D("60000"), client_tag="more"),
            OrderParams(side=OrderSide.SELL, quantity=D("0.05"), price=D("60001"), client_tag="exit"),
        ],
    }
    done: set[int] = set()

    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if md.ts_ms not in plan or md.ts_ms in done:
            return None
        done.add(md.ts_ms)
        return StrategyResult.place(*plan[md.ts_ms])

    strategy = ScriptedStrategy(script)
    risk = RiskConfig(
        max_gross_exposure=D("6500"), max_order_notional=None, max_position_notional=None, price_band_pct=None,
        max_data_age_s=None,
    )  # fmt: skip
    bot, _ = make_bot([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], strategy, risk=risk)

    result = await bot.run()

    assert result.exit_code == 0, result.reason
    denied = {e.client_tag: e for e in strategy.events if isinstance(e, OrderDenied)}
    submitted = {e.client_tag for e in strategy.events if isinstance(e, OrderSubmitted)}
    assert set(denied) == {"more"}
    assert denied["more"].rule == "exposure"
    assert "gross exposure after the fill 6,600.05 USDT (now 6,000.05)" in denied["more"].reason
    assert submitted == {"buy", "exit"}
