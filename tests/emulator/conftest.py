"""Fixtures: an in-process emulator on an ephemeral port and a real ccxt.pro client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.pro as ccxtpro
import pytest_asyncio

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.config import FuturesConfig


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[BinanceEmulator]:
    async with BinanceEmulator(EmulatorConfig(history_bars=50)) as emu:
        await emu.set_quote("BTC/USDT", "60000.00", "60000.10", "2", "3")
        yield emu


@pytest_asyncio.fixture
async def exchange(emulator: BinanceEmulator) -> AsyncIterator[ccxtpro.binance]:
    ex = ccxtpro.binance(emulator.ccxt_config())
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


@pytest_asyncio.fixture
async def futures_emulator() -> AsyncIterator[BinanceEmulator]:
    """Spot plus the USDⓈ-M venue: BTC/USDT:USDT and XRP/USDT:USDT, 10,000 USDT, leverage 20, cross."""
    config = FuturesConfig(symbols=("BTC/USDT:USDT", "XRP/USDT:USDT"))
    async with BinanceEmulator(EmulatorConfig(history_bars=0, futures=config)) as emu:
        yield emu


@pytest_asyncio.fixture
async def usdm(futures_emulator: BinanceEmulator) -> AsyncIterator[ccxtpro.binanceusdm]:
    ex = ccxtpro.binanceusdm({**futures_emulator.ccxt_usdm_config(), "enableRateLimit": False})
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()
