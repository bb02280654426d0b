"""The exchange contract run against ``PaperExchange`` over an in-memory, test-driven market-data source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Mapping
from decimal import Decimal

import pytest_asyncio

from exchanges.base import OrderUpdate
from exchanges.config import PaperConfig
from exchanges.markets import load_market_snapshot
from exchanges.paper import MarketDataSource
from exchanges.paper import PaperExchange
from tests.contract.contract import ExchangeContract
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TradeTick

SYMBOL = Symbol("BTC/USDT")
STEP_MS = 1_000


class QueueSource:
    """A ``MarketDataSource`` whose events are pushed by the test."""

    def __init__(self, markets: Mapping[Symbol, Market]) -> None:
        self.markets = markets
        self.queue: asyncio.Queue[MarketData] = asyncio.Queue()
        self.latest: MarketData | None = None
        self.closed = False

    async def connect(self) -> None:
        return None

    async def load_markets(self) -> Mapping[Symbol, Market]:
        return self.markets

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        while True:
            md = await self.queue.get()
            self.latest = md
            yield md

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        assert self.latest is not None, "move the market before asking for a quote"
        return self.latest

    async def close(self) -> None:
        self.closed = True


class PaperHarness:
    """Drives a ``PaperExchange`` by pushing events through its market-data stream one at a time."""

    def __init__(self, client: PaperExchange, source: QueueSource, clock: SimulatedClock) -> None:
        self.client = client
        self.source = source
        self.clock = clock
        self.symbol = SYMBOL
        self.base_price = Decimal("60000")
        self.updates: list[OrderUpdate] = []
        self.stream = client.stream_market_data(SYMBOL)
        self.bid = self.ask = self.base_price

    async def _push(self, md: MarketData) -> None:
        self.source.queue.put_nowait(md)
        await anext(self.stream)

    def _tick(self) -> int:
        self.clock.advance_to(self.clock.now_ms() + STEP_MS)
        return self.clock.now_ms()

    async def move_market(self, bid: Decimal, ask: Decimal) -> None:
        self.bid, self.ask = bid, ask
        ts = self._tick()
        await self._push(
            MarketData(symbol=SYMBOL, ts_ms=ts, bid=bid, ask=ask, bid_size=Decimal(1), ask_size=Decimal(1))
        )

    async def trade(self, price: Decimal, quantity: Decimal, aggressor_side: OrderSide) -> None:
        ts = self._tick()
        tick = TradeTick(ts_ms=ts, symbol=SYMBOL, price=price, quantity=quantity, side=aggressor_side)
        await self._push(MarketData(symbol=SYMBOL, ts_ms=ts, bid=self.bid, ask=self.ask, last=price, trade=tick))

    async def settle(self) -> None:
        return None


class TestPaperContract(ExchangeContract):
    """``PaperExchange`` honours the exchange contract."""

    @pytest_asyncio.fixture
    async def harness(self) -> AsyncIterator[PaperHarness]:
        clock = SimulatedClock(1_723_161_254_000)
        source = QueueSource(load_market_snapshot("binance"))
        checked: MarketDataSource = source
        client = PaperExchange(PaperConfig(balances={"USDT": Decimal(10_000)}), clock, checked)
        harness = PaperHarness(client, source, clock)
        client.attach(harness.updates.append)
        await client.connect()
        yield harness
        await harness.stream.aclose()  # type: ignore[attr-defined]
        await client.close()
