"""Position accounting and Decimal value helpers."""

from dataclasses import replace
from decimal import Decimal

import pytest

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import Money
from trading_bot.domain import OrderSide
from trading_bot.domain import Position
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.domain import round_to_increment
from trading_bot.domain import to_decimal

D = Decimal


def _fill(side: OrderSide, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(
        trade_id=TradeId(f"{side}{qty}{price}"), client_order_id=ClientOrderId("b-1"), symbol=Symbol("X/USDT"),
        side=side, quantity=D(qty), price=D(price), fee=D(fee), fee_currency="USDT", ts_ms=0,
    )


def test_position_when_long_then_partly_closed_realizes_pnl_on_closed_part_only() -> None:
    pos = Position(symbol=Symbol("X/USDT"), quote_currency="USDT")
    pos.apply(_fill(OrderSide.BUY, "2", "100"))
    pos.apply(_fill(OrderSide.BUY, "2", "110"))
    realized = pos.apply(_fill(OrderSide.SELL, "1", "120", fee="0.12"))
    assert pos.average_price == D("105")
    assert realized == D("15")
    assert pos.quantity == D("3")
    assert pos.fees == D("0.12")
    assert pos.unrealized_pnl(D("100")) == D("-15")


def test_a_fee_charged_in_the_base_currency_reduces_the_position_at_the_same_average() -> None:
    """Rule: Binance spot charges a buy's fee in the asset received: the position is what the account holds."""
    pos = Position(symbol=Symbol("BTC/USDT"), quote_currency="USDT")
    buy = _fill(OrderSide.BUY, "0.00166", "60000", fee="0.00000166")
    pos.apply(replace(buy, symbol=Symbol("BTC/USDT"), fee_currency="BTC"))
    assert pos.quantity == D("0.00165834")
    assert pos.average_price == D("60000")
    assert pos.fees == D("0.0996")  # the fee's cost, valued at the fill price


def test_a_fee_in_a_third_currency_moves_neither_the_quantity_nor_the_quote_fees() -> None:
    """Rule: a BNB fee cannot be valued without BNB's price: it stays on the fill, out of ``fees``."""
    pos = Position(symbol=Symbol("BTC/USDT"), quote_currency="USDT")
    buy = _fill(OrderSide.BUY, "0.01", "60000", fee="0.0004")
    pos.apply(replace(buy, symbol=Symbol("BTC/USDT"), fee_currency="BNB"))
    assert (pos.quantity, pos.fees) == (D("0.01"), D(0))


def test_position_when_sell_flips_long_to_short_resets_entry_to_fill_price() -> None:
    pos = Position(symbol=Symbol("X/USDT"), quote_currency="USDT")
    pos.apply(_fill(OrderSide.BUY, "1", "100"))
    realized = pos.apply(_fill(OrderSide.SELL, "3", "90"))
    assert realized == D("-10")
    assert pos.quantity == D("-2")
    assert pos.average_price == D("90")


def test_to_decimal_is_exact_for_floats_and_rejects_nan() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal("1e-8") == D("0.00000001")
    with pytest.raises(ValueError, match="price"):
        to_decimal("nan", "price")
    with pytest.raises(ValueError, match="qty"):
        to_decimal(None, "qty")


def test_round_to_increment_modes() -> None:
    assert round_to_increment(D("1.23456"), D("0.01")) == D("1.23")
    assert round_to_increment(D("1.231"), D("0.01"), "up") == D("1.24")
    assert round_to_increment(D("0.000129"), D("0.00001"), "down") == D("0.00012")


def test_market_passive_price_rounds_buys_down_and_sells_up() -> None:
    market = Market(
        symbol=Symbol("X/USDT"), base="X", quote="USDT", price_increment=D("0.01"), amount_increment=D("0.1")
    )
    assert market.passive_price(OrderSide.BUY, D("10.019")) == D("10.01")
    assert market.passive_price(OrderSide.SELL, D("10.011")) == D("10.02")
    assert market.round_amount(D("1.99")) == D("1.9")


def test_money_keeps_currency_and_refuses_mixing() -> None:
    assert Money(D("1.5"), "USDT") + Money(D("2"), "USDT") == Money(D("3.5"), "USDT")
    with pytest.raises(ValueError, match="cannot combine"):
        _ = Money(D("1"), "USDT") - Money(D("1"), "BTC")
