"""Account answers from a venue: the plausibility rules of order reports, fills, balances and market rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading_bot.domain.account_checks import balance_problem
from trading_bot.domain.account_checks import fill_problem
from trading_bot.domain.account_checks import market_rules_problem
from trading_bot.domain.account_checks import order_report_problem

D = Decimal
T = 1_700_000_000_000


def test_plausible_account_records_have_no_problem() -> None:
    assert order_report_problem(T, D("0.1"), D("100"), D("0.05"), D("99")) is None
    assert order_report_problem(T, None, None, D(0), None) is None
    assert fill_problem(T, D("100"), D("0.1")) is None
    assert balance_problem("USDT", D(0), D("-0")) is None
    assert market_rules_problem(D("0.01"), D("0.001"), D(0), D(5), None) is None


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((-1, None, None, D(0), None), "timestamp -1"),
        ((T, D("-0.1"), None, D(0), None), "quantity -0.1 must be > 0"),
        ((T, None, D("-1"), D(0), None), "price -1 must be > 0"),
        ((T, None, None, D(0), D("-2")), "average -2 must be > 0"),
        ((T, None, None, D("-0.1"), None), "filled -0.1 must be >= 0"),
        ((T, D("0.1"), None, D("0.2"), None), "filled 0.2 is above quantity 0.1"),
    ],
)
def test_impossible_order_report_is_named_by_its_field(args: tuple[object, ...], reason: str) -> None:
    problem = order_report_problem(*args)  # type: ignore[arg-type]
    assert problem is not None
    assert reason in problem


def test_impossible_fill_balance_and_market_rules_are_named_by_their_field() -> None:
    assert "quantity -1 must be > 0" in (fill_problem(T, D("100"), D("-1")) or "")
    assert "price 0 must be > 0" in (fill_problem(T, D(0), D("1")) or "")
    assert "BTC.locked -1 must be >= 0" in (balance_problem("BTC", D(1), D(-1)) or "")
    assert "amount_increment 0 must be > 0" in (market_rules_problem(D(1), D(0), D(0), D(0), None) or "")
    assert "min_notional -5 must be >= 0" in (market_rules_problem(D(1), D(1), D(0), D(-5), None) or "")
    assert "max_amount 0 must be > 0" in (market_rules_problem(D(1), D(1), D(0), D(0), D(0)) or "")
