"""The emulator: an aiohttp server speaking enough Binance spot (REST, streams, WS API) for real ccxt."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from decimal import Decimal
from types import TracebackType
from typing import Any
from typing import cast
from urllib.parse import parse_qsl

from aiohttp import web

from trading_bot.emulator.canned import CannedAnswer
from trading_bot.emulator.canned import CannedAnswers
from trading_bot.emulator.config import EmulatorConfig
from trading_bot.emulator.config import default_filters
from trading_bot.emulator.config import market_id
from trading_bot.emulator.config import split_symbol
from trading_bot.emulator.control import control_routes
from trading_bot.emulator.engine import Engine
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.events import book_ticker_event
from trading_bot.emulator.events import depth_event
from trading_bot.emulator.events import mini_ticker_event
from trading_bot.emulator.events import ticker_event
from trading_bot.emulator.events import trade_events
from trading_bot.emulator.faults import FaultState
from trading_bot.emulator.feed import run_replay
from trading_bot.emulator.feed import run_walk
from trading_bot.emulator.futures.control import futures_control_routes
from trading_bot.emulator.futures.venue import FuturesVenue
from trading_bot.emulator.klines import BarStore
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.market import PublicTrade
from trading_bot.emulator.price import RandomWalk
from trading_bot.emulator.price import ReplayFile
from trading_bot.emulator.price import load_replay
from trading_bot.emulator.price import symbol_from_filename
from trading_bot.emulator.rest import HELD_KEY
from trading_bot.emulator.rest import PARAMS_KEY
from trading_bot.emulator.rest import RAW_BODY_KEY
from trading_bot.emulator.rest import RestApi
from trading_bot.emulator.streams import StreamHub
from trading_bot.emulator.urls import REST_PATHS
from trading_bot.emulator.urls import ccxt_options
from trading_bot.emulator.urls import ccxt_usdm_options
from trading_bot.emulator.wsapi import WsApi
from trading_bot.log import get_logger

__all__ = ["BinanceEmulator", "DecimalLike", "run_emulator"]

DecimalLike = Decimal | str | int
"""A price or quantity accepted by the control methods (converted with ``Decimal(str(x))``)."""

_log = get_logger(__name__)
_REST_PATHS = REST_PATHS  # the name tests/fuzz reads
_REQUEST_LOG_MAX = 10_000
_RUNNING_MSG = "the emulator is not started; use 'async with BinanceEmulator(config)' or await start()"


class BinanceEmulator:
    """A loopback Binance spot exchange for tests and the ``emulator`` CLI command.

    Args:
        config: Accounts, markets, price source and faults.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.port = 0
        self._faults = FaultState(config.faults, config.seed)
        self._canned = CannedAnswers()
        self._hub = StreamHub()
        self._requests: list[dict[str, object]] = []
        self._requests_total = 0
        self._markets: dict[str, MarketState] = {}
        self._bars: dict[str, BarStore] = {}
        self._engine: Engine | None = None
        self._futures: FuturesVenue | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> BinanceEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Build the markets (loading the replay file), bind the port and start the market drivers."""
        cfg = self.config
        symbols = [_unified(s) for s in cfg.symbols]
        replay: ReplayFile | None = None
        replay_symbol: str | None = None
        if cfg.replay is not None:
            replay_symbol = _unified(cfg.replay_symbol or symbol_from_filename(cfg.replay) or symbols[0])
            if replay_symbol not in symbols:
                symbols.append(replay_symbol)
            replay = await asyncio.to_thread(load_replay, cfg.replay, replay_symbol)
        now = self.now_ms()
        for index, symbol in enumerate(symbols):
            base, quote = split_symbol(symbol)
            price = replay.first_price() if replay is not None and symbol == replay_symbol else cfg.start_price
            filters = cfg.filters.get(symbol) or default_filters(price, quote)
            market = MarketState(symbol, base, quote, filters, price)
            self._markets[market.market_id] = market
            if replay is not None and symbol == replay_symbol and replay.kind == "bars":
                store = BarStore(replay.bar_ms, live=False)
                store.extend(replay.bars)
                store.cursor_ms = replay.bars[min(cfg.replay_start_index, len(replay.bars) - 1)].open_ms
            else:
                store = BarStore(60_000, live=True)
                if symbol != replay_symbol and cfg.history_bars > 0:
                    history = RandomWalk(cfg.seed * 7919 + index, filters.tick_size, filters.step_size)
                    store.extend(history.history(price, now, cfg.history_bars))
            self._bars[market.market_id] = store
        self._engine = Engine(self._markets, cfg.balances, cfg.maker_fee, cfg.taker_fee, self.now_ms, self,
                              buy_fee_in_base=cfg.buy_fee_in_base)  # fmt: skip
        if cfg.futures is not None:
            self._futures = FuturesVenue(cfg.futures, self.now_ms, cfg.api_key, cfg.api_secret, self._faults,
                                         self._stopping)  # fmt: skip
        for market in self._markets.values():
            self._publish_book(market)
        await self._serve()
        self._start_futures_drivers()
        for index, market in enumerate(self._markets.values()):
            if replay is not None and market.symbol == replay_symbol:
                self._spawn(
                    run_replay(
                        self,
                        market,
                        replay,
                        self._bars[market.market_id],
                        speed=cfg.replay_speed,
                        events_per_s=cfg.replay_events_per_s,
                        loop=cfg.replay_loop,
                        start_index=cfg.replay_start_index,
                    ),
                    f"emulator-replay-{market.market_id}",
                )
            elif cfg.walk_interval_s is not None:
                walk = RandomWalk(cfg.seed + index, market.filters.tick_size, market.filters.step_size)
                self._spawn(run_walk(self, market, walk, cfg.walk_interval_s), f"emulator-walk-{market.market_id}")
        _log.info("emulator_started", port=self.port, symbols=symbols, replay=str(cfg.replay) if cfg.replay else None)

    def _start_futures_drivers(self) -> None:
        """Start the futures venue's funding schedule, its 1 s mark stream and (with a walk) its random walk."""
        if self._futures is None:
            return
        self._spawn(self._futures.run_funding(), "emulator-futures-funding")
        self._spawn(self._futures.run_mark_stream(), "emulator-futures-mark-stream")
        if self.config.walk_interval_s is not None:
            self._spawn(self._futures.run_walk(self.config.seed, self.config.walk_interval_s), "emulator-futures-walk")

    async def _serve(self) -> None:
        engine = self._require_engine()
        rest = RestApi(
            self._markets,
            self._bars,
            engine,
            self.now_ms,
            self.config.api_key,
            self.config.api_secret,
            self._faults,
            self._stopping,
        )
        ws_api = WsApi(self._hub, self.config.api_key, self.config.api_secret, self.now_ms, self._log_ws_request)
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(rest.routes())
        app.add_routes(control_routes(self))
        if self._futures is not None:
            app.add_routes(self._futures.routes())
            app.add_routes(futures_control_routes(self._futures))
        app.add_routes(
            [
                web.get("/ws-api/v3", ws_api.handle),
                web.get("/ws", self._hub.handle_market),
                web.get("/ws/{tail:.*}", self._hub.handle_market),
                web.get("/stream", self._hub.handle_market),
                web.get("/stream/{tail:.*}", self._hub.handle_market),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Stop the drivers, close every socket and release the port."""
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._runner is not None:
            await self._hub.drop_all()
            if self._futures is not None:
                await self._futures.streams.drop_all()
            await self._runner.cleanup()
            self._runner = None
            _log.info("emulator_stopped", port=self.port)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("emulator_task_failed", task=task.get_name(), error=repr(task.exception()))

    # -- addresses -------------------------------------------------------------------------------------

    @property
    def base_http(self) -> str:
        """Return ``http://host:port``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_ws(self) -> str:
        """Return ``ws://host:port``."""
        return f"ws://{self.config.host}:{self.port}"

    def ccxt_options(self) -> dict[str, Any]:
        """Return the spot ccxt constructor config without credentials (for ``exchange.ccxt_options``)."""
        return ccxt_options(self.port, self.config.host)

    def ccxt_config(self) -> dict[str, Any]:
        """Return the full ccxt constructor config (CCXT_BINANCE.md §1) with this emulator's key and secret."""
        return {"apiKey": self.config.api_key, "secret": self.config.api_secret, **self.ccxt_options()}

    def ccxt_usdm_options(self) -> dict[str, Any]:
        """Return the ``ccxt.binanceusdm`` config without credentials (docs/CCXT_BINANCEUSDM.md §1)."""
        return ccxt_usdm_options(self.port, self.config.host)

    def ccxt_usdm_config(self) -> dict[str, Any]:
        """Return the full ``ccxt.binanceusdm`` config with this emulator's key and secret."""
        return {"apiKey": self.config.api_key, "secret": self.config.api_secret, **self.ccxt_usdm_options()}

    @property
    def futures(self) -> FuturesVenue:
        """Return the USDⓈ-M futures venue (mark, funding, positions controls).

        Raises:
            RuntimeError: not started, or started without ``EmulatorConfig.futures``.
        """
        if self._futures is None:
            raise RuntimeError("the emulator serves no futures venue; set EmulatorConfig.futures and start it")
        return self._futures

    # -- clock and engine listener ---------------------------------------------------------------------

    def now_ms(self) -> int:
        """Return the server clock in epoch ms, including the ``clock_skew_ms`` fault."""
        return int(time.time() * 1000) + self._faults.clock_skew_ms

    def user_event(self, event: dict[str, object]) -> None:
        """Forward a user-data event to the WS-API subscribers."""
        self._hub.publish_user(event)

    def book_changed(self, market: MarketState) -> None:
        """Publish the visible book of ``market``."""
        self._publish_book(market)

    def public_trade(self, market: MarketState, trade: PublicTrade) -> None:
        """Publish a print (trade, aggTrade, tickers) and fold it into the candles."""
        now = self.now_ms()
        key = market.market_id.lower()
        trade_event, agg_event = trade_events(market, trade, now)
        if self._faults.take_bad_trade():  # fault: an impossible print on the stream only
            trade_event, agg_event = {**trade_event, "q": "-1"}, {**agg_event, "q": "-1"}
        self._hub.publish(f"{key}@trade", trade_event)
        self._hub.publish(f"{key}@aggtrade", agg_event)
        self._bars[market.market_id].record(now, trade.price, trade.qty, taker_buy=not trade.buyer_maker)
        self._publish_tickers(market)

    def _publish_book(self, market: MarketState) -> None:
        change = market.refresh(*self._require_engine().own_levels(market.market_id))
        if change is None:
            return
        now = self.now_ms()
        key = market.market_id.lower()
        self._hub.publish(f"{key}@depth", depth_event(market, change, now))
        for levels in (5, 10, 20):
            if self._hub.wants(f"{key}@depth{levels}"):
                self._hub.publish(f"{key}@depth{levels}", market.snapshot(levels))
        if change.top_changed:
            ticker = book_ticker_event(market)
            if self._faults.take_bad_quote():  # fault: an impossible quote on the stream only
                ticker = {**ticker, "b": "-2", "a": "-1"}
            self._hub.publish(f"{key}@bookticker", ticker)
            self._publish_tickers(market)

    def _publish_tickers(self, market: MarketState) -> None:
        now = self.now_ms()
        key = market.market_id.lower()
        if self._hub.wants(f"{key}@ticker"):
            self._hub.publish(f"{key}@ticker", ticker_event(market, now))
        if self._hub.wants(f"{key}@miniticker"):
            self._hub.publish(f"{key}@miniticker", mini_ticker_event(market, now))

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(_RUNNING_MSG)
        return self._engine

    def _market(self, symbol: str) -> MarketState:
        try:
            return self._markets[market_id(symbol)]
        except (KeyError, ValueError):
            raise KeyError(f"unknown symbol {symbol!r}; served: {sorted(self._markets)}") from None

    # -- control ---------------------------------------------------------------------------------------

    async def set_quote(
        self,
        symbol: str,
        bid: DecimalLike,
        ask: DecimalLike,
        bid_qty: DecimalLike = Decimal(1),
        ask_qty: DecimalLike = Decimal(1),
    ) -> None:
        """Move the external best bid/ask; publish bookTicker/depth/ticker and fill crossed resting orders.

        Raises:
            KeyError: For an unknown symbol.
            ValueError: For a crossed or non-positive quote.
        """
        market = self._market(symbol)
        market.set_quote(Decimal(str(bid)), Decimal(str(ask)), Decimal(str(bid_qty)), Decimal(str(ask_qty)))
        self._bars[market.market_id].record(self.now_ms(), (market.bid + market.ask) / 2, Decimal(0), False)
        self._require_engine().match_quote(market)
        self._publish_book(market)

    async def trade(self, symbol: str, price: DecimalLike, qty: DecimalLike, taker_side: str) -> None:
        """Print a public trade (``taker_side`` buy/sell) and fill resting orders at or through its price.

        Raises:
            KeyError: For an unknown symbol.
            ValueError: For a bad side, price or quantity.
        """
        market = self._market(symbol)
        side = taker_side.lower()
        px, amount = Decimal(str(price)), Decimal(str(qty))
        if side not in ("buy", "sell") or px <= 0 or amount <= 0:
            raise ValueError(f"bad trade: side={taker_side!r} price={px} qty={amount}")
        printed = market.print_trade(px, amount, buyer_maker=side == "sell", time_ms=self.now_ms())
        self.public_trade(market, printed)
        self._require_engine().match_trade(market, px, amount, taker_buy=side == "buy")

    def set_balance(self, asset: str, free: DecimalLike) -> None:
        """Set the free balance of ``asset``."""
        self._require_engine().set_balance(asset.upper(), Decimal(str(free)))

    def orders(self) -> list[dict[str, object]]:
        """Return every order the account placed, in ``GET /api/v3/order`` shape plus ``fills``."""
        return [
            {**o.rest_query(), "fills": [f.control() for f in o.fills]} for o in self._require_engine().orders.values()
        ]

    def fills(self) -> list[dict[str, object]]:
        """Return every fill, in ``myTrades`` shape plus ``side`` and ``clientOrderId``."""
        return [f.control() for f in self._require_engine().fills]

    def request_log(self) -> list[dict[str, object]]:
        """Return the logged requests, oldest first (REST, and WS-API calls as ``/ws-api/v3 <method>``).

        Each entry: ``ts`` (server clock, epoch ms), ``method``, ``path``, ``params`` (signature removed),
        ``status``, ``seq`` (arrival number), and for REST ``received_ns``: ``time.monotonic_ns()`` when the
        request reached the server's middleware (headers parsed, body not yet read). That clock is shared by
        every process of a Linux host, which is what the latency benchmark relies on.
        """
        return [dict(r) for r in self._requests]

    def requests_after(self, seq: int) -> list[dict[str, object]]:
        """Return the logged requests whose ``seq`` (1, 2, … in arrival order) is above ``seq``.

        Cheap for a short tail, so a driver can poll it; entries older than the last 10,000 are gone.
        """
        tail: list[dict[str, object]] = []
        for entry in reversed(self._requests):
            if cast(int, entry["seq"]) <= seq:
                break
            tail.append(dict(entry))
        tail.reverse()
        return tail

    def state(self) -> dict[str, object]:
        """Return each market's quote and update id, and the account balances."""
        engine = self._require_engine()
        return {
            "markets": {
                m.symbol: {
                    "bid": str(m.bid),
                    "ask": str(m.ask),
                    "bid_qty": str(m.bid_qty),
                    "ask_qty": str(m.ask_qty),
                    "last": str(m.last_price),
                    "update_id": m.update_id,
                }
                for m in self._markets.values()
            },
            "balances": {
                a: {"free": str(free), "locked": str(locked)} for a, (free, locked) in engine.balances().items()
            },
        }

    def faults(self) -> dict[str, object]:
        """Return the current fault settings."""
        return dataclasses.asdict(self._faults.config)

    def set_faults(self, **kwargs: object) -> dict[str, object]:
        """Change fault settings at run time (names of ``FaultConfig``; ``drop_ws=True`` closes every socket).

        Raises:
            ValueError: On an unknown name.
        """
        self._faults.update(**kwargs)
        if kwargs.get("drop_ws"):
            self._spawn(self._hub.drop_all(), "emulator-drop-ws")
        _log.info("emulator_faults_set", **{k: str(v) for k, v in kwargs.items()})
        return self.faults()

    def override_next_response(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: bytes = b"",
        content_type: str = "application/json",
        *,
        after_handler: bool = False,
    ) -> None:
        """Answer the next REST ``method`` ``path`` request with exactly these bytes (a test seam).

        Answers queue up (first queued, first served) and each is consumed by one matching request; the
        request is still logged (``request_log``, with the canned status). With ``after_handler`` the real
        handler runs first, so an order POST is booked before its answer is replaced; without it the
        handler and the faults (``set_faults``) are skipped. In-process only: the control API does not
        expose it. See ``trading_bot.emulator.canned``.

        Raises:
            ValueError: On an unknown method, a path that is not a REST path, a status outside 200-599,
                a body that is not bytes or a multi-line content type.
        """
        self._canned.add(
            CannedAnswer(
                method=method.upper(),
                path=path,
                status=status,
                body=body,
                content_type=content_type,
                after_handler=after_handler,
            )
        )

    def clear_overrides(self) -> int:
        """Drop every canned answer not yet served; return how many were dropped."""
        return self._canned.clear()

    async def drop_websockets(self) -> int:
        """Close every WebSocket now (spot and futures); return how many were closed."""
        futures = 0 if self._futures is None else await self._futures.streams.drop_all()
        return await self._hub.drop_all() + futures

    # -- request path ----------------------------------------------------------------------------------

    def _log_ws_request(self, method: str, params: dict[str, str], status: int) -> None:
        self._append_log(
            {"ts": self.now_ms(), "method": "WS", "path": f"/ws-api/v3 {method}", "params": params, "status": status}
        )

    def _append_log(self, entry: dict[str, object]) -> None:
        self._requests_total += 1
        entry["seq"] = self._requests_total
        self._requests.append(entry)
        if len(self._requests) > _REQUEST_LOG_MAX:
            del self._requests[: len(self._requests) - _REQUEST_LOG_MAX]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        received_ns = time.monotonic_ns()
        path = request.path
        if path.startswith(("/_control", "/ws", "/stream", "/fstream")):
            response: web.StreamResponse = await handler(request)
            return response
        raw_body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        request[PARAMS_KEY] = params
        request[RAW_BODY_KEY] = raw_body
        entry: dict[str, object] = {
            "ts": self.now_ms(),
            "method": request.method,
            "path": path,
            "params": {k: v for k, v in params.items() if k != "signature"},
            "status": None,
            "received_ns": received_ns,
        }
        self._append_log(entry)
        if self._faults.latency_s > 0:
            await asyncio.sleep(self._faults.latency_s)
        canned = self._canned.take(request.method, path)
        if canned is None or canned.after_handler:
            response = await self._answer(request, handler)
        if canned is not None:
            response = canned.response()
        entry["status"] = response.status
        if HELD_KEY in request:
            entry["held_s"] = request[HELD_KEY]
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self._faults.take_http_fault()
        if fault is not None and fault.status == 429:
            return web.json_response(
                {
                    "code": -1003,
                    "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                    "minute. Please use the websocket for live updates to avoid bans.",
                },
                status=429,
                headers={"Retry-After": str(fault.retry_after_s)},
            )
        if fault is not None:
            return web.Response(
                status=fault.status, text=f"<html><body>{fault.status} injected</body></html>", content_type="text/html"
            )
        try:
            response: web.StreamResponse = await handler(request)
        except BinanceApiError as exc:
            return web.json_response(exc.body(), status=exc.status)
        except web.HTTPNotFound:
            return web.json_response({"code": -1000, "msg": f"Unknown endpoint {request.path}"}, status=404)
        return response


def _unified(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}/{quote}"


async def run_emulator(config: EmulatorConfig) -> None:
    """Serve ``config`` until cancelled; print the ``exchange.ccxt_options`` JSON to use against it."""
    async with BinanceEmulator(config) as emulator:
        print(json.dumps(emulator.ccxt_options(), indent=2), flush=True)
        if config.futures is not None:
            print("# ccxt.binanceusdm options (the futures venue):", flush=True)
            print(json.dumps(emulator.ccxt_usdm_options(), indent=2), flush=True)
        print(
            f"# emulator on {emulator.base_http}; API key {config.api_key!r}, secret {config.api_secret!r} "
            "(set TRADING_BOT__EXCHANGE__API_KEY / TRADING_BOT__EXCHANGE__SECRET)",
            flush=True,
        )
        await asyncio.Event().wait()  # until cancelled; leaving the context stops the server
