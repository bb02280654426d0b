"""Sizing at the fill, live: a quote-amount market order goes to Binance as ``quoteOrderQty`` (real ccxt over
loopback to the emulator), so the venue sizes it at the price it fills at."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.test_ccxt_faults import emulated
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol

SYMBOL = Symbol("BTC/USDT")


@pytest.mark.asyncio
async def test_a_quote_quantity_market_buy_is_sent_as_quote_order_qty_and_sized_by_the_venue() -> None:
    """OrderParams.quote_quantity=1000 → POST /api/v3/order with quoteOrderQty=1000 and no quantity; the fill
    is what 1000 USDT buys at the ask 60010 (lot step 0.00001), not the 0.02 estimate."""
    async with emulated() as (emulator, client, updates):
        coid = ClientOrderId("qq-1")
        params = OrderParams(side=OrderSide.BUY, order_type=OrderType.MARKET, quote_quantity=Decimal(1000))

        await client.place_order(SYMBOL, params, Decimal("0.02"), coid)

        posts = [r for r in emulator.request_log() if r.get("method") == "POST" and r.get("path") == "/api/v3/order"]
        sent = posts[-1]["params"]
        assert Decimal(sent["quoteOrderQty"]) == 1000
        assert "quantity" not in sent
        fills = [u for u in updates if isinstance(u, Fill)]
        assert fills
        bought = sum((f.quantity for f in fills), Decimal(0))
        assert bought == (Decimal(1000) / Decimal(60010)).quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
        assert sum((f.price * f.quantity for f in fills), Decimal(0)) <= 1000
