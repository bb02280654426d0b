"""REST handlers of ``/fapi/v1|v2|v3/*`` in Binance USDⓈ-M shapes (docs/CCXT_BINANCEUSDM.md lists what ccxt calls).

Signed endpoints check the API key, ``timestamp``/``recvWindow`` and the HMAC signature as spot does
(``trading_bot.emulator.auth``); the listenKey endpoints need the API key only, as on Binance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from trading_bot.emulator.auth import check_api_key
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory
from trading_bot.emulator.faults import FaultState
from trading_bot.emulator.futures.account import account_view
from trading_bot.emulator.futures.account import balance_view
from trading_bot.emulator.futures.account import position_risk
from trading_bot.emulator.futures.account import symbol_config
from trading_bot.emulator.futures.engine import FuturesEngine
from trading_bot.emulator.futures.market import PerpMarket
from trading_bot.emulator.futures.market import exchange_info
from trading_bot.emulator.futures.market import leverage_brackets
from trading_bot.emulator.futures.market import num
from trading_bot.emulator.futures.settings import set_leverage
from trading_bot.emulator.futures.settings import set_margin_type
from trading_bot.emulator.futures.streams import FuturesStreams
from trading_bot.emulator.klines import BarStore
from trading_bot.emulator.rest import HELD_KEY
from trading_bot.emulator.rest import PARAMS_KEY
from trading_bot.emulator.rest import signed_params

__all__ = ["FuturesRest"]

def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    value = _int(params, "limit")
    if value is None:
        return default
    if value <= 0:
        raise BinanceApiError(-1100, "Illegal characters found in parameter 'limit'.")
    return min(value, maximum)


def _window(rows: list[dict[str, object]], params: Mapping[str, str], time_key: str, default: int, maximum: int
            ) -> list[dict[str, object]]:  # fmt: skip
    """Filter rows by ``startTime``/``endTime`` on ``time_key``; the first ``limit`` from a start, else the last."""
    start, end = _int(params, "startTime"), _int(params, "endTime")
    kept = [r for r in rows if (start is None or int(str(r[time_key])) >= start)
            and (end is None or int(str(r[time_key])) <= end)]  # fmt: skip
    limit = _limit(params, default, maximum)
    return kept[:limit] if start is not None else kept[-limit:]


@dataclass(slots=True)
class FuturesRest:
    """The ``/fapi`` REST surface over the futures markets, engine and streams.

    Attributes:
        markets: Swap markets by Binance id.
        bars: Candle store per market id (trades and mark moves).
        engine: The account.
        streams: Listen keys (user stream) and market sockets.
        now_ms: Server clock (skew included), epoch ms.
        api_key: Accepted API key.
        api_secret: HMAC secret.
        faults: The server's fault state (an armed accept-then-timeout holds an order POST's answer back).
        stopping: Set when the server stops (releases held-back answers).
    """

    markets: Mapping[str, PerpMarket]
    bars: Mapping[str, BarStore]
    engine: FuturesEngine
    streams: FuturesStreams
    now_ms: Callable[[], int]
    api_key: str
    api_secret: str
    faults: FaultState
    stopping: asyncio.Event

    def routes(self) -> list[web.RouteDef]:
        """Return the route table."""
        v1, v2, v3 = "/fapi/v1", "/fapi/v2", "/fapi/v3"
        return [
            web.get(f"{v1}/ping", self.ping),
            web.get(f"{v1}/time", self.time),
            web.get(f"{v1}/exchangeInfo", self.exchange_info),
            web.get(f"{v1}/depth", self.depth),
            web.get(f"{v1}/ticker/bookTicker", self.book_ticker),
            web.get(f"{v1}/ticker/24hr", self.ticker_24hr),
            web.get(f"{v1}/ticker/price", self.ticker_price),
            web.get(f"{v2}/ticker/price", self.ticker_price),
            web.get(f"{v1}/premiumIndex", self.premium_index),
            web.get(f"{v1}/fundingRate", self.funding_rate),
            web.get(f"{v1}/fundingInfo", self.funding_info),
            web.get(f"{v1}/klines", self.klines),
            web.get(f"{v1}/markPriceKlines", self.klines),
            web.get(f"{v1}/indexPriceKlines", self.klines),
            web.get(f"{v1}/leverageBracket", self.leverage_bracket),
            web.post(f"{v1}/leverage", self.leverage),
            web.post(f"{v1}/marginType", self.margin_type),
            web.get(f"{v1}/positionSide/dual", self.position_mode),
            web.post(f"{v1}/positionSide/dual", self.set_position_mode),
            web.get(f"{v1}/symbolConfig", self.symbol_config),
            web.get(f"{v1}/commissionRate", self.commission_rate),
            web.get(f"{v2}/positionRisk", self.position_risk_v2),
            web.get(f"{v3}/positionRisk", self.position_risk_v3),
            web.get(f"{v2}/account", self.account_v2),
            web.get(f"{v3}/account", self.account_v3),
            web.get(f"{v2}/balance", self.balance),
            web.get(f"{v3}/balance", self.balance),
            web.post(f"{v1}/order", self.order_new),
            web.get(f"{v1}/order", self.order_get),
            web.delete(f"{v1}/order", self.order_cancel),
            web.get(f"{v1}/openOrders", self.open_orders),
            web.delete(f"{v1}/allOpenOrders", self.cancel_all),
            web.get(f"{v1}/allOrders", self.all_orders),
            web.get(f"{v1}/userTrades", self.user_trades),
            web.get(f"{v1}/income", self.income),
            web.post(f"{v1}/algoOrder", self.algo_new),
            web.get(f"{v1}/algoOrder", self.algo_get),
            web.delete(f"{v1}/algoOrder", self.algo_cancel),
            web.get(f"{v1}/openAlgoOrders", self.algo_open),
            web.delete(f"{v1}/algoOpenOrders", self.algo_cancel_all),
            web.post(f"{v1}/listenKey", self.listen_key_new),
            web.put(f"{v1}/listenKey", self.listen_key_keep),
            web.delete(f"{v1}/listenKey", self.listen_key_close),
        ]

    # -- helpers ---------------------------------------------------------------------------------------

    def _signed(self, request: web.Request) -> dict[str, str]:
        return signed_params(request, self.api_key, self.api_secret, self.now_ms())

    def _ids(self, params: Mapping[str, str]) -> list[str]:
        if params.get("symbol"):
            return [self.engine.market(params).market_id]
        return list(self.markets)

    def _one_or_all(self, params: Mapping[str, str], rows: list[dict[str, object]]) -> web.Response:
        return web.json_response(rows[0] if params.get("symbol") else rows)

    # -- public ----------------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/ping``."""
        return web.json_response({})

    async def time(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/time``."""
        return web.json_response({"serverTime": self.now_ms()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/exchangeInfo``."""
        return web.json_response(exchange_info(dict(self.markets), self.now_ms()))

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/depth`` (limit 5..1000, default 500)."""
        params = request[PARAMS_KEY]
        market = self.engine.market(params)
        now = self.now_ms()
        snap = market.state.snapshot(_limit(params, 500, 1000))
        return web.json_response({"lastUpdateId": snap["lastUpdateId"], "E": now, "T": now, "bids": snap["bids"],
                                  "asks": snap["asks"]})  # fmt: skip

    async def book_ticker(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/ticker/bookTicker`` (one symbol, or all)."""
        params = request[PARAMS_KEY]
        rows: list[dict[str, object]] = []
        for market_id in self._ids(params):
            m = self.markets[market_id]
            bid, bid_qty, ask, ask_qty = m.state.top()
            rows.append({"symbol": market_id, "bidPrice": num(bid), "bidQty": num(bid_qty), "askPrice": num(ask),
                         "askQty": num(ask_qty), "time": self.now_ms(), "lastUpdateId": m.state.update_id})  # fmt: skip
        return self._one_or_all(params, rows)

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/ticker/24hr``."""
        params = request[PARAMS_KEY]
        rows = [self.markets[i].state.ticker(self.now_ms()) for i in self._ids(params)]
        return self._one_or_all(params, rows)

    async def ticker_price(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1|v2/ticker/price``."""
        params = request[PARAMS_KEY]
        rows: list[dict[str, object]] = [{"symbol": i, "price": num(self.markets[i].state.last_price),
                                          "time": self.now_ms()} for i in self._ids(params)]  # fmt: skip
        return self._one_or_all(params, rows)

    async def premium_index(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/premiumIndex``: mark, index, last (current) funding rate, next funding time."""
        params = request[PARAMS_KEY]
        rows: list[dict[str, object]] = []
        for market_id in self._ids(params):
            m = self.markets[market_id]
            rows.append({"symbol": market_id, "markPrice": num(m.mark), "indexPrice": num(m.mark),
                         "estimatedSettlePrice": num(m.mark), "lastFundingRate": num(m.funding_rate),
                         "interestRate": "0.0001", "nextFundingTime": m.next_funding_ms,
                         "time": self.now_ms()})  # fmt: skip
        return self._one_or_all(params, rows)

    async def funding_rate(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/fundingRate``: settled funding times, oldest first (limit default 100, max 1000)."""
        params = request[PARAMS_KEY]
        rows: list[dict[str, object]] = [
            {"symbol": i, "fundingTime": h.time_ms, "fundingRate": num(h.rate), "markPrice": num(h.mark)}
            for i in self._ids(params) for h in self.markets[i].history
        ]  # fmt: skip
        rows.sort(key=lambda r: int(str(r["fundingTime"])))
        return web.json_response(_window(rows, params, "fundingTime", 100, 1000))

    async def funding_info(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/fundingInfo``: each symbol's funding interval in hours (rounded up; at least 1)."""
        rows = []
        for market_id, m in self.markets.items():
            interval = m.rules.funding_interval_ms or 28_800_000
            rows.append({"symbol": market_id, "adjustedFundingRateCap": "0.03", "adjustedFundingRateFloor": "-0.03",
                         "fundingIntervalHours": max(1, -(-interval // 3_600_000)), "disclaimer": False})  # fmt: skip
        return web.json_response(rows)

    async def klines(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/klines`` (and mark/index price klines: the same bars)."""
        params = request[PARAMS_KEY]
        market = self.engine.market(params if "symbol" in params else {"symbol": params.get("pair", "")})
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        rows = self.bars[market.market_id].query(interval, _int(params, "startTime"), _int(params, "endTime"),
                                                 _int(params, "limit"))  # fmt: skip
        return web.json_response(rows)

    # -- signed: settings ------------------------------------------------------------------------------

    async def leverage_bracket(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/leverageBracket`` (one symbol: an object; none: every symbol)."""
        params = self._signed(request)
        rows = leverage_brackets([self.markets[i] for i in self._ids(params)])
        return self._one_or_all(params, rows)

    async def leverage(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/leverage``."""
        return web.json_response(set_leverage(self.engine, self._signed(request)))

    async def margin_type(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/marginType``; unchanged is -4046 "No need to change margin type."."""
        return web.json_response(set_margin_type(self.engine, self._signed(request)))

    async def position_mode(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/positionSide/dual``: ``dualSidePosition`` true in hedge mode."""
        self._signed(request)
        return web.json_response({"dualSidePosition": self.engine.hedge_mode})

    async def set_position_mode(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/positionSide/dual`` (``dualSidePosition`` true/false)."""
        params = self._signed(request)
        raw = params.get("dualSidePosition", "").lower()
        if raw not in ("true", "false"):
            raise mandatory("dualSidePosition")
        return web.json_response(self.engine.set_position_mode(raw == "true"))

    async def symbol_config(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/symbolConfig``."""
        params = self._signed(request)
        return web.json_response(symbol_config(self.engine, self._ids(params)))

    async def commission_rate(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/commissionRate``."""
        params = self._signed(request)
        m = self.engine.market(params)
        return web.json_response({"symbol": m.market_id, "makerCommissionRate": num(m.rules.maker_fee),
                                  "takerCommissionRate": num(m.rules.taker_fee)})  # fmt: skip

    # -- signed: account -------------------------------------------------------------------------------

    async def position_risk_v2(self, request: web.Request) -> web.Response:
        """``GET /fapi/v2/positionRisk``: every symbol, with leverage and marginType."""
        params = self._signed(request)
        return web.json_response(position_risk(self.engine, self._ids(params), self.now_ms(), version=2))

    async def position_risk_v3(self, request: web.Request) -> web.Response:
        """``GET /fapi/v3/positionRisk``: symbols with a position or open orders; no leverage or marginType."""
        params = self._signed(request)
        return web.json_response(position_risk(self.engine, self._ids(params), self.now_ms(), version=3))

    async def account_v2(self, request: web.Request) -> web.Response:
        """``GET /fapi/v2/account``."""
        self._signed(request)
        return web.json_response(account_view(self.engine, self.now_ms(), version=2))

    async def account_v3(self, request: web.Request) -> web.Response:
        """``GET /fapi/v3/account`` (what ccxt's ``fetch_balance`` reads)."""
        self._signed(request)
        return web.json_response(account_view(self.engine, self.now_ms(), version=3))

    async def balance(self, request: web.Request) -> web.Response:
        """``GET /fapi/v2|v3/balance``."""
        self._signed(request)
        return web.json_response(balance_view(self.engine, self.now_ms()))

    async def income(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/income`` (symbol, incomeType, startTime, endTime; limit default 100, max 1000)."""
        params = self._signed(request)
        market_id = self.engine.market(params).market_id if params.get("symbol") else None
        kind = params.get("incomeType") or None
        rows = [r.rest() for r in self.engine.income
                if (market_id is None or r.symbol == market_id)
                and (kind is None or r.income_type == kind)]  # fmt: skip
        return web.json_response(_window(rows, params, "time", 100, 1000))

    # -- signed: orders --------------------------------------------------------------------------------

    async def order_new(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/order`` (LIMIT, MARKET; conditional types go to ``/fapi/v1/algoOrder``).

        An armed accept-then-timeout fault books the order, then holds the answer back (as spot's does).
        """
        answer = self.engine.place(self._signed(request))
        delay = self.faults.take_accept_then_timeout()
        if delay is not None:
            request[HELD_KEY] = delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
        return web.json_response(answer)

    async def order_get(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/order``."""
        params = self._signed(request)
        return web.json_response(self.engine.find(params, algo=False, for_cancel=False).rest())

    async def order_cancel(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/order``."""
        return web.json_response(self.engine.cancel(self._signed(request)))

    async def open_orders(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/openOrders`` (one symbol, or all)."""
        params = self._signed(request)
        market_id = self.engine.market(params).market_id if params.get("symbol") else None
        return web.json_response([o.rest() for o in self.engine.open_orders(market_id)])

    async def cancel_all(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/allOpenOrders``."""
        return web.json_response(self.engine.cancel_all(self._signed(request)))

    async def all_orders(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/allOrders`` (symbol required)."""
        params = self._signed(request)
        market_id = self.engine.market(params).market_id
        rows = [o.rest() for o in self.engine.orders.values() if o.symbol == market_id and not o.algo]
        return web.json_response(_window(rows, params, "time", 500, 1000))

    async def user_trades(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/userTrades`` (symbol required; orderId, fromId, startTime, endTime, limit)."""
        params = self._signed(request)
        market_id = self.engine.market(params).market_id
        order_id, from_id = _int(params, "orderId"), _int(params, "fromId")
        rows = [f.rest() for f in self.engine.fills if f.symbol == market_id
                and (order_id is None or f.order_id == order_id)
                and (from_id is None or f.trade_id >= from_id)]  # fmt: skip
        return web.json_response(_window(rows, params, "time", 500, 1000))

    async def algo_new(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``; STOP_MARKET)."""
        params = self._signed(request)
        if params.get("algoType", "").upper() != "CONDITIONAL":
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'algoType'.")
        return web.json_response(self.engine.place(params, algo=True))

    async def algo_get(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/algoOrder``."""
        params = self._signed(request)
        return web.json_response(self.engine.find(params, algo=True, for_cancel=False).rest_algo())

    async def algo_cancel(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/algoOrder``."""
        return web.json_response(self.engine.cancel(self._signed(request), algo=True))

    async def algo_open(self, request: web.Request) -> web.Response:
        """``GET /fapi/v1/openAlgoOrders``."""
        params = self._signed(request)
        market_id = self.engine.market(params).market_id if params.get("symbol") else None
        return web.json_response([o.rest_algo() for o in self.engine.open_orders(market_id, algo=True)])

    async def algo_cancel_all(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/algoOpenOrders``."""
        return web.json_response(self.engine.cancel_all(self._signed(request), algo=True))

    # -- user stream -----------------------------------------------------------------------------------

    async def listen_key_new(self, request: web.Request) -> web.Response:
        """``POST /fapi/v1/listenKey`` (API key only)."""
        check_api_key(request.headers.get("X-MBX-APIKEY"), self.api_key)
        return web.json_response({"listenKey": self.streams.new_listen_key()})

    async def listen_key_keep(self, request: web.Request) -> web.Response:
        """``PUT /fapi/v1/listenKey``: -1125 when no key is active."""
        check_api_key(request.headers.get("X-MBX-APIKEY"), self.api_key)
        if not self.streams.active:
            raise BinanceApiError(-1125, "This listenKey does not exist.")
        return web.json_response({"listenKey": self.streams.new_listen_key()})

    async def listen_key_close(self, request: web.Request) -> web.Response:
        """``DELETE /fapi/v1/listenKey``."""
        check_api_key(request.headers.get("X-MBX-APIKEY"), self.api_key)
        self.streams.close_listen_key()
        return web.json_response({})
