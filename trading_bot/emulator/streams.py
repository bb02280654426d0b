"""WebSocket fan-out: market streams (``/ws``, ``/stream``, any suffix) and user-data subscribers.

Every connection has a send queue drained by its own writer task, so publishing is synchronous and
keeps order (a SUBSCRIBE reply always precedes the stream's first event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from aiohttp import WSMsgType
from aiohttp import web

from trading_bot.log import get_logger

__all__ = ["Connection", "StreamHub", "TextHandler", "canonical_stream"]

_log = get_logger(__name__)


TextHandler = Callable[["Connection", str], Awaitable[None]]
"""Handler of one text frame of a connection."""


def canonical_stream(name: str) -> str:
    """Return the subscription key of a stream name: lower case, depth speed suffix dropped."""
    key = name.strip().lower()
    for suffix in ("@100ms", "@1000ms", "@0ms"):
        if key.endswith(suffix) and "@depth" in key:
            key = key[: -len(suffix)]
    return key


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


@dataclass(eq=False, slots=True)
class Connection:
    """One accepted WebSocket with its subscriptions and send queue."""

    ws: web.WebSocketResponse
    combined: bool = False
    streams: dict[str, str] = field(default_factory=dict)
    user_subscription: int | None = None
    next_subscription: int = 0
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def send(self, payload: object) -> None:
        """Queue one JSON message for this connection."""
        self.queue.put_nowait(_dumps(payload))

    async def write_loop(self) -> None:
        """Send queued messages until the socket closes."""
        while True:
            text = await self.queue.get()
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class StreamHub:
    """All open WebSockets of the emulator, market and user-data alike."""

    def __init__(self) -> None:
        self._conns: set[Connection] = set()

    def wants(self, stream: str) -> bool:
        """Return True if any connection subscribes ``stream`` (a canonical key)."""
        return any(stream in c.streams for c in self._conns)

    def publish(self, stream: str, payload: dict[str, object]) -> None:
        """Send a market event to every subscriber of ``stream`` (canonical key)."""
        for conn in self._conns:
            name = conn.streams.get(stream)
            if name is not None:
                conn.send({"stream": name, "data": payload} if conn.combined else payload)

    def publish_user(self, event: dict[str, object]) -> None:
        """Send a user-data event to every WS-API connection with an active user-stream subscription."""
        for conn in self._conns:
            if conn.user_subscription is not None:
                conn.send({"subscriptionId": conn.user_subscription, "event": event})

    async def drop_all(self) -> int:
        """Close every WebSocket now (fault injection); return how many were closed."""
        conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"emulator drop")
        _log.info("emulator_ws_dropped", count=len(conns))
        return len(conns)

    async def serve(self, request: web.Request, conn: Connection, on_text: TextHandler) -> web.WebSocketResponse:
        """Run one prepared connection: register, read until closed, then clean up."""
        self._conns.add(conn)
        writer = asyncio.create_task(conn.write_loop(), name="emulator-ws-writer")
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    await on_text(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return conn.ws

    async def handle_market(self, request: web.Request) -> web.WebSocketResponse:
        """Serve a market-stream socket: path/query streams plus SUBSCRIBE / UNSUBSCRIBE requests."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, combined=request.path.startswith("/stream") and "streams" in request.query)
        names = [p for p in request.path.split("/") if "@" in p]
        names += [s for s in request.query.get("streams", "").split("/") if s]
        for name in names:
            conn.streams[canonical_stream(name)] = name
        return await self.serve(request, conn, self._on_market_text)

    async def _on_market_text(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            method = request["method"]
            request_id = request.get("id")
        except (ValueError, KeyError, TypeError):
            conn.send({"error": {"code": 3, "msg": "Invalid JSON: expected a request object"}, "id": None})
            return
        params = request.get("params") or []
        if method == "SUBSCRIBE":
            for name in params:
                conn.streams[canonical_stream(name)] = name
            conn.send({"result": None, "id": request_id})
        elif method == "UNSUBSCRIBE":
            for name in params:
                conn.streams.pop(canonical_stream(name), None)
            conn.send({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send({"result": sorted(conn.streams.values()), "id": request_id})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            conn.send({"result": None if method == "SET_PROPERTY" else False, "id": request_id})
        else:
            conn.send({"error": {"code": 1, "msg": f"Unknown method {method!r}"}, "id": request_id})
