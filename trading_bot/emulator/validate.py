"""Validation of new-order parameters with Binance's error codes and filter messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation

from trading_bot.domain import Market
from trading_bot.domain import MarketFilter
from trading_bot.emulator.config import MarketFilters
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory

__all__ = ["NewOrder", "check_client_id", "check_filters", "decimal_param", "parse_new_order"]

_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_NUMBER_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER"})
_TIFS = frozenset({"GTC", "IOC", "FOK"})
_RESP_TYPES = frozenset({"ACK", "RESULT", "FULL"})
_WIRE_FILTERS = {
    MarketFilter.TICK: "PRICE_FILTER",
    MarketFilter.LOT_STEP: "LOT_SIZE",
    MarketFilter.MIN_AMOUNT: "LOT_SIZE",
    MarketFilter.MAX_AMOUNT: "LOT_SIZE",
    MarketFilter.MIN_NOTIONAL: "NOTIONAL",
}


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A syntactically valid new order (filters and funds not yet checked)."""

    side: str
    type: str
    time_in_force: str
    price: Decimal
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    client_order_id: str | None
    resp_type: str


def check_client_id(name: str, value: str) -> str:
    """Return ``value`` if it matches Binance's client-id pattern.

    Raises:
        BinanceApiError: -1100 on illegal characters or length.
    """
    if not _CLIENT_ID.match(value):
        raise BinanceApiError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."
        )
    return value


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """Return the decimal parameter ``name`` (``None`` when absent or empty).

    Raises:
        BinanceApiError: -1100 when it is not a plain decimal number.
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _NUMBER.match(raw):
        raise BinanceApiError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '{_NUMBER_RANGE}'."
        )
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise mandatory(name) from None


def _side_and_type(params: Mapping[str, str]) -> tuple[str, str]:
    side = params.get("side", "").upper()
    if not side:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceApiError(-1117, "Invalid side.")
    kind = params.get("type", "").upper()
    if not kind:
        raise mandatory("type")
    if kind not in _TYPES:
        raise BinanceApiError(-1116, "Invalid orderType.")
    return side, kind


def _time_in_force(kind: str, raw: str, price: Decimal | None, qty: Decimal | None, quote: Decimal | None) -> str:
    tif = raw.upper()
    if kind == "LIMIT":
        if not tif:
            raise mandatory("timeInForce")
        if tif not in _TIFS:
            raise BinanceApiError(-1115, "Invalid timeInForce.")
    if kind in ("LIMIT", "LIMIT_MAKER"):
        if price is None:
            raise mandatory("price")
        if qty is None:
            raise mandatory("quantity")
    if kind == "MARKET":
        if qty is None and quote is None:
            raise BinanceApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        if qty is not None and quote is not None:
            raise BinanceApiError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
    return tif or "GTC"


def parse_new_order(params: Mapping[str, str]) -> NewOrder:
    """Parse ``POST /api/v3/order`` parameters (symbol handled by the caller).

    Raises:
        BinanceApiError: -1102/-1100/-1106/-1115/-1116/-1117 for missing, malformed or conflicting params.
    """
    side, kind = _side_and_type(params)
    client_id = params.get("newClientOrderId") or None
    if client_id is not None:
        check_client_id("newClientOrderId", client_id)
    price = decimal_param(params, "price")
    quantity = decimal_param(params, "quantity")
    quote_qty = decimal_param(params, "quoteOrderQty")
    tif = _time_in_force(kind, params.get("timeInForce", ""), price, quantity, quote_qty)
    resp_type = params.get("newOrderRespType", "FULL").upper()
    if resp_type not in _RESP_TYPES:
        raise BinanceApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
    return NewOrder(
        side=side,
        type=kind,
        time_in_force=tif,
        price=price if price is not None else Decimal(0),
        quantity=quantity,
        quote_order_qty=quote_qty,
        client_order_id=client_id,
        resp_type=resp_type,
    )


def check_filters(
    rules: Market, filters: MarketFilters, price: Decimal | None, qty: Decimal, reference: Decimal | None
) -> None:
    """Apply PRICE_FILTER's range (when ``price`` is given), then the market's filters (``Market.order_problem``).

    ``reference`` values a market order for the NOTIONAL filter (``None``: the caller checks it).

    Raises:
        BinanceApiError: -1013 ``Filter failure: <FILTER>`` (PRICE_FILTER, LOT_SIZE or NOTIONAL).
    """
    if price is not None and (price <= 0 or price < filters.min_price or price > filters.max_price):
        raise BinanceApiError(-1013, "Filter failure: PRICE_FILTER")
    breach = rules.order_problem(qty, price, None, reference)
    if breach is not None:
        raise BinanceApiError(-1013, f"Filter failure: {_WIRE_FILTERS[breach.filter]}")
