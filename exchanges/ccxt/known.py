"""What one adapter session has learnt about the account's orders, shared by its order and stream parts.

ccxt often reports an order or a fill without our client id (a stream update, a fill of an order placed
before a restart). ``KnownOrders`` keeps the exchange id → client id pairs seen so far (bounded, newest
kept), the orders last seen open (so the user stream's cross-check notices one that left the book), the
time of the newest fill per symbol (where the next trade query starts) and the symbols in play (those
traded, streamed or named by ``track_symbol``; the cross-check walks them). In memory only: a restart
starts empty and the runtime's reconciliation fills the gaps.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from trading_bot.domain import ClientOrderId
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol

__all__ = ["ID_CACHE_SIZE", "KnownOrders"]

ID_CACHE_SIZE = 10_000
"""Exchange id → client id pairs kept; the oldest is forgotten past this."""


class KnownOrders:
    """The session's memory of orders and fills (see the module docstring).

    Attributes:
        client_ids: exchange order id → our client id, least recently learnt first.
        open_seen: exchange order id → (symbol, client id) of the orders last reported open.
        fills_since_ms: symbol → time of the newest fill parsed, epoch ms.
        symbols: the symbols the user stream's cross-check walks.
        triggers: client ids of our conditional (stop) orders on contract markets: Binance USDⓈ-M keeps them
            apart (the Algo Order API), so their lookup and cancel say so (ccxt ``{'trigger': True}``).
    """

    def __init__(self, max_ids: int = ID_CACHE_SIZE) -> None:
        self._max_ids = max_ids
        self.client_ids: OrderedDict[str, ClientOrderId] = OrderedDict()
        self.open_seen: dict[str, tuple[Symbol, ClientOrderId]] = {}
        self.fills_since_ms: dict[Symbol, int] = {}
        self.symbols: set[Symbol] = set()
        self.triggers: set[ClientOrderId] = set()

    def remember(self, exchange_id: Any, client_id: Any) -> None:
        """Record that ``exchange_id`` is our ``client_id`` (ignored when either is unset)."""
        if exchange_id is None or not client_id:
            return
        key = str(exchange_id)
        self.client_ids[key] = ClientOrderId(str(client_id))
        self.client_ids.move_to_end(key)
        while len(self.client_ids) > self._max_ids:
            self.client_ids.popitem(last=False)

    def client_id(self, exchange_id: Any) -> str:
        """Return our client id of ``exchange_id``, ``""`` when not known."""
        return self.client_ids.get(str(exchange_id), "")

    def exchange_id(self, client_id: ClientOrderId) -> str | None:
        """Return the exchange id most recently learnt for ``client_id``, ``None`` when not known."""
        return next((k for k, v in reversed(self.client_ids.items()) if v == client_id), None)

    def track(self, report: OrderStatusReport) -> None:
        """Note whether the order of ``report`` is open (kept in ``open_seen``) or left the book (dropped)."""
        key = report.exchange_order_id
        if key is None:
            return
        if report.status.is_open:
            self.open_seen[key] = (report.symbol, report.client_order_id)
        else:
            self.open_seen.pop(key, None)

    def note_fill(self, symbol: Symbol, ts_ms: int) -> None:
        """Move ``fills_since_ms[symbol]`` forward to ``ts_ms`` (epoch ms) when it is newer."""
        self.fills_since_ms[symbol] = max(self.fills_since_ms.get(symbol, 0), ts_ms)
