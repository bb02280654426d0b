"""The journal across a restart: write-ahead intents, reconciliation, no order sent twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import quote
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.supervisor import TradingBot

D = Decimal


def _bot(exchange: PaperExchange, clock: SimulatedClock, db_url: str, strategy: ScriptedStrategy) -> TradingBot:
    return TradingBot(
        bot_id="j1", symbol=SYMBOL, exchange=exchange, strategy=strategy,
        risk=RiskManager(RiskConfig(price_band_pct=None, max_data_age_s=None)), clock=clock,
        on_shutdown="keep", journal=JournalLink(db_url, "j1", "hash"),
    )


@pytest.mark.asyncio
async def test_restart_with_resting_orders_restores_them_and_sends_nothing_twice(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    clock = SimulatedClock()
    source = ListSource([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], clock)
    exchange = PaperExchange(PaperConfig(), clock, source, markets=source.markets)

    def place_two(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult.place(
                OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("59000"), client_tag="a"),
                OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("58000"), client_tag="b"),
            )
        return None

    first = await _bot(exchange, clock, db_url, ScriptedStrategy(place_two)).run()
    assert first.exit_code == 0
    resting = {o.client_order_id for o in exchange.engine(SYMBOL).open_orders()}
    assert len(resting) == 2

    # The second run places one more order: its client id must continue the persistent sequence.
    source.events = [quote(3000, "60000", "60001"), quote(4000, "60000", "60001")]

    def place_one(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult.place(
                OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("57000"), client_tag="c")
            )
        return None

    second_bot = _bot(exchange, clock, db_url, ScriptedStrategy(place_one))
    second = await second_bot.run()
    assert second.exit_code == 0

    engine_orders = exchange.engine(SYMBOL).open_orders()
    ids = [o.client_order_id for o in engine_orders]
    assert len(ids) == len(set(ids)) == 3  # nothing re-sent, one new order
    assert resting <= set(ids)
    for coid in resting:  # the first run's orders are tracked again after the restart
        order = second_bot.tracker.get(coid)
        assert order is not None
        assert order.status is OrderStatus.ACCEPTED

    journal = await Journal.open(db_url)
    try:
        open_orders = await journal.open_orders(bot_id="j1")
        assert {o.client_order_id for o in open_orders} == set(ids)
        last = await journal.last_run()
        assert last is not None
        assert last.exit_code == 0
    finally:
        await journal.close()
