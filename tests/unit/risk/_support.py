"""Builders for risk tests: a BTC/USDT market, quotes and contexts with overridable parts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from risk.rules import RiskContext
from trading_bot.domain import Balance
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Position
from trading_bot.domain import Symbol

SYMBOL = Symbol("BTC/USDT")
NOW_MS = 1_723_075_200_000  # 2024-08-08T00:00:00Z


def D(value: str | int) -> Decimal:
    """Return ``Decimal(value)``."""
    return Decimal(value)


def market(**overrides: Any) -> Market:
    """Return a Binance-like BTC/USDT spot market (tick 0.01, lot 0.00001, min notional 5)."""
    fields: dict[str, Any] = {
        "symbol": SYMBOL,
        "base": "BTC",
        "quote": "USDT",
        "price_increment": D("0.01"),
        "amount_increment": D("0.00001"),
        "min_amount": D("0.00001"),
        "min_notional": D("5"),
        "max_amount": D("9000"),
        "taker_fee": D("0.001"),
        "maker_fee": D("0.001"),
    }
    fields.update(overrides)
    return Market(**fields)


def quote(bid: str = "60000.00", ask: str = "60000.02", ts_ms: int = NOW_MS) -> MarketData:
    """Return a top-of-book quote at ``ts_ms``."""
    return MarketData(symbol=SYMBOL, ts_ms=ts_ms, bid=D(bid), ask=D(ask))


def balances(usdt: str = "10000", btc: str = "1") -> dict[str, Balance]:
    """Return free balances of USDT and BTC."""
    return {
        "USDT": Balance(currency="USDT", free=D(usdt)),
        "BTC": Balance(currency="BTC", free=D(btc)),
    }


def ctx(**overrides: Any) -> RiskContext:
    """Return a context: flat position, fresh quote at now, no open orders, 10,000 USDT and 1 BTC free."""
    position_qty = overrides.pop("position_qty", D(0))
    fields: dict[str, Any] = {
        "market": market(),
        "market_data": quote(),
        "now_ms": NOW_MS,
        "position": Position(symbol=SYMBOL, quantity=position_qty, quote_currency="USDT"),
        "open_order_count": 0,
        "balances": balances(),
        "equity": D("10000"),
        "spot": True,
    }
    fields.update(overrides)
    return RiskContext(**fields)


def buy(price: str | None = "60000.00", quantity: str | None = None) -> OrderParams:
    """Return a limit buy at ``price`` (a market buy when ``price`` is None)."""
    return _order(OrderSide.BUY, price, quantity)


def sell(price: str | None = "60000.02", quantity: str | None = None) -> OrderParams:
    """Return a limit sell at ``price`` (a market sell when ``price`` is None)."""
    return _order(OrderSide.SELL, price, quantity)


def _order(side: OrderSide, price: str | None, quantity: str | None) -> OrderParams:
    order_type = OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderParams(
        side=side,
        order_type=order_type,
        price=None if price is None else D(price),
        quantity=None if quantity is None else D(quantity),
    )
