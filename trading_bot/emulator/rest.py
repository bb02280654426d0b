"""REST handlers of ``/api/v3/*`` in Binance spot's shapes (see /work/shared/CCXT_BINANCE.md §2-§3)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from trading_bot.emulator.auth import check_api_key
from trading_bot.emulator.auth import check_rest_signature
from trading_bot.emulator.auth import check_timestamp
from trading_bot.emulator.engine import Engine
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory
from trading_bot.emulator.faults import FaultState
from trading_bot.emulator.klines import BarStore
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.market import fmt

__all__ = ["HELD_KEY", "PARAMS_KEY", "RAW_BODY_KEY", "RestApi", "signed_params"]

PARAMS_KEY = web.RequestKey("emulator_params", dict[str, str])
RAW_BODY_KEY = web.RequestKey("emulator_raw_body", str)
HELD_KEY = web.RequestKey("emulator_held_s", float)
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def signed_params(request: web.Request, api_key: str, api_secret: str, now_ms: int) -> dict[str, str]:
    """Return a signed request's parameters after Binance's checks: API key, timestamp window, HMAC signature
    (spot and USDⓈ-M alike).

    Raises:
        BinanceApiError: a missing or wrong key, a timestamp outside the window, a bad signature (Binance's codes).
    """
    check_api_key(request.headers.get("X-MBX-APIKEY"), api_key)
    params = request[PARAMS_KEY]
    check_timestamp(params, now_ms)
    check_rest_signature(request.rel_url.raw_query_string, request[RAW_BODY_KEY], api_secret)
    return params


@dataclass(slots=True)
class RestApi:
    """The REST surface over the emulator's markets, candles and engine.

    Attributes:
        markets: Markets by Binance id.
        bars: Candle store per market id.
        engine: The account's matching engine.
        now_ms: Server clock (skew included) in epoch milliseconds.
        api_key: Accepted API key.
        api_secret: HMAC secret.
        faults: Shared fault state (accept-then-timeout is applied to order POSTs here).
        stopping: Set when the server stops (releases held-back answers).
    """

    markets: Mapping[str, MarketState]
    bars: Mapping[str, BarStore]
    engine: Engine
    now_ms: Callable[[], int]
    api_key: str
    api_secret: str
    faults: FaultState
    stopping: asyncio.Event

    def routes(self) -> list[web.RouteDef]:
        """Return the route table."""
        p = "/api/v3"
        return [
            web.get(f"{p}/ping", self.ping),
            web.get(f"{p}/time", self.time),
            web.get(f"{p}/exchangeInfo", self.exchange_info),
            web.get(f"{p}/ticker/24hr", self.ticker_24hr),
            web.get(f"{p}/ticker/bookTicker", self.book_ticker),
            web.get(f"{p}/ticker/price", self.ticker_price),
            web.get(f"{p}/depth", self.depth),
            web.get(f"{p}/klines", self.klines),
            web.get(f"{p}/uiKlines", self.klines),
            web.get(f"{p}/trades", self.trades),
            web.get(f"{p}/aggTrades", self.agg_trades),
            web.get(f"{p}/account", self.account),
            web.post(f"{p}/order", self.order_new),
            web.post(f"{p}/order/test", self.order_test),
            web.get(f"{p}/order", self.order_get),
            web.delete(f"{p}/order", self.order_cancel),
            web.get(f"{p}/openOrders", self.open_orders),
            web.delete(f"{p}/openOrders", self.cancel_open_orders),
            web.get(f"{p}/allOrders", self.all_orders),
            web.get(f"{p}/myTrades", self.my_trades),
        ]

    # -- helpers ---------------------------------------------------------------------------------------

    def _signed(self, request: web.Request) -> dict[str, str]:
        return signed_params(request, self.api_key, self.api_secret, self.now_ms())

    def _market(self, params: Mapping[str, str]) -> MarketState:
        return self.engine.market(params)

    def _symbols(self, params: Mapping[str, str]) -> list[MarketState]:
        if "symbol" in params:
            return [self._market(params)]
        return list(self.markets.values())

    @staticmethod
    def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None

    def _limit(self, params: Mapping[str, str], default: int, maximum: int) -> int:
        value = self._int(params, "limit", default)
        assert value is not None
        if value <= 0:
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'limit'.")
        return min(value, maximum)

    # -- public ----------------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ping``."""
        return web.json_response({})

    async def time(self, request: web.Request) -> web.Response:
        """``GET /api/v3/time``."""
        return web.json_response({"serverTime": self.now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        """``GET /api/v3/exchangeInfo``."""
        symbols = [_symbol_info(m) for m in self.markets.values()]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self.now_ms(),
                "rateLimits": _RATE_LIMITS,
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/24hr`` (one symbol, or all)."""
        params = request[PARAMS_KEY]
        tickers = [m.ticker(self.now_ms()) for m in self._symbols(params)]
        return web.json_response(tickers[0] if "symbol" in params else tickers)

    async def book_ticker(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/bookTicker``."""
        params = request[PARAMS_KEY]
        rows = []
        for m in self._symbols(params):
            bid, bid_qty, ask, ask_qty = m.top()
            rows.append(
                {
                    "symbol": m.market_id,
                    "bidPrice": fmt(bid),
                    "bidQty": fmt(bid_qty),
                    "askPrice": fmt(ask),
                    "askQty": fmt(ask_qty),
                }
            )
        return web.json_response(rows[0] if "symbol" in params else rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/price``."""
        params = request[PARAMS_KEY]
        rows = [{"symbol": m.market_id, "price": fmt(m.last_price)} for m in self._symbols(params)]
        return web.json_response(rows[0] if "symbol" in params else rows)

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth`` (limit default 100, max 5000)."""
        params = request[PARAMS_KEY]
        market = self._market(params)
        return web.json_response(market.snapshot(self._limit(params, 100, 5000)))

    async def klines(self, request: web.Request) -> web.Response:
        """``GET /api/v3/klines`` (startTime / endTime / limit up to 1000)."""
        params = request[PARAMS_KEY]
        market = self._market(params)
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        rows = self.bars[market.market_id].query(
            interval, self._int(params, "startTime"), self._int(params, "endTime"), self._int(params, "limit")
        )
        return web.json_response(rows)

    async def trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/trades`` (recent public trades)."""
        params = request[PARAMS_KEY]
        market = self._market(params)
        recent = list(market.trades)[-self._limit(params, 500, 1000) :]
        return web.json_response(
            [
                {
                    "id": t.trade_id,
                    "price": fmt(t.price),
                    "qty": fmt(t.qty),
                    "quoteQty": fmt(t.price * t.qty),
                    "time": t.time_ms,
                    "isBuyerMaker": t.buyer_maker,
                    "isBestMatch": True,
                }
                for t in recent
            ]
        )

    async def agg_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/aggTrades`` (one public trade per aggregate)."""
        params = request[PARAMS_KEY]
        market = self._market(params)
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        from_id = self._int(params, "fromId")
        rows = [
            t
            for t in market.trades
            if (start is None or t.time_ms >= start)
            and (end is None or t.time_ms <= end)
            and (from_id is None or t.trade_id >= from_id)
        ]
        limit = self._limit(params, 500, 1000)
        rows = rows[:limit] if start is not None or from_id is not None else rows[-limit:]
        return web.json_response(
            [
                {
                    "a": t.trade_id,
                    "p": fmt(t.price),
                    "q": fmt(t.qty),
                    "f": t.trade_id,
                    "l": t.trade_id,
                    "T": t.time_ms,
                    "m": t.buyer_maker,
                    "M": True,
                }
                for t in rows
            ]
        )

    # -- signed ----------------------------------------------------------------------------------------

    async def account(self, request: web.Request) -> web.Response:
        """``GET /api/v3/account``."""
        self._signed(request)
        return web.json_response(self.engine.account())

    async def order_new(self, request: web.Request) -> web.Response:
        """``POST /api/v3/order``; an armed accept-then-timeout fault holds the answer back."""
        params = self._signed(request)
        answer = self.engine.place(params)
        delay = self.faults.take_accept_then_timeout()
        if delay is not None:
            request[HELD_KEY] = delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
        return web.json_response(answer)

    async def order_test(self, request: web.Request) -> web.Response:
        """``POST /api/v3/order/test``: validation only (symbol and signature)."""
        params = self._signed(request)
        self._market(params)
        return web.json_response({})

    async def order_get(self, request: web.Request) -> web.Response:
        """``GET /api/v3/order``."""
        params = self._signed(request)
        return web.json_response(self.engine.find(params, for_cancel=False).rest_query())

    async def order_cancel(self, request: web.Request) -> web.Response:
        """``DELETE /api/v3/order``."""
        params = self._signed(request)
        return web.json_response(self.engine.cancel(params))

    async def open_orders(self, request: web.Request) -> web.Response:
        """``GET /api/v3/openOrders`` (one symbol, or all)."""
        params = self._signed(request)
        symbol = self._market(params).market_id if "symbol" in params else None
        return web.json_response([o.rest_query() for o in self.engine.open_orders(symbol)])

    async def cancel_open_orders(self, request: web.Request) -> web.Response:
        """``DELETE /api/v3/openOrders``."""
        params = self._signed(request)
        return web.json_response(self.engine.cancel_all(params))

    async def all_orders(self, request: web.Request) -> web.Response:
        """``GET /api/v3/allOrders``."""
        params = self._signed(request)
        market = self._market(params)
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        from_id = self._int(params, "orderId")
        rows = [
            o
            for o in self.engine.orders.values()
            if o.symbol == market.market_id
            and (from_id is None or o.order_id >= from_id)
            and (start is None or o.time_ms >= start)
            and (end is None or o.time_ms <= end)
        ]
        limit = self._limit(params, 500, 1000)
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return web.json_response([o.rest_query() for o in rows])

    async def my_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/myTrades``."""
        params = self._signed(request)
        market = self._market(params)
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        order_id, from_id = self._int(params, "orderId"), self._int(params, "fromId")
        rows = [
            f
            for f in self.engine.fills
            if f.symbol == market.market_id
            and (order_id is None or f.order_id == order_id)
            and (from_id is None or f.trade_id >= from_id)
            and (start is None or f.time_ms >= start)
            and (end is None or f.time_ms <= end)
        ]
        limit = self._limit(params, 500, 1000)
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return web.json_response([f.rest() for f in rows])


def _symbol_info(m: MarketState) -> dict[str, object]:
    f = m.filters
    return {
        "symbol": m.market_id,
        "status": "TRADING",
        "baseAsset": m.base,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(f.min_price),
                "maxPrice": fmt(f.max_price),
                "tickSize": fmt(f.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(f.min_qty),
                "maxQty": fmt(f.max_qty),
                "stepSize": fmt(f.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(f.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }
