"""Rules of the matching core on quotes and trades (``exchanges.sim.core``)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from exchanges.markets import load_market_snapshot
from exchanges.sim import FillModel
from exchanges.sim import MatchingCore
from exchanges.sim import SimAccount
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import TradeTick
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross

SYMBOL = Symbol("BTC/USDT")
MARKET = load_market_snapshot()[SYMBOL]
D = Decimal


class Sim:
    """An engine with a clock, a quote helper and a list of every update it delivered."""

    def __init__(
        self, usdt: str = "10000", btc: str = "0", slippage_bps: str = "0", queue: bool = True, latency_ms: int = 0,
        partial_fills: bool = True,
    ) -> None:  # fmt: skip
        self.clock = SimulatedClock(1_000)
        self.updates: list[OrderStatusReport | Fill] = []
        model = FillModel(maker_fee=D("0.001"), taker_fee=D("0.002"), slippage_bps=D(slippage_bps),
                          latency_ms=latency_ms, queue_position=queue, partial_fills=partial_fills)  # fmt: skip
        account = SimAccount({"USDT": D(usdt), "BTC": D(btc)})
        self.engine = MatchingCore(MARKET, self.clock, model, account, self.updates.append)
        self.bid = self.ask = D(0)
        self._seq = 0

    def quote(self, bid: str, ask: str, bid_size: str = "1", ask_size: str = "1") -> None:
        self.bid, self.ask = D(bid), D(ask)
        self.clock.advance_to(self.clock.now_ms() + 10)
        self.engine.on_market_data(
            MarketData(
                symbol=SYMBOL,
                ts_ms=self.clock.now_ms(),
                bid=self.bid,
                ask=self.ask,
                bid_size=D(bid_size),
                ask_size=D(ask_size),
            )
        )

    def trade(self, price: str, qty: str, side: OrderSide) -> None:
        self.clock.advance_to(self.clock.now_ms() + 10)
        ts = self.clock.now_ms()
        tick = TradeTick(ts_ms=ts, symbol=SYMBOL, price=D(price), quantity=D(qty), side=side)
        self.engine.on_market_data(
            MarketData(symbol=SYMBOL, ts_ms=ts, bid=self.bid, ask=self.ask, last=D(price), trade=tick)
        )

    def submit(self, side: OrderSide, qty: str, price: str | None = None, **kw: object) -> OrderStatusReport:
        self._seq += 1
        order_type = kw.pop("order_type", OrderType.LIMIT if price is not None else OrderType.MARKET)
        params = OrderParams(side=side, price=None if price is None else D(price), order_type=order_type, **kw)  # type: ignore[arg-type]
        return self.engine.submit(params, D(qty), ClientOrderId(f"t-{self._seq}"))

    @property
    def fills(self) -> list[Fill]:
        return [u for u in self.updates if isinstance(u, Fill)]

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        b = self.engine.balances()[currency]
        return b.free, b.locked


BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_limit_buy_joining_the_best_bid_waits_for_the_size_ahead_then_fills_partially() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10", bid_size="2")
    report = sim.submit(BUY, "1", "100.00")

    sim.trade("100.00", "1.5", SELL)  # all consumed by the 2 ahead
    sim.trade("100.00", "0.8", SELL)  # 0.5 ahead left, then 0.3 for us

    assert report.status is OrderStatus.ACCEPTED
    assert [f.quantity for f in sim.fills] == [D("0.3")]
    assert sim.fills[0].liquidity is LiquiditySide.MAKER
    state = sim.engine.order(report.client_order_id)
    assert state is not None
    assert state.status is OrderStatus.PARTIALLY_FILLED


def test_limit_buy_without_queue_model_fills_from_the_first_trade_at_its_price() -> None:
    sim = Sim(queue=False)
    sim.quote("100.00", "100.10", bid_size="2")
    sim.submit(BUY, "1", "100.00")

    sim.trade("100.00", "0.4", SELL)

    assert [f.quantity for f in sim.fills] == [D("0.4")]


def test_limit_buy_when_a_buyer_aggressor_prints_at_its_price_does_not_fill() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", "100.05")

    sim.trade("100.05", "5", BUY)

    assert sim.fills == []


def test_limit_buy_when_trade_prints_through_price_fills_remainder_as_maker_at_its_price() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10", bid_size="50")
    sim.submit(BUY, "1", "100.00")

    sim.trade("99.99", "0.01", SELL)

    assert [(f.quantity, f.price, f.liquidity) for f in sim.fills] == [(D(1), D("100.00"), LiquiditySide.MAKER)]


def test_resting_sell_when_bid_crosses_its_price_fills_in_full_as_maker() -> None:
    sim = Sim(btc="2")
    sim.quote("100.00", "100.10")
    sim.submit(SELL, "1.5", "100.20")

    sim.quote("100.25", "100.30")

    fill = sim.fills[0]
    assert (fill.quantity, fill.price, fill.liquidity) == (D("1.5"), D("100.20"), LiquiditySide.MAKER)
    assert fill.fee == D("100.20") * D("1.5") * D("0.001")


def test_two_resting_buys_at_one_price_share_a_trade_in_time_priority() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    first = sim.submit(BUY, "1", "100.05")
    second = sim.submit(BUY, "1", "100.05")

    sim.trade("100.05", "1.5", SELL)

    by_order = {f.client_order_id: f.quantity for f in sim.fills}
    assert by_order == {first.client_order_id: D(1), second.client_order_id: D("0.5")}


def test_post_only_buy_at_or_above_the_ask_is_rejected_and_locks_nothing() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")

    with pytest.raises(PostOnlyWouldCross, match=re.escape("BTC/USDT limit buy 1 @ 100.10")):
        sim.submit(BUY, "1", "100.10", post_only=True)

    assert sim.balance("USDT") == (D(10000), D(0))
    assert sim.engine.open_orders() == []


def test_crossing_limit_buy_fills_at_once_as_taker_at_the_ask() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")

    report = sim.submit(BUY, "2", "101.00")

    assert report.status is OrderStatus.FILLED
    fill = sim.fills[0]
    assert (fill.price, fill.liquidity, fill.fee) == (D("100.10"), LiquiditySide.TAKER, D("100.10") * 2 * D("0.002"))
    assert sim.balance("USDT") == (D(10000) - D("200.20") - fill.fee, D(0))


def test_market_buy_pays_the_ask_plus_slippage_rounded_up_to_the_tick() -> None:
    sim = Sim(slippage_bps="10")
    sim.quote("100.00", "100.10")

    report = sim.submit(BUY, "1")

    assert report.status is OrderStatus.FILLED
    assert sim.fills[0].price == D("100.21")  # 100.10 × 1.001 = 100.2001 → up to the tick
    assert sim.balance("BTC") == (D(1), D(0))


def test_market_sell_receives_the_bid_minus_slippage_less_the_taker_fee() -> None:
    sim = Sim(btc="1", slippage_bps="10")
    sim.quote("100.00", "100.10")

    sim.submit(SELL, "1")

    assert sim.fills[0].price == D("99.90")
    assert sim.balance("USDT") == (D(10000) + D("99.90") - D("99.90") * D("0.002"), D(0))


def test_market_buy_beyond_the_free_quote_raises_insufficient_funds() -> None:
    sim = Sim(usdt="100")
    sim.quote("100.00", "100.10")

    with pytest.raises(InsufficientFunds, match=re.escape("BTC/USDT buy 1 @ 100.10")):
        sim.submit(BUY, "1")


def test_market_order_before_any_market_data_is_rejected() -> None:
    sim = Sim()

    with pytest.raises(OrderRejected, match="no market data"):
        sim.submit(BUY, "1")


def test_buy_limit_locks_price_times_quantity_plus_fee_and_cancel_releases_it() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    report = sim.submit(BUY, "2", "99.00")
    locked = sim.balance("USDT")

    sim.engine.cancel(report.client_order_id)

    assert locked == (D(10000) - D("198") * D("1.002"), D("198") * D("1.002"))
    assert sim.balance("USDT") == (D(10000), D(0))


def test_partial_fill_spends_its_share_of_the_lock_and_returns_the_unused_fee_margin() -> None:
    sim = Sim(queue=False)
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "2", "100.00")

    sim.trade("100.00", "1", SELL)

    lock_left = D("100") * D("1.002")
    spent = D("100") + D("100") * D("0.001")
    assert sim.balance("USDT") == (D(10000) - 2 * D("100") * D("1.002") + (lock_left - spent), lock_left)
    assert sim.balance("BTC") == (D(1), D(0))


def test_sell_limit_locks_base_and_fill_credits_quote_less_maker_fee() -> None:
    sim = Sim(btc="1")
    sim.quote("100.00", "100.10")
    sim.submit(SELL, "1", "100.50")
    locked = sim.balance("BTC")

    sim.trade("100.60", "0.1", BUY)

    assert locked == (D(0), D(1))
    assert sim.balance("BTC") == (D(0), D(0))
    assert sim.balance("USDT") == (D(10000) + D("100.50") - D("100.50") * D("0.001"), D(0))


def test_sell_limit_beyond_the_free_base_raises_insufficient_funds() -> None:
    sim = Sim(btc="0.5")

    with pytest.raises(InsufficientFunds, match="needs 1 BTC"):
        sim.submit(SELL, "1", "100.00")


def test_ioc_buy_fills_the_size_shown_at_the_ask_and_expires_the_rest() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10", ask_size="0.4")

    report = sim.submit(BUY, "1", "100.10", time_in_force=TimeInForce.IOC)

    assert report.status is OrderStatus.EXPIRED
    assert report.filled_quantity == D("0.4")
    assert sim.balance("USDT")[1] == D(0)
    assert [u for u in sim.updates if isinstance(u, OrderStatusReport)] == []


def test_fok_buy_larger_than_the_size_shown_expires_without_filling() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10", ask_size="0.4")

    report = sim.submit(BUY, "1", "100.10", time_in_force=TimeInForce.FOK)

    assert report.status is OrderStatus.EXPIRED
    assert sim.fills == []


def test_ioc_buy_below_the_ask_expires_at_once() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")

    report = sim.submit(BUY, "1", "100.00", time_in_force=TimeInForce.IOC)

    assert report.status is OrderStatus.EXPIRED
    assert sim.engine.open_orders() == []


def test_sell_stop_triggers_when_a_trade_reaches_it_and_fills_at_the_bid() -> None:
    sim = Sim(btc="1")
    sim.quote("100.00", "100.10")
    report = sim.submit(SELL, "1", order_type=OrderType.STOP_MARKET, trigger_price=D("99.00"))
    sim.quote("99.50", "99.60")

    sim.trade("99.00", "0.1", SELL)

    assert report.status is OrderStatus.ACCEPTED
    assert [(f.price, f.liquidity) for f in sim.fills] == [(D("99.50"), LiquiditySide.TAKER)]


def test_buy_stop_triggers_when_the_ask_reaches_it() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", order_type=OrderType.STOP_MARKET, trigger_price=D("101.00"))

    sim.quote("100.90", "101.00")

    assert [f.price for f in sim.fills] == [D("101.00")]
    assert sim.balance("USDT") == (D(10000) - D(101) - D(101) * D("0.002"), D(0))


def test_buy_stop_the_account_cannot_fully_pay_at_the_trigger_fills_what_it_covers_and_expires_the_rest() -> None:
    """Rule (one for every path): a stop or market buy gapped past its lock fills what free plus locked quote
    covers, lot-step floored, and the rest expires (reported, logged at info with the reason)."""
    from structlog.testing import capture_logs

    sim = Sim(usdt="102")
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", order_type=OrderType.STOP_MARKET, trigger_price=D("101.00"))
    with capture_logs() as logs:
        sim.quote("150.00", "150.10")  # gapped: 150.10 × 1.002 is more than the 102 USDT
    (fill,) = sim.fills
    assert fill.price == D("150.10")
    assert fill.quantity == MARKET.round_amount(D(102) / (D("150.10") * D("1.002")))
    assert fill.price * fill.quantity * D("1.002") <= D(102)
    assert isinstance(sim.updates[-1], OrderStatusReport)
    assert sim.updates[-1].status is OrderStatus.EXPIRED
    (event,) = [e for e in logs if e["event"] == "sim_order_expired"]
    assert event["log_level"] == "info"
    assert event["reason"] == "insufficient quote at the fill price for the rest"
    assert sim.engine.balances()["USDT"].locked == 0


def test_buy_stop_the_account_cannot_pay_at_all_at_the_trigger_expires_with_a_warning_naming_why() -> None:
    """Rule: an expiry for want of funds is reported (EXPIRED) and logged at warning with the reason."""
    from structlog.testing import capture_logs

    sim = Sim(usdt="102", btc="0")
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "1", order_type=OrderType.STOP_MARKET, trigger_price=D("101.00"))
    with capture_logs() as logs:
        sim.quote("20000000.00", "20000000.10")  # 102 USDT buys less than one lot step (0.00001) up there
    assert sim.fills == []
    assert isinstance(sim.updates[-1], OrderStatusReport)
    assert sim.updates[-1].status is OrderStatus.EXPIRED
    (event,) = [e for e in logs if e["event"] == "sim_order_expired"]
    assert event["log_level"] == "warning"
    assert event["reason"] == "insufficient quote at the fill price"
    assert sim.engine.balances()["USDT"] == Balance(currency="USDT", free=D(102), locked=D(0))


def test_stop_that_would_trigger_immediately_is_rejected() -> None:
    sim = Sim(btc="1")
    sim.quote("100.00", "100.10")

    with pytest.raises(OrderRejected, match="trigger immediately"):
        sim.submit(SELL, "1", order_type=OrderType.STOP_MARKET, trigger_price=D("100.00"))


def test_order_off_the_lot_step_or_below_min_notional_is_rejected() -> None:
    sim = Sim()

    with pytest.raises(OrderRejected, match="lot step"):
        sim.submit(BUY, "0.000001", "100.00")
    with pytest.raises(OrderRejected, match="tick"):
        sim.submit(BUY, "1", "100.001")
    with pytest.raises(OrderRejected, match="minimum 5"):
        sim.submit(BUY, "0.01", "100.00")


def test_duplicate_client_order_id_while_open_is_rejected() -> None:
    sim = Sim()
    params = OrderParams(side=BUY, price=D("99"))
    sim.engine.submit(params, D(1), ClientOrderId("dup"))

    with pytest.raises(OrderRejected, match="duplicate"):
        sim.engine.submit(params, D(1), ClientOrderId("dup"))


def test_cancel_of_unknown_or_closed_order_raises_order_not_found() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    report = sim.submit(BUY, "1", "99.00")
    sim.engine.cancel(report.client_order_id)

    with pytest.raises(OrderNotFound):
        sim.engine.cancel(report.client_order_id)
    with pytest.raises(OrderNotFound):
        sim.engine.cancel(ClientOrderId("never"))


def test_order_and_trade_ids_are_unique_and_increasing_across_engines_sharing_an_account() -> None:
    account = SimAccount({"USDT": D(10000)})
    clock = SimulatedClock(0)
    model = FillModel(maker_fee=D("0.001"), taker_fee=D("0.001"))
    engines = [MatchingCore(MARKET, clock, model, account, lambda _: None) for _ in range(2)]
    for engine in engines:
        engine.set_quote(MarketData(symbol=SYMBOL, ts_ms=0, bid=D(100), ask=D("100.1")))

    market_buy = OrderParams(side=BUY, order_type=OrderType.MARKET)

    ids = [e.submit(market_buy, D(1), ClientOrderId(f"m{i}")).exchange_order_id for i, e in enumerate(engines)]
    trades = [f.trade_id for e in engines for f in e.fills_since(0)]

    assert ids == ["1", "2"]
    assert trades == ["1", "2"]


def test_fills_since_returns_fills_at_or_after_the_time() -> None:
    sim = Sim()
    sim.quote("100.00", "100.10")
    sim.submit(BUY, "0.1")
    sim.clock.advance_to(5_000)
    sim.submit(BUY, "0.2")

    assert [f.quantity for f in sim.engine.fills_since(5_000)] == [D("0.2")]
    assert len(sim.engine.fills_since(None)) == 2


def test_a_quote_quantity_market_buy_is_sized_at_the_touch_it_fills_at() -> None:
    """Sizing at the fill (OrderParams.quote_quantity): 1000 USDT at an ask of 60000 with the 0.2 % taker fee
    buys lot-step-floor(1000 / (60000 × 1.002)) = 0.01663 BTC, whatever the estimate was; never overspends."""
    sim = Sim()
    sim.quote("59999", "60000")

    report = sim.submit(OrderSide.BUY, "0.02", quote_quantity=D(1000))

    assert report.status is OrderStatus.FILLED
    assert [f.quantity for f in sim.fills] == [D("0.01663")]
    assert sim.fills[0].price * sim.fills[0].quantity + sim.fills[0].fee <= D(1000)


def test_a_quote_quantity_that_buys_less_than_one_lot_is_rejected() -> None:
    """0.5 USDT at 60000 is below the 0.00001 BTC lot step (the estimate passed the filters): rejected, nothing
    locked."""
    sim = Sim()
    sim.quote("59999", "60000")

    with pytest.raises(OrderRejected, match="less than one lot step"):
        sim.submit(OrderSide.BUY, "0.0001", quote_quantity=D("0.5"))
    assert sim.balance("USDT") == (D(10000), D(0))


def test_with_buy_fee_in_base_a_buy_pays_the_notional_and_receives_the_quantity_less_its_fee() -> None:
    """Rule (``FillModel.buy_fee_in_base``, Binance spot without BNB): the buy's fee is ``quantity × rate`` base."""
    clock = SimulatedClock(1_000)
    updates: list[OrderStatusReport | Fill] = []
    model = FillModel(maker_fee=D("0.001"), taker_fee=D("0.002"), fee_decimals=8, buy_fee_in_base=True)
    account = SimAccount({"USDT": D("10000"), "BTC": D("0")})
    core = MatchingCore(MARKET, clock, model, account, updates.append)
    core.on_market_data(MarketData(symbol=SYMBOL, ts_ms=1_000, bid=D("99"), ask=D("100"), bid_size=D(5),
                                   ask_size=D(5)))  # fmt: skip
    core.submit(OrderParams(side=BUY, order_type=OrderType.MARKET), D("0.5"), ClientOrderId("t-1"))
    core.submit(OrderParams(side=SELL, order_type=OrderType.MARKET), D("0.4"), ClientOrderId("t-2"))
    buy, sell = [u for u in updates if isinstance(u, Fill)]
    balances = core.balances()

    assert (buy.fee, buy.fee_currency) == (D("0.001"), "BTC")  # 0.5 × 0.002
    assert (sell.fee, sell.fee_currency) == (D("0.0792"), "USDT")  # a sell pays in quote: 0.4 × 99 × 0.002
    assert balances["BTC"].free == D("0.5") - D("0.001") - D("0.4")
    assert balances["USDT"].free == D("10000") - D("50") + D("39.6") - D("0.0792")
