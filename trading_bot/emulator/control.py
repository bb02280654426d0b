"""Control endpoints under ``/_control/``: move the market, set faults, inspect orders, fills and requests.

``POST /_control/quote`` ``{"symbol","bid","ask"[,"bid_qty","ask_qty"]}``;
``POST /_control/trade`` ``{"symbol","price","qty","taker_side"}``;
``GET|POST /_control/faults`` (POST body: fault names as in ``FaultConfig``, plus ``drop_ws``);
``POST /_control/balance`` ``{"asset","free"}``;
``GET /_control/orders``, ``/_control/fills``, ``/_control/requests``, ``/_control/state``.
Numbers may be JSON strings or numbers; they become Decimal via ``str`` and must be finite, positive
(a balance may be 0) and at most 1e15. Fault values must have their exact JSON type (``true``, not
``"true"``) and lie in their range (``FAULT_RANGES``). Every bad input is a 400 with ``{"error": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from typing import Protocol

from aiohttp import web

__all__ = ["ControlTarget", "control_routes"]


class ControlTarget(Protocol):
    """The emulator methods the control endpoints call."""

    async def set_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal = ..., ask_qty: Decimal = ...
    ) -> None:
        """Move the external top of book."""

    async def trade(self, symbol: str, price: Decimal, qty: Decimal, taker_side: str) -> None:
        """Print a public trade."""

    def set_faults(self, **kwargs: object) -> dict[str, object]:
        """Change faults; return the current settings."""

    def faults(self) -> dict[str, object]:
        """Return the current fault settings."""

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Set a free balance."""

    def orders(self) -> list[dict[str, object]]:
        """Return every order."""

    def fills(self) -> list[dict[str, object]]:
        """Return every fill."""

    def request_log(self) -> list[dict[str, object]]:
        """Return the request log."""

    def state(self) -> dict[str, object]:
        """Return quotes and balances."""


_MAX_NUMBER = Decimal("1e15")


def _dec(body: Mapping[str, object], name: str, default: str | None = None, *, zero_ok: bool = False) -> Decimal:
    raw = body.get(name, default)
    if raw is None:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"missing {name}"}), content_type="application/json")
    try:
        value = Decimal(str(raw)) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    low_ok = value is not None and value.is_finite() and (value >= 0 if zero_ok else value > 0)
    if value is None or not low_ok or value > _MAX_NUMBER:
        low = "0 (inclusive)" if zero_ok else "0"
        message = f"bad number {name}={raw!r}: expected a finite number above {low}, at most 1e15"
        raise web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")
    return value


async def _body(request: web.Request) -> dict[str, object]:
    try:
        data = await request.json() if request.can_read_body else {}
    except ValueError:
        raise web.HTTPBadRequest(text='{"error":"body is not JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error":"body must be a JSON object"}', content_type="application/json")
    return data


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


class _Control:
    def __init__(self, target: ControlTarget) -> None:
        self._t = target

    async def quote(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            await self._t.set_quote(
                str(body.get("symbol", "")),
                _dec(body, "bid"),
                _dec(body, "ask"),
                _dec(body, "bid_qty", "1"),
                _dec(body, "ask_qty", "1"),
            )
        except (KeyError, ValueError) as exc:
            return _bad(str(exc))
        return web.json_response(self._t.state())

    async def trade(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            await self._t.trade(
                str(body.get("symbol", "")), _dec(body, "price"), _dec(body, "qty"), str(body.get("taker_side", ""))
            )
        except (KeyError, ValueError) as exc:
            return _bad(str(exc))
        return web.json_response(self._t.state())

    async def faults_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._t.faults())

    async def faults_post(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            return web.json_response(self._t.set_faults(**body))
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))

    async def balance(self, request: web.Request) -> web.Response:
        body = await _body(request)
        asset = body.get("asset")
        if not isinstance(asset, str) or not asset.isalnum():
            return _bad(f"asset: expected a currency code like 'USDT', got {asset!r}")
        self._t.set_balance(asset.upper(), _dec(body, "free", zero_ok=True))
        return web.json_response(self._t.state())

    async def orders(self, request: web.Request) -> web.Response:
        return web.json_response(self._t.orders())

    async def fills(self, request: web.Request) -> web.Response:
        return web.json_response(self._t.fills())

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response(self._t.request_log())

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self._t.state())


def control_routes(target: ControlTarget) -> list[web.RouteDef]:
    """Return the ``/_control`` route table bound to ``target``."""
    c = _Control(target)
    return [
        web.post("/_control/quote", c.quote),
        web.post("/_control/trade", c.trade),
        web.get("/_control/faults", c.faults_get),
        web.post("/_control/faults", c.faults_post),
        web.post("/_control/balance", c.balance),
        web.get("/_control/orders", c.orders),
        web.get("/_control/fills", c.fills),
        web.get("/_control/requests", c.requests),
        web.get("/_control/state", c.state),
    ]
