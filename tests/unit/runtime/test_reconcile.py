"""Startup reconciliation against a real ``PaperExchange`` and a real SQLite journal.

Each test plays a bot that crashed: it journals intents and sends orders to the paper exchange, the
exchange moves on while the bot is down (fills, cancels), then a fresh tracker and portfolio are
reconciled against the same journal and exchange.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import ClassVar

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from exchanges.config import PaperConfig
from exchanges.markets import load_market_snapshot
from exchanges.paper import PaperExchange
from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.domain import TradeTick
from trading_bot.errors import ConfigError
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.reconcile import NOT_RECEIVED
from trading_bot.runtime.reconcile import ReconcileReport
from trading_bot.runtime.reconcile import is_own_client_id
from trading_bot.runtime.reconcile import reconcile

pytestmark = pytest.mark.asyncio

BOT = "tb1"
BTC = Symbol("BTC/USDT")
T0 = 1_723_100_000_000


class FixedQuoteSource:
    """A market-data source that always quotes the same book (fills are driven through the engine)."""

    def __init__(self, markets: Mapping[Symbol, Market], clock: SimulatedClock) -> None:
        self.markets = markets
        self.clock = clock

    async def connect(self) -> None:
        return None

    async def load_markets(self) -> Mapping[Symbol, Market]:
        return self.markets

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        yield await self.fetch_bbo(symbol)

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        return quote(self.clock.now_ms(), "60000", "60001")

    async def close(self) -> None:
        return None


def quote(ts_ms: int, bid: str, ask: str) -> MarketData:
    return MarketData(
        symbol=BTC, ts_ms=ts_ms, bid=Decimal(bid), ask=Decimal(ask), bid_size=Decimal(5), ask_size=Decimal(5)
    )


class World:
    """The journal and the exchange that outlive the bot, plus helpers to play the crashed bot."""

    def __init__(self, journal: Journal, exchange: PaperExchange, clock: SimulatedClock, run_id: int) -> None:
        self.journal = journal
        self.exchange = exchange
        self.clock = clock
        self.run_id = run_id
        self.market = exchange.market(BTC)
        self.seen_by_bot: list[Fill] = []

    def tick(self, ms: int = 1_000) -> int:
        self.clock.advance_to(self.clock.now_ms() + ms)
        return self.clock.now_ms()

    async def order(
        self,
        seq: int,
        side: OrderSide,
        qty: str,
        price: str,
        *,
        journal: bool = True,
        send: bool = True,
        ack: bool = True,
        bot: str = BOT,
    ) -> Order:
        """Journal the intent (write-ahead), send it, and journal the ack, each step optional."""
        coid = ClientOrderId(f"{bot}-{seq}")
        params = OrderParams(side=side, quantity=Decimal(qty), price=Decimal(price), client_tag=f"tag{seq}")
        order = Order.from_params(params, coid, BTC, Decimal(qty), self.tick())
        if journal:
            await self.journal.record_intent(order, self.run_id, bot)
        if send:
            report = await self.exchange.place_order(BTC, params, Decimal(qty), coid)
            if ack and journal:
                order.transition(OrderStatus.SUBMITTED, report.ts_ms)
                order.transition(OrderStatus.ACCEPTED, report.ts_ms)
                order.exchange_order_id = report.exchange_order_id
                await self.journal.record_order(order)
        return order

    async def journal_fill(self, fill: Fill, order: Order) -> None:
        """What the live bot did for a fill it saw: journal it and the order's new state."""
        order.apply_fill(fill)
        await self.journal.record_fill(fill, fill.ts_ms)
        await self.journal.record_order(order)

    def cross(self, bid: str, ask: str) -> None:
        """Move the market so resting orders fill (the bot is down: nobody receives the fills)."""
        self.exchange.engine(BTC).on_market_data(quote(self.tick(), bid, ask))

    async def reconcile(
        self, tracker: OrderTracker | None = None, portfolio: Portfolio | None = None, *, adopt: bool = False
    ) -> Run:
        tracker = tracker or OrderTracker(f"{BOT}-")
        portfolio = portfolio or Portfolio(self.market)
        report = await reconcile(
            exchange=self.exchange,
            journal=self.journal,
            tracker=tracker,
            portfolio=portfolio,
            symbol=BTC,
            bot_id=BOT,
            now_ms=self.tick(),
            adopt=adopt,
        )
        return Run(report, tracker, portfolio)

    async def snapshot(self) -> tuple[list[Order], list[Fill]]:
        return await self.journal.orders(), await self.journal.fills()


class Run:
    def __init__(self, report: ReconcileReport, tracker: OrderTracker, portfolio: Portfolio) -> None:
        self.report = report
        self.tracker = tracker
        self.portfolio = portfolio

    def order(self, seq: int) -> Order:
        order = self.tracker.get(ClientOrderId(f"{BOT}-{seq}"))
        assert order is not None
        return order


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = SimulatedClock(T0)
    markets = load_market_snapshot("binance")
    exchange = PaperExchange(
        PaperConfig(balances={"USDT": Decimal(100_000), "BTC": Decimal(2)}, maker_fee=Decimal("0.001")),
        clock,
        FixedQuoteSource(markets, clock),
        markets=markets,
    )
    await exchange.connect()
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    run_id = await journal.start_run(BOT, "hash", T0)
    await journal.next_sequence(BOT, 50)  # the crashed bot reserved its ids before using them (tb1-1..50)
    try:
        yield World(journal, exchange, clock, run_id)
    finally:
        await journal.close()
        await exchange.close()


async def journal_status(world: World, seq: int) -> OrderStatus:
    (order,) = [o for o in await world.journal.orders() if o.client_order_id == f"{BOT}-{seq}"]
    return order.status


async def test_reconcile_when_order_rests_restores_it_open_in_the_tracker(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")

    run = await world.reconcile()

    assert run.report.restored_open == ("tb1-1",)
    assert run.order(1).status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in run.tracker.open_orders()] == ["tb1-1"]
    assert run.report.updated == ()
    assert run.report.position_restored == 0


async def test_reconcile_when_order_filled_while_down_records_the_missed_fill_and_marks_it_filled(
    world: World,
) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")
    world.cross("58900", "58950")

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.FILLED
    assert run.order(1).filled_quantity == Decimal("0.01")
    assert len(run.report.missed_fills_recorded) == 1
    assert run.report.updated == ("tb1-1",)
    assert await journal_status(world, 1) is OrderStatus.FILLED
    assert await world.journal.position(BTC) == Decimal("0.01")
    assert run.portfolio.position.quantity == Decimal("0.01")
    assert run.portfolio.position.average_price == Decimal("59000")
    assert run.tracker.open_count == 0


async def test_reconcile_when_order_canceled_while_down_marks_it_canceled(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")
    await world.exchange.cancel_order(BTC, ClientOrderId("tb1-1"))

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.CANCELED
    assert run.report.updated == ("tb1-1",)
    assert await journal_status(world, 1) is OrderStatus.CANCELED


async def test_reconcile_when_partly_filled_then_canceled_keeps_the_partial_fill(world: World) -> None:
    order = await world.order(1, OrderSide.SELL, "0.02", "61000")
    ts = world.tick()
    trade = TradeTick(ts_ms=ts, symbol=BTC, price=Decimal("61000"), quantity=Decimal("0.005"), side=OrderSide.BUY)
    world.exchange.engine(BTC).on_market_data(
        MarketData(symbol=BTC, ts_ms=ts, bid=Decimal("60999"), ask=Decimal("61000"), trade=trade)
    )
    await world.exchange.cancel_order(BTC, order.client_order_id)

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.CANCELED
    assert run.order(1).filled_quantity == Decimal("0.005")
    assert run.portfolio.position.quantity == Decimal("-0.005")


async def test_reconcile_when_intent_never_reached_the_exchange_rejects_it_and_never_sends_it(
    world: World,
) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000", send=False)

    run = await world.reconcile()

    assert run.report.not_received == ("tb1-1",)
    assert run.order(1).status is OrderStatus.REJECTED
    assert run.order(1).reason == NOT_RECEIVED
    assert await journal_status(world, 1) is OrderStatus.REJECTED
    assert await world.exchange.fetch_order(BTC, ClientOrderId("tb1-1")) is None  # nothing was re-sent
    assert await world.exchange.fetch_open_orders(BTC) == []


async def test_reconcile_when_intent_was_sent_but_not_acked_tracks_it_as_accepted(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000", ack=False)  # killed between accept and ack
    assert await journal_status(world, 1) is OrderStatus.INITIALIZED

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.ACCEPTED
    assert run.order(1).exchange_order_id is not None
    assert await journal_status(world, 1) is OrderStatus.ACCEPTED
    assert run.report.not_received == ()


async def test_reconcile_when_unacked_market_order_filled_records_its_fill(world: World) -> None:
    coid = ClientOrderId("tb1-1")
    params = OrderParams(side=OrderSide.BUY, quantity=Decimal("0.01"), order_type=OrderType.MARKET)
    order = Order.from_params(params, coid, BTC, Decimal("0.01"), world.tick())
    await world.journal.record_intent(order, world.run_id, BOT)
    await world.exchange.place_order(BTC, params, Decimal("0.01"), coid)

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.FILLED
    assert run.portfolio.position.quantity == Decimal("0.01")
    assert len(run.report.missed_fills_recorded) == 1


async def test_reconcile_when_own_order_is_missing_from_the_journal_adopts_it(world: World) -> None:
    await world.order(7, OrderSide.BUY, "0.01", "59000", journal=False)  # sent without a journal row

    run = await world.reconcile()

    assert run.report.adopted == ("tb1-7",)
    assert run.order(7).status is OrderStatus.ACCEPTED
    assert run.order(7).quantity == Decimal("0.01")
    open_in_journal = await world.journal.open_orders(bot_id=BOT, symbol=BTC)
    assert [o.client_order_id for o in open_in_journal] == ["tb1-7"]


async def test_reconcile_when_adopted_order_partly_filled_long_ago_still_finds_its_fill(world: World) -> None:
    await world.order(7, OrderSide.SELL, "0.02", "61000", journal=False)
    ts = world.tick()
    trade = TradeTick(ts_ms=ts, symbol=BTC, price=Decimal("61000"), quantity=Decimal("0.005"), side=OrderSide.BUY)
    world.exchange.engine(BTC).on_market_data(
        MarketData(symbol=BTC, ts_ms=ts, bid=Decimal("61000"), ask=Decimal("61002"), trade=trade)
    )
    world.tick(3_600_000)  # the restart comes an hour later

    run = await world.reconcile()

    assert run.report.adopted == ("tb1-7",)
    assert run.order(7).status is OrderStatus.PARTIALLY_FILLED
    assert run.order(7).filled_quantity == Decimal("0.005")
    assert run.report.fill_gaps == ()
    assert len(run.report.missed_fills_recorded) == 1
    assert run.portfolio.position.quantity == Decimal("-0.005")


async def test_reconcile_leaves_foreign_orders_alone_and_reports_them_once(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "58000", journal=False, bot="manual")
    await world.order(2, OrderSide.BUY, "0.01", "58000", journal=False, bot="tb10")  # a prefix look-alike
    await world.order(3, OrderSide.BUY, "0.01", "59000")

    with capture_logs() as logs:
        run = await world.reconcile()

    assert sorted(run.report.foreign) == ["manual-1", "tb10-2"]
    assert run.report.adopted == ()
    foreign_logs = [e for e in logs if e["event"] == "foreign_order_ignored"]
    assert len(foreign_logs) == 1
    assert foreign_logs[0]["client_order_ids"] == ["manual-1", "tb10-2"]
    assert len(await world.exchange.fetch_open_orders(BTC)) == 3  # nothing was canceled
    assert run.tracker.get(ClientOrderId("manual-1")) is None
    assert {o.client_order_id for o in await world.journal.orders()} == {"tb1-3"}


async def test_reconcile_ignores_fills_of_foreign_orders(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000", journal=False, bot="manual")
    await world.order(2, OrderSide.BUY, "0.01", "59000")
    world.cross("58900", "58950")

    run = await world.reconcile()

    assert run.portfolio.position.quantity == Decimal("0.01")
    assert [f.client_order_id for f in await world.journal.fills()] == ["tb1-2"]


async def test_reconcile_rebuilds_the_position_from_all_journal_fills_and_ignores_their_replays(
    world: World,
) -> None:
    buy = await world.order(1, OrderSide.BUY, "0.02", "59000")
    world.cross("58900", "58950")
    (fill,) = await world.exchange.fetch_my_trades(BTC)
    await world.journal_fill(fill, buy)  # the live bot saw and journaled this one
    sell = await world.order(2, OrderSide.SELL, "0.01", "60500")
    world.cross("60600", "60700")  # fills while the bot is down

    run = await world.reconcile()

    position = run.portfolio.position
    assert position.quantity == Decimal("0.01")
    assert position.average_price == Decimal("59000")
    assert position.realized_pnl == Decimal("15.000")
    assert run.report.fills_replayed == 2
    assert len(run.report.missed_fills_recorded) == 1
    assert fill.trade_id not in run.report.missed_fills_recorded
    assert run.tracker.apply_fill(fill) is None  # a replay of a journaled fill is ignored
    assert run.order(2).status is OrderStatus.FILLED
    assert sell.status is OrderStatus.ACCEPTED  # (the dead bot's copy never learned)


async def test_reconcile_when_fill_journaled_but_order_snapshot_lost_rebuilds_order_from_fills(
    world: World,
) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")
    world.cross("58900", "58950")
    (fill,) = await world.exchange.fetch_my_trades(BTC)
    await world.journal.record_fill(fill, fill.ts_ms)  # killed before the order snapshot was written

    run = await world.reconcile()

    assert run.order(1).status is OrderStatus.FILLED
    assert run.order(1).filled_quantity == Decimal("0.01")
    assert run.report.missed_fills_recorded == ()
    assert await journal_status(world, 1) is OrderStatus.FILLED
    assert run.portfolio.position.quantity == Decimal("0.01")


async def test_reconcile_twice_changes_nothing_the_second_time(world: World) -> None:
    buy = await world.order(1, OrderSide.BUY, "0.02", "59000")
    world.cross("58900", "58950")
    (fill,) = await world.exchange.fetch_my_trades(BTC)
    await world.journal_fill(fill, buy)
    await world.order(2, OrderSide.SELL, "0.01", "60500")
    await world.order(3, OrderSide.SELL, "0.01", "62000")
    await world.order(4, OrderSide.BUY, "0.01", "50000", send=False)
    await world.order(5, OrderSide.BUY, "0.01", "50000", journal=False)
    await world.order(6, OrderSide.BUY, "0.01", "50000", journal=False, bot="manual")
    world.cross("60600", "60700")
    first = await world.reconcile()
    after_first = await world.snapshot()

    again = await world.reconcile(first.tracker, first.portfolio)  # same process
    fresh = await world.reconcile()  # a restart

    assert await world.snapshot() == after_first
    for second in (again, fresh):
        assert second.report.updated == ()
        assert second.report.adopted == ()
        assert second.report.missed_fills_recorded == ()
        assert second.report.not_received == ()
        assert second.report.position_restored == first.report.position_restored == Decimal("0.01")
        assert second.portfolio.position == first.portfolio.position
    assert again.report.restored_open == ()
    assert sorted(fresh.report.restored_open) == ["tb1-3", "tb1-5"]
    assert len(first.report.events) > 0


async def test_is_own_client_id_requires_the_exact_bot_id_and_a_sequence() -> None:
    assert is_own_client_id("tb1-12", "tb1")
    assert not is_own_client_id("tb10-12", "tb1")
    assert not is_own_client_id("tb1-x", "tb1")
    assert not is_own_client_id("", "tb1")
    assert not is_own_client_id(None, "tb1")


class _Params(StrategyParams):
    pass


class _Remembering(BaseStrategy[_Params]):
    name: ClassVar[str] = "remembering"
    Params = _Params

    def __init__(self) -> None:
        super().__init__(_Params())
        self.restored: dict[str, Any] | None = None

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        return StrategyResult()

    def restore(self, state: Mapping[str, Any]) -> None:
        self.restored = dict(state)




# -- a journal older than the exchange (step 0) -------------------------------------------------------
# The fixture's journal reserved tb1-1..50. Orders sent with journal=False and a sequence beyond 50 are
# what a lost journal (emptied, restored from an older copy, rolled back) no longer knows about.


async def _assert_refused_and_untouched(world: World, seen: int) -> None:
    before = await world.snapshot()
    tracker = OrderTracker(f"{BOT}-")
    with pytest.raises(ConfigError) as raised:
        await world.reconcile(tracker)
    message = str(raised.value)
    assert "older than the exchange's history" in message
    assert f"the exchange knows order tb1-{seen}" in message
    assert "reserved ids only up to tb1-50" in message
    assert "--adopt" in message
    assert "\n" not in message
    assert tracker.open_count == 0  # nothing loaded, so a shutdown has nothing to cancel
    assert await world.snapshot() == before
    assert await world.journal.reserved_sequence(BOT) == 50


async def test_reconcile_when_the_exchange_has_an_open_order_beyond_the_journal_refuses_and_changes_nothing(
    world: World,
) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")
    await world.order(57, OrderSide.BUY, "0.01", "58000", journal=False)

    await _assert_refused_and_untouched(world, 57)


async def test_reconcile_when_the_exchange_has_a_fill_beyond_the_journal_refuses(world: World) -> None:
    await world.order(60, OrderSide.BUY, "0.01", "59000", journal=False)
    world.cross("58900", "58950")  # filled: only the trade history shows it

    await _assert_refused_and_untouched(world, 60)


async def test_reconcile_finds_an_order_beyond_the_journal_that_left_no_trace_but_its_id(world: World) -> None:
    await world.order(52, OrderSide.BUY, "0.01", "59000", journal=False)  # tb1-51 was denied, never sent
    await world.exchange.cancel_order(BTC, ClientOrderId("tb1-52"))  # not open, never filled

    await _assert_refused_and_untouched(world, 52)


async def test_reconcile_of_an_emptied_journal_refuses_when_the_exchange_knows_the_bot(world: World) -> None:
    async with world.journal._tx() as conn:
        await conn.execute(js.sequences.delete())  # what a fresh journal has reserved: nothing

    await world.order(3, OrderSide.BUY, "0.01", "59000", journal=False)

    with pytest.raises(ConfigError, match="knows order tb1-3, the journal reserved ids only up to tb1-0"):
        await world.reconcile()


async def test_reconcile_with_adopt_takes_the_exchange_history_in_and_moves_the_sequence_past_it(
    world: World,
) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "57000")  # journaled, still resting
    await world.order(51, OrderSide.BUY, "0.01", "59000", journal=False)  # will fill
    await world.order(52, OrderSide.BUY, "0.01", "58000", journal=False)  # rests
    world.cross("58900", "58950")
    await world.order(101, OrderSide.BUY, "0.01", "50000", journal=False)  # a later block, cancelled unfilled
    await world.exchange.cancel_order(BTC, ClientOrderId("tb1-101"))

    run = await world.reconcile(adopt=True)

    assert set(run.report.adopted) == {"tb1-51", "tb1-52"}
    assert run.order(51).status is OrderStatus.FILLED
    assert run.order(52).status is OrderStatus.ACCEPTED
    assert {o.client_order_id for o in run.tracker.open_orders()} == {"tb1-1", "tb1-52"}
    assert len(run.report.missed_fills_recorded) == 1
    assert run.portfolio.position.quantity == Decimal("0.01")
    assert await world.journal.position(BTC) == Decimal("0.01")
    reserved = await world.journal.reserved_sequence(BOT)
    assert reserved == 151  # past the last id the exchange knows (tb1-101) and the rest of its block
    assert await world.journal.next_sequence(BOT, 50) == 152
    (adoption,) = await world.journal.adoptions()
    assert (adoption.journal_sequence, adoption.exchange_sequence, adoption.new_sequence) == (50, 101, 151)
    assert set(adoption.orders.split(",")) == {"tb1-51", "tb1-52"}
    assert adoption.run_id == world.run_id

    again = await world.reconcile()  # healthy now: no --adopt needed, nothing adopted twice
    assert again.report.adopted == ()
    assert len(await world.journal.adoptions()) == 1


async def test_reconcile_with_adopt_on_a_healthy_journal_adopts_nothing(world: World) -> None:
    await world.order(1, OrderSide.BUY, "0.01", "59000")

    run = await world.reconcile(adopt=True)

    assert run.report.adopted == ()
    assert await world.journal.reserved_sequence(BOT) == 50
    assert await world.journal.adoptions() == []


async def test_reconcile_with_a_venue_reads_and_writes_only_that_venues_journal_rows(world: World) -> None:
    """Rule: reconcile(venue=...) rebuilds the position from its venue's fills and journals what it finds there."""
    other = Fill(
        trade_id=TradeId("1"),
        client_order_id=ClientOrderId(f"{BOT}-40"),
        symbol=BTC,
        side=OrderSide.BUY,
        quantity=Decimal("0.5"),
        price=Decimal("59000"),
        fee=Decimal(0),
        fee_currency="USDT",
        ts_ms=T0,
    )
    await world.journal.record_fill(other, T0, venue="alt")  # the same bot's leg on another venue
    await world.order(1, OrderSide.BUY, "0.01", "59000")
    world.cross("58900", "58950")

    tracker = OrderTracker(f"{BOT}-")
    portfolio = Portfolio(world.market)
    report = await reconcile(
        exchange=world.exchange,
        journal=world.journal,
        tracker=tracker,
        portfolio=portfolio,
        symbol=BTC,
        bot_id=BOT,
        now_ms=world.tick(),
        venue=world.journal.venue,
    )

    assert report.position_restored == Decimal("0.01")  # not the alt leg's 0.5
    assert await world.journal.position(BTC, world.journal.venue) == Decimal("0.01")
    assert [(v, f.quantity) for v, f in await world.journal.fills_by_venue(venue=world.journal.venue)] == [
        (world.journal.venue, Decimal("0.01"))
    ]
    assert await world.journal.position(BTC, "alt") == Decimal("0.5")
