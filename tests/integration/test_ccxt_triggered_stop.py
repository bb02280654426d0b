"""A conditional order that triggered on Binance USDⓈ-M is named and reported through the order it placed.

Binance's Algo Service places a **new** matching-engine order when a STOP_MARKET triggers (its
``actualOrderId``, ``ai`` in ``ALGO_UPDATE``); the fills name that order, and the Algo Order API's answer
for the finished stop carries no filled quantity. The emulator does the same
(``trading_bot.emulator.futures.orders``). Real ccxt ``binanceusdm`` over loopback, ``CcxtExchange`` as
the bot builds it, marks moved only by the emulator's controls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from decimal import Decimal

import pytest
import pytest_asyncio
from pydantic import SecretStr

from exchanges.base import OrderUpdate
from exchanges.ccxt.adapter import CcxtExchange
from exchanges.ccxt.parse import triggered_order_id
from exchanges.config import ExchangeConfig
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiveClock
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.futures.config import FuturesConfig
from trading_bot.emulator.futures.orders import FutOrder

KEY, SECRET = "stop-key", "stop-secret"
BTC = Symbol("BTC/USDT:USDT")
QTY = Decimal("0.01")
STOP_ID = ClientOrderId("t-sl-1")


def _client(emu: BinanceEmulator) -> CcxtExchange:
    config = ExchangeConfig(name="binanceusdm", market_type="swap", ccxt_options=emu.ccxt_usdm_options(),
                            api_key=SecretStr(KEY), secret=SecretStr(SECRET), request_timeout_s=5)  # fmt: skip
    return CcxtExchange(config, LiveClock())


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[BinanceEmulator]:
    config = EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=None, history_bars=0,
                            futures=FuturesConfig(leverage=5))  # fmt: skip
    async with BinanceEmulator(config) as emulator:
        yield emulator


async def _eventually(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.05)
    assert predicate(), what


async def _long_with_a_resting_stop(emu: BinanceEmulator, client: CcxtExchange) -> FutOrder:
    """Buy QTY at market, rest a reduce-only stop below it (client id STOP_ID); return the venue's stop."""
    buy = OrderParams(side=OrderSide.BUY, quantity=QTY, order_type=OrderType.MARKET)
    await client.place_order(BTC, buy, QTY, ClientOrderId("t-buy-1"))
    stop = OrderParams(side=OrderSide.SELL, quantity=QTY, order_type=OrderType.STOP_MARKET, reduce_only=True,
                       trigger_price=Decimal(59_000))  # fmt: skip
    await client.place_order(BTC, stop, QTY, STOP_ID)
    (venue_stop,) = [o for o in emu.futures.engine.orders.values() if o.algo]
    return venue_stop


@pytest.mark.asyncio
async def test_a_triggered_stops_fill_reaches_the_stream_under_our_client_id(emu: BinanceEmulator) -> None:
    """Rule: the fill of the order a stop placed is the stop's fill (the stream names it by our client id)."""
    updates: list[OrderUpdate] = []
    client = _client(emu)
    client.attach(updates.append)
    await client.connect()
    client.track_symbol(BTC)
    stream = asyncio.create_task(client.run_user_stream(), name="test-user-stream")
    try:
        await asyncio.sleep(0.5)  # the user stream subscribes
        stop = await _long_with_a_resting_stop(emu, client)
        emu.futures.set_mark(BTC, Decimal(58_990))
        await _eventually(lambda: any(isinstance(u, Fill) and u.client_order_id == STOP_ID for u in updates),
                          "the stop's fill reached the sink")  # fmt: skip
    finally:
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream
        await client.close()

    (fill,) = [u for u in updates if isinstance(u, Fill) and u.client_order_id == STOP_ID]
    reports = [u for u in updates if isinstance(u, OrderStatusReport) and u.client_order_id == STOP_ID]
    assert stop.actual_order_id is not None  # the venue filled it under a new order id
    assert (fill.quantity, fill.side) == (QTY, OrderSide.SELL)
    assert not [r for r in reports if r.status in (OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED)]


@pytest.mark.asyncio
async def test_after_a_restart_a_triggered_stop_is_reported_with_the_fills_of_the_order_it_placed(
    emu: BinanceEmulator,
) -> None:
    """Rules: a lookup of a stop that triggered reports the placed order's status, filled quantity and average
    price under the stop's own ids; its fills are then named from that lookup, with no further request."""
    first = _client(emu)
    await first.connect()
    try:
        stop = await _long_with_a_resting_stop(emu, first)
    finally:
        await first.close()
    emu.futures.set_mark(BTC, Decimal(58_990))  # the bot is down: the venue fills the stop
    placed = emu.futures.engine.orders[stop.actual_order_id or 0]

    restarted = _client(emu)  # a new session: it knows none of the ids
    await restarted.connect()
    try:
        report = await restarted.fetch_order(BTC, STOP_ID)
        before = len(emu.request_log())
        fills = await restarted.fetch_my_trades(BTC, stop.time_ms)
        asked = [r for r in emu.request_log()[before:] if r["path"] == "/fapi/v1/order"]
    finally:
        await restarted.close()

    assert report is not None
    assert (report.status, report.filled_quantity) == (OrderStatus.FILLED, QTY)
    assert report.average_price == placed.avg_price
    assert report.exchange_order_id == str(stop.order_id)  # the stop's id, the one the journal holds
    assert [(f.client_order_id, f.quantity) for f in fills if f.side is OrderSide.SELL] == [(STOP_ID, QTY)]
    assert asked == [], "the fill's order was looked up again"


def test_the_placed_orders_id_is_read_from_the_algo_answer_and_from_algo_update() -> None:
    """Rule: ``actualOrderId`` (REST) and ``ai`` (ALGO_UPDATE) name the placed order; "" means not triggered."""
    assert triggered_order_id({"info": {"actualOrderId": "88937381063"}}) == "88937381063"
    assert triggered_order_id({"info": {"ai": "88937381063", "X": "TRIGGERED"}}) == "88937381063"
    assert triggered_order_id({"info": {"actualOrderId": "", "algoStatus": "NEW"}}) is None
    assert triggered_order_id({"info": {"i": 5, "c": "x"}}) is None  # a plain order
    assert triggered_order_id({"id": "1"}) is None
