"""``parse.to_fill``: the fee of a trade, and the fee no venue can charge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.ccxt.parse import to_fill
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Symbol
from trading_bot.errors import BadExchangeResponse

BTC = Symbol("BTC/USDT")


def _trade(cost: str, currency: str) -> dict[str, object]:
    return {"id": "9", "order": "1", "side": "buy", "amount": 0.00166, "price": 60000, "timestamp": 1,
            "fee": {"cost": cost, "currency": currency}}  # fmt: skip


def test_a_buys_fee_in_the_base_asset_is_read_with_its_currency() -> None:
    fill = to_fill(_trade("0.00000166", "BTC"), BTC, ClientOrderId("b-1"), 0)
    assert (fill.fee, fill.fee_currency, fill.quantity) == (Decimal("0.00000166"), "BTC", Decimal("0.00166"))


@pytest.mark.parametrize("cost", ["0.00166", "0.5", "-0.00166"])
def test_a_base_asset_fee_that_takes_the_whole_trade_is_an_impossible_fill(cost: str) -> None:
    """Rule: a fee in the base asset reduces the position; one as large as the trade would turn it over."""
    with pytest.raises(BadExchangeResponse, match="takes all of the"):
        to_fill(_trade(cost, "BTC"), BTC, ClientOrderId("b-1"), 0)
