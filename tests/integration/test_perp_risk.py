"""The risk gate on a perpetual swap, end to end: the real supervisor over the paper exchange's margin account.

BTC/USDT:USDT from the bundled Binance USDⓈ-M snapshot (taker 0.05 %; first bracket MMR 0.4 %, cum 0),
1000 USDT of collateral, cross margin. Figures are computed by hand in each test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from exchanges.sim.model import PerpSettings
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.runtime.supervisor import TradingBot

D = Decimal
SWAP = Symbol("BTC/USDT:USDT")


def _quote(ts: int, bid: str = "60000.0", ask: str = "60000.1") -> MarketData:
    return MarketData(symbol=SWAP, ts_ms=ts, bid=D(bid), ask=D(ask), bid_size=D(5), ask_size=D(5))


def _bot(strategy: ScriptedStrategy, leverage: int, risk: RiskConfig, events: int = 4) -> TradingBot:
    clock = SimulatedClock()
    source = ListSource([_quote(1000 * (i + 1)) for i in range(events)], clock)
    exchange = PaperExchange(
        PaperConfig(balances={"USDT": D(1000)}), clock, source, markets=source.markets,
        perp=PerpSettings(leverage=leverage, margin_mode=MarginMode.CROSS),
    )  # fmt: skip
    return TradingBot(
        bot_id="p1", symbol=SWAP, exchange=exchange, strategy=strategy, risk=RiskManager(risk), clock=clock
    )


_RISK = {"max_order_notional": None, "max_position_notional": None, "max_data_age_s": None}


def _script(*orders: OrderParams | StrategyResult | None):  # type: ignore[no-untyped-def]
    """Return a script sending ``orders[k]`` once, on the first pass of the (k + 1)-th second's event."""
    due = {1000 * (k + 1): order for k, order in enumerate(orders) if order is not None}

    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        order = due.pop(md.ts_ms, None)
        return order if order is None or isinstance(order, StrategyResult) else StrategyResult.place(order)

    return script


def _market(side: OrderSide, quantity: str, *, reduce_only: bool = False) -> OrderParams:
    return OrderParams(side=side, quantity=D(quantity), order_type=OrderType.MARKET, reduce_only=reduce_only)


@pytest.mark.asyncio
async def test_short_at_20x_is_margined_at_a_twentieth_while_1x_is_denied_by_the_margin_rule() -> None:
    # sell 0.1 at the bid 60000.0: 20x needs 6000 / 20 + 6000 × 0.0005 = 303 ≤ 1000 free;
    # 1x needs 6000 + 3 = 6003 > 1000.
    at_20 = ScriptedStrategy(_script(_market(OrderSide.SELL, "0.1")))
    at_1 = ScriptedStrategy(_script(_market(OrderSide.SELL, "0.1")))

    result = await _bot(at_20, 20, RiskConfig.model_validate(_RISK)).run()
    await _bot(at_1, 1, RiskConfig.model_validate(_RISK)).run()

    assert [type(e) for e in at_20.events][-1] is OrderFilled
    assert result.summary["position"] == "-0.1"
    denied = [e for e in at_1.events if isinstance(e, OrderDenied)]
    assert [(e.rule, e.reason) for e in denied] == [
        ("balance", "sell of 0.1 opens 0.1 at 1x: needs 6,003.00 USDT margin with fees; free 1,000.00 USDT")
    ]


@pytest.mark.asyncio
async def test_short_near_liquidation_goes_reducing_denies_adding_and_closes_with_a_reduce_only_buy() -> None:
    # Short 0.1 at 60000.0 at 20x, cross, s = −1; WB is the wallet the bot last fetched (1000 before the
    # refresh after the fill, 1000 − 3 fee = 997 after): LP = (WB + 0.1 × 60000) / (0.1 × 0.004 + 0.1)
    # = 7000 / 0.1004 = 69,721.12 (or 6997 / 0.1004 = 69,691.24), 16.20 % (16.15 %) above the mark (the mid
    # 60000.05): within 20 %, so the next account check (1 s later) turns the state to REDUCING.
    strategy = ScriptedStrategy(
        _script(
            _market(OrderSide.SELL, "0.1"),
            _market(OrderSide.SELL, "0.1"),  # adds to the short: denied in REDUCING
            _market(OrderSide.BUY, "0.1", reduce_only=True),  # closes it: passes
        )
    )
    bot = _bot(strategy, 20, RiskConfig.model_validate({**_RISK, "reduce_at_liquidation_distance_pct": "20"}))

    result = await bot.run()

    assert bot.risk.trading_state is TradingState.REDUCING
    assert "liquidation near: BTC/USDT:USDT short 0.1" in bot.risk.trading_state_reason
    denied = [e for e in strategy.events if isinstance(e, OrderDenied)]
    assert [e.rule for e in denied] == ["trading_state"]
    filled = [e for e in strategy.events if isinstance(e, OrderFilled)]
    assert [e.fill.side for e in filled] == [OrderSide.SELL, OrderSide.BUY]
    assert result.summary["position"] == "0"


@pytest.mark.asyncio
async def test_account_guard_flattens_a_short_with_a_reduce_only_market_buy() -> None:
    close = StrategyResult(action=StrategyAction.CLOSE_POSITION)
    strategy = ScriptedStrategy(_script(_market(OrderSide.SELL, "0.1"), None, close))
    bot = _bot(strategy, 20, RiskConfig.model_validate(_RISK))

    result = await bot.run()

    orders = [bot.tracker.get(e.client_order_id) for e in strategy.events if isinstance(e, OrderSubmitted)]
    assert [(o.side, o.client_tag, o.reduce_only, o.order_type) for o in orders if o is not None] == [
        (OrderSide.SELL, "", False, OrderType.MARKET), (OrderSide.BUY, "close", True, OrderType.MARKET)
    ]  # fmt: skip
    assert result.summary["position"] == "0"
