"""Control endpoints of the futures venue under ``/_control/futures/``.

``POST mark`` ``{"symbol","price"[,"move_book": true]}`` (book one tick around it, orders matched,
liquidations checked; answers the liquidated ids and the positions);
``POST quote`` ``{"symbol","bid","ask"[,"bid_qty","ask_qty"]}``; ``POST trade`` ``{"symbol","price","qty",
"taker_side"}``; ``POST funding_rate`` ``{"symbol","rate"}`` (may be negative, at most ±0.03);
``POST funding`` ``{["symbol"]}`` settles now (answers the FUNDING_FEE income rows);
``POST position_mode`` ``{"hedge": true|false}``; ``POST balance`` ``{"asset","wallet"}``;
``GET positions``, ``GET state``. Numbers may be JSON strings or numbers; a bad input is a 400 with
``{"error": ...}``; a refusal Binance would give (changing the mode with a position) carries its code.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation

from aiohttp import web

from exchanges.sim.funding import MAX_FUNDING_RATE
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.futures.venue import FuturesVenue

__all__ = ["futures_control_routes"]

_MAX = Decimal("1e15")


class _Bad(Exception):
    pass


def _number(body: Mapping[str, object], name: str, default: str | None = None, *, signed: bool = False) -> Decimal:
    raw = body.get(name, default)
    if raw is None:
        raise _Bad(f"missing {name}")
    value: Decimal | None = None
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            value = None
    if value is None or not value.is_finite() or abs(value) > _MAX or (not signed and value <= 0):
        kind = "a finite number" if signed else "a finite number above 0"
        raise _Bad(f"bad number {name}={raw!r}: expected {kind}, at most 1e15")
    return value


async def _body(request: web.Request) -> dict[str, object]:
    try:
        data = await request.json() if request.can_read_body else {}
    except ValueError:
        raise _Bad("body is not JSON") from None
    if not isinstance(data, dict):
        raise _Bad("body must be a JSON object")
    return data


class _Control:
    def __init__(self, venue: FuturesVenue) -> None:
        self._v = venue

    async def _run(self, request: web.Request, action: str) -> web.Response:
        try:
            body = await _body(request) if request.method == "POST" else {}
            return web.json_response(self._act(action, body))
        except (_Bad, KeyError, ValueError) as exc:
            return web.json_response({"error": str(exc).strip("'\"")}, status=400)
        except BinanceApiError as exc:
            return web.json_response({"error": exc.msg, "code": exc.code}, status=400)

    def _act(self, action: str, body: dict[str, object]) -> object:
        return getattr(self, f"_{action}")(str(body.get("symbol", "")), body)

    def _mark(self, symbol: str, body: dict[str, object]) -> object:
        move = body.get("move_book", True)
        if not isinstance(move, bool):
            raise _Bad("move_book: expected true or false")
        liquidated = self._v.set_mark(symbol, _number(body, "price"), move_book=move)
        return {"liquidated": liquidated, **self._v.state()}

    def _quote(self, symbol: str, body: dict[str, object]) -> object:
        self._v.set_quote(symbol, _number(body, "bid"), _number(body, "ask"), _number(body, "bid_qty", "1"),
                          _number(body, "ask_qty", "1"))  # fmt: skip
        return self._v.state()

    def _trade(self, symbol: str, body: dict[str, object]) -> object:
        self._v.trade(symbol, _number(body, "price"), _number(body, "qty"), str(body.get("taker_side", "")))
        return self._v.state()

    def _funding_rate(self, symbol: str, body: dict[str, object]) -> object:
        rate = _number(body, "rate", signed=True)
        if abs(rate) > MAX_FUNDING_RATE:
            raise _Bad(f"rate {rate}: expected at most ±{MAX_FUNDING_RATE} per interval")
        self._v.set_funding_rate(symbol, rate)
        return self._v.state()

    def _funding(self, symbol: str, body: dict[str, object]) -> object:
        return {"income": self._v.settle_funding(symbol or None), **self._v.state()}

    def _position_mode(self, symbol: str, body: dict[str, object]) -> object:
        hedge = body.get("hedge")
        if not isinstance(hedge, bool):
            raise _Bad("hedge: expected true or false (a JSON boolean)")
        return self._v.set_hedge_mode(hedge)

    def _balance(self, symbol: str, body: dict[str, object]) -> object:
        asset = body.get("asset")
        if not isinstance(asset, str) or not asset.isalnum():
            raise _Bad(f"asset: expected a currency code like 'USDT', got {asset!r}")
        wallet = _number(body, "wallet", signed=True)
        if wallet < 0:
            raise _Bad(f"wallet {wallet}: expected a balance of at least 0")
        self._v.set_balance(asset.upper(), wallet)
        return self._v.state()

    def _positions(self, symbol: str, body: dict[str, object]) -> object:
        return self._v.positions()

    def _state(self, symbol: str, body: dict[str, object]) -> object:
        return self._v.state()


def futures_control_routes(venue: FuturesVenue) -> list[web.RouteDef]:
    """Return the ``/_control/futures`` route table bound to ``venue``."""
    c = _Control(venue)

    def handler(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await c._run(request, action)

        return handle

    posts = ("mark", "quote", "trade", "funding_rate", "funding", "position_mode", "balance")
    routes = [web.post(f"/_control/futures/{a}", handler(a)) for a in posts]
    routes += [web.get(f"/_control/futures/{a}", handler(a)) for a in ("positions", "state")]
    return routes

