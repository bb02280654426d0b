"""The matching core's latency and partial-fill knobs (``exchanges.sim.model.FillModel``), on quotes and trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.sim import FillModel
from exchanges.sim import MatchingCore
from exchanges.sim import SimAccount
from tests.unit.exchanges.test_matching import BUY
from tests.unit.exchanges.test_matching import MARKET
from tests.unit.exchanges.test_matching import SELL
from tests.unit.exchanges.test_matching import Sim
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.errors import ConfigError

D = Decimal


def test_with_latency_a_market_order_fills_at_the_first_quote_after_it_arrives_not_the_one_it_was_sent_on() -> None:
    """Rule: an order sent at t arrives at the first event at or after t + latency_ms, against that event's book."""
    sim = Sim(latency_ms=50)
    sim.quote("100.00", "100.10")
    report = sim.submit(BUY, "1")
    assert report.status is OrderStatus.ACCEPTED  # on its way
    assert sim.fills == []
    sim.quote("100.50", "100.60")  # +10 ms: not yet there
    sim.quote("101.00", "101.10")  # +20 ms
    sim.clock.advance_to(sim.clock.now_ms() + 30)
    sim.quote("102.00", "102.10")  # +60 ms ≥ 50: it arrives here
    (fill,) = sim.fills
    assert fill.price == D("102.10")
    assert fill.ts_ms == sim.clock.now_ms()


def test_with_latency_a_limit_that_the_book_reaches_on_the_way_takes_at_arrival() -> None:
    sim = Sim(latency_ms=15)
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", "99.00")
    sim.quote("98.90", "99.00")  # +10: not arrived, nothing fills
    assert sim.fills == []
    sim.quote("98.80", "98.90")  # +20: arrives crossing the ask → taker at the touch
    (fill,) = sim.fills
    assert (fill.price, fill.liquidity.value) == (D("98.90"), "taker")


def test_with_latency_a_post_only_the_book_moved_onto_expires_at_arrival() -> None:
    """Rule: a post-only limit that would take when it arrives expires (as a venue refuses it), reported."""
    sim = Sim(latency_ms=5)
    sim.quote("100.00", "100.10")
    report = sim.submit(BUY, "1", "99.50", post_only=True)
    sim.quote("99.40", "99.50")
    assert sim.fills == []
    (update,) = [u for u in sim.updates if isinstance(u, OrderStatusReport)]
    assert (update.client_order_id, update.status) == (report.client_order_id, OrderStatus.EXPIRED)
    assert update.reason == "post-only order would take at arrival"
    assert sim.balance("USDT") == (D(10000), D(0))


def test_an_order_canceled_on_its_way_never_arrives_and_later_arrivals_still_do() -> None:
    sim = Sim(latency_ms=20)
    sim.quote("100.00", "100.10")
    first = sim.submit(BUY, "1", "99.00")
    second = sim.submit(BUY, "1", "98.00")
    sim.engine.cancel(first.client_order_id)
    sim.quote("100.00", "100.10")
    sim.quote("100.00", "100.10")  # +20: the second arrives and rests
    states = {r.client_order_id: r.status for r in sim.engine.open_orders()}
    assert states == {second.client_order_id: OrderStatus.ACCEPTED}
    sim.quote("97.90", "98.00")
    assert [f.client_order_id for f in sim.fills] == [second.client_order_id]


def test_with_latency_an_ioc_that_does_not_cross_at_arrival_expires_then() -> None:
    sim = Sim(latency_ms=10)
    sim.quote("100.00", "100.10")
    report = sim.submit(BUY, "1", "100.10", time_in_force=TimeInForce.IOC)
    sim.quote("100.20", "100.30")  # moved away on the way
    (update,) = [u for u in sim.updates if isinstance(u, OrderStatusReport)]
    assert (update.client_order_id, update.status) == (report.client_order_id, OrderStatus.EXPIRED)
    assert sim.fills == []


def test_without_partial_fills_a_trade_at_the_price_fills_the_whole_remainder() -> None:
    """Rule: ``partial_fills`` off: a trade at a resting order's price fills all of it (after the queue)."""
    sim = Sim(queue=False, partial_fills=False)
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", "100.00")
    sim.trade("100.00", "0.1", SELL)
    assert [f.quantity for f in sim.fills] == [D(1)]


def test_with_partial_fills_the_same_trade_fills_only_its_size() -> None:
    sim = Sim(queue=False)
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", "100.00")
    sim.trade("100.00", "0.1", SELL)
    assert [f.quantity for f in sim.fills] == [D("0.1")]


@pytest.mark.parametrize(
    ("field", "value"),
    [("maker_fee", D("NaN")), ("taker_fee", D(1)), ("slippage_bps", D(-1)), ("slippage_bps", D("Infinity")),
     ("latency_ms", -1), ("fee_decimals", 40)],
)  # fmt: skip
def test_the_fill_model_refuses_bad_knobs_naming_the_field(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"maker_fee": D("0.001"), "taker_fee": D("0.001"), field: value}
    with pytest.raises(ConfigError, match=f"^{field}: "):
        FillModel(**kwargs)  # type: ignore[arg-type]


def test_a_bar_core_refuses_a_latency() -> None:
    """Rule: on bars an order arrives at the next bar's open; a latency is for quote and trade data."""
    model = FillModel(maker_fee=D(0), taker_fee=D(0), latency_ms=100)
    with pytest.raises(ValueError, match="latency_ms"):
        MatchingCore(MARKET, SimulatedClock(0), model, SimAccount({}), lambda _: None, bars=True)


def test_a_bar_core_fills_a_market_order_at_the_next_open_via_the_one_path() -> None:
    """The bar path and the tick path are one engine: a market order sent on a close fills at the next open."""
    clock = SimulatedClock(0)
    updates: list[object] = []
    core = MatchingCore(MARKET, clock, FillModel(maker_fee=D(0), taker_fee=D(0)), SimAccount({"USDT": D(1000)}),
                        updates.append, bars=True)  # fmt: skip
    core.set_quote(MarketData(symbol=Symbol("BTC/USDT"), ts_ms=60_000, bid=D(100), ask=D(100), last=D(100)))
    core.submit(OrderParams(side=BUY, order_type=OrderType.MARKET), D(1), ClientOrderId("b"))
    bar = Bar(ts_ms=60_000, open=D(101), high=D(103), low=D(99), close=D(102), volume=D(1))
    times, hits, expired = core.bar_hits(bar, 60_000)
    assert expired == []
    ((leg, _, _, w, price, _),) = hits
    clock.advance_to(times[leg])
    core.execute(w, price, hits[0][5])
    (fill,) = core.fills
    assert (fill.price, fill.ts_ms) == (D(101), 60_000)
