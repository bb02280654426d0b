"""Fill factory for the backtest tests."""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import OrderSide
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId

__all__ = ["make_fill"]


def make_fill(
    side: str,
    quantity: str,
    price: str,
    *,
    ts_ms: int,
    fee: str = "0",
    fee_currency: str = "USDT",
    symbol: str = "BTC/USDT",
    trade_id: str | None = None,
    client_order_id: str = "bot-1",
) -> Fill:
    """Return a fill; numbers are given as strings so they stay exact."""
    return Fill(
        trade_id=TradeId(trade_id if trade_id is not None else f"t{ts_ms}-{side}"),
        client_order_id=ClientOrderId(client_order_id),
        symbol=Symbol(symbol),
        side=OrderSide(side),
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        ts_ms=ts_ms,
    )
