"""Each per-order rule on its own: one approving and one rejecting case at least."""

from __future__ import annotations

from risk.rules import BalanceRule
from risk.rules import MarketLimitsRule
from risk.rules import MaxOpenOrdersRule
from risk.rules import MaxOrderNotionalRule
from risk.rules import MaxPositionRule
from risk.rules import OrderRateRule
from risk.rules import PriceBandRule
from risk.rules import StaleDataRule
from risk.rules import TradingStateRule
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from tests.unit.risk._support import balances
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from tests.unit.risk._support import market
from tests.unit.risk._support import quote
from tests.unit.risk._support import sell
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import TradingState

# --- trading state -------------------------------------------------------------------------------


def test_trading_state_when_active_passes_any_order() -> None:
    rule = TradingStateRule(TradingState.ACTIVE)

    reason = rule.check(buy(), D("0.01"), ctx())

    assert reason is None


def test_trading_state_when_halted_rejects_even_a_reducing_order() -> None:
    rule = TradingStateRule(TradingState.HALTED)

    reason = rule.check(sell(), D("0.01"), ctx(position_qty=D("0.05")))

    assert reason is not None
    assert "halted" in reason


def test_trading_state_when_reducing_passes_a_sell_that_reduces_a_long() -> None:
    rule = TradingStateRule(TradingState.REDUCING)

    reason = rule.check(sell(), D("0.05"), ctx(position_qty=D("0.05")))

    assert reason is None


def test_trading_state_when_reducing_passes_a_buy_that_reduces_a_short() -> None:
    rule = TradingStateRule(TradingState.REDUCING)

    reason = rule.check(buy(), D("0.02"), ctx(position_qty=D("-0.05")))

    assert reason is None


def test_trading_state_when_reducing_rejects_an_order_that_increases_the_position() -> None:
    rule = TradingStateRule(TradingState.REDUCING)

    reason = rule.check(buy(), D("0.01"), ctx(position_qty=D("0.05")))

    assert reason is not None
    assert "reducing" in reason


def test_trading_state_when_reducing_rejects_an_order_that_flips_the_position() -> None:
    rule = TradingStateRule(TradingState.REDUCING)

    reason = rule.check(sell(), D("0.06"), ctx(position_qty=D("0.05")))

    assert reason is not None


def test_trading_state_when_reducing_and_flat_rejects_any_order() -> None:
    rule = TradingStateRule(TradingState.REDUCING)

    reason = rule.check(sell(), D("0.01"), ctx())

    assert reason is not None


# --- market limits -------------------------------------------------------------------------------


def test_market_limits_when_order_fits_the_market_passes() -> None:
    reason = MarketLimitsRule().check(buy("60000.01"), D("0.00010"), ctx())

    assert reason is None


def test_market_limits_when_price_off_the_tick_grid_returns_reason() -> None:
    reason = MarketLimitsRule().check(buy("60000.005"), D("0.001"), ctx())

    assert reason == "price 60000.005 is not on the tick grid of 0.01"


def test_market_limits_when_quantity_off_the_lot_step_returns_reason() -> None:
    reason = MarketLimitsRule().check(buy(), D("0.000015"), ctx())

    assert reason == "quantity 0.000015 is not a multiple of the lot step 0.00001"


def test_market_limits_when_quantity_below_min_amount_returns_reason() -> None:
    context = ctx(market=market(min_amount=D("0.001"), min_notional=D(0)))

    reason = MarketLimitsRule().check(buy(), D("0.0005"), context)

    assert reason == "quantity 0.0005 is below the minimum amount 0.001"


def test_market_limits_when_quantity_above_max_amount_returns_reason() -> None:
    context = ctx(market=market(max_amount=D("10")))

    reason = MarketLimitsRule().check(buy(), D("10.5"), context)

    assert reason == "quantity 10.5 is above the maximum amount 10"


def test_market_limits_when_notional_below_min_notional_returns_reason() -> None:
    reason = MarketLimitsRule().check(buy("60000.00"), D("0.00008"), ctx())

    # Exact figures (Market.order_problem, shared with the simulators): no two-place rounding, which showed a
    # BTC-quoted notional of 0.00004 as "0.00"
    assert reason == "notional 4.8 USDT is below the minimum 5 USDT"


def test_market_limits_when_market_order_uses_mid_for_min_notional() -> None:
    context = ctx(market_data=quote(bid="49999", ask="50001"))

    reason = MarketLimitsRule().check(buy(None), D("0.0001"), context)

    assert reason is None  # 50,000 × 0.0001 = 5.00, exactly the minimum


def test_market_limits_when_market_order_without_market_data_returns_reason() -> None:
    reason = MarketLimitsRule().check(buy(None), D("0.001"), ctx(market_data=None))

    assert reason is not None


# --- max order notional --------------------------------------------------------------------------


def test_max_order_notional_when_within_limit_passes() -> None:
    reason = MaxOrderNotionalRule(D("1000")).check(buy("60000"), D("0.01"), ctx())

    assert reason is None


def test_check_when_notional_exceeds_limit_returns_reason_with_figures() -> None:
    reason = MaxOrderNotionalRule(D("1000")).check(buy("60000"), D("0.02"), ctx())

    assert reason == "order notional 1,200.00 USDT exceeds the limit 1,000.00"


# --- max position --------------------------------------------------------------------------------


def test_max_position_when_position_after_fill_within_limit_passes() -> None:
    rule = MaxPositionRule(D("0.1"), None)

    reason = rule.check(buy(), D("0.05"), ctx(position_qty=D("0.05")))

    assert reason is None


def test_max_position_when_quantity_after_fill_exceeds_limit_returns_reason() -> None:
    rule = MaxPositionRule(D("0.1"), None)

    reason = rule.check(buy(), D("0.06"), ctx(position_qty=D("0.05")))

    assert reason == "position after the fill 0.11 BTC exceeds the limit 0.1 BTC"


def test_max_position_when_short_after_fill_exceeds_limit_returns_reason() -> None:
    rule = MaxPositionRule(D("0.1"), None)

    reason = rule.check(sell(), D("0.2"), ctx(position_qty=D(0), spot=False))

    assert reason is not None


def test_max_position_when_notional_after_fill_exceeds_limit_returns_reason() -> None:
    rule = MaxPositionRule(None, D("5000"))

    reason = rule.check(buy("60000"), D("0.05"), ctx(position_qty=D("0.05")))

    assert reason == "position notional after the fill 6,000.00 USDT exceeds the limit 5,000.00"


def test_max_position_when_order_reduces_an_oversized_position_passes() -> None:
    rule = MaxPositionRule(D("0.1"), D("100"))

    reason = rule.check(sell(), D("0.1"), ctx(position_qty=D("0.5")))

    assert reason is None


# --- max open orders -----------------------------------------------------------------------------


def test_max_open_orders_when_new_order_reaches_the_limit_passes() -> None:
    reason = MaxOpenOrdersRule(3).check(buy(), D("0.001"), ctx(open_order_count=2))

    assert reason is None


def test_max_open_orders_when_new_order_exceeds_the_limit_returns_reason() -> None:
    reason = MaxOpenOrdersRule(3).check(buy(), D("0.001"), ctx(open_order_count=3))

    assert reason == "3 orders are open; one more exceeds the limit of 3"


# --- price band ----------------------------------------------------------------------------------


def test_price_band_when_limit_price_within_band_passes() -> None:
    reason = PriceBandRule(D("5")).check(buy("62000.00"), D("0.001"), ctx(market_data=quote("59999", "60001")))

    assert reason is None


def test_price_band_when_buy_far_above_mid_returns_reason() -> None:
    context = ctx(market_data=quote("59999", "60001"))

    reason = PriceBandRule(D("5")).check(buy("66000.00"), D("0.001"), context)

    assert reason == "limit price 66000 is 10.00 % from mid 60000; band 5 %"


def test_price_band_when_sell_far_below_mid_returns_reason() -> None:
    context = ctx(market_data=quote("59999", "60001"))

    reason = PriceBandRule(D("5")).check(sell("54000.00"), D("0.001"), context)

    assert reason is not None
    assert "10.00 %" in reason


def test_price_band_when_passive_buy_far_below_mid_returns_reason() -> None:
    context = ctx(market_data=quote("59999", "60001"))

    reason = PriceBandRule(D("5")).check(buy("6000.00"), D("0.001"), context)

    assert reason is not None
    assert "90.00 %" in reason


def test_price_band_when_market_order_passes() -> None:
    reason = PriceBandRule(D("5")).check(buy(None), D("0.001"), ctx())

    assert reason is None


def test_price_band_when_limit_order_without_market_data_returns_reason() -> None:
    reason = PriceBandRule(D("5")).check(buy(), D("0.001"), ctx(market_data=None))

    assert reason is not None


# --- order rate ----------------------------------------------------------------------------------


def test_order_rate_when_below_limit_passes() -> None:
    rule = OrderRateRule(2)
    rule.record(NOW_MS - 1000)

    reason = rule.check(buy(), D("0.001"), ctx())

    assert reason is None


def test_order_rate_when_limit_reached_in_last_minute_returns_reason() -> None:
    rule = OrderRateRule(2)
    rule.record(NOW_MS - 59_000)
    rule.record(NOW_MS - 1000)

    reason = rule.check(buy(), D("0.001"), ctx())

    assert reason == "2 orders approved in the last 60 s; limit 2 per minute"


def test_order_rate_when_old_approvals_slide_out_of_the_window_passes() -> None:
    rule = OrderRateRule(2)
    rule.record(NOW_MS - 60_000)
    rule.record(NOW_MS - 1000)

    reason = rule.check(buy(), D("0.001"), ctx())

    assert reason is None


# --- stale data ----------------------------------------------------------------------------------


def test_stale_data_when_quote_is_fresh_passes() -> None:
    context = ctx(market_data=quote(ts_ms=NOW_MS - 30_000))

    reason = StaleDataRule(30.0).check(buy(), D("0.001"), context)

    assert reason is None


def test_stale_data_when_quote_older_than_limit_returns_reason() -> None:
    context = ctx(market_data=quote(ts_ms=NOW_MS - 45_500))

    reason = StaleDataRule(30.0).check(buy(), D("0.001"), context)

    assert reason == "market data is 45.5 s old; limit 30 s"


def test_stale_data_when_no_market_data_returns_reason() -> None:
    reason = StaleDataRule(30.0).check(buy(), D("0.001"), ctx(market_data=None))

    assert reason == "no market data has been received"


# --- balance -------------------------------------------------------------------------------------


def test_balance_when_buy_covered_with_fee_passes() -> None:
    context = ctx(balances=balances(usdt="600.60"))

    reason = BalanceRule().check(buy("60000"), D("0.01"), context)

    assert reason is None  # 600.00 × 1.001 = 600.60


def test_balance_when_buy_needs_more_than_free_quote_with_fee_returns_reason() -> None:
    context = ctx(balances=balances(usdt="600.59"))

    reason = BalanceRule().check(buy("60000"), D("0.01"), context)

    assert reason == "buy needs 600.60 USDT with fees; free 600.59 USDT"


def test_balance_when_market_buy_prices_at_the_ask() -> None:
    context = ctx(market_data=quote("59000", "61000"), balances=balances(usdt="600"))

    reason = BalanceRule().check(buy(None), D("0.01"), context)

    assert reason == "buy needs 610.61 USDT with fees; free 600.00 USDT"


def test_balance_when_spot_sell_exceeds_free_base_returns_reason() -> None:
    context = ctx(balances=balances(btc="0.005"), position_qty=D("0.01"))

    reason = BalanceRule().check(sell(), D("0.01"), context)

    assert reason == "sell of 0.01 BTC needs more than the free 0.005 BTC"


def test_balance_when_spot_sell_within_free_base_passes() -> None:
    reason = BalanceRule().check(sell(), D("0.5"), ctx(balances=balances(usdt="0", btc="0.5")))

    assert reason is None


def test_balance_when_currency_missing_counts_as_zero() -> None:
    reason = BalanceRule().check(buy(), D("0.001"), ctx(balances={}))

    assert reason is not None


def test_balance_when_swap_sell_skips_the_base_check() -> None:
    context = ctx(spot=False, balances=balances(usdt="1000", btc="0"))

    reason = BalanceRule().check(sell("60000"), D("0.01"), context)

    assert reason is None


def test_balance_when_swap_reducing_order_passes_without_quote() -> None:
    context = ctx(spot=False, balances=balances(usdt="0", btc="0"), position_qty=D("-0.01"))

    reason = BalanceRule().check(buy("60000"), D("0.01"), context)

    assert reason is None


def test_balance_when_stop_order_uses_trigger_price() -> None:
    params = OrderParams(side=OrderSide.BUY, order_type=OrderType.STOP_MARKET, trigger_price=D("70000"))

    reason = BalanceRule().check(params, D("0.01"), ctx(balances=balances(usdt="700")))

    assert reason == "buy needs 700.70 USDT with fees; free 700.00 USDT"


# --- protective closes ---------------------------------------------------------------------------


def _reduce_only_sell() -> OrderParams:
    return OrderParams(side=OrderSide.SELL, order_type=OrderType.MARKET, reduce_only=True)


def test_max_order_notional_when_reduce_only_close_exceeds_limit_passes() -> None:
    reason = MaxOrderNotionalRule(D("1000")).check(_reduce_only_sell(), D("0.5"), ctx(position_qty=D("0.5")))

    assert reason is None


def test_max_order_notional_when_reduce_only_order_would_flip_is_still_checked() -> None:
    reason = MaxOrderNotionalRule(D("1000")).check(_reduce_only_sell(), D("0.5"), ctx(position_qty=D("0.1")))

    assert reason is not None


def test_order_rate_when_limit_reached_still_passes_a_reduce_only_close() -> None:
    rule = OrderRateRule(1)
    rule.record(NOW_MS - 1000)

    reason = rule.check(_reduce_only_sell(), D("0.1"), ctx(position_qty=D("0.1")))

    assert reason is None
