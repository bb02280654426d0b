"""Parsing of USDⓈ-M futures order parameters (``POST /fapi/v1/order`` and ``/fapi/v1/algoOrder``).

Binance's codes: -1102 a mandatory parameter missing, -1100 illegal characters, -1116 a bad type,
-1115 a bad timeInForce, -1117 a bad side, -4061 a positionSide other than BOTH in one-way mode,
-4120 a conditional type sent to the order endpoint (those go to the Algo Order API since 2025-12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import TimeInForce
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory
from trading_bot.emulator.validate import check_client_id
from trading_bot.emulator.validate import decimal_param

__all__ = ["FuturesOrder", "parse_futures_order"]

_TYPES = frozenset({"LIMIT", "MARKET"})
_ALGO_TYPES = frozenset({"STOP_MARKET"})
_TIFS = frozenset({"GTC", "IOC", "FOK", "GTX"})


@dataclass(frozen=True, slots=True)
class FuturesOrder:
    """A syntactically valid futures order (filters, margin and position not yet checked).

    ``stop_price`` is the trigger of a STOP_MARKET (quote per base); ``time_in_force`` is ``GTC`` for
    market and stop orders (Binance echoes it so).
    """

    side: str
    type: str
    time_in_force: str
    price: Decimal
    stop_price: Decimal
    quantity: Decimal
    reduce_only: bool
    client_order_id: str | None

    def params(self) -> OrderParams:
        """Return the matching core's ``OrderParams`` (GTX is a post-only GTC limit)."""
        side = OrderSide.BUY if self.side == "BUY" else OrderSide.SELL
        if self.type == "MARKET":
            return OrderParams(side=side, order_type=OrderType.MARKET, reduce_only=self.reduce_only)
        if self.type == "STOP_MARKET":
            return OrderParams(side=side, order_type=OrderType.STOP_MARKET, trigger_price=self.stop_price,
                               reduce_only=self.reduce_only)  # fmt: skip
        tif = TimeInForce.GTC if self.time_in_force == "GTX" else TimeInForce(self.time_in_force.lower())
        return OrderParams(side=side, order_type=OrderType.LIMIT, price=self.price, time_in_force=tif,
                           post_only=self.time_in_force == "GTX", reduce_only=self.reduce_only)  # fmt: skip


def _bool(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return raw == "true"


def _side_and_type(params: Mapping[str, str], algo: bool) -> tuple[str, str]:
    side = params.get("side", "").upper()
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceApiError(-1117, "Invalid side.")
    kind = params.get("type", "").upper()
    if not kind:
        raise mandatory("type")
    if not algo and kind in _ALGO_TYPES:
        raise BinanceApiError(-4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                                     "endpoints instead.")  # fmt: skip
    if kind not in (_ALGO_TYPES if algo else _TYPES):
        raise BinanceApiError(-1116, "Invalid orderType.")
    return side, kind


def _prices(params: Mapping[str, str], kind: str, algo: bool) -> tuple[Decimal | None, Decimal | None, str]:
    price = decimal_param(params, "price")
    stop = decimal_param(params, "triggerPrice" if algo else "stopPrice")
    tif = params.get("timeInForce", "").upper()
    if kind == "LIMIT":
        if price is None:
            raise mandatory("price")
        if not tif:
            raise mandatory("timeInForce")
        if tif not in _TIFS:
            raise BinanceApiError(-1115, "Invalid timeInForce.")
    elif price is not None:
        raise BinanceApiError(-1106, "Parameter 'price' sent when not required.")
    if kind == "STOP_MARKET" and stop is None:
        raise mandatory("triggerPrice")
    return price, stop, tif


def parse_futures_order(params: Mapping[str, str], *, algo: bool, hedge_mode: bool) -> FuturesOrder:
    """Parse one order's parameters (symbol handled by the caller).

    ``algo``: the Algo Order API (``STOP_MARKET`` with ``triggerPrice`` and ``clientAlgoId``); otherwise
    the order endpoint (``LIMIT`` and ``MARKET`` with ``stopPrice`` unused and ``newClientOrderId``).

    Raises:
        BinanceApiError: Binance's code for the first problem (module docstring).
    """
    side, kind = _side_and_type(params, algo)
    position_side = params.get("positionSide", "BOTH").upper()
    if position_side != "BOTH" or hedge_mode:
        raise BinanceApiError(-4061, "Order's position side does not match user's setting.")
    id_name = "clientAlgoId" if algo else "newClientOrderId"
    client_id = params.get(id_name) or None
    if client_id is not None:
        check_client_id(id_name, client_id)
    quantity = decimal_param(params, "quantity")
    if quantity is None:
        raise mandatory("quantity")
    price, stop, tif = _prices(params, kind, algo)
    return FuturesOrder(
        side=side,
        type=kind,
        time_in_force=tif or "GTC",
        price=price if price is not None else Decimal(0),
        stop_price=stop if stop is not None else Decimal(0),
        quantity=quantity,
        reduce_only=_bool(params, "reduceOnly"),
        client_order_id=client_id,
    )
