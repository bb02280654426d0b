"""Portfolio rules: gross and net exposure caps and the total open-order cap, over all instruments.

The book in most tests: BTC long 0.05 at 60,000 (+3,000 USDT) and another instrument short 1 at 2,000
(−2,000 USDT): gross 5,000, net +1,000, 3 open orders. Orders are valued at their limit price.
"""

from __future__ import annotations

from risk.base import PortfolioTotals
from risk.base import portfolio_totals
from risk.config import RiskConfig
from risk.manager import Rejected
from risk.manager import RiskManager
from risk.portfolio import ExposureRule
from risk.rules import MaxOpenOrdersRule
from tests.unit.risk._support import D
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from tests.unit.risk._support import sell

BOOK = PortfolioTotals.of(((D("0.05"), D("60000")), (D("-1"), D("2000"))), open_orders=3)


def test_portfolio_totals_sum_absolute_and_signed_values_over_instruments() -> None:
    assert (BOOK.gross_exposure, BOOK.net_exposure, BOOK.open_orders) == (D("5000"), D("1000"), 3)


def test_portfolio_totals_without_a_book_are_the_instrument_alone_at_the_mid() -> None:
    """One instrument: gross = |position × mid|, net = position × mid, open orders = the instrument's."""
    totals = portfolio_totals(ctx(position_qty=D("-0.1"), open_order_count=2))  # mid 60,000.01

    assert totals == PortfolioTotals(gross_exposure=D("6000.001"), net_exposure=D("-6000.001"), open_orders=2)


def test_gross_exposure_cap_refuses_an_open_that_takes_gross_above_it() -> None:
    """Buy 0.01 BTC at 60,000: gross 5,000 + 600 = 5,600."""
    rule = ExposureRule(max_gross=D("5599"), max_net=None)

    reason = rule.check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), portfolio=BOOK))

    assert reason == "gross exposure after the fill 5,600.00 USDT (now 5,000.00) exceeds the limit 5,599.00"


def test_gross_exposure_cap_passes_an_open_that_reaches_it_exactly() -> None:
    rule = ExposureRule(max_gross=D("5600"), max_net=None)

    assert rule.check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), portfolio=BOOK)) is None


def test_net_exposure_cap_refuses_an_open_that_takes_net_above_it() -> None:
    """Buy 0.01 BTC at 60,000: net 1,000 + 600 = 1,600."""
    rule = ExposureRule(max_gross=None, max_net=D("1599"))

    reason = rule.check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), portfolio=BOOK))

    assert reason == "net exposure after the fill 1,600.00 USDT (now 1,000.00) exceeds the limit ±1,599.00"
    assert ExposureRule(max_gross=None, max_net=D("1600")).check(
        buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), portfolio=BOOK)
    ) is None


def test_net_exposure_cap_counts_shorts_a_flip_below_minus_the_cap_is_refused() -> None:
    """Sell 0.08 BTC at 60,000 from +0.05 (a flip to −0.03): net 1,000 − 4,800 = −3,800; gross falls to 3,800."""
    rule = ExposureRule(max_gross=D("1000"), max_net=D("3000"))

    reason = rule.check(sell("60000.00"), D("0.08"), ctx(position_qty=D("0.05"), portfolio=BOOK))

    assert reason == "net exposure after the fill -3,800.00 USDT (now 1,000.00) exceeds the limit ±3,000.00"


def test_a_reducing_order_passes_both_caps_when_the_book_is_over_them() -> None:
    """Selling 0.05 of a 0.05 long exits: it passes even with gross 5,000 > 1 and net 1,000 > 1."""
    rule = ExposureRule(max_gross=D("1"), max_net=D("1"))

    assert rule.check(sell("60000.02"), D("0.05"), ctx(position_qty=D("0.05"), portfolio=BOOK)) is None
    assert rule.check(sell(None), D("0.05"), ctx(position_qty=D("0.05"), portfolio=BOOK, market_data=None)) is None


def test_an_open_that_lowers_net_exposure_passes_the_net_cap_while_over_it() -> None:
    """Flat BTC, book net +1,000 over a 100 cap: a 0.01 short at 60,000 takes net to 400 (lower): it passes."""
    rule = ExposureRule(max_gross=None, max_net=D("100"))

    assert rule.check(sell("60000.00"), D("0.01"), ctx(portfolio=BOOK)) is None


def test_single_instrument_gross_cap_is_position_after_the_fill_at_the_order_price() -> None:
    """No book: 0.05 at mid 60,000.01 = 3,000.0005; buy 0.01 at 60,000 adds 600: 3,600.0005 > 3,600."""
    rule = ExposureRule(max_gross=D("3600"), max_net=None)

    reason = rule.check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05")))

    assert reason == "gross exposure after the fill 3,600.00 USDT (now 3,000.00) exceeds the limit 3,600.00"


def test_exposure_without_market_data_to_value_the_position_is_refused() -> None:
    rule = ExposureRule(max_gross=D("1e6"), max_net=None)

    reason = rule.check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), market_data=None))

    assert reason == "the exposure cannot be valued without market data"


def test_total_open_orders_cap_counts_every_instrument() -> None:
    """1 open here, 5 over the book: a 6th exceeds the total of 5, whatever this instrument has."""
    rule = MaxOpenOrdersRule(None, 5)
    book = PortfolioTotals(gross_exposure=D(0), net_exposure=D(0), open_orders=5)

    reason = rule.check(buy(), D("0.001"), ctx(open_order_count=1, portfolio=book))

    assert reason == "5 orders are open over all instruments; one more exceeds the total limit of 5"
    fewer = PortfolioTotals(gross_exposure=D(0), net_exposure=D(0), open_orders=4)
    assert rule.check(buy(), D("0.001"), ctx(open_order_count=1, portfolio=fewer)) is None


def test_total_open_orders_cap_without_a_book_is_the_instrument_count() -> None:
    rule = MaxOpenOrdersRule(None, 5)

    assert rule.check(buy(), D("0.001"), ctx(open_order_count=4)) is None
    assert rule.check(buy(), D("0.001"), ctx(open_order_count=5)) is not None


def test_per_instrument_and_total_open_order_caps_are_one_rule_the_tighter_speaks_first() -> None:
    rule = MaxOpenOrdersRule(3, 100)

    reason = rule.check(buy(), D("0.001"), ctx(open_order_count=3))

    assert reason == "3 orders are open; one more exceeds the limit of 3"


def test_manager_refuses_with_rule_exposure_and_a_transient_denial() -> None:
    config = RiskConfig(max_gross_exposure=D("5599"), price_band_pct=None, max_data_age_s=None)

    decision = RiskManager(config).check(buy("60000.00"), D("0.01"), ctx(position_qty=D("0.05"), portfolio=BOOK))

    assert isinstance(decision, Rejected)
    assert (decision.rule, decision.transient) == ("exposure", True)
