"""The WS API endpoint (``/ws-api/v3``): user-data stream subscription by signature, ping and time."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from trading_bot.emulator.auth import check_api_key
from trading_bot.emulator.auth import check_timestamp
from trading_bot.emulator.auth import check_ws_signature
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.streams import Connection
from trading_bot.emulator.streams import StreamHub
from trading_bot.log import get_logger

__all__ = ["WsApi"]

_log = get_logger(__name__)
_RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 2}]


class WsApi:
    """Answers WS-API requests and registers user-data subscribers with the hub.

    Args:
        hub: The emulator's stream hub.
        api_key: Accepted API key.
        api_secret: HMAC secret of that key.
        now_ms: Server clock (skew included) in epoch milliseconds.
        log_request: Called with ``(method, params, status)`` for the request log.
    """

    def __init__(
        self,
        hub: StreamHub,
        api_key: str,
        api_secret: str,
        now_ms: Callable[[], int],
        log_request: Callable[[str, dict[str, str], int], None],
    ) -> None:
        self._hub = hub
        self._key = api_key
        self._secret = api_secret
        self._now = now_ms
        self._log_request = log_request

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one WS-API socket."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        return await self._hub.serve(request, Connection(ws), self._on_text)

    async def _on_text(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            method = str(request["method"])
            request_id = request.get("id")
            params = dict(request.get("params") or {})
        except (ValueError, KeyError, TypeError):
            conn.send({"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}})
            return
        logged = {k: str(v) for k, v in params.items() if k != "signature"}
        try:
            result = self._dispatch(conn, method, params)
        except BinanceApiError as exc:
            self._log_request(method, logged, exc.status)
            conn.send({"id": request_id, "status": exc.status, "error": exc.body(), "rateLimits": _RATE_LIMITS})
            return
        self._log_request(method, logged, 200)
        conn.send({"id": request_id, "status": 200, "result": result, "rateLimits": _RATE_LIMITS})

    def _dispatch(self, conn: Connection, method: str, params: dict[str, object]) -> object:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._now()}
        if method == "userDataStream.subscribe.signature":
            api_key = params.get("apiKey")
            check_api_key(api_key if isinstance(api_key, str) else None, self._key)
            check_timestamp({k: str(v) for k, v in params.items()}, self._now())
            check_ws_signature(params, self._secret)
            conn.user_subscription = conn.next_subscription
            conn.next_subscription += 1
            _log.info("emulator_user_stream_subscribed", subscription_id=conn.user_subscription)
            return {"subscriptionId": conn.user_subscription}
        if method == "userDataStream.unsubscribe":
            conn.user_subscription = None
            return {}
        if method == "session.status":
            return {
                "apiKey": None,
                "authorizedSince": None,
                "connectedSince": None,
                "returnRateLimits": False,
                "serverTime": self._now(),
                "userDataStream": conn.user_subscription is not None,
            }
        raise BinanceApiError(-1020, "This operation is not supported.")
