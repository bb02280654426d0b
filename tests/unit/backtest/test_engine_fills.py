"""Fill rules of the bar simulator (exchanges.backtest.BarExchange), bar by bar."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exchanges.backtest import BarExchange
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol

SYMBOL = Symbol("BTC/USDT")
MARKET = Market(
    symbol=SYMBOL, base="BTC", quote="USDT", price_increment=Decimal("0.01"), amount_increment=Decimal("0.0001")
)
D = Decimal


def bar(i: int, o: str, h: str, low: str, c: str) -> Bar:
    return Bar(ts_ms=i * 60_000, open=D(o), high=D(h), low=D(low), close=D(c))


class Harness:
    """Streams bars; on each bar index in ``orders`` places those orders at that bar's close."""

    def __init__(self, bars: list[Bar], fee: str = "0", slippage_bps: str = "0", cash: str = "100000") -> None:
        self.ex = BarExchange(
            market=MARKET, bars=bars, bar_ms=60_000, clock=SimulatedClock(), balances={"USDT": D(cash)},
            fee=D(fee), slippage_bps=D(slippage_bps),
        )  # fmt: skip
        self.updates: list[Fill | OrderStatusReport] = []
        self.ex.attach(self.updates.append)

    def run(self, orders: dict[int, list[OrderParams]]) -> list[Fill]:
        async def go() -> None:
            n = 0
            async for md in self.ex.stream_market_data(SYMBOL):
                for k, params in enumerate(orders.get(n, [])):
                    assert params.quantity is not None
                    await self.ex.place_order(SYMBOL, params, params.quantity, ClientOrderId(f"t-{n}-{k}"))
                n += 1
                assert md.bar is not None

        asyncio.run(go())
        return [u for u in self.updates if isinstance(u, Fill)]


def market(side: OrderSide, qty: str = "1") -> OrderParams:
    return OrderParams(side=side, quantity=D(qty), order_type=OrderType.MARKET)


def limit(side: OrderSide, price: str, qty: str = "1") -> OrderParams:
    return OrderParams(side=side, quantity=D(qty), price=D(price))


def stop(side: OrderSide, trigger: str, qty: str = "1") -> OrderParams:
    return OrderParams(side=side, quantity=D(qty), order_type=OrderType.STOP_MARKET, trigger_price=D(trigger))


BARS = [bar(0, "100", "101", "99", "100"), bar(1, "102", "104", "95", "97"), bar(2, "97", "98", "90", "91")]


def test_market_order_decided_on_bar_t_fills_at_next_bar_open_at_its_open_time() -> None:
    fills = Harness(BARS).run({0: [market(OrderSide.BUY)]})
    assert [(f.price, f.ts_ms) for f in fills] == [(D("102"), 60_000)]


def test_market_order_pays_slippage_rounded_away_from_us() -> None:
    fills = Harness(BARS, slippage_bps="10").run({0: [market(OrderSide.BUY)], 1: [market(OrderSide.SELL)]})
    assert [f.price for f in fills] == [D("102.11"), D("96.90")]  # 102 × 1.001 up; 97 × 0.999 down


def test_fee_is_charged_on_every_fill_in_quote() -> None:
    fills = Harness(BARS, fee="0.001").run({0: [market(OrderSide.BUY, "2")], 1: [market(OrderSide.SELL, "2")]})
    assert [f.fee for f in fills] == [D("0.204"), D("0.194")]
    balances = asyncio.run(Harness(BARS).ex.fetch_balance())
    assert balances["USDT"].free == D("100000")


def test_limit_buy_touched_by_the_low_fills_at_the_limit_price_as_maker() -> None:
    fills = Harness(BARS).run({0: [limit(OrderSide.BUY, "95")]})
    assert [(f.price, f.liquidity.value) for f in fills] == [(D("95"), "maker")]


def test_limit_not_reached_does_not_fill() -> None:
    assert Harness(BARS).run({0: [limit(OrderSide.BUY, "89.99")]}) == []


def test_limit_buy_when_bar_gaps_through_fills_at_the_open() -> None:
    fills = Harness(BARS).run({1: [limit(OrderSide.BUY, "99")]})  # bar 2 opens at 97, below 99
    assert [(f.price, f.ts_ms) for f in fills] == [(D("97"), 120_000)]


def test_stop_sell_triggered_on_the_path_fills_at_the_trigger() -> None:
    h = Harness(BARS)
    fills = h.run({0: [market(OrderSide.BUY)], 1: [stop(OrderSide.SELL, "92")]})
    assert [f.price for f in fills] == [D("102"), D("92")]


def test_intrabar_path_visits_the_nearer_extreme_first() -> None:
    # bar 2: open 97, high 98 (1 away), low 90 (7 away): the high comes first, so the sell limit at 98
    # fills on the first leg (at 140 000 ms), before the buy limit at 90 (second leg, 160 000 ms).
    h = Harness(BARS)
    fills = h.run({0: [market(OrderSide.BUY)], 1: [limit(OrderSide.BUY, "90"), limit(OrderSide.SELL, "98")]})
    assert [(f.side.value, f.price, f.ts_ms) for f in fills] == [
        ("buy", D("102"), 60_000), ("sell", D("98"), 140_000), ("buy", D("90"), 160_000),
    ]  # fmt: skip


def test_all_in_market_buy_after_a_gap_up_is_reduced_to_what_cash_pays() -> None:
    h = Harness(BARS, cash="100")
    fills = h.run({0: [market(OrderSide.BUY, "1")]})  # 100 at the close; the next open is 102
    assert fills[0].quantity == D("0.9803")
    assert h.updates[-1].status is OrderStatus.EXPIRED  # type: ignore[union-attr]


def test_order_sent_on_the_last_bar_never_fills() -> None:
    assert Harness(BARS).run({2: [market(OrderSide.BUY)]}) == []


def test_insufficient_funds_are_refused_on_arrival() -> None:
    from trading_bot.errors import InsufficientFunds

    with pytest.raises(InsufficientFunds):
        Harness(BARS, cash="50").run({0: [market(OrderSide.BUY, "1")]})


def test_equity_curve_marks_the_position_at_each_close() -> None:
    h = Harness(BARS)
    h.run({0: [market(OrderSide.BUY)]})
    curve = h.ex.equity_curve(lambda ts, equity: (ts, equity))
    assert curve == [(60_000, D("100000")), (120_000, D("99995")), (180_000, D("99989"))]


def test_a_market_buy_the_gap_leaves_unpaid_expires_with_a_warning_naming_the_reason() -> None:
    """Rule: an expiry for want of funds logs a warning with its reason (the unpaid rest of a partial fill: info)."""
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        h = Harness(BARS, cash="0.01")
        assert h.run({0: [market(OrderSide.BUY, "0.0001")]}) == []  # 0.01 at the close 100; the open is 102
    (event,) = [e for e in logs if e["event"] == "sim_order_expired"]
    assert event["log_level"] == "warning"
    assert event["reason"] == "insufficient quote at the fill price"
    with capture_logs() as logs:
        Harness(BARS, cash="100").run({0: [market(OrderSide.BUY, "1")]})
    assert [e["log_level"] for e in logs if e["event"] == "sim_order_expired"] == ["info"]
