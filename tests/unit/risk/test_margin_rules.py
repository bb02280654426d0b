"""The swap rules of the risk gate (``risk.margin``, ``risk.rules``): margin of the opening part, leverage
caps, the liquidation distance, reduce-only orders and the REDUCING state.

The market is the bundled Binance USDⓈ-M snapshot's BTC/USDT:USDT (taker 0.05 %, max leverage 125x; first
bracket below 50,000 USDT: 125x, MMR 0.4 %, cum 0; second 50,000 to 250,000: 100x, MMR 0.5 %, cum 50).
Every figure is computed by hand in the test.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exchanges.markets import load_market_snapshot
from risk.config import RiskConfig
from risk.manager import APPROVED
from risk.manager import Rejected
from risk.manager import RiskManager
from risk.margin import LiquidationDistanceRule
from risk.margin import MaxLeverageRule
from risk.margin import estimate_liquidation_price
from risk.rules import BalanceRule
from risk.rules import ReduceOnlyRule
from risk.rules import RiskContext
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from trading_bot.domain import Balance
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import PerpPosition
from trading_bot.domain import Position
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState

BTC = load_market_snapshot("binance")[Symbol("BTC/USDT:USDT")]
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def swap_ctx(
    *,
    position: str = "0",
    entry: str = "0",
    free: str = "10000",
    wallet: str | None = None,
    leverage: int = 20,
    mode: MarginMode = MarginMode.CROSS,
    mark: str | None = "60000",
    **overrides: Any,
) -> RiskContext:
    """Return a BTC/USDT:USDT context: quote 60000.0 / 60000.1, USDT free ``free`` of wallet ``wallet``."""
    total = D(wallet if wallet is not None else free)
    fields: dict[str, Any] = {
        "market": BTC,
        "market_data": MarketData(
            symbol=BTC.symbol, ts_ms=NOW_MS, bid=D("60000.0"), ask=D("60000.1"),
            mark_price=None if mark is None else D(mark),
        ),
        "now_ms": NOW_MS,
        "position": Position(symbol=BTC.symbol, quantity=D(position), average_price=D(entry), quote_currency="USDT"),
        "open_order_count": 0,
        "balances": {"USDT": Balance(currency="USDT", free=D(free), locked=total - D(free))},
        "equity": total,
        "spot": False,
        "leverage": Decimal(leverage),
        "margin_mode": mode,
    }  # fmt: skip
    fields.update(overrides)
    return RiskContext(**fields)


def limit(side: OrderSide, price: str = "60000.0", *, reduce_only: bool = False) -> OrderParams:
    return OrderParams(side=side, order_type=OrderType.LIMIT, price=D(price), reduce_only=reduce_only)


def market(side: OrderSide, *, reduce_only: bool = False) -> OrderParams:
    return OrderParams(side=side, order_type=OrderType.MARKET, reduce_only=reduce_only)


# --- balance becomes a margin rule on swaps ------------------------------------------------------


def test_balance_rule_short_on_swap_passes_when_free_collateral_covers_its_margin() -> None:
    # sell 0.5 from flat at 20x: 0.5 × 60000 / 20 = 1500 margin + 0.5 × 60000 × 0.0005 = 15 fee = 1515.
    reason = BalanceRule().check(limit(SELL), D("0.5"), swap_ctx(free="1515"))

    assert reason is None


def test_balance_rule_short_on_swap_is_denied_naming_the_figures_when_collateral_is_short() -> None:
    reason = BalanceRule().check(limit(SELL), D("0.5"), swap_ctx(free="1514.99"))

    assert reason == "sell of 0.5 opens 0.5 at 20x: needs 1,515.00 USDT margin with fees; free 1,514.99 USDT"


def test_balance_rule_on_spot_still_refuses_a_sell_without_base_so_spot_cannot_short() -> None:
    spot = load_market_snapshot("binance")[Symbol("BTC/USDT")]
    context = swap_ctx(market=spot, spot=True, balances={"USDT": Balance(currency="USDT", free=D("1e6"))})

    reason = BalanceRule().check(limit(SELL), D("0.5"), context)

    assert reason == "sell of 0.5 BTC needs more than the free 0 BTC"


def test_balance_rule_flip_needs_margin_only_for_the_part_it_opens() -> None:
    # long 1, sell 2: 1 closes the long (no margin), 1 opens a short:
    # 1 × 60000 / 20 = 3000 margin + 2 × 60000 × 0.0005 = 60 fee (on the whole order) = 3060.
    enough = BalanceRule().check(limit(SELL), D("2"), swap_ctx(position="1", entry="59000", free="3060"))
    short = BalanceRule().check(limit(SELL), D("2"), swap_ctx(position="1", entry="59000", free="3059.99"))

    assert enough is None
    assert short == "sell of 2 opens 1 at 20x: needs 3,060.00 USDT margin with fees; free 3,059.99 USDT"


def test_balance_rule_reducing_order_needs_no_margin() -> None:
    reason = BalanceRule().check(limit(SELL), D("1"), swap_ctx(position="1", entry="59000", free="0"))

    assert reason is None


def test_balance_rule_leverage_20_needs_a_twentieth_of_the_margin_of_leverage_1() -> None:
    # buy 0.1 at the ask 60000.1 (a market order pays the touch); notional 6000.01, fee 3.000005.
    # 20x: 6000.01 / 20 + 3.000005 = 303.000505; 1x: 6000.01 + 3.000005 = 6003.010005.
    at_20 = BalanceRule().check(market(BUY), D("0.1"), swap_ctx(free="303.01", leverage=20))
    at_1 = BalanceRule().check(market(BUY), D("0.1"), swap_ctx(free="303.01", leverage=1))

    assert at_20 is None
    assert at_1 == "buy of 0.1 opens 0.1 at 1x: needs 6,003.01 USDT margin with fees; free 303.01 USDT"


# --- max_leverage ------------------------------------------------------------------------------------


def test_max_leverage_when_leverage_exceeds_the_configured_limit_denies_an_opening_order() -> None:
    reason = MaxLeverageRule(D(10)).check(limit(SELL), D("0.01"), swap_ctx(leverage=20))

    assert reason == "leverage 20x exceeds the limit of 10x (risk.max_leverage)"


def test_max_leverage_when_leverage_exceeds_the_market_cap_denies() -> None:
    reason = MaxLeverageRule(None).check(limit(BUY), D("0.01"), swap_ctx(leverage=126))

    assert reason == "leverage 126x exceeds BTC/USDT:USDT's maximum of 125x"


def test_max_leverage_when_the_resulting_notional_falls_in_a_lower_capped_bracket_denies() -> None:
    # long 0.5 + buy 0.5 → 1 BTC × 60000 = 60,000 USDT: the second bracket (50,000 to 250,000) allows 100x.
    context = swap_ctx(position="0.5", entry="60000", leverage=125)

    reason = MaxLeverageRule(None).check(limit(BUY), D("0.5"), context)
    at_100 = MaxLeverageRule(None).check(limit(BUY), D("0.5"), swap_ctx(position="0.5", entry="60000", leverage=100))

    assert reason == (
        "leverage 125x exceeds the 100x allowed for a position notional of 60,000.00 USDT (bracket 50,000 to 250,000)"
    )
    assert at_100 is None


def test_max_leverage_lets_a_reducing_order_through_and_ignores_spot() -> None:
    reducing = MaxLeverageRule(D(10)).check(limit(SELL), D("1"), swap_ctx(position="1", entry="60000", leverage=20))
    spot = MaxLeverageRule(D(10)).check(limit(BUY), D("1"), swap_ctx(spot=True, leverage=20))

    assert (reducing, spot) == (None, None)


def test_max_leverage_through_the_manager_is_a_permanent_denial() -> None:
    manager = RiskManager(RiskConfig(max_leverage=10, max_order_notional=None, max_position_notional=None))

    decision = manager.check(limit(SELL), D("0.01"), swap_ctx(leverage=20))

    assert decision == Rejected("max_leverage", "leverage 20x exceeds the limit of 10x (risk.max_leverage)", False)


# --- liquidation distance ------------------------------------------------------------------------


def test_liquidation_distance_cross_long_denied_within_the_minimum_of_the_mark() -> None:
    # Cross, wallet 1000 USDT, flat, buy 0.1 at 60000.0 at 20x. The fee 0.1 × 60000 × 0.0005 = 3 leaves
    # WB = 997. q = 0.1, E = 60000, s = +1; entry notional 6000 → first bracket, MMR 0.004, cum 0:
    # LP = (WB − s·q·E + cum) / (q·MMR − s·q) = (997 − 6000 + 0) / (0.0004 − 0.1) = −5003 / −0.0996
    #    = 50,230.92; distance from the mark 60000 = (60000 − 50230.92) / 60000 = 16.28 %.
    context = swap_ctx(free="1000")

    denied = LiquidationDistanceRule(D(20)).check(limit(BUY), D("0.1"), context)
    passed = LiquidationDistanceRule(D(15)).check(limit(BUY), D("0.1"), context)

    assert denied == (
        "buy of 0.1 leaves a long of 0.1 at 20x with an estimated liquidation price of 50,230.92, "
        "16.28 % from the mark 60000; minimum 20 %"
    )
    assert passed is None


def test_liquidation_distance_isolated_long_is_backed_by_its_own_margin_only() -> None:
    # Isolated at 20x: margin 0.1 × 60000 / 20 = 300, so LP = (300 − 6000) / (0.0004 − 0.1) = 57,228.92,
    # (60000 − 57228.92) / 60000 = 4.62 % from the mark, whatever the wallet holds.
    context = swap_ctx(free="100000", mode=MarginMode.ISOLATED)

    reason = LiquidationDistanceRule(D(5)).check(limit(BUY), D("0.1"), context)

    assert reason is not None
    assert "estimated liquidation price of 57,228.92, 4.62 % from the mark 60000" in reason


def test_liquidation_distance_cross_short_measures_upwards() -> None:
    # Short 0.1 at 60000, WB 997 (after the 3 fee), s = −1:
    # LP = (997 + 6000) / (0.0004 + 0.1) = 6997 / 0.1004 = 69,691.24; (69691.24 − 60000) / 60000 = 16.15 %.
    reason = LiquidationDistanceRule(D(20)).check(limit(SELL), D("0.1"), swap_ctx(free="1000"))

    assert reason is not None
    assert "leaves a short of 0.1 at 20x with an estimated liquidation price of 69,691.24, 16.15 %" in reason


def test_liquidation_distance_uses_the_one_formula_of_the_simulator() -> None:
    estimate = estimate_liquidation_price(
        D("0.1"), D(60000), BTC, leverage=D(20), margin_mode=MarginMode.CROSS, wallet_balance=D(997)
    )
    simulator = PerpPosition(symbol=BTC.symbol, quantity=D("0.1"), entry_price=D(60000), leverage=D(20))

    assert estimate == simulator.liquidation_price(BTC, D(997))


def test_liquidation_distance_lets_a_reducing_order_through() -> None:
    context = swap_ctx(position="0.1", entry="60000", free="0", wallet="1")

    assert LiquidationDistanceRule(D(50)).check(limit(SELL), D("0.1"), context) is None


# --- reduce-only and REDUCING ----------------------------------------------------------------------


def _reducing_manager() -> RiskManager:
    manager = RiskManager(RiskConfig(max_order_notional=None, max_position_notional=None))
    manager.set_trading_state(TradingState.REDUCING, "test")
    return manager


def test_reducing_lets_a_reduce_only_close_of_a_short_pass() -> None:
    decision = _reducing_manager().check(market(BUY, reduce_only=True), D("1"), swap_ctx(position="-1", entry="60000"))

    assert decision is APPROVED


def test_reducing_lets_a_swap_reduce_only_order_larger_than_the_position_pass_since_it_cannot_flip() -> None:
    context = swap_ctx(position="1", entry="60000")

    decision = _reducing_manager().check(limit(SELL, "60000.0", reduce_only=True), D("2"), context)
    plain = _reducing_manager().check(limit(SELL, "60000.0"), D("2"), context)

    assert decision is APPROVED
    assert isinstance(plain, Rejected)
    assert plain.rule == "trading_state"


def test_reducing_denies_a_reduce_only_order_that_would_open_naming_why() -> None:
    decision = _reducing_manager().check(limit(BUY, reduce_only=True), D("1"), swap_ctx(position="1", entry="60000"))

    assert decision == Rejected(
        "trading_state",
        "trading is reducing: a reduce-only buy of 1 would open a position: there is no short position to reduce "
        "(position 1)",
        transient=True,
    )


def test_reducing_denies_an_opening_order() -> None:
    decision = _reducing_manager().check(limit(SELL), D("0.1"), swap_ctx())

    assert isinstance(decision, Rejected)
    assert decision.rule == "trading_state"


@pytest.mark.parametrize(("position", "side"), [("0", BUY), ("0", SELL), ("1", BUY), ("-1", SELL)])
def test_reduce_only_rule_when_active_denies_an_order_with_nothing_to_reduce(position: str, side: OrderSide) -> None:
    reason = ReduceOnlyRule().check(market(side, reduce_only=True), D("1"), swap_ctx(position=position))

    assert reason is not None
    assert reason.startswith(f"a reduce-only {side.value} of 1 would open a position")


def test_reduce_only_rule_through_the_manager_is_permanent_and_a_real_close_passes() -> None:
    manager = RiskManager(RiskConfig(max_order_notional=None, max_position_notional=None))

    opening = manager.check(market(SELL, reduce_only=True), D("1"), swap_ctx())
    closing = manager.check(market(SELL, reduce_only=True), D("1"), swap_ctx(position="1", entry="60000", free="0"))

    assert opening == Rejected(
        "reduce_only",
        "a reduce-only sell of 1 would open a position: there is no long position to reduce (position 0)",
        transient=False,
    )
    assert closing is APPROVED


def test_balance_rule_reduce_only_order_larger_than_the_position_needs_no_margin() -> None:
    # the venue fills a reduce-only order at most up to the position: its "opening" 1 never opens
    reason = BalanceRule().check(limit(SELL, reduce_only=True), D("2"), swap_ctx(position="1", entry="60000", free="0"))

    assert reason is None


# -- reversals: the closing part frees its margin first (closing_release), the available balance is fresh


@pytest.mark.parametrize(("wallet", "passes"), [("60100", True), ("60000", False)])
def test_a_1x_all_in_reversal_counts_what_its_closing_part_frees(wallet: str, passes: bool) -> None:
    # short 1 BTC at 60,000, mark 60,000, 1x cross; the last balance view says free 0 (all of it margin)
    ctx = swap_ctx(position="-1", entry="60000", free="0", wallet=wallet, leverage=1,
                   equity=D(wallet))  # wallet + unrealized PnL 0  # fmt: skip
    # buy 2 at market (the ask, 60,000.1): closes 1, opens 1
    #   needed   = 1 × 60,000.1 / 1 + 2 × 60,000.1 × 0.0005           = 60,060.1001
    #   free now = equity − |q| × mark / leverage = wallet − 60,000     = 100 (or 0)
    #   released = 1 × 60,000 / 1 + (−1) × 1 × (60,000.1 − 60,000)       = 59,999.9
    reason = BalanceRule().check(market(BUY), D(2), ctx)

    assert (reason is None) is passes, reason
    if not passes:
        assert "opens 1 at 1x" in str(reason)


def test_with_an_open_order_holding_margin_the_last_free_balance_is_used() -> None:
    ctx = swap_ctx(position="-1", entry="60000", free="0", wallet="60100", leverage=1, equity=D("60100"),
                   open_order_count=1)  # fmt: skip

    assert BalanceRule().check(market(BUY), D(2), ctx) is not None  # 0 + 59,999.9 < 60,060.1001
