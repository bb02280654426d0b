"""Test kit for driving the real supervisor: a list-driven market source and a scripted strategy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from exchanges.config import PaperConfig
from exchanges.markets import load_market_snapshot
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskManager
from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradeTick
from trading_bot.runtime.supervisor import TradingBot

SYMBOL = Symbol("BTC/USDT")
D = Decimal


def quote(ts: int, bid: str, ask: str, size: str = "1") -> MarketData:
    """A top-of-book event at ``ts`` ms."""
    return MarketData(symbol=SYMBOL, ts_ms=ts, bid=D(bid), ask=D(ask), bid_size=D(size), ask_size=D(size))


def trade(ts: int, price: str, qty: str, aggressor: OrderSide, bid: str, ask: str) -> MarketData:
    """A public trade event at ``ts`` ms (with the book around it)."""
    tick = TradeTick(ts_ms=ts, symbol=SYMBOL, price=D(price), quantity=D(qty), side=aggressor)
    return MarketData(symbol=SYMBOL, ts_ms=ts, bid=D(bid), ask=D(ask), last=D(price), trade=tick)


class ListSource:
    """A market-data source that plays a fixed list of events on the simulated clock."""

    def __init__(self, events: Sequence[MarketData], clock: SimulatedClock) -> None:
        self.events = list(events)
        self.clock = clock
        self.markets: Mapping[Symbol, Market] = load_market_snapshot("binance")

    async def connect(self) -> None:
        return None

    async def load_markets(self) -> Mapping[Symbol, Market]:
        return self.markets

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        for md in self.events:
            self.clock.advance_to(md.ts_ms)
            yield md

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        return self.events[0]

    async def close(self) -> None:
        return None


class ScriptedStrategy(BaseStrategy[StrategyParams]):
    """Returns the result the script gives for each market event (by index) and records its events."""

    name = "scripted"

    def __init__(self, script: Callable[[int, MarketData, ScriptedStrategy], StrategyResult | None]) -> None:
        super().__init__(StrategyParams())
        self.script = script
        self.events: list[OrderEvent] = []
        self.calls = 0

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        index = self.calls
        self.calls += 1
        return self.script(index, market_data, self) or StrategyResult.nothing()

    def on_order_update(self, event: OrderEvent) -> None:
        self.events.append(event)


def make_bot(
    events: Sequence[MarketData],
    strategy: BaseStrategy[Any],
    *,
    risk: RiskConfig | None = None,
    balances: dict[str, Decimal] | None = None,
) -> tuple[TradingBot, PaperExchange]:
    """Build the real supervisor over a paper exchange fed by ``events``."""
    clock = SimulatedClock()
    source = ListSource(events, clock)
    paper = PaperConfig(balances=balances or {"USDT": D(10000)})
    exchange = PaperExchange(paper, clock, source, markets=source.markets)
    bot = TradingBot(
        bot_id="t1", symbol=SYMBOL, exchange=exchange, strategy=strategy,
        risk=RiskManager(risk or RiskConfig()), clock=clock,
    )
    return bot, exchange
