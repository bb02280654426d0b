"""Perp domain: tiers, position arithmetic, funding sign, liquidation price (Binance one-way)."""

from decimal import Decimal as D

import pytest

from trading_bot.domain import FundingPayment
from trading_bot.domain import MarginMode
from trading_bot.domain import MarginTier
from trading_bot.domain import Market
from trading_bot.domain import OrderSide
from trading_bot.domain import PerpPosition
from trading_bot.domain.ids import Symbol

TIERS = (
    MarginTier(floor=D(0), cap=D(50000), max_leverage=D(125), maintenance_rate=D("0.004"), maintenance_amount=D(0)),
    MarginTier(
        floor=D(50000), cap=D(250000), max_leverage=D(100), maintenance_rate=D("0.005"), maintenance_amount=D(50)
    ),
)
MKT = Market(
    symbol=Symbol("BTC/USDT:USDT"),
    base="BTC",
    quote="USDT",
    price_increment=D("0.1"),
    amount_increment=D("0.001"),
    contract=True,
    settle="USDT",
    margin_tiers=TIERS,
)


def test_tier_boundaries() -> None:
    assert MKT.margin_tier(D(49999)) is TIERS[0]
    assert MKT.margin_tier(D(50000)) is TIERS[1]
    assert MKT.margin_tier(D(10**9)) is TIERS[1]
    with pytest.raises(ValueError, match="margin_tiers"):
        Market(symbol=Symbol("X"), base="X", quote="Y", price_increment=D(1), amount_increment=D(1)).margin_tier(D(1))


def test_open_add_reduce_close_flip() -> None:
    p = PerpPosition(symbol="BTC/USDT:USDT", leverage=D(10))
    p = p.apply_fill(OrderSide.BUY, D(1), D(100), D("0.1"))
    p = p.apply_fill(OrderSide.BUY, D(1), D(110), D(0))
    assert (p.quantity, p.entry_price, p.realized_pnl) == (D(2), D(105), D("-0.1"))
    p = p.apply_fill(OrderSide.SELL, D("0.5"), D(115), D(0))  # +10 x 0.5
    assert (p.quantity, p.entry_price, p.realized_pnl) == (D("1.5"), D(105), D("4.9"))
    p = p.apply_fill(OrderSide.SELL, D("2.5"), D(95), D(0))  # -10 x 1.5 = -15; flip to -1 @ 95
    assert (p.quantity, p.entry_price, p.realized_pnl) == (D(-1), D(95), D("-10.1"))
    assert p.unrealized_pnl(D(90)) == D(5)
    p = p.apply_fill(OrderSide.BUY, D(1), D(90), D(0))
    assert (p.quantity, p.entry_price, p.realized_pnl) == (D(0), D(0), D("-5.1"))


def test_funding_sign() -> None:
    long_pay = FundingPayment.for_position(D(2), D(100), D("0.0001"), id="1", symbol="S", ts_ms=0)
    short_get = FundingPayment.for_position(D(-2), D(100), D("0.0001"), id="2", symbol="S", ts_ms=0)
    assert (long_pay.amount, short_get.amount) == (D("-0.0200"), D("0.0200"))
    assert PerpPosition(symbol="S").apply_funding(short_get).realized_pnl == D("0.0200")


def test_margins_across_tier() -> None:
    p = PerpPosition(symbol="S", quantity=D(1), entry_price=D(40000), leverage=D(20))
    assert p.initial_margin(D(40000)) == D(2000)
    assert p.maintenance_margin(D(40000), MKT) == D(160)  # 40000 x 0.004 - 0
    assert p.maintenance_margin(D(60000), MKT) == D(250)  # 60000 x 0.005 - 50


def test_liquidation_price() -> None:
    """Long 1 @ 40000, isolated WB 2000, tier 0 (MMR .004, cum 0):
    LP = (2000 - 40000 + 0) / (0.004 - 1) = -38000 / -0.996 = 38152.61...
    Short 1 @ 40000: LP = (2000 + 40000) / (0.004 + 1) = 42000 / 1.004 = 41832.67...
    Cross long with WB 50000 > 40000 covers a price of 0: None."""
    long_ = PerpPosition(symbol="S", quantity=D(1), entry_price=D(40000), margin_mode=MarginMode.ISOLATED)
    assert long_.liquidation_price(MKT, D(2000)) == D(-38000) / D("-0.996")
    short = PerpPosition(symbol="S", quantity=D(-1), entry_price=D(40000))
    assert short.liquidation_price(MKT, D(2000)) == D(42000) / D("1.004")
    assert long_.liquidation_price(MKT, D(50000)) is None


@pytest.mark.parametrize("lev", [D(0), D(-1), D("NaN")])
def test_bad_leverage(lev: D) -> None:
    with pytest.raises(ValueError, match="leverage"):
        PerpPosition(symbol="S", leverage=lev)


def test_bad_fill() -> None:
    with pytest.raises(ValueError, match="price"):
        PerpPosition(symbol="S").apply_fill(OrderSide.BUY, D(1), D("NaN"), D(0))
