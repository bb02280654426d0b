"""Real ccxt over loopback: faults are retried, resolved or logged, never blindly repeated.

Most tests run against the Binance emulator (``trading_bot.emulator``); the malformed-answer tests use a tiny
aiohttp server of their own that answers garbage where a ticker belongs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from exchanges.base import OrderUpdate
from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import ExchangeConfig
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiveClock
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import Symbol
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ExchangeError
from trading_bot.errors import OrderOutcomeUnknown

SYMBOL = Symbol("BTC/USDT")

_REST = {
    "public": "/api/v3", "private": "/api/v3", "v1": "/api/v1", "sapi": "/sapi/v1", "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3", "sapiV4": "/sapi/v4", "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3", "fapiPrivate": "/fapi/v1", "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data", "dapiPublic": "/dapi/v1", "dapiPrivate": "/dapi/v1", "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data", "eapiPublic": "/eapi/v1", "eapiPrivate": "/eapi/v1", "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}  # fmt: skip

_EXCHANGE_INFO = {
    "timezone": "UTC",
    "serverTime": 1700000000000,
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS"],
            "permissionSets": [["SPOT"]],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                {"filterType": "NOTIONAL", "minNotional": "5"},
            ],
        }
    ],
}


def _ticker(bid: str, ask: str) -> str:
    return json.dumps({
        "symbol": "BTCUSDT", "lastPrice": bid, "bidPrice": bid, "bidQty": "1.5", "askPrice": ask, "askQty": "2",
        "openPrice": bid, "highPrice": ask, "lowPrice": bid, "volume": "10", "quoteVolume": "100",
        "closeTime": 1700000000000,
    })  # fmt: skip


class GarbageServer:
    """A Binance look-alike whose ticker answers come from a script: garbage first, then sane."""

    def __init__(self, tickers: list[str]) -> None:
        self.tickers = tickers
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response(_EXCHANGE_INFO)

    async def _ticker(self, request: web.Request) -> web.Response:
        body = self.tickers.pop(0) if len(self.tickers) > 1 else self.tickers[0]
        return web.Response(text=body, content_type="application/json")

    async def _depth(self, request: web.Request) -> web.Response:
        return web.json_response({"lastUpdateId": 1, "bids": [], "asks": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/ticker/24hr", self._ticker)
        app.router.add_get("/api/v3/depth", self._depth)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def ccxt_options(self) -> dict[str, Any]:
        http = f"http://127.0.0.1:{self.port}"
        api: dict[str, Any] = {k: http + p for k, p in _REST.items()}
        api["ws"] = {k: f"ws://127.0.0.1:{self.port}/stream/ws" for k in ("spot", "margin", "linear", "inverse")}
        return {"urls": {"api": api}, "has": {"ws": False}}  # has.ws=False: REST polling only


GARBAGE = [
    "<html><body>502 Bad Gateway</body></html>",  # not JSON at all
    _ticker("abc", "def"),  # non-numeric
    _ticker("101.00", "100.00"),  # crossed book
    _ticker("100.00", "100.50"),  # sane
]


@pytest_asyncio.fixture
async def garbage_client() -> AsyncIterator[CcxtExchange]:
    server = GarbageServer(list(GARBAGE))
    await server.start()
    config = ExchangeConfig(
        name="binance",
        ccxt_options=server.ccxt_options(),
        api_key=SecretStr("k"),
        secret=SecretStr("s"),
        request_timeout_s=2,
    )
    client = CcxtExchange(config, LiveClock(), public_only=True, poll_interval_s=0.01)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
        await server.stop()


@pytest.mark.asyncio
async def test_fetch_bbo_on_a_garbage_answer_raises_bad_exchange_response_and_logs_it(
    garbage_client: CcxtExchange,
) -> None:
    with capture_logs() as logs, pytest.raises(BadExchangeResponse):
        await garbage_client.fetch_bbo(SYMBOL)

    assert any(e["event"] == "market_data_rejected" for e in logs)


@pytest.mark.asyncio
async def test_polled_stream_skips_garbage_non_numeric_and_crossed_quotes_without_crashing(
    garbage_client: CcxtExchange,
) -> None:
    with capture_logs() as logs:
        stream = garbage_client.stream_market_data(SYMBOL)
        first = await anext(stream)
        await stream.aclose()

    assert (first.bid, first.ask) == (Decimal("100.00"), Decimal("100.50"))
    bad = [e for e in logs if e["event"] == "market_data_rejected"]
    assert len(bad) == 3
    assert any("crossed" in e["reason"] for e in bad)
    assert garbage_client.last_market_data_ms is not None


# -- against the Binance emulator ---------------------------------------------------------------------------

KEY, SECRET = "faults-key", "faults-secret"
QTY = Decimal("0.001")


@contextlib.asynccontextmanager
async def emulated(
    timeout_s: float = 5.0, **options: Any
) -> AsyncIterator[tuple[Any, CcxtExchange, list[OrderUpdate]]]:
    from trading_bot.emulator import BinanceEmulator
    from trading_bot.emulator import EmulatorConfig

    emulator = BinanceEmulator(EmulatorConfig(symbols=(SYMBOL,), api_key=KEY, api_secret=SECRET))
    await emulator.start()
    ccxt_options = emulator.ccxt_config()
    ccxt_options.setdefault("options", {}).update(options)
    config = ExchangeConfig(
        name="binance",
        ccxt_options=ccxt_options,
        api_key=SecretStr(KEY),
        secret=SecretStr(SECRET),
        request_timeout_s=timeout_s,
    )
    client = CcxtExchange(config, LiveClock())
    client.lookup_delays_s = (0.05, 0.1, 0.2, 0.3, 0.4)
    updates: list[OrderUpdate] = []
    client.attach(updates.append)
    try:
        await client.connect()
        await emulator.set_quote(SYMBOL, Decimal("60000"), Decimal("60010"), Decimal(1), Decimal(1))
        yield emulator, client, updates
    finally:
        await client.close()
        await emulator.stop()


async def _set_faults(emulator: Any, **faults: Any) -> None:
    result = emulator.set_faults(**faults)
    if inspect.isawaitable(result):  # the control API may be sync or async
        await result


def _requests(emulator: Any, method: str, path: str) -> list[dict[str, Any]]:
    return [r for r in emulator.request_log() if r.get("method") == method and r.get("path") == path]


def _posts_with(emulator: Any, coid: str) -> list[dict[str, Any]]:
    return [
        r
        for r in _requests(emulator, "POST", "/api/v3/order")
        if (r.get("params") or {}).get("newClientOrderId") == coid
    ]


async def _eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_read_after_two_5xx_answers_is_retried_and_succeeds() -> None:
    async with emulated() as (emulator, client, _):
        before = len(_requests(emulator, "GET", "/api/v3/account"))
        await _set_faults(emulator, next_n_5xx=2)

        balances = await client.fetch_balance()

        assert balances["USDT"].free > 0
        assert len(_requests(emulator, "GET", "/api/v3/account")) - before == 3


@pytest.mark.asyncio
async def test_read_after_a_429_waits_retry_after_then_succeeds_and_flags_the_rate_limit() -> None:
    async with emulated() as (emulator, client, _):
        await _set_faults(emulator, next_n_429=1, retry_after_s=1)
        start = time.monotonic()

        balances = await client.fetch_balance()

        assert "USDT" in balances
        assert time.monotonic() - start >= 0.9
        assert client.rate_limited_until_ms > 0


@pytest.mark.asyncio
async def test_place_that_times_out_after_acceptance_resolves_to_the_accepted_order_with_one_post() -> None:
    async with emulated(timeout_s=1.0) as (emulator, client, _):
        await _set_faults(emulator, accept_then_timeout=True, accept_timeout_delay_s=3)
        coid = ClientOrderId("faults-att-1")

        with capture_logs() as logs:
            report = await client.place_order(
                SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59000")), QTY, coid
            )

        assert report.client_order_id == coid
        assert report.status is OrderStatus.ACCEPTED
        assert report.exchange_order_id is not None
        assert len(_posts_with(emulator, coid)) == 1
        assert any(e["event"] == "order_outcome_resolved" for e in logs)


@pytest.mark.asyncio
async def test_place_answered_5xx_and_never_booked_is_rejected_as_not_received_without_a_resend() -> None:
    async with emulated(recvWindow=1000) as (emulator, client, _):
        await _set_faults(emulator, next_n_5xx=1)
        coid = ClientOrderId("faults-5xx-1")

        report = await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59000")), QTY, coid)

        assert report.status is OrderStatus.REJECTED
        assert report.reason == "not received by the exchange"
        assert len(_posts_with(emulator, coid)) == 1
        assert all(o.client_order_id != coid for o in await client.fetch_open_orders(SYMBOL))


@pytest.mark.asyncio
async def test_place_whose_lookups_also_fail_raises_order_outcome_unknown_without_a_resend() -> None:
    async with emulated() as (emulator, client, _):
        await _set_faults(emulator, next_n_5xx=1 + len(client.lookup_delays_s))
        coid = ClientOrderId("faults-unknown-1")

        with pytest.raises(OrderOutcomeUnknown):
            await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59000")), QTY, coid)

        assert len(_posts_with(emulator, coid)) == 1


@pytest.mark.asyncio
async def test_user_stream_after_a_websocket_drop_reconnects_and_later_fills_still_arrive() -> None:
    async with emulated() as (emulator, client, updates):
        client.track_symbol(SYMBOL)
        with capture_logs() as logs:
            async with asyncio.TaskGroup() as tg:
                stream = tg.create_task(client.run_user_stream())
                first = ClientOrderId("faults-drop-1")
                await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("60005")), QTY, first)
                await emulator.set_quote(SYMBOL, Decimal("59990"), Decimal("60000"), Decimal(1), Decimal(1))
                await _eventually(lambda: _filled(updates, first), "the fill before the drop")

                await _set_faults(emulator, drop_ws=True)
                second = ClientOrderId("faults-drop-2")
                await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59995")), QTY, second)
                await emulator.set_quote(SYMBOL, Decimal("59980"), Decimal("59990"), Decimal(1), Decimal(1))
                await _eventually(lambda: _filled(updates, second), "the fill after the drop")
                stream.cancel()

        assert any(e["event"] == "user_stream_reconnect" for e in logs)


def _filled(updates: list[OrderUpdate], coid: str) -> bool:
    return any(isinstance(u, Fill) and u.client_order_id == coid for u in updates)


async def _next_quote_at(stream: AsyncIterator[Any], emulator: Any, bid: Decimal) -> Any:
    """Keep moving the emulator's book to ``bid`` (sizes alternate so each move is an update) until it arrives."""

    async def keep_quoting() -> None:
        for n in range(10_000):
            await emulator.set_quote(SYMBOL, bid, bid + 10, Decimal(1 + n % 2), Decimal(1))
            await asyncio.sleep(0.1)

    async with asyncio.TaskGroup() as tg:
        quoting = tg.create_task(keep_quoting())
        try:
            while True:
                event = await anext(stream)
                if event.bid == bid:
                    return event
        finally:
            quoting.cancel()


@pytest.mark.asyncio
async def test_market_stream_after_a_websocket_drop_reconnects_and_delivers_new_quotes() -> None:
    async with emulated() as (emulator, client, _):
        with capture_logs() as logs:
            stream = client.stream_market_data(SYMBOL)
            try:
                before = await asyncio.wait_for(_next_quote_at(stream, emulator, Decimal("60001")), 10)
                await _set_faults(emulator, drop_ws=True)
                after = await asyncio.wait_for(_next_quote_at(stream, emulator, Decimal("61000")), 30)
            finally:
                await stream.aclose()

        assert before.ask == Decimal("60011")
        assert after.ask == Decimal("61010")
        assert any(e["event"] == "market_stream_reconnect" for e in logs)
        assert client.last_market_data_ms is not None


@pytest.mark.asyncio
async def test_user_stream_with_refused_keys_raises_authentication_error_and_counts_it() -> None:
    from trading_bot.emulator import BinanceEmulator
    from trading_bot.emulator import EmulatorConfig

    async with BinanceEmulator(EmulatorConfig(symbols=(SYMBOL,), api_key=KEY, api_secret=SECRET)) as emulator:
        config = ExchangeConfig(
            name="binance", ccxt_options=emulator.ccxt_config(), api_key=SecretStr(KEY), secret=SecretStr("wrong")
        )
        client = CcxtExchange(config, LiveClock())
        try:
            await client.connect()  # public: markets load without a signature

            with pytest.raises(AuthenticationError):
                await asyncio.wait_for(client.run_user_stream(), 10)
        finally:
            await client.close()

        assert client.auth_failures >= 1


# -- answers the venue got wrong (found by tests/fuzz/test_fuzz_exchange.py) -------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [b"", b"{}", b'{"orderId": 1', b"<html><body>OK</body></html>"])
async def test_place_answered_without_an_order_id_raises_bad_exchange_response_not_a_phantom_order(
    body: bytes,
) -> None:
    """An order answer ccxt cannot read (no order id) is refused: the order is then looked up, not assumed open."""
    async with emulated() as (emulator, client, _):
        emulator.override_next_response("POST", "/api/v3/order", 200, body, after_handler=True)
        coid = ClientOrderId("faults-noid-1")

        with pytest.raises(BadExchangeResponse, match="without the exchange's order id"):
            await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59000")), QTY, coid)

        assert len(_posts_with(emulator, coid)) == 1
        assert (await client.fetch_order(SYMBOL, coid)) is not None  # it was booked: the lookup finds it


def _order_answer(coid: str, **broken: object) -> bytes:
    """A Binance ``POST /api/v3/order`` RESULT answer for a resting buy of 0.001 @ 59000, with ``broken`` fields."""
    now = int(time.time() * 1000)
    answer = {
        "symbol": "BTCUSDT", "orderId": 424242, "orderListId": -1, "clientOrderId": coid, "price": "59000.00000000",
        "origQty": "0.00100000", "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
        "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "transactTime": now, "workingTime": now,
    }  # fmt: skip
    return json.dumps({**answer, **broken}).encode()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"transactTime": "Infinity"}, "OverflowError"),  # ccxt's int(float("inf")) inside its parser
        ({"price": "-1"}, r"price -1\S* must be > 0"),
        ({"origQty": "-0.001"}, r"quantity -0\.001 must be > 0"),
        ({"executedQty": "-0.001"}, r"filled -0\.001 must be >= 0"),
        ({"executedQty": "0.002"}, r"filled 0\.002 is above quantity 0\.001"),
        ({"transactTime": -1, "workingTime": -1}, "timestamp -1 is outside"),
    ],
)
async def test_place_answered_with_an_impossible_order_raises_bad_exchange_response(
    broken: dict[str, object], reason: str
) -> None:
    """Impossible values in an order answer are refused at the boundary, never turned into a report."""
    async with emulated() as (emulator, client, _):
        coid = ClientOrderId("faults-impossible-1")
        emulator.override_next_response("POST", "/api/v3/order", 200, _order_answer(coid, **broken))

        with pytest.raises(BadExchangeResponse, match=reason):
            await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("59000")), QTY, coid)

        assert len(_posts_with(emulator, coid)) == 1


@pytest.mark.asyncio
async def test_my_trades_drops_an_impossible_fill_keeps_the_others_and_does_not_move_the_fill_cursor() -> None:
    async with emulated() as (emulator, client, _):
        coid = ClientOrderId("faults-taker-1")
        await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=Decimal("60010")), QTY, coid)
        (row,) = [{k: v for k, v in f.items() if k not in ("side", "clientOrderId")} for f in emulator.fills()]
        rows = [
            row,
            {**row, "id": 7001, "qty": "-0.001"},
            {**row, "id": 7002, "price": "NaN"},
            {**row, "id": 7003, "time": 10**15},  # year 33658: would push the fill cursor past every real fill
        ]
        emulator.override_next_response("GET", "/api/v3/myTrades", 200, json.dumps(rows).encode())

        with capture_logs() as logs:
            fills = await client.fetch_my_trades(SYMBOL)

        assert [(f.trade_id, f.client_order_id) for f in fills] == [(str(row["id"]), coid)]
        assert len([e for e in logs if e["event"] == "bad_fill"]) == 3
        assert client._fills_since_ms[SYMBOL] == row["time"]


@pytest.mark.asyncio
async def test_fetch_balance_with_a_negative_balance_raises_bad_exchange_response() -> None:
    async with emulated() as (emulator, client, _):
        balances = [{"asset": "BTC", "free": "1", "locked": "0"}, {"asset": "USDT", "free": "-5", "locked": "0"}]
        body = {"balances": balances}
        emulator.override_next_response("GET", "/api/v3/account", 200, json.dumps(body).encode())

        with pytest.raises(BadExchangeResponse, match=r"USDT\.free -5\S* must be >= 0"):
            await client.fetch_balance()


@pytest.mark.asyncio
async def test_market_with_a_negative_minimum_amount_is_skipped_not_loaded() -> None:
    import aiohttp

    async with emulated() as (emulator, client, _):
        async with aiohttp.ClientSession() as session, session.get(f"{emulator.base_http}/api/v3/exchangeInfo") as r:
            info = await r.json()
        for f in info["symbols"][0]["filters"]:
            if f["filterType"] == "LOT_SIZE":
                f["minQty"] = "-1"
        emulator.override_next_response("GET", "/api/v3/exchangeInfo", 200, json.dumps(info).encode())
        fresh = CcxtExchange(client._config, LiveClock())
        try:
            with capture_logs() as logs:
                await fresh.connect()
        finally:
            await fresh.close()

        assert SYMBOL not in fresh._markets
        assert any(e["event"] == "market_skipped" and "min_amount -1" in e["error"] for e in logs)


async def _resting_order_manager(client: CcxtExchange) -> tuple[Any, ClientOrderId]:
    """The real order manager with one resting buy of ours on the emulator's book."""
    from tests.integration.test_grid_exits import _manager

    manager, _ = await _manager(client)
    coid = await manager.submit(OrderParams(side=OrderSide.BUY, quantity=QTY, price=Decimal("59000")), None)
    order = manager.tracker.get(coid)
    assert order is not None
    assert order.status is OrderStatus.ACCEPTED
    return manager, coid


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("after_handler", "expected"), [(True, OrderStatus.CANCELED), (False, OrderStatus.ACCEPTED)]
)
async def test_cancel_with_an_unreadable_answer_is_looked_up_never_left_pending_cancel(
    after_handler: bool, expected: OrderStatus
) -> None:
    """A garbage answer to a cancel leaves its outcome unknown: the lookup decides whether the order is gone."""
    async with emulated() as (emulator, client, _):
        manager, coid = await _resting_order_manager(client)
        emulator.override_next_response("DELETE", "/api/v3/order", 200, b"<html>oops</html>",
                                        after_handler=after_handler)

        await manager.cancel(coid)
        assert coid in manager.unknown_outcomes
        await manager.resolve_unknown()

        order = manager.tracker.get(coid)
        assert order is not None
        assert order.status is expected
        assert coid not in manager.unknown_outcomes


@pytest.mark.asyncio
async def test_cancel_refused_puts_the_order_back_so_a_later_cancel_goes_out() -> None:
    async with emulated() as (emulator, client, _):
        manager, coid = await _resting_order_manager(client)
        refusal = json.dumps({"code": -1100, "msg": "Illegal characters found in parameter 'symbol'."}).encode()
        emulator.override_next_response("DELETE", "/api/v3/order", 400, refusal)

        with pytest.raises(ExchangeError):
            await manager.cancel(coid)
        order = manager.tracker.get(coid)
        assert order is not None
        assert order.status is OrderStatus.ACCEPTED  # not stuck in PENDING_CANCEL

        await manager.cancel(coid)  # the next cancel is sent and succeeds
        assert order.status is OrderStatus.CANCELED
