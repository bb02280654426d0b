"""The simulated margin account of linear perpetuals (``exchanges.sim.margin``) under the matching core.

Every figure is computed by hand in the test from the XRP/USDT:USDT market of the bundled Binance USDⓈ-M
snapshot (tick 0.0001, lot 0.1, maker 0.02 %, taker 0.05 %, first bracket MMR 2.5 % below 100,000 USDT).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.markets import load_market_snapshot
from exchanges.sim import FillModel
from exchanges.sim import MarginAccount
from exchanges.sim import MatchingCore
from exchanges.sim import SimAccount
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import opening_quantity
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderRejected

D = Decimal
XRP = load_market_snapshot("binance")[Symbol("XRP/USDT:USDT")]
BUY, SELL = OrderSide.BUY, OrderSide.SELL


class Perp:
    """One XRP/USDT:USDT core over a margin account, fed quotes by hand."""

    def __init__(self, wallet: str = "1000", leverage: int = 10, mode: MarginMode = MarginMode.CROSS) -> None:
        self.clock = SimulatedClock(1_700_000_000_000)
        self.account = MarginAccount({"USDT": D(wallet)}, leverage=leverage, margin_mode=mode)
        self.updates: list[OrderStatusReport | Fill] = []
        model = FillModel(maker_fee=XRP.maker_fee, taker_fee=XRP.taker_fee)
        self.core = MatchingCore(XRP, self.clock, model, self.account, self.updates.append)
        self._n = 0

    def quote(self, bid: str, ask: str) -> None:
        self.clock.advance_to(self.clock.now_ms() + 1000)
        md = MarketData(symbol=XRP.symbol, ts_ms=self.clock.now_ms(), bid=D(bid), ask=D(ask))
        self.account.set_mark(XRP.symbol, md.mid)
        self.core.on_market_data(md)

    def order(
        self, side: OrderSide, qty: str, price: str | None = None, *, reduce_only: bool = False
    ) -> OrderStatusReport:
        self._n += 1
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        params = OrderParams(side=side, order_type=kind, price=None if price is None else D(price),
                             reduce_only=reduce_only)  # fmt: skip
        return self.core.submit(params, D(qty), ClientOrderId(f"c{self._n}"))

    @property
    def wallet(self) -> Decimal:
        return self.account.wallet_balance("USDT")


def test_opening_quantity_counts_only_what_goes_beyond_the_opposite_position() -> None:
    """Rule: the part of an order that closes the opposite position opens nothing (it needs no margin)."""
    assert opening_quantity(D(0), BUY, D(5)) == 5
    assert opening_quantity(D(3), BUY, D(5)) == 5
    assert opening_quantity(D(-3), BUY, D(5)) == 2
    assert opening_quantity(D(-8), BUY, D(5)) == 0
    assert opening_quantity(D(8), SELL, D(5)) == 0


def test_a_short_opens_on_margin_and_pays_the_taker_fee_in_the_settle_currency() -> None:
    """Rule: shorts are allowed on swaps; a sell locks margin (not base currency) and the fee leaves the wallet."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    report = perp.order(SELL, "1000")
    assert report.status is OrderStatus.FILLED
    (fill,) = [u for u in perp.updates if isinstance(u, Fill)]
    assert (fill.price, fill.fee, fill.fee_currency) == (D("1.0000"), D("0.5"), "USDT")  # 1000 × 1 × 0.05 %
    position = perp.account.position(XRP.symbol)
    assert (position.quantity, position.entry_price) == (D(-1000), D("1.0000"))
    assert perp.wallet == D("999.5")
    # available = wallet + unrealized − position margin: mark (mid) 1.00005 → upnl −0.05, margin 100.005
    assert perp.account.free("USDT") == D("999.5") - D("0.05") - D("100.005")


def test_the_mark_moves_unrealized_pnl_and_available_collateral_not_the_wallet() -> None:
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    perp.quote("1.0999", "1.1001")  # mark 1.1
    assert perp.account.unrealized_pnl(XRP.symbol) == D("-100.0000")
    assert perp.wallet == D("999.5")
    assert perp.account.free("USDT") == D("999.5") - D("100") - D("110")
    balance = perp.account.balances()["USDT"]
    assert balance.total == perp.wallet  # the wallet, without unrealized PnL (the portfolio adds it)


def test_an_order_whose_margin_exceeds_the_available_collateral_is_refused_as_margin_insufficient() -> None:
    """Rule: initial margin of the opening part (notional / leverage + fee) against available collateral."""
    perp = Perp(wallet="100", leverage=1)
    perp.quote("1.0000", "1.0001")
    with pytest.raises(InsufficientFunds, match="Margin is insufficient"):
        perp.order(SELL, "100")  # needs 100 × 1.0000 × (1 + 0.0005) = 100.05 > 100
    perp.order(SELL, "99.9")  # 99.9 × 1.0005 = 99.94995 ≤ 100: accepted and filled


def test_the_closing_part_of_an_order_needs_no_margin() -> None:
    perp = Perp(wallet="100", leverage=1)
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "99.9")
    # nearly everything is in position margin now; buying back 99.9 closes, needs nothing
    assert perp.order(BUY, "99.9").status is OrderStatus.FILLED
    assert perp.account.position(XRP.symbol).quantity == 0


def test_reduce_only_is_refused_when_it_would_not_reduce_and_capped_at_the_position() -> None:
    """Rule: a reduce-only order that would open or add is refused; its fills never exceed the position left."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    with pytest.raises(OrderRejected, match="ReduceOnly"):
        perp.order(BUY, "10", reduce_only=True)  # flat
    perp.order(SELL, "10")
    with pytest.raises(OrderRejected, match="ReduceOnly"):
        perp.order(SELL, "10", reduce_only=True)  # would add to the short
    report = perp.order(BUY, "25", reduce_only=True)  # asks for more than the 10 held
    assert report.filled_quantity == D(10)
    assert report.status is OrderStatus.EXPIRED
    assert perp.account.position(XRP.symbol).quantity == 0


def test_a_round_trip_books_price_pnl_and_both_fees_into_the_wallet() -> None:
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")  # fee 0.5
    perp.quote("0.9000", "0.9001")
    perp.order(BUY, "1000")  # at the ask 0.9001: pnl (1.0000 − 0.9001) × 1000 = 99.9, fee 0.45005
    assert perp.wallet == D("1000") + D("99.9") - D("0.5") - D("0.45005")
    assert perp.account.position(XRP.symbol).realized_pnl == D("99.9") - D("0.5") - D("0.45005")


def test_funding_longs_pay_shorts_when_the_rate_is_positive() -> None:
    """Rule: payment = −quantity × mark × rate, into the wallet."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    perp.account.set_mark(XRP.symbol, D("1.1"))
    payment = perp.account.apply_funding(XRP, D("0.0001"), 1, "f1")
    assert payment is not None
    assert payment.amount == D("0.11")
    assert perp.wallet == D("999.5") + D("0.11")
    long = Perp()
    long.quote("1.0000", "1.0001")
    long.order(BUY, "1000")
    long.account.set_mark(XRP.symbol, D("1"))
    paid = long.account.apply_funding(XRP, D("0.0001"), 1, "f1")
    assert paid is not None
    assert paid.amount == D("-0.1")
    assert Perp().account.apply_funding(XRP, D("0.0001"), 1, "f1") is None  # flat: nothing to pay


def test_cross_liquidation_price_follows_binances_one_way_formula() -> None:
    """LP = (WB − s·q·E + cum) / (q·MMR − s·q): short 1000 at 1.0, WB 999.5, MMR 2.5 %, cum 0."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    assert perp.account.liquidation_price(XRP) == (D("999.5") + D(1000)) / (D(25) + D(1000))


def test_a_cross_account_below_maintenance_margin_is_liquidated_once_at_the_mark_with_the_fee() -> None:
    """Rule: wallet + unrealized < maintenance → the position is closed at the mark, liquidation fee charged."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    assert perp.account.check_liquidations(1, {XRP.symbol: D("1.9")}) == []  # equity 899.5 − 900 … not yet:
    # at 1.9: equity = 999.5 − 900 = 99.5 ≥ maintenance 1900 × 2.5 % = 47.5
    (liquidation,) = perp.account.check_liquidations(2, {XRP.symbol: D("1.96")})
    # equity 999.5 − 960 = 39.5 < 49; fee = min(1000 × 1.96 × 1.25 % = 24.5, 39.5)
    assert (liquidation.quantity, liquidation.price, liquidation.fee) == (D(-1000), D("1.96"), D("24.5"))
    assert liquidation.realized_pnl == D("-960")
    assert perp.wallet == D("999.5") - D("960") - D("24.5")
    assert perp.account.position(XRP.symbol).quantity == 0
    assert perp.account.check_liquidations(3, {XRP.symbol: D("2.5")}) == []  # once


def test_the_liquidation_fee_never_takes_the_wallet_below_zero() -> None:
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    (liquidation,) = perp.account.check_liquidations(1, {XRP.symbol: D("1.99")})
    assert liquidation.fee == D("9.5")  # what is left: 999.5 − 990; the full rate would be 24.875
    assert perp.wallet == 0


def test_an_isolated_position_risks_only_its_own_margin() -> None:
    """Rule: isolated margin = entry notional / leverage, moved out of the wallet; liquidation takes only it."""
    perp = Perp(mode=MarginMode.ISOLATED)
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "1000")
    assert perp.account.position_margin(XRP.symbol) == D("100.0000")
    # LP with WB = the isolated margin 100: (100 + 1000) / 1025
    assert perp.account.liquidation_price(XRP) == D(1100) / D(1025)
    (liquidation,) = perp.account.check_liquidations(1, {XRP.symbol: D("1.08")})
    # margin 100 − 80 = 20 < maintenance 1080 × 2.5 % = 27; fee = min(13.5, 20)
    assert liquidation.fee == D("13.5")
    assert perp.wallet == D("999.5") - D("80") - D("13.5")


def test_margin_mode_cannot_change_with_a_position_and_leverage_respects_the_market_cap() -> None:
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    perp.account.set_margin_mode(XRP.symbol, MarginMode.CROSS)  # unchanged: a no-op
    perp.order(SELL, "10")
    with pytest.raises(OrderRejected, match="margin type"):
        perp.account.set_margin_mode(XRP.symbol, MarginMode.ISOLATED)
    with pytest.raises(OrderRejected, match="leverage 21"):
        perp.account.set_leverage(XRP.symbol, 21)  # XRP's cap is 20


def test_a_swap_market_needs_a_margin_account() -> None:
    model = FillModel(maker_fee=D(0), taker_fee=D(0))
    with pytest.raises(ValueError, match="MarginAccount"):
        MatchingCore(XRP, SimulatedClock(0), model, SimAccount({"USDT": D(1)}), lambda _: None)


def test_an_order_sized_by_a_quote_amount_is_sized_at_its_fill_on_a_swap_too() -> None:
    """Rule: quote_quantity is a notional, fee inside: floor(100 / (1.0001 × 1.0005)) lots of 0.1 = 99.9."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    params = OrderParams(side=BUY, order_type=OrderType.MARKET, quote_quantity=D(100))
    report = perp.core.submit(params, D(99), ClientOrderId("q"))
    assert report.filled_quantity == D("99.9")
    assert perp.account.position(XRP.symbol).quantity == D("99.9")


def test_one_account_trades_a_spot_market_by_the_spot_rules_beside_a_swap() -> None:
    """Rule: the paper account is a margin account; its spot fills still move base and quote balances."""
    spot = load_market_snapshot("binance")[Symbol("BTC/USDT")]
    perp = Perp()
    model = FillModel(maker_fee=D(0), taker_fee=D(0))
    core = MatchingCore(spot, perp.clock, model, perp.account, perp.updates.append)
    core.on_market_data(MarketData(symbol=spot.symbol, ts_ms=perp.clock.now_ms(), bid=D("100"), ask=D("100.01")))
    core.submit(OrderParams(side=BUY, order_type=OrderType.MARKET), D("1"), ClientOrderId("s1"))
    balances = perp.account.balances()
    assert balances["BTC"].total == 1
    assert balances["USDT"].total == D("1000") - D("100.01")
    assert perp.account.positions() == {}


def test_a_reversal_needs_margin_only_for_what_its_closing_part_does_not_free() -> None:
    """Rule (``released_by``): at 1× all-in, a buy that closes a short of 99.9 and opens a long is checked
    against available (0.04006) plus what the close frees at the ask 1.0001: position margin at the mark
    99.9 × 1.00005 − its PnL from the mark 99.9 × 0.00005 − its fee 99.9 × 1.0001 × 0.0005 = 99.850045005.
    Opening 99.8 needs 99.8 × 1.0001 × 1.0005 = 99.85988499 (fits); opening 99.9 needs 99.95994 (refused)."""
    perp = Perp(wallet="100", leverage=1)
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "99.9")  # at the bid 1.0000, fee 0.04995: wallet 99.95005
    assert perp.account.free("USDT") == D("0.04006")
    market = perp.core.market
    assert perp.account.released_by(market, BUY, D("199.7"), D("1.0001"), XRP.taker_fee) == D("99.850045005")
    with pytest.raises(InsufficientFunds, match="Margin is insufficient"):
        perp.order(BUY, "199.8")
    assert perp.order(BUY, "199.7").status is OrderStatus.FILLED
    assert perp.account.position(XRP.symbol).quantity == D("99.8")


def test_a_reversal_sized_by_a_quote_amount_opens_with_the_equity_left_after_the_close() -> None:
    """Rule (``closing_change``): the amount is the equity at the mark, 99.95005 − 99.9 × 0.00005 = 99.945055;
    at the fill (ask 1.0001) the short's move from the mark (−0.004995) and its closing fee (−0.049954995) are
    taken out: 99.890105005, the wallet after the close; floor(99.890105005 / (1.0001 × 1.0005)) = 99.8 lots
    open, so the order fills 99.9 + 99.8."""
    perp = Perp(wallet="100", leverage=1)
    perp.quote("1.0000", "1.0001")
    perp.order(SELL, "99.9")
    equity = perp.wallet + perp.account.unrealized_pnl(XRP.symbol)
    assert equity == D("99.945055")
    params = OrderParams(side=BUY, order_type=OrderType.MARKET, quote_quantity=equity)
    report = perp.core.submit(params, D("199.7"), ClientOrderId("flip"))
    assert report.filled_quantity == D("199.7")
    assert perp.account.position(XRP.symbol).quantity == D("99.8")
    assert perp.wallet == D("99.890105005") - D("99.8") * D("1.0001") * XRP.taker_fee


def test_a_short_sized_by_a_quote_amount_is_a_notional_with_the_fee_inside() -> None:
    """Rule (``quantity_for_amount`` on a swap): a sell of 100 USDT at the bid 1.0000 opens
    floor(100 / (1.0000 × 1.0005)) = 99.9, above its estimate of 99 (margin, not base, backs a short)."""
    perp = Perp()
    perp.quote("1.0000", "1.0001")
    params = OrderParams(side=SELL, order_type=OrderType.MARKET, quote_quantity=D(100))
    report = perp.core.submit(params, D(99), ClientOrderId("q"))
    assert report.filled_quantity == D("99.9")
    assert perp.account.position(XRP.symbol).quantity == D("-99.9")
