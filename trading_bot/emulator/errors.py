"""Binance-shaped error answers raised inside the emulator and rendered by the server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = [
    "MSG_DUPLICATE",
    "MSG_INSUFFICIENT",
    "MSG_UNKNOWN_ORDER_CANCEL",
    "MSG_UNKNOWN_ORDER_QUERY",
    "MSG_WOULD_TAKE",
    "BinanceApiError",
    "mandatory",
    "market_named",
]

M = TypeVar("M")

MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_DUPLICATE = "Duplicate order sent."
MSG_WOULD_TAKE = "Order would immediately match and take."
MSG_UNKNOWN_ORDER_QUERY = "Order does not exist."
MSG_UNKNOWN_ORDER_CANCEL = "Unknown order sent."


class BinanceApiError(Exception):
    """An error answer in Binance's shape: ``{"code": code, "msg": msg}`` with an HTTP status.

    Args:
        code: Binance error code, e.g. ``-2010``.
        msg: Binance error message (ccxt matches some messages exactly).
        status: HTTP status of the answer (400 unless stated).
    """

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        """Return the JSON body Binance sends for this error."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceApiError:
    """Return the -1102 error for a missing or malformed mandatory parameter ``name``."""
    return BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def market_named(markets: Mapping[str, M], params: Mapping[str, str]) -> M:
    """Return the market ``params['symbol']`` names (Binance ids, any case), spot or USDⓈ-M alike.

    Raises:
        BinanceApiError: -1102 without a symbol, -1121 for an unknown one.
    """
    symbol = params.get("symbol", "").upper()
    if not symbol:
        raise mandatory("symbol")
    market = markets.get(symbol)
    if market is None:
        raise BinanceApiError(-1121, "Invalid symbol.")
    return market
