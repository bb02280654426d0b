"""Identifier types. They are ``NewType``s over ``str``: zero cost at run time, distinct to mypy."""

from __future__ import annotations

import re
from typing import NewType

__all__ = [
    "CLIENT_ORDER_ID_MAX_LEN",
    "ClientOrderId",
    "ExchangeOrderId",
    "StrategyId",
    "Symbol",
    "TradeId",
    "make_client_order_id",
    "validate_bot_id",
]

Symbol = NewType("Symbol", str)
"""Unified market symbol, ccxt style: ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (linear perpetual)."""
ClientOrderId = NewType("ClientOrderId", str)
"""Our id of an order: ``<bot-id>-<sequence>``, unique, persistent, at most 36 characters."""
ExchangeOrderId = NewType("ExchangeOrderId", str)
"""The exchange's id of an order."""
TradeId = NewType("TradeId", str)
"""The exchange's id of one fill; fills are applied once per trade id."""
StrategyId = NewType("StrategyId", str)
"""Name of a strategy instance."""

CLIENT_ORDER_ID_MAX_LEN = 36
"""Binance's limit, the strictest of the venues we target (``^[.A-Z:/a-z0-9_-]{1,36}$``)."""

_BOT_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,20}$")


def validate_bot_id(bot_id: str) -> str:
    """Return ``bot_id`` if it can prefix client order ids, else raise ``ValueError``.

    A bot id is 1-20 characters of ``[A-Za-z0-9_]``; with ``-`` and a sequence of up to 15 digits the
    client order id stays within 36 characters. ``-`` is excluded so the prefix is unambiguous.
    """
    if not _BOT_ID_RE.match(bot_id):
        raise ValueError(f"bot id {bot_id!r} must be 1-20 characters of letters, digits and '_'")
    return bot_id


def make_client_order_id(bot_id: str, sequence: int) -> ClientOrderId:
    """Build the client order id ``<bot_id>-<sequence>``."""
    if sequence < 0:
        raise ValueError("sequence must be >= 0")
    coid = f"{bot_id}-{sequence}"
    if len(coid) > CLIENT_ORDER_ID_MAX_LEN:
        raise ValueError(f"client order id {coid!r} is longer than {CLIENT_ORDER_ID_MAX_LEN} characters")
    return ClientOrderId(coid)
