"""ccxt's perpetual-swap answers become domain values: positions signed by side, funding by venue id, tiers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.ccxt.parse import to_mark
from exchanges.ccxt.parse import to_market
from exchanges.ccxt.perp import to_funding_payment
from exchanges.ccxt.perp import to_margin_tiers
from exchanges.ccxt.perp import to_position_report
from trading_bot.domain.derivatives import MarginMode
from trading_bot.errors import BadExchangeResponse

# shapes as ccxt 4.5.90 binanceusdm returns them (fetch_positions, fetch_funding_history, fetch_leverage_tiers)
SHORT = {
    "symbol": "BTC/USDT:USDT", "contracts": 0.005, "contractSize": 1.0, "side": "short", "entryPrice": 29000.0,
    "markPrice": 28900.0, "unrealizedPnl": 0.5, "leverage": 5, "marginMode": "isolated",
    "liquidationPrice": 34500.1, "timestamp": 1700000000000,
}  # fmt: skip


def test_a_short_position_is_a_negative_quantity_in_base_units() -> None:
    report = to_position_report(SHORT, now_ms=1)

    assert report.quantity == Decimal("-0.005")
    assert report.entry_price == Decimal("29000.0")
    assert report.margin_mode is MarginMode.ISOLATED
    assert report.leverage == Decimal(5)
    assert report.liquidation_price == Decimal("34500.1")
    assert report.ts_ms == 1700000000000


def test_contract_size_scales_the_position_and_a_missing_time_takes_the_clock() -> None:
    report = to_position_report({**SHORT, "side": "long", "contractSize": 10, "timestamp": None}, now_ms=42)

    assert report.quantity == Decimal("0.050")
    assert report.ts_ms == 42


def test_a_hedge_mode_side_is_refused_not_guessed() -> None:
    with pytest.raises(BadExchangeResponse, match="unknown side"):
        to_position_report({**SHORT, "side": "both"}, now_ms=1)


def test_a_funding_row_keeps_the_venue_id_and_signed_amount() -> None:
    row = {"id": "9689322392", "timestamp": 1700006400000, "amount": -0.01234, "symbol": "BTC/USDT:USDT"}
    payment = to_funding_payment(row, "BTC/USDT:USDT")

    assert payment.id == "9689322392"
    assert payment.amount == Decimal("-0.01234")  # negative = paid by us
    assert payment.ts_ms == 1700006400000


def test_a_funding_row_without_id_is_a_bad_answer() -> None:
    with pytest.raises(BadExchangeResponse, match="no id"):
        to_funding_payment({"timestamp": 1, "amount": 1}, "BTC/USDT:USDT")


def test_leverage_tiers_become_ascending_margin_tiers_with_cum() -> None:
    rows = [
        {"minNotional": 50000, "maxNotional": 250000, "maxLeverage": 100, "maintenanceMarginRate": 0.005,
         "info": {"cum": "50.0"}},
        {"minNotional": 0, "maxNotional": 50000, "maxLeverage": 125, "maintenanceMarginRate": 0.004,
         "info": {"cum": "0.0"}},
    ]  # fmt: skip
    tiers = to_margin_tiers(rows)

    assert [t.floor for t in tiers] == [Decimal(0), Decimal(50000)]
    assert tiers[1].maintenance_amount == Decimal("50.0")
    assert tiers[0].max_leverage == Decimal(125)


def test_a_swap_market_carries_settle_contract_size_and_leverage_cap() -> None:
    m = {
        "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT", "contract": True,
        "contractSize": 1, "precision": {"price": 0.1, "amount": 0.001},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 100}, "leverage": {"max": 125}},
        "maker": 0.0002, "taker": 0.0005,
    }  # fmt: skip
    market = to_market(m, precision_mode=4)  # ccxt TICK_SIZE

    assert market.contract
    assert market.settle == "USDT"
    assert market.max_leverage == Decimal(125)
    assert market.contract_size == Decimal(1)


def test_the_funding_rate_answer_gives_mark_rate_and_next_funding_time() -> None:
    raw = {"markPrice": 28140.5, "indexPrice": 28150.0, "fundingRate": 0.0001, "fundingTimestamp": 1680595200000}
    mark = to_mark(raw)

    assert mark.mark_price == Decimal("28140.5")
    assert mark.funding_rate == Decimal("0.0001")
    assert mark.next_funding_ms == 1680595200000


@pytest.mark.parametrize("bad", [None, 0, -1, float("nan"), float("inf"), "x"])
def test_a_mark_that_is_not_a_positive_price_is_a_bad_answer(bad: object) -> None:
    with pytest.raises(BadExchangeResponse):
        to_mark({"markPrice": bad, "fundingRate": 0.0001})


def test_a_streamed_mark_price_takes_the_rate_and_next_funding_from_binances_info() -> None:
    # ccxt pro watch_mark_price on binanceusdm: a ticker whose info is the raw @markPrice event
    raw = {"symbol": "BTC/USDT:USDT", "markPrice": 60000.0, "indexPrice": 60000.0,
           "info": {"e": "markPriceUpdate", "p": "60000", "r": "0.0001", "T": 1796284800000}}  # fmt: skip
    mark = to_mark(raw)

    assert (mark.mark_price, mark.funding_rate, mark.next_funding_ms) == (Decimal(60000), Decimal("0.0001"),
                                                                          1796284800000)  # fmt: skip
