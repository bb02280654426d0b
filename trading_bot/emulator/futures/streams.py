"""Futures WebSockets under ``/fstream/...``: the listenKey user stream and the market streams.

ccxt 4.5 rewrites a linear base URL ending in ``/ws`` to ``.../public/ws`` (bookTicker, depth, trade),
``.../market/ws`` (markPrice, aggTrade, kline, ticker) and ``.../private/ws?listenKey=K`` (user data), so
with ``urls.api.ws.linear = ws://host:P/fstream/ws`` every one of them lands under ``/fstream/``. A socket
whose query or path carries a known listen key is a user stream (raw ``ORDER_TRADE_UPDATE`` /
``ACCOUNT_UPDATE`` events, no wrapper); any other is a market socket (SUBSCRIBE / UNSUBSCRIBE, names in
the path such as ``/fstream/ws/btcusdt@markPrice@1s`` also work). Events of Binance futures market
streams: ``markPriceUpdate``, ``bookTicker`` (with ``e``, ``T``, ``E``), ``aggTrade``, ``trade``.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from trading_bot.emulator.futures.market import PerpMarket
from trading_bot.emulator.futures.market import num
from trading_bot.emulator.market import PublicTrade
from trading_bot.emulator.streams import Connection
from trading_bot.emulator.streams import StreamHub
from trading_bot.log import get_logger

__all__ = ["FuturesStreams", "book_ticker_event", "mark_price_event", "trade_events"]

_log = get_logger(__name__)


class FuturesStreams:
    """Listen keys and every futures socket (market ones in their own hub, user ones by listen key)."""

    def __init__(self) -> None:
        self.hub = StreamHub()
        self._keys: set[str] = set()
        self._user: set[Connection] = set()

    def new_listen_key(self) -> str:
        """Return the account's listen key (Binance keeps one per account: the same while it is valid)."""
        if not self._keys:
            self._keys.add(secrets.token_urlsafe(45)[:60])
        return next(iter(self._keys))

    @property
    def active(self) -> bool:
        """Return True while a listen key is valid."""
        return bool(self._keys)

    def known(self, key: str | None) -> bool:
        """Return True if ``key`` is an active listen key."""
        return key is not None and key in self._keys

    def close_listen_key(self) -> None:
        """Invalidate the listen key (``DELETE /fapi/v1/listenKey``); its sockets stay until they close."""
        self._keys.clear()

    def publish_user(self, event: dict[str, object]) -> None:
        """Send one user-data event to every user-stream socket."""
        for conn in self._user:
            conn.send(event)

    def publish(self, stream: str, payload: dict[str, object]) -> None:
        """Send a market event to the subscribers of ``stream`` (lower-case key, e.g. ``btcusdt@bookticker``)."""
        self.hub.publish(stream, payload)

    def wants(self, stream: str) -> bool:
        """Return True if any market socket subscribes ``stream``."""
        return self.hub.wants(stream)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one ``/fstream/...`` socket: a user stream when it names a listen key, else a market stream."""
        key = request.query.get("listenKey")
        if key is None:
            key = next((part for part in request.path.split("/") if part in self._keys), None)
        user = self.known(key)
        _log.info("emulator_futures_ws_open", path=request.path, user_stream=user)
        if not user:
            return await self.hub.handle_market(request)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(ws)
        self._user.add(conn)
        try:
            return await self.hub.serve(request, conn, _ignore)
        finally:
            self._user.discard(conn)

    async def drop_all(self) -> int:
        """Close every futures socket; return how many were closed."""
        return await self.hub.drop_all()


async def _ignore(conn: Connection, text: str) -> None:
    """A user stream takes no requests (Binance ignores what a client sends there)."""


def mark_price_event(market: PerpMarket, now_ms: int) -> dict[str, object]:
    """Return the ``markPriceUpdate`` event (``<symbol>@markPrice`` / ``@markPrice@1s``)."""
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": market.market_id,
        "p": num(market.mark),
        "i": num(market.mark),
        "P": num(market.mark),
        "r": num(market.funding_rate),
        "T": market.next_funding_ms,
    }


def book_ticker_event(market: PerpMarket, now_ms: int) -> dict[str, object]:
    """Return the futures ``bookTicker`` event (it has ``e``, unlike spot's)."""
    bid, bid_qty, ask, ask_qty = market.state.top()
    return {"e": "bookTicker", "u": market.state.update_id, "s": market.market_id, "b": num(bid), "B": num(bid_qty),
            "a": num(ask), "A": num(ask_qty), "T": now_ms, "E": now_ms}  # fmt: skip


def trade_events(market: PerpMarket, trade: PublicTrade, now_ms: int) -> tuple[dict[str, object], dict[str, object]]:
    """Return the ``trade`` and ``aggTrade`` events of one print."""
    common = {"E": now_ms, "s": market.market_id, "p": num(trade.price), "q": num(trade.qty), "T": trade.time_ms,
              "m": trade.buyer_maker}  # fmt: skip
    return ({"e": "trade", "t": trade.trade_id, "X": "MARKET", **common},
            {"e": "aggTrade", "a": trade.trade_id, "f": trade.trade_id, "l": trade.trade_id, **common})  # fmt: skip
