"""The RiskManager: rule order, switched-off rules, approvals counted for the rate, trading state."""

from __future__ import annotations

import pytest

from risk.config import RiskConfig
from risk.manager import APPROVED
from risk.manager import DENIAL_RULES
from risk.manager import Rejected
from risk.manager import RiskManager
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from tests.unit.risk._support import balances
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from tests.unit.risk._support import quote
from tests.unit.risk._support import sell
from trading_bot.domain import TradingState

_ALL_OFF = {
    "market_limits_enabled": False,
    "max_order_notional": None,
    "max_position_quantity": None,
    "max_position_notional": None,
    "max_open_orders": None,
    "price_band_pct": None,
    "max_orders_per_minute": None,
    "max_data_age_s": None,
    "balance_check_enabled": False,
}


def _manager(**settings: object) -> RiskManager:
    return RiskManager(RiskConfig.model_validate(settings))


def test_check_when_order_passes_every_default_rule_returns_the_approved_singleton() -> None:
    manager = _manager()

    decision = manager.check(buy("60000.00"), D("0.001"), ctx())

    assert decision is APPROVED


def test_check_when_notional_exceeds_limit_returns_rejected() -> None:
    manager = _manager(max_order_notional="100")

    decision = manager.check(buy("60000.00"), D("0.002"), ctx())

    assert decision == Rejected("max_order_notional", "order notional 120.00 USDT exceeds the limit 100.00")


def test_check_when_several_rules_fail_the_first_in_order_wins() -> None:
    manager = _manager(max_order_notional="100", max_open_orders=1)

    decision = manager.check(buy("60000.005"), D("0.002"), ctx(open_order_count=5, market_data=None))

    assert isinstance(decision, Rejected)
    assert decision.rule == "market_limits"


def test_check_when_halted_rejects_with_trading_state_rule() -> None:
    manager = _manager()
    manager.set_trading_state(TradingState.HALTED, "operator")

    decision = manager.check(buy(), D("0.001"), ctx())

    assert isinstance(decision, Rejected)
    assert decision.rule == "trading_state"
    assert manager.trading_state_reason == "operator"


def test_check_when_reducing_approves_a_reducing_sell_and_rejects_a_buy() -> None:
    manager = _manager()
    manager.set_trading_state(TradingState.REDUCING, "loss limit")
    context = ctx(position_qty=D("0.01"))

    sell_decision = manager.check(sell(), D("0.01"), context)
    buy_decision = manager.check(buy(), D("0.001"), context)

    assert sell_decision is APPROVED
    assert isinstance(buy_decision, Rejected)
    assert buy_decision.rule == "trading_state"


def test_check_when_every_rule_is_switched_off_approves_an_order_that_breaks_them_all() -> None:
    manager = _manager(**_ALL_OFF)
    context = ctx(open_order_count=999, market_data=None, balances={})

    decision = manager.check(buy("1.005"), D("123.456789"), context)

    assert decision is APPROVED
    assert [rule.name for rule in manager.rules] == ["trading_state", "reduce_only"]


@pytest.mark.parametrize(
    ("switch_off", "context_overrides", "price", "quantity"),
    [
        ({"market_limits_enabled": False}, {}, "60000.005", "0.001"),
        ({"max_order_notional": None}, {}, "60000.00", "0.02"),
        ({"max_position_notional": None}, {"position_qty": D("0.5")}, "60000.00", "0.001"),
        ({"max_open_orders": None}, {"open_order_count": 50}, "60000.00", "0.001"),
        ({"price_band_pct": None}, {}, "70000.00", "0.001"),
        ({"max_data_age_s": None}, {"market_data": quote(ts_ms=NOW_MS - 3_600_000)}, "60000.00", "0.001"),
        ({"balance_check_enabled": False}, {"balances": balances(usdt="0")}, "60000.00", "0.001"),
    ],
)
def test_check_when_the_breached_rule_is_switched_off_approves(
    switch_off: dict[str, object], context_overrides: dict[str, object], price: str, quantity: str
) -> None:
    strict = _manager()
    relaxed = _manager(**switch_off)
    context = ctx(**context_overrides)

    strict_decision = strict.check(buy(price), D(quantity), context)
    relaxed_decision = relaxed.check(buy(price), D(quantity), context)

    assert isinstance(strict_decision, Rejected)
    assert relaxed_decision is APPROVED


def test_check_rate_window_counts_only_approvals_and_slides_with_ctx_time() -> None:
    manager = _manager(max_orders_per_minute=2, max_data_age_s=None)
    t0 = NOW_MS
    first = manager.check(buy(), D("0.001"), ctx(now_ms=t0))
    refused_elsewhere = manager.check(buy(), D("0.001"), ctx(now_ms=t0 + 1000, open_order_count=50))
    second = manager.check(buy(), D("0.001"), ctx(now_ms=t0 + 2000))

    third = manager.check(buy(), D("0.001"), ctx(now_ms=t0 + 59_999))
    after_slide = manager.check(buy(), D("0.001"), ctx(now_ms=t0 + 60_000))

    assert first is APPROVED
    assert isinstance(refused_elsewhere, Rejected)
    assert refused_elsewhere.rule == "max_open_orders"  # a rejection does not count
    assert second is APPROVED
    assert isinstance(third, Rejected)
    assert third.rule == "order_rate"
    assert after_slide is APPROVED


def test_check_when_market_data_is_stale_returns_rejected_stale_data() -> None:
    manager = _manager(max_data_age_s=5)

    decision = manager.check(buy(), D("0.001"), ctx(market_data=quote(ts_ms=NOW_MS - 6000)))

    assert decision == Rejected("stale_data", "market data is 6.0 s old; limit 5 s", transient=True)


def test_rejected_when_rule_name_is_unknown_raises() -> None:
    with pytest.raises(ValueError, match="unknown risk rule"):
        Rejected("no_such_rule", "x")


_EVERY_RULE_ON = {
    "max_position_quantity": "1", "max_gross_exposure": "1e6", "max_daily_loss_pct": "5",
    "min_liquidation_distance_pct": "10",
}  # fmt: skip


def test_denial_rules_name_every_rule_and_sizing() -> None:
    names = {rule.name for rule in _manager(**_EVERY_RULE_ON).rules}

    assert names | {"sizing"} == DENIAL_RULES


def test_size_uses_the_configured_sizer() -> None:
    manager = _manager(sizing={"mode": "fixed_notional", "value": "600"})

    quantity = manager.size(buy("60000.00"), ctx())

    assert quantity == D("0.01")


def test_rules_whose_denials_are_transient_match_the_table_in_risk_rules() -> None:
    rules = _manager(**_EVERY_RULE_ON).rules

    transient = {rule.name for rule in rules if rule.transient}

    assert transient == {
        "trading_state", "daily_loss", "max_open_orders", "exposure", "price_band", "order_rate", "stale_data",
        "liquidation_distance", "balance",
    }  # fmt: skip
