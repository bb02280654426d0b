"""The exchange contract run against ``CcxtExchange``: real ccxt over loopback to the Binance emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest_asyncio
from pydantic import SecretStr

from exchanges.base import OrderUpdate
from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import ExchangeConfig
from tests.contract.contract import ExchangeContract
from trading_bot.domain import LiveClock
from trading_bot.domain import OrderSide
from trading_bot.domain import Symbol
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

SYMBOL = Symbol("BTC/USDT")
KEY, SECRET = "contract-key", "contract-secret"


class CcxtHarness:
    """Drives the emulator's control API; the client's user stream delivers the updates."""

    def __init__(self, client: CcxtExchange, emulator: BinanceEmulator) -> None:
        self.client = client
        self.emulator = emulator
        self.symbol = SYMBOL
        self.base_price = Decimal("60000")
        self.updates: list[OrderUpdate] = []

    async def move_market(self, bid: Decimal, ask: Decimal) -> None:
        await self.emulator.set_quote(self.symbol, bid, ask, Decimal(1), Decimal(1))

    async def trade(self, price: Decimal, quantity: Decimal, aggressor_side: OrderSide) -> None:
        await self.emulator.trade(self.symbol, price, quantity, aggressor_side)

    async def settle(self) -> None:
        await asyncio.sleep(0.1)


async def _user_stream_ready(harness: CcxtHarness) -> None:
    # The WS-API subscribe happens on the first watch; give it a moment so fills are not only found by REST.
    await asyncio.sleep(0.3)


class TestCcxtContract(ExchangeContract):
    """Every contract test, against ccxt 4.5.90 talking to the emulator."""

    @pytest_asyncio.fixture
    async def harness(self) -> AsyncIterator[CcxtHarness]:
        emulator = BinanceEmulator(EmulatorConfig(symbols=(SYMBOL,), api_key=KEY, api_secret=SECRET))
        await emulator.start()
        config = ExchangeConfig(
            name="binance",
            ccxt_options=emulator.ccxt_config(),
            api_key=SecretStr(KEY),
            secret=SecretStr(SECRET),
            request_timeout_s=5,
        )
        client = CcxtExchange(config, LiveClock())
        harness = CcxtHarness(client, emulator)
        client.attach(harness.updates.append)
        await client.connect()
        client.track_symbol(SYMBOL)
        stream = asyncio.create_task(client.run_user_stream(), name="contract-user-stream")
        try:
            await _user_stream_ready(harness)
            yield harness
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
            await client.close()
            await emulator.stop()
