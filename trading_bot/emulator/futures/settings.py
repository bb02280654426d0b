"""The per-symbol settings endpoints of the futures venue: ``POST /fapi/v1/leverage`` and ``/fapi/v1/marginType``.

The rules are ``MarginAccount``'s (leverage 1..the market's max, margin mode unchanged with a position or
open orders); this module adds Binance's codes: -4028 a leverage out of range, -4046 "No need to change
margin type." (ccxt: MarginModeAlreadySet), -4048 with a position, -4047 with open orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from trading_bot.domain import MarginMode
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory
from trading_bot.emulator.futures.engine import FuturesEngine
from trading_bot.emulator.futures.market import num
from trading_bot.errors import OrderRejected

__all__ = ["set_leverage", "set_margin_type"]


def set_leverage(engine: FuturesEngine, params: Mapping[str, str]) -> dict[str, object]:
    """Handle ``POST /fapi/v1/leverage``; answer the leverage and the notional cap of its bracket.

    Raises:
        BinanceApiError: -1102 without leverage, -4028 out of the market's range.
    """
    market = engine.market(params)
    raw = params.get("leverage", "")
    if not raw.isdigit():
        raise mandatory("leverage")
    try:
        engine.account.set_leverage(market.rules.symbol, int(raw))
    except OrderRejected:
        raise BinanceApiError(-4028, f"Leverage {raw} is not valid") from None
    leverage = engine.account.leverage(market.rules.symbol)
    cap = next((t.cap for t in market.rules.margin_tiers if t.max_leverage >= leverage), Decimal(0))
    return {"leverage": leverage, "maxNotionalValue": num(cap), "symbol": market.market_id}


def set_margin_type(engine: FuturesEngine, params: Mapping[str, str]) -> dict[str, object]:
    """Handle ``POST /fapi/v1/marginType`` (``ISOLATED`` or ``CROSSED``).

    Raises:
        BinanceApiError: -4046 unchanged, -4048 with a position, -4047 with open orders, -1102/-1100 bad type.
    """
    market = engine.market(params)
    raw = params.get("marginType", "").upper()
    if not raw:
        raise mandatory("marginType")
    if raw not in ("ISOLATED", "CROSSED"):
        raise BinanceApiError(-1100, "Illegal characters found in parameter 'marginType'.")
    mode = MarginMode.ISOLATED if raw == "ISOLATED" else MarginMode.CROSS
    symbol = market.rules.symbol
    if mode is engine.account.margin_mode(symbol):
        raise BinanceApiError(-4046, "No need to change margin type.")
    if engine.account.position(symbol).quantity != 0:
        raise BinanceApiError(-4048, "Margin type cannot be changed if there exists position.")
    if engine.has_open_orders(market.market_id):
        raise BinanceApiError(-4047, "Margin type cannot be changed if there exists open orders.")
    engine.account.set_margin_mode(symbol, mode)
    return {"code": 200, "msg": "success"}
