"""The matching core with an L2 book (``MarketData.book``): market orders walk the depth, queues come from the book."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.exchanges.test_matching import BUY
from tests.unit.exchanges.test_matching import SELL
from tests.unit.exchanges.test_matching import SYMBOL
from tests.unit.exchanges.test_matching import Sim
from trading_bot.domain import BookView
from trading_bot.domain import LiquiditySide
from trading_bot.domain import MarketData
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import TimeInForce

D = Decimal


def _levels(*pairs: tuple[str, str]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((D(p), D(q)) for p, q in pairs)


def book(sim: Sim, bids: tuple[tuple[str, str], ...], asks: tuple[tuple[str, str], ...]) -> None:
    """Feed one book event: best bid/ask and their sizes from the book's first levels."""
    view = BookView(bids=_levels(*bids), asks=_levels(*asks))
    sim.clock.advance_to(sim.clock.now_ms() + 10)
    (bid, bid_size), (ask, ask_size) = view.bids[0], view.asks[0]
    sim.bid, sim.ask = bid, ask
    sim.engine.on_market_data(MarketData(symbol=SYMBOL, ts_ms=sim.clock.now_ms(), bid=bid, ask=ask, bid_size=bid_size,
                                         ask_size=ask_size, book=view))  # fmt: skip


BIDS = (("100.00", "2"), ("99.90", "3"))
ASKS = (("100.10", "0.5"), ("100.20", "1.0"), ("100.30", "2"))


def test_a_market_buy_walks_the_asks_level_by_level_without_slippage_on_top() -> None:
    """Rule: with a book, a market order takes each level's size at its price, best first (taker)."""
    sim = Sim(slippage_bps="50")
    book(sim, BIDS, ASKS)
    report = sim.submit(BUY, "1.2")
    assert [(f.price, f.quantity) for f in sim.fills] == [(D("100.10"), D("0.5")), (D("100.20"), D("0.7"))]
    assert {f.liquidity for f in sim.fills} == {LiquiditySide.TAKER}
    assert report.status is OrderStatus.FILLED


def test_a_market_order_deeper_than_the_book_fills_the_depth_and_the_rest_expires() -> None:
    sim = Sim(btc="6")
    book(sim, BIDS, ASKS)
    report = sim.submit(SELL, "6")
    assert [(f.price, f.quantity) for f in sim.fills] == [(D("100.00"), D(2)), (D("99.90"), D(3))]
    assert report.status is OrderStatus.EXPIRED
    assert report.reason == "book depth exhausted for the rest"
    assert sim.balance("BTC") == (D(1), D(0))  # the unfilled 1 BTC is released


def test_a_crossing_limit_takes_the_levels_up_to_its_price_and_rests_the_rest() -> None:
    """Rule: a GTC limit crossing a book takes levels up to its price (taker), the remainder rests as maker."""
    sim = Sim()
    book(sim, BIDS, ASKS)
    report = sim.submit(BUY, "1.2", "100.15")
    assert [(f.price, f.quantity) for f in sim.fills] == [(D("100.10"), D("0.5"))]
    state = sim.engine.order(report.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.PARTIALLY_FILLED
    assert [o.client_order_id for o in sim.engine.open_orders()] == [report.client_order_id]


def test_a_fok_limit_without_the_depth_up_to_its_price_fills_nothing() -> None:
    sim = Sim()
    book(sim, BIDS, ASKS)
    report = sim.submit(BUY, "1.2", "100.15", time_in_force=TimeInForce.FOK)
    assert sim.fills == []
    assert report.status is OrderStatus.EXPIRED


def test_an_ioc_limit_takes_the_depth_up_to_its_price_and_expires_the_rest() -> None:
    sim = Sim()
    book(sim, BIDS, ASKS)
    report = sim.submit(BUY, "2", "100.20", time_in_force=TimeInForce.IOC)
    assert [(f.price, f.quantity) for f in sim.fills] == [(D("100.10"), D("0.5")), (D("100.20"), D("1.0"))]
    assert report.status is OrderStatus.EXPIRED
    assert not [u for u in sim.updates if isinstance(u, OrderStatusReport)]  # returned, not emitted


def test_a_limit_joining_a_deeper_level_queues_behind_that_levels_size() -> None:
    """Rule: with a book the queue ahead is the size shown at the order's own level, not only at the touch."""
    sim = Sim()
    book(sim, BIDS, ASKS)
    sim.submit(BUY, "1", "99.90")
    sim.trade("99.90", "2.5", SELL)  # 3 ahead: all consumed by the queue
    assert sim.fills == []
    sim.trade("99.90", "1", SELL)  # 0.5 more ahead, then 0.5 for us
    assert [f.quantity for f in sim.fills] == [D("0.5")]


def test_on_the_real_spot_book_a_market_buy_larger_than_the_best_ask_walks_the_recorded_levels() -> None:
    """Real data: the bundled Binance BTC/USDT L2 slice; a buy deeper than the best ask pays each level's price."""
    from pathlib import Path

    from exchanges.recorded_book import read_book

    sample = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
    path = sample / "binance_BTCUSDT_book_l2_2024-08-08_2354_2356.csv.gz"
    sim = Sim(usdt="1000000")
    md = None
    for k, event in enumerate(read_book(path, SYMBOL)):
        sim.clock.advance_to(event.ts_ms)
        sim.engine.on_market_data(event)
        md = event
        if k == 200:
            break
    assert md is not None
    assert md.book is not None
    (_, first), (_, second) = md.book.asks[:2]
    quantity = sim.engine.market.round_amount(first + second / 2)
    report = sim.submit(BUY, str(quantity))
    expected = md.book.walk(BUY, quantity)
    assert len(expected) > 1
    assert [(f.price, f.quantity) for f in sim.fills] == list(expected)
    assert report.status is OrderStatus.FILLED
    assert report.average_price is not None
    assert report.average_price > md.ask
