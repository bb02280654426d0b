"""Fuzz: whatever the venue answers, the ccxt boundary returns sane domain values or a documented error.

Real ccxt (``CcxtExchange``) talks over loopback to the Binance emulator, whose answers are replaced one
request at a time (``BinanceEmulator.override_next_response``) by: a genuine answer with values broken
(nulls, ``NaN``, infinities, huge numbers, negative quantities, wrong types, unknown statuses, missing
keys), a truncated answer, an HTML error page, an empty body, a Binance error code, random bytes, any
HTTP status and any content type. Order POSTs and DELETEs may also be booked first and answered garbage
after (``after_handler``).

Property, for every adapter call (``fetch_balance``, ``place_order`` with the lookups of an unknown
outcome, ``fetch_order``, ``cancel_order``, ``fetch_open_orders``, ``fetch_my_trades``, ``load_markets``):

* it returns well-formed domain values (finite Decimals, non-negative or positive where the domain
  needs it, known statuses, plausible timestamps, our client id on the answer about our order), and
  every fill or report it emits to the sink is well-formed too; or
* it raises an ``ExchangeError`` (``trading_bot.errors``) — never another exception type;
* it ends within ``CALL_TIMEOUT_S``;
* no ``newClientOrderId`` is ever POSTed twice (read from the emulator's request log).

The startup reconciliation (``trading_bot.runtime.reconcile``) is fuzzed the same way over a fresh
SQLite journal holding one booked and one never-sent order: it returns its report with well-formed
tracked orders and position, or raises an ``ExchangeError`` (or ``ConfigError``, its history refusal).

One emulator and one client serve the whole module (a module fixture runs its own event loop).
``HYPOTHESIS_PROFILE=long`` runs many more examples (see ``tests/fuzz/conftest.py``).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import SecretStr

from exchanges.base import OrderUpdate
from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import ExchangeConfig
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiveClock
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol
from trading_bot.domain.checks import MAX_TS_MS
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.errors import ConfigError
from trading_bot.errors import ExchangeError
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.reconcile import ReconcileReport
from trading_bot.runtime.reconcile import reconcile

pytestmark = pytest.mark.fuzz

SYMBOL = Symbol("BTC/USDT")
KEY, SECRET = "fuzz-key", "fuzz-secret"
QTY = Decimal("0.001")
REST_PRICE = Decimal("50000")  # well below the 60000 / 60010 book: the fuzzed orders rest
CALL_TIMEOUT_S = 20.0
"""Longest one adapter call may take (retries, lookups and the receive window included), seconds."""

Route = tuple[str, str]
ACCOUNT: Route = ("GET", "/api/v3/account")
ORDER_POST: Route = ("POST", "/api/v3/order")
ORDER_GET: Route = ("GET", "/api/v3/order")
ORDER_DELETE: Route = ("DELETE", "/api/v3/order")
OPEN_ORDERS: Route = ("GET", "/api/v3/openOrders")
MY_TRADES: Route = ("GET", "/api/v3/myTrades")
EXCHANGE_INFO: Route = ("GET", "/api/v3/exchangeInfo")

OPS: dict[str, tuple[Route, ...]] = {
    # the call's own answer first (hypothesis shrinks towards it), then the follow-up lookups it may make
    "balance": (ACCOUNT,),
    "place": (ORDER_POST, ORDER_GET),
    "fetch_order": (ORDER_GET,),
    "cancel": (ORDER_DELETE, ORDER_GET),
    "open_orders": (OPEN_ORDERS,),
    "my_trades": (MY_TRADES, ORDER_GET),
    "markets": (EXCHANGE_INFO,),
}


# -- the venue: one emulator, one client, genuine answers to break --------------------------------------


@dataclass
class Venue:
    runner: asyncio.Runner
    emulator: BinanceEmulator
    config: ExchangeConfig
    client: CcxtExchange
    templates: dict[Route, bytes]
    resting: ClientOrderId
    journals: Path
    updates: list[OrderUpdate] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=itertools.count)

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Venue(port={self.emulator.port})"

    def coid(self, kind: str) -> ClientOrderId:
        return ClientOrderId(f"fz-{kind}-{next(self.ids)}")


async def _open(runner: asyncio.Runner, journals: Path) -> Venue:
    emulator = BinanceEmulator(EmulatorConfig(symbols=(SYMBOL,), api_key=KEY, api_secret=SECRET, history_bars=0))
    await emulator.start()
    await emulator.set_quote(SYMBOL, Decimal("60000"), Decimal("60010"), Decimal(1), Decimal(1))
    options = emulator.ccxt_config()
    options["enableRateLimit"] = False  # ccxt's own throttle only slows the fuzz down
    options["options"]["recvWindow"] = 500  # a clean miss of an unknown outcome is settled 0.5 s after sending
    config = ExchangeConfig(
        name="binance", ccxt_options=options, api_key=SecretStr(KEY), secret=SecretStr(SECRET), request_timeout_s=2
    )
    client = CcxtExchange(config, LiveClock())
    client.lookup_delays_s = (0.01, 0.02, 0.05)
    await client.connect()
    resting = ClientOrderId("fz-resting")
    await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=REST_PRICE), QTY, resting)
    venue = Venue(runner, emulator, config, client, await _genuine_answers(emulator, resting), resting, journals)
    client.attach(venue.updates.append)
    return venue


async def _genuine_answers(emulator: BinanceEmulator, resting: str) -> dict[Route, bytes]:
    """Ask the emulator once per route with plain ccxt; its answers are the templates the fuzz breaks."""
    raw = ccxt_async.binance({**emulator.ccxt_config(), "enableRateLimit": False})
    market = {"symbol": "BTCUSDT"}
    try:
        filled = await raw.private_post_order(
            {**market, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": "60010", "newClientOrderId": "fz-template-taker", "newOrderRespType": "FULL"}
        )  # fmt: skip
        await raw.private_post_order(
            {**market, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": "49000", "newClientOrderId": "fz-template-cancel"}
        )  # fmt: skip
        answers = {
            ORDER_POST: filled,
            ORDER_DELETE: await raw.private_delete_order({**market, "origClientOrderId": "fz-template-cancel"}),
            ORDER_GET: await raw.private_get_order({**market, "origClientOrderId": resting}),
            ACCOUNT: await raw.private_get_account(),
            OPEN_ORDERS: await raw.private_get_openorders(market),
            MY_TRADES: await raw.private_get_mytrades(market),
            EXCHANGE_INFO: await raw.public_get_exchangeinfo(),
        }
    finally:
        await raw.close()
    assert filled["fills"], "the POST template carries fills"  # the templates carry what the fuzz breaks
    assert answers[MY_TRADES], "the myTrades template carries a trade"
    assert answers[OPEN_ORDERS], "the openOrders template carries an order"
    return {route: json.dumps(body).encode() for route, body in answers.items()}


async def _close(venue: Venue) -> None:
    await venue.client.close()
    await venue.emulator.stop()


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    with asyncio.Runner() as runner:
        venue = runner.run(_open(runner, tmp_path_factory.mktemp("journals")))
        try:
            yield venue
        finally:
            runner.run(_close(venue))


# -- answers ---------------------------------------------------------------------------------------------

_BAD_VALUES: list[object] = [
    None, "NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-1", "-0.00100000", "0", "-0", "", " ", "abc",
    "1e400", "1E-400", "9" * 400, True, False, [], {}, [None], "WEIRD_STATUS", "PENDING_NEW", "EXPIRED_IN_MATCH",
    math.nan, math.inf, -math.inf, -1, 0, 10**400, -(10**18), 1e308, 1.5,
]  # fmt: skip
BAD_VALUE = st.one_of(st.sampled_from(_BAD_VALUES).map(copy.deepcopy), st.text(max_size=6), st.integers(), st.floats())
FIXED_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b"{}",
    b'"ok"',
    b"123",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>blocked</body></html>",
    b"\xff\xfe\x00not text",
]
BINANCE_ERROR = st.builds(
    lambda code, msg: json.dumps({"code": code, "msg": msg}).encode(),
    st.sampled_from([-1000, -1001, -1003, -1007, -1013, -1021, -1022, -1100, -1121, -2010, -2011, -2013, -2015, 0]),
    st.sampled_from(
        [
            "",
            "Unknown order sent.",
            "Order does not exist.",
            "Duplicate order sent.",
            "Account has insufficient balance for requested action.",
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ]
    ),
)
STATUS = st.one_of(st.just(200), st.sampled_from([400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504]))
CONTENT_TYPE = st.sampled_from(
    ["application/json", "application/json;charset=utf-8", "text/html", "text/plain", "application/octet-stream"]
)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(container, key)`` for every value in a JSON tree, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield node, key
        yield from _slots(value)


def _numeric(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        return isinstance(value, str) and Decimal(value).is_finite()
    except ArithmeticError:
        return False


@st.composite
def broken_json(draw: st.DrawFn, template: bytes) -> bytes:
    """The genuine answer with one to three values replaced by nonsense or removed."""
    doc = json.loads(template)
    for _ in range(draw(st.integers(1, 3))):
        slots = list(_slots(doc))
        numbers = [(c, k) for c, k in slots if _numeric(c[k])]
        if draw(st.booleans()) and numbers:
            slots = numbers  # half the time break a number: that is where the domain's rules bite
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(BAD_VALUE)
    return json.dumps(doc).encode()


def bodies(template: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        broken_json(template),
        st.integers(0, len(template) - 1).map(lambda n: template[:n]),  # truncated
        st.sampled_from(FIXED_BODIES),
        BINANCE_ERROR,
        st.binary(max_size=64),
    )


@dataclass(frozen=True)
class Answer:
    route: Route
    status: int
    body: bytes
    content_type: str
    after_handler: bool


@st.composite
def answers(draw: st.DrawFn, routes: tuple[Route, ...], templates: Mapping[Route, bytes]) -> Answer:
    route = draw(st.sampled_from(routes))
    acts = route in (ORDER_POST, ORDER_DELETE)
    return Answer(
        route=route,
        status=draw(STATUS),
        body=draw(bodies(templates[route])),
        content_type=draw(CONTENT_TYPE),
        after_handler=acts and draw(st.booleans()),  # booked / cancelled, then answered garbage
    )


# -- the property ----------------------------------------------------------------------------------------


def _finite(value: object, what: str, *, low: Decimal | None = None, strict: bool = False) -> None:
    assert isinstance(value, Decimal), f"{what}: {value!r} is not a Decimal"
    assert value.is_finite(), f"{what}: {value} is not finite"
    if low is not None:
        assert value > low if strict else value >= low, f"{what}: {value} is out of range"


def _check_ts(ts: object, what: str) -> None:
    assert isinstance(ts, int), f"{what}: {ts!r} is not an int"
    assert not isinstance(ts, bool), f"{what}: {ts!r} is not an int"
    assert 0 <= ts < MAX_TS_MS, f"{what}: {ts} is not a plausible epoch-ms time"


def check_report(r: object, coid: str | None = None) -> None:
    assert isinstance(r, OrderStatusReport), f"{r!r} is not an OrderStatusReport"
    assert isinstance(r.status, OrderStatus)
    _check_ts(r.ts_ms, "report.ts_ms")
    _finite(r.filled_quantity, "report.filled_quantity", low=Decimal(0))
    for name in ("quantity", "price", "average_price"):
        if getattr(r, name) is not None:
            _finite(getattr(r, name), f"report.{name}", low=Decimal(0), strict=True)
    if r.quantity is not None:
        assert r.filled_quantity <= r.quantity, f"filled {r.filled_quantity} > quantity {r.quantity}"
    assert isinstance(r.client_order_id, str)
    if coid is not None:
        assert r.client_order_id == coid
        never_sent = r.status is OrderStatus.REJECTED and r.transient
        assert never_sent or r.exchange_order_id, f"a report about {coid} without the exchange's order id: {r}"


def check_fill(f: object) -> None:
    assert isinstance(f, Fill), f"{f!r} is not a Fill"
    assert f.trade_id, f"fill without a trade id: {f}"
    assert f.client_order_id, f"fill without a client order id: {f}"
    assert isinstance(f.side, OrderSide)
    _finite(f.quantity, "fill.quantity", low=Decimal(0), strict=True)
    _finite(f.price, "fill.price", low=Decimal(0), strict=True)
    _finite(f.fee, "fill.fee")
    _check_ts(f.ts_ms, "fill.ts_ms")


def check_balances(balances: object) -> None:
    assert isinstance(balances, dict)
    for currency, b in balances.items():
        assert isinstance(b, Balance), f"{b!r} is not a Balance"
        assert b.currency == currency, f"{b} under {currency!r}"
        assert currency, "a balance without a currency"
        _finite(b.free, f"{currency}.free", low=Decimal(0))
        _finite(b.locked, f"{currency}.locked", low=Decimal(0))


def check_markets(markets: object) -> None:
    assert isinstance(markets, Mapping)
    for symbol, m in markets.items():
        assert isinstance(m, Market), f"{m!r} is not a Market"
        assert m.symbol == symbol, f"{m} under {symbol!r}"
        assert m.base, f"{m}: no base currency"
        assert m.quote, f"{m}: no quote currency"
        _finite(m.price_increment, "price_increment", low=Decimal(0), strict=True)
        _finite(m.amount_increment, "amount_increment", low=Decimal(0), strict=True)
        _finite(m.min_amount, "min_amount", low=Decimal(0))
        _finite(m.min_notional, "min_notional", low=Decimal(0))
        if m.max_amount is not None:
            _finite(m.max_amount, "max_amount", low=Decimal(0), strict=True)
        _finite(m.maker_fee, "maker_fee")
        _finite(m.taker_fee, "taker_fee")


def check_result(op: str, result: object, coid: str) -> None:
    if op == "balance":
        check_balances(result)
    elif op in ("place", "cancel") or (op == "fetch_order" and result is not None):
        check_report(result, coid)
    elif op == "open_orders":
        assert isinstance(result, list)
        for report in result:
            check_report(report)
    elif op == "my_trades":
        assert isinstance(result, list)
        for fill in result:
            check_fill(fill)
    elif op == "markets":
        check_markets(result)


def check_sent_once(emulator: BinanceEmulator) -> None:
    posted = Counter(
        str((r.get("params") or {}).get("newClientOrderId"))  # type: ignore[union-attr]
        for r in emulator.request_log()
        if (r["method"], r["path"]) == ORDER_POST
    )
    assert not [c for c, n in posted.items() if n > 1], f"client order ids POSTed twice: {posted.most_common(3)}"


async def call(venue: Venue, op: str, coid: ClientOrderId) -> object:
    client = venue.client
    if op == "balance":
        return await client.fetch_balance()
    if op == "place":
        return await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=REST_PRICE), QTY, coid)
    if op == "fetch_order":
        return await client.fetch_order(SYMBOL, coid)
    if op == "cancel":
        return await client.cancel_order(SYMBOL, coid)
    if op == "open_orders":
        return await client.fetch_open_orders(SYMBOL)
    if op == "my_trades":
        return await client.fetch_my_trades(SYMBOL)
    fresh = CcxtExchange(venue.config, LiveClock())  # markets are loaded once per client
    try:
        await fresh.connect()
        return await fresh.load_markets()
    finally:
        await fresh.close()


async def exercise(venue: Venue, op: str, coid: ClientOrderId, canned: list[Answer]) -> None:
    emulator = venue.emulator
    if op == "cancel":  # an order of ours to cancel, placed with a genuine answer
        await venue.client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=REST_PRICE), QTY, coid)
    for a in canned:
        emulator.override_next_response(*a.route, a.status, a.body, a.content_type, after_handler=a.after_handler)
    seen = len(venue.updates)
    result: object = None
    failed = False
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            result = await call(venue, op, coid)
    except ExchangeError:
        failed = True  # a documented refusal: nothing to check but the side effects below
    except TimeoutError:
        raise AssertionError(f"{op} did not end within {CALL_TIMEOUT_S} s") from None
    finally:
        emulator.clear_overrides()
    if not failed:
        check_result(op, result, coid)
    for update in venue.updates[seen:]:
        if isinstance(update, Fill):
            check_fill(update)
        else:
            check_report(update)
    check_sent_once(emulator)
    if op == "place":
        posts = [r for r in emulator.request_log() if (r.get("params") or {}).get("newClientOrderId") == coid]
        assert len(posts) == 1, f"{coid} was POSTed {len(posts)} times"


@given(data=st.data())
def test_every_answer_becomes_sane_values_or_a_documented_error_and_nothing_is_sent_twice(
    venue: Venue, data: st.DataObject
) -> None:
    op = data.draw(st.sampled_from(list(OPS)), label="op")
    canned = data.draw(st.lists(answers(OPS[op], venue.templates), min_size=1, max_size=3), label="answers")
    if op == "fetch_order":
        coid = data.draw(st.sampled_from([venue.resting, ClientOrderId("fz-never-sent")]), label="coid")
    else:
        coid = venue.coid(op)
    venue.runner.run(exercise(venue, op, coid, canned))


# -- the startup reconciliation over the same answers ----------------------------------------------------

RECONCILE_ROUTES = (OPEN_ORDERS, ORDER_GET, MY_TRADES)


def check_order(order: Order) -> None:
    _finite(order.quantity, f"{order.client_order_id}.quantity", low=Decimal(0), strict=True)
    _finite(order.filled_quantity, f"{order.client_order_id}.filled_quantity", low=Decimal(0))
    if order.average_price is not None:
        _finite(order.average_price, f"{order.client_order_id}.average_price", low=Decimal(0), strict=True)


async def _journaled(venue: Venue, journal: Journal, run_id: int, bot: str, seq: int, *, send: bool) -> None:
    """Journal an intent of ``bot`` (write-ahead) and, with ``send``, place it with a genuine answer."""
    coid = ClientOrderId(f"{bot}-{seq}")
    params = OrderParams(side=OrderSide.BUY, quantity=QTY, price=REST_PRICE)
    order = Order.from_params(params, coid, SYMBOL, QTY, int(time.time() * 1000))
    await journal.record_intent(order, run_id, bot)
    if send:
        report = await venue.client.place_order(SYMBOL, params, QTY, coid)
        order.transition(OrderStatus.SUBMITTED, report.ts_ms)
        order.transition(OrderStatus.ACCEPTED, report.ts_ms)
        order.exchange_order_id = report.exchange_order_id
        await journal.record_order(order)


async def reconcile_once(venue: Venue, bot: str, canned: list[Answer]) -> None:
    emulator = venue.emulator
    journal = await Journal.open(f"sqlite+aiosqlite:///{venue.journals / bot}.db")
    try:
        now = int(time.time() * 1000)
        run_id = await journal.start_run(bot, "fuzz", now)
        await journal.next_sequence(bot, 10)
        await _journaled(venue, journal, run_id, bot, 1, send=True)
        await _journaled(venue, journal, run_id, bot, 2, send=False)
        tracker, portfolio = OrderTracker(f"{bot}-"), Portfolio(venue.client.market(SYMBOL))
        for a in canned:
            emulator.override_next_response(*a.route, a.status, a.body, a.content_type)
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S * 3):  # several adapter calls in a row
                report = await reconcile(
                    exchange=venue.client,
                    journal=journal,
                    tracker=tracker,
                    portfolio=portfolio,
                    symbol=SYMBOL,
                    bot_id=bot,
                    now_ms=now,
                )
        except (ExchangeError, ConfigError):
            pass  # documented: a bot that cannot reconcile must not start trading
        except TimeoutError:
            raise AssertionError(f"reconcile did not end within {CALL_TIMEOUT_S * 3} s") from None
        else:
            assert isinstance(report, ReconcileReport)
            _finite(report.position_restored, "position_restored")
        finally:
            emulator.clear_overrides()
        for order in tracker.open_orders():
            check_order(order)
        _finite(portfolio.position.quantity, "position.quantity")
    finally:
        await journal.close()
    check_sent_once(emulator)


@settings(max_examples=max(5, settings.default.max_examples // 4))
@given(data=st.data())
def test_reconcile_over_any_answers_ends_with_sane_state_or_a_documented_error(
    venue: Venue, data: st.DataObject
) -> None:
    canned = data.draw(st.lists(answers(RECONCILE_ROUTES, venue.templates), min_size=1, max_size=3), label="answers")
    venue.runner.run(reconcile_once(venue, f"rc{next(venue.ids)}", canned))
