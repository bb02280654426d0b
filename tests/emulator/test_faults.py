"""Authentication and injected faults, mapped to ccxt exception classes."""

from __future__ import annotations

import asyncio

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator import FaultConfig

SYMBOL = "BTC/USDT"


@pytest.mark.asyncio
async def test_wrong_secret_raises_authentication_error(emulator: BinanceEmulator) -> None:
    ex = ccxtpro.binance({**emulator.ccxt_config(), "secret": "wrong"})
    try:
        with pytest.raises(ccxtpro.AuthenticationError):
            await ex.fetch_balance()
    finally:
        await ex.close()


@pytest.mark.asyncio
async def test_unknown_api_key_raises_authentication_error(emulator: BinanceEmulator) -> None:
    ex = ccxtpro.binance({**emulator.ccxt_config(), "apiKey": "other-key"})
    try:
        with pytest.raises(ccxtpro.AuthenticationError):
            await ex.fetch_balance()
    finally:
        await ex.close()


@pytest.mark.asyncio
async def test_skewed_server_clock_raises_invalid_nonce_and_time_sync_fixes_it(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    emulator.set_faults(clock_skew_ms=-30_000)
    with pytest.raises(ccxtpro.InvalidNonce):
        await exchange.fetch_balance()
    await exchange.load_time_difference()
    balance = await exchange.fetch_balance()
    assert balance["USDT"]["free"] == 100000


@pytest.mark.asyncio
async def test_injected_429_raises_ddos_protection_with_retry_after(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    emulator.set_faults(next_n_429=1, retry_after_s=7)
    with pytest.raises(ccxtpro.DDoSProtection):
        await exchange.fetch_ticker(SYMBOL)
    async with aiohttp.ClientSession() as session:
        emulator.set_faults(next_n_429=1)
        async with session.get(f"{emulator.base_http}/api/v3/time") as response:
            assert (response.status, response.headers["Retry-After"]) == (429, "7")
    assert (await exchange.fetch_ticker(SYMBOL))["bid"] == 60000.0


@pytest.mark.asyncio
async def test_injected_5xx_raises_exchange_not_available(emulator: BinanceEmulator, exchange: ccxtpro.binance) -> None:
    emulator.set_faults(next_n_5xx=1)
    with pytest.raises(ccxtpro.ExchangeNotAvailable):
        await exchange.fetch_ticker(SYMBOL)
    assert [r["status"] for r in emulator.request_log()][-1] == 503


@pytest.mark.asyncio
async def test_faults_set_over_the_control_endpoint_apply_at_run_time(emulator: BinanceEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{emulator.base_http}/_control/faults", json={"next_n_5xx": 1, "error_5xx_status": 502}
        ) as r:
            assert (await r.json())["next_n_5xx"] == 1
        async with session.get(f"{emulator.base_http}/api/v3/time") as r:
            assert r.status == 502
        async with session.get(f"{emulator.base_http}/api/v3/time") as r:
            assert r.status == 200
        async with session.post(f"{emulator.base_http}/_control/faults", json={"bogus": 1}) as r:
            assert r.status == 400


@pytest.mark.asyncio
async def test_fault_config_at_start_adds_latency() -> None:
    config = EmulatorConfig(history_bars=0, faults=FaultConfig(latency_ms=200))
    async with BinanceEmulator(config) as emu, aiohttp.ClientSession() as session:
        started = asyncio.get_running_loop().time()
        async with session.get(f"{emu.base_http}/api/v3/time") as r:
            assert r.status == 200
        assert asyncio.get_running_loop().time() - started >= 0.2


@pytest.mark.asyncio
async def test_accept_then_timeout_books_the_order_but_the_client_times_out(emulator: BinanceEmulator) -> None:
    ex = ccxtpro.binance({**emulator.ccxt_config(), "timeout": 500})
    try:
        await ex.load_markets()
        emulator.set_faults(accept_then_timeout=True, accept_timeout_delay_s=3)
        with pytest.raises(ccxtpro.RequestTimeout):
            await ex.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "lost-1"})
        found = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "lost-1"})
    finally:
        await ex.close()
    assert found["status"] == "open"
    assert emulator.faults()["accept_then_timeout"] is False


@pytest.mark.asyncio
async def test_drop_ws_closes_streams_and_ccxt_recovers_on_a_later_watch(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    first = await _next_bids_asks(emulator, exchange, "60001.00")
    assert await emulator.drop_websockets() == 1
    second = None
    for _ in range(3):
        try:
            second = await _next_bids_asks(emulator, exchange, "60002.00")
            break
        except ccxtpro.NetworkError:
            await asyncio.sleep(0.1)
    assert (first, second) == (60001.0, 60002.0)


async def _next_bids_asks(emulator: BinanceEmulator, exchange: ccxtpro.binance, bid: str) -> float:
    waiter = asyncio.ensure_future(exchange.watch_bids_asks([SYMBOL]))
    for _ in range(50):
        await asyncio.sleep(0.02)
        if waiter.done():
            break
        await emulator.set_quote(SYMBOL, bid, "60010.00")
    result = await asyncio.wait_for(waiter, 2)
    return float(result[SYMBOL]["bid"])
