"""The futures venue's WebSockets through real ccxt.pro binanceusdm: listenKey user stream, market streams."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.config import FuturesConfig

BTC = "BTC/USDT:USDT"


@pytest.mark.asyncio
async def test_watch_orders_and_positions_arrive_on_the_listen_key_stream(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    orders = asyncio.create_task(usdm.watch_orders(BTC))
    await asyncio.sleep(0.3)
    await usdm.create_order(BTC, "market", "buy", 0.01)
    seen = await asyncio.wait_for(orders, 5)
    positions = asyncio.create_task(usdm.watch_positions([BTC]))
    await asyncio.sleep(0.3)
    await usdm.create_order(BTC, "market", "buy", 0.01)
    held = await asyncio.wait_for(positions, 5)
    posts = [r["path"] for r in futures_emulator.request_log() if r["method"] == "POST"]

    assert posts[0] == "/fapi/v1/listenKey"
    assert seen[-1]["status"] in ("open", "closed")
    assert (held[-1]["contracts"], held[-1]["side"]) == (0.02, "long")


@pytest.mark.asyncio
async def test_a_funding_settlement_pushes_account_update_with_the_new_wallet_balance(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.create_order(BTC, "market", "buy", 0.1)
    wallet = float((await usdm.fetch_balance())["info"]["assets"][0]["walletBalance"])
    balance = asyncio.create_task(usdm.watch_balance())
    await asyncio.sleep(0.3)
    futures_emulator.futures.settle_funding(BTC)
    pushed = await asyncio.wait_for(balance, 5)
    assert pushed["info"]["a"]["m"] == "FUNDING_FEE"
    assert pushed["USDT"]["total"] == pytest.approx(wallet - 0.1 * 60000 * 0.0001)


@pytest.mark.asyncio
async def test_mark_price_and_book_ticker_streams_follow_the_control_mark(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    mark = asyncio.create_task(usdm.watch_mark_price(BTC))
    quotes = asyncio.create_task(usdm.watch_bids_asks([BTC]))
    await asyncio.sleep(0.5)
    futures_emulator.futures.set_mark(BTC, Decimal(61000))
    marked = await asyncio.wait_for(mark, 5)
    quoted = await asyncio.wait_for(quotes, 5)
    assert (marked["markPrice"], marked["info"]["r"]) == (61000, "0.0001")
    assert (quoted[BTC]["bid"], quoted[BTC]["ask"]) == (60999.9, 61000.1)


@pytest.mark.asyncio
async def test_watch_order_book_stays_in_sequence_over_several_mark_moves(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.watch_order_book(BTC)
    tops = []
    for price in (60100, 60200, 60300):  # each move is one diff; ccxt checks pu == the previous u
        futures_emulator.futures.set_mark(BTC, Decimal(price))
        book = await asyncio.wait_for(usdm.watch_order_book(BTC), 5)
        tops.append((book["bids"][0][0], book["asks"][0][0]))
    assert tops == [(60099.9, 60100.1), (60199.9, 60200.1), (60299.9, 60300.1)]


@pytest.mark.asyncio
async def test_with_a_walk_interval_the_futures_mark_moves_by_itself_and_streams_each_second() -> None:
    config = EmulatorConfig(history_bars=0, walk_interval_s=0.05, futures=FuturesConfig())
    async with BinanceEmulator(config) as emu:
        ex = ccxtpro.binanceusdm({**emu.ccxt_usdm_config(), "enableRateLimit": False})
        try:
            marks = []
            for _ in range(3):
                marks.append((await asyncio.wait_for(ex.watch_mark_price(BTC), 5))["markPrice"])
            rate = await ex.fetch_funding_rate(BTC)
        finally:
            await ex.close()
    assert len(set(marks)) > 1
    assert rate["markPrice"] > 0


@pytest.mark.asyncio
async def test_the_mark_price_stream_pushes_every_second_even_when_the_mark_does_not_move(
    usdm: ccxtpro.binanceusdm,
) -> None:
    first = await asyncio.wait_for(usdm.watch_mark_price(BTC), 3)
    second = await asyncio.wait_for(usdm.watch_mark_price(BTC), 3)
    assert first["markPrice"] == second["markPrice"] == 60000
    assert second["timestamp"] > first["timestamp"]


@pytest.mark.asyncio
async def test_listen_key_is_one_per_account_kept_alive_by_put_and_gone_after_delete(
    usdm: ccxtpro.binanceusdm,
) -> None:
    first = await usdm.fapiPrivatePostListenKey()
    second = await usdm.fapiPrivatePostListenKey()
    kept = await usdm.fapiPrivatePutListenKey()
    await usdm.fapiPrivateDeleteListenKey()
    with pytest.raises(ccxtpro.ExchangeError, match="-1125"):
        await usdm.fapiPrivatePutListenKey()
    assert first["listenKey"] == second["listenKey"] == kept["listenKey"]
