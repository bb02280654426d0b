"""Market streams and the WS-API user-data stream through real ccxt.pro."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator

SYMBOL = "BTC/USDT"


async def _watch_while(watch: Awaitable[Any], poke: Callable[[int], Awaitable[None]], timeout: float = 3.0) -> Any:
    """Await ``watch`` while calling ``poke(i)`` until it resolves (subscription timing is not observable)."""
    task = asyncio.ensure_future(watch)
    i = 0
    deadline = asyncio.get_running_loop().time() + timeout
    while not task.done() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
        if not task.done():
            await poke(i)
            i += 1
    return await asyncio.wait_for(task, 0.5)


@pytest.mark.asyncio
async def test_watch_bids_asks_receives_book_ticker_after_set_quote(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    async def poke(i: int) -> None:
        await emulator.set_quote(SYMBOL, Decimal("60100.00") + i, Decimal("60100.50") + i, "1.5", "2.5")

    result = await _watch_while(exchange.watch_bids_asks([SYMBOL]), poke)
    ticker = result[SYMBOL]
    assert ticker["ask"] - ticker["bid"] == pytest.approx(0.5)
    assert (ticker["bidVolume"], ticker["askVolume"]) == (1.5, 2.5)


@pytest.mark.asyncio
async def test_watch_ticker_with_name_ticker_has_bid_and_ask(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    async def poke(i: int) -> None:
        await emulator.set_quote(SYMBOL, Decimal("60200.00") + i, Decimal("60200.10") + i)

    ticker = await _watch_while(exchange.watch_ticker(SYMBOL, {"name": "ticker"}), poke)
    assert ticker["ask"] - ticker["bid"] == pytest.approx(0.1)


@pytest.mark.asyncio
async def test_watch_trades_receives_printed_public_trades(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    async def poke(i: int) -> None:
        await emulator.trade(SYMBOL, Decimal("60000.00"), Decimal("0.25"), "sell")

    trades = await _watch_while(exchange.watch_trades(SYMBOL), poke)
    assert trades[-1]["price"] == 60000.0
    assert trades[-1]["amount"] == 0.25
    assert trades[-1]["side"] == "sell"


@pytest.mark.asyncio
async def test_watch_order_book_stays_consistent_with_rest_snapshot_across_set_quotes(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    async def poke(i: int) -> None:
        await emulator.set_quote(SYMBOL, "60000.00", "60000.10", "2", "3")

    book = await _watch_while(exchange.watch_order_book(SYMBOL), poke)
    for step in range(1, 6):
        await emulator.set_quote(SYMBOL, Decimal("60000.00") + step, Decimal("60000.50") + step, step, step + 1)
        book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), 2)
        while book["bids"][0][0] != 60000.0 + step:
            book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), 2)
    snapshot = await exchange.fetch_order_book(SYMBOL, 20)
    assert book["nonce"] == snapshot["nonce"]
    assert book["bids"][:20] == snapshot["bids"]
    assert book["asks"][:20] == snapshot["asks"]
    assert book["bids"][0] == [60005.0, 5.0]
    assert book["asks"][0] == [60005.5, 6.0]


@pytest.mark.asyncio
async def test_own_resting_order_shows_in_the_depth_diffs(emulator: BinanceEmulator, exchange: ccxtpro.binance) -> None:
    async def poke(i: int) -> None:
        await emulator.set_quote(SYMBOL, "60000.00", "60000.10", "2", "3")

    await _watch_while(exchange.watch_order_book(SYMBOL), poke)
    await exchange.create_order(SYMBOL, "limit", "buy", 0.5, 60000.05)
    book = await asyncio.wait_for(exchange.watch_order_book(SYMBOL), 2)
    assert book["bids"][0] == [60000.05, 0.5]


@pytest.mark.asyncio
async def test_watch_orders_and_my_trades_get_new_then_partial_then_full_fills(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    orders_task = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
    await asyncio.sleep(0.3)  # the WS-API subscribe must complete before the order is placed
    order = await exchange.create_order(SYMBOL, "limit", "buy", 0.02, 59900, {"clientOrderId": "ws-1"})
    new = dict((await asyncio.wait_for(orders_task, 2))[-1])  # ccxt updates cached orders in place: copy

    async def fill(price: str, qty: str) -> tuple[Any, Any]:
        watchers = asyncio.gather(exchange.watch_orders(SYMBOL), exchange.watch_my_trades(SYMBOL))
        await asyncio.sleep(0.05)
        await emulator.trade(SYMBOL, Decimal(price), Decimal(qty), "sell")
        orders, trades = await asyncio.wait_for(watchers, 2)
        return [dict(o) for o in orders], [dict(t) for t in trades]

    partial, partial_trades = await fill("59900", "0.005")
    full, rest_trades = await fill("59850", "0.5")

    assert (new["id"], new["status"], new["clientOrderId"]) == (order["id"], "open", "ws-1")
    assert partial_trades[-1]["amount"] == pytest.approx(0.005)
    assert partial_trades[-1]["takerOrMaker"] == "maker"
    assert partial_trades[-1]["fee"]["currency"] == "USDT"
    assert (partial[-1]["status"], partial[-1]["filled"]) == ("open", pytest.approx(0.005))
    assert (full[-1]["status"], full[-1]["filled"]) == ("closed", pytest.approx(0.02))
    assert [(t["price"], t["amount"]) for t in rest_trades] == [(59900.0, pytest.approx(0.015))]


@pytest.mark.asyncio
async def test_watch_orders_reports_cancel_with_the_original_client_id(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    first = asyncio.ensure_future(exchange.watch_orders(SYMBOL))
    await asyncio.sleep(0.3)
    order = await exchange.create_order(SYMBOL, "limit", "sell", 0.01, 61000, {"clientOrderId": "ws-cancel"})
    await asyncio.wait_for(first, 2)
    await exchange.cancel_order(order["id"], SYMBOL)
    canceled = await asyncio.wait_for(exchange.watch_orders(SYMBOL), 2)
    assert (canceled[-1]["status"], canceled[-1]["clientOrderId"]) == ("canceled", "ws-cancel")


@pytest.mark.asyncio
async def test_watch_balance_follows_outbound_account_position(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    first = asyncio.ensure_future(exchange.watch_balance())
    await asyncio.sleep(0.3)
    await exchange.create_order(SYMBOL, "limit", "sell", 1, 61000)
    balance = await asyncio.wait_for(first, 2)
    assert balance["BTC"]["used"] == 1
    assert balance["BTC"]["free"] == 9


@pytest.mark.asyncio
async def test_user_stream_subscribe_with_wrong_secret_fails(emulator: BinanceEmulator) -> None:
    ex = ccxtpro.binance({**emulator.ccxt_config(), "secret": "wrong"})
    try:
        await ex.load_markets()
        with pytest.raises((ccxtpro.AuthenticationError, KeyError)):  # KeyError: CCXT_BINANCE.md gotcha 1
            await asyncio.wait_for(ex.watch_orders(SYMBOL), 2)
    finally:
        await ex.close()
    assert any(r["method"] == "WS" and r["status"] == 400 for r in emulator.request_log())
