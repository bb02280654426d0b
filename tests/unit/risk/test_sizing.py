"""The position sizer: modes, rounding down to the lot step, spot sell caps, and None for no order."""

from __future__ import annotations

from risk.config import SizingConfig
from risk.sizing import size_order
from tests.unit.risk._support import D
from tests.unit.risk._support import balances
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from tests.unit.risk._support import market
from tests.unit.risk._support import quote
from tests.unit.risk._support import sell


def _config(mode: str, value: str) -> SizingConfig:
    return SizingConfig.model_validate({"mode": mode, "value": value})


def test_size_when_fixed_quantity_returns_the_value_on_the_lot_step() -> None:
    quantity = size_order(buy(), ctx(), _config("fixed_quantity", "0.0012345"))

    assert quantity == D("0.00123")


def test_size_when_fixed_notional_divides_by_the_limit_price() -> None:
    quantity = size_order(buy("60000.00"), ctx(), _config("fixed_notional", "100"))

    assert quantity == D("0.00166")  # 100 / 60,000 = 0.0016666… rounded down


def test_size_when_fixed_notional_market_order_divides_by_mid() -> None:
    quantity = size_order(buy(None), ctx(market_data=quote("49999", "50001")), _config("fixed_notional", "100"))

    assert quantity == D("0.002")


def test_size_when_fraction_of_equity_uses_equity_times_fraction() -> None:
    quantity = size_order(buy("50000.00"), ctx(equity=D("10000")), _config("fraction_of_equity", "0.1"))

    assert quantity == D("0.02")


def test_size_when_spot_sell_caps_at_the_bots_position() -> None:
    context = ctx(position_qty=D("0.005"), balances=balances(btc="1"))

    quantity = size_order(sell("50000.00"), context, _config("fraction_of_equity", "0.5"))

    assert quantity == D("0.005")


def test_size_when_spot_sell_caps_at_free_base() -> None:
    context = ctx(position_qty=D("0.5"), balances=balances(btc="0.0031"))

    quantity = size_order(sell("50000.00"), context, _config("fixed_notional", "1000"))

    assert quantity == D("0.0031")


def test_size_when_spot_sell_and_flat_returns_none() -> None:
    quantity = size_order(sell("50000.00"), ctx(), _config("fixed_quantity", "0.01"))

    assert quantity is None


def test_size_when_swap_sell_is_not_capped() -> None:
    context = ctx(spot=False, balances=balances(btc="0"))

    quantity = size_order(sell("50000.00"), context, _config("fixed_quantity", "0.01"))

    assert quantity == D("0.01")


def test_size_when_result_rounds_to_zero_returns_none() -> None:
    quantity = size_order(buy("60000.00"), ctx(), _config("fixed_notional", "0.5"))

    assert quantity is None  # 0.5 / 60,000 = 0.0000083 → 0 on a 0.00001 step


def test_size_when_result_below_min_amount_returns_none() -> None:
    context = ctx(market=market(min_amount=D("0.001")))

    quantity = size_order(buy("60000.00"), context, _config("fixed_notional", "30"))

    assert quantity is None  # 0.0005 < 0.001


def test_size_when_market_order_has_no_market_data_returns_none() -> None:
    quantity = size_order(buy(None), ctx(market_data=None), _config("fixed_notional", "100"))

    assert quantity is None
