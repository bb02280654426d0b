"""Account protection on swaps (``risk.protection``): REDUCING when a mark nears a liquidation price."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from risk.config import ProtectionConfig
from risk.config import RiskConfig
from risk.manager import RiskManager
from risk.protection import AccountProtection
from risk.protection import AccountSnapshot
from risk.protection import PositionView
from risk.protection import ProtectionAction
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from trading_bot.config import load_config
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.errors import ConfigError

SWAP = Symbol("BTC/USDT:USDT")


def _snapshot(*positions: PositionView) -> AccountSnapshot:
    return AccountSnapshot(now_ms=NOW_MS, equity=D(10000), starting_equity=D(10000), positions=positions)


def _swap(quantity: str, mark: str, liquidation: str | None) -> PositionView:
    return PositionView(
        symbol=SWAP, quantity=D(quantity), unrealized_pnl=D(0), mark=D(mark),
        liquidation_price=None if liquidation is None else D(liquidation),
    )  # fmt: skip


def _manager(pct: str | None = "5") -> RiskManager:
    return RiskManager(RiskConfig.model_validate({"reduce_at_liquidation_distance_pct": pct}))


def test_mark_within_the_distance_of_a_long_liquidation_price_goes_reducing() -> None:
    # long, mark 60000, LP 57500: (60000 − 57500) / 60000 = 4.17 % < 5 %
    manager = _manager()

    decision = manager.check_account(_snapshot(_swap("0.1", "60000", "57500")))

    assert decision.action is ProtectionAction.LIQUIDATION_REDUCE
    assert decision.state is TradingState.REDUCING
    assert manager.trading_state is TradingState.REDUCING
    assert decision.reason == (
        "liquidation near: BTC/USDT:USDT long 0.1: mark 60000 is 4.17 % from the estimated liquidation price "
        "57,500.00; limit 5 %; reducing only"
    )


def test_mark_within_the_distance_of_a_short_liquidation_price_goes_reducing() -> None:
    # short, mark 60000, LP 62000: (62000 − 60000) / 60000 = 3.33 % < 5 %
    decision = _manager().check_account(_snapshot(_swap("-0.1", "60000", "62000")))

    assert decision.action is ProtectionAction.LIQUIDATION_REDUCE
    assert "short 0.1: mark 60000 is 3.33 %" in decision.reason


def test_mark_beyond_the_distance_keeps_active() -> None:
    # long: (60000 − 56000) / 60000 = 6.67 % ≥ 5 %
    manager = _manager()

    decision = manager.check_account(_snapshot(_swap("0.1", "60000", "56000")))

    assert decision.action is ProtectionAction.NONE
    assert manager.trading_state is TradingState.ACTIVE


def test_liquidation_reduce_is_reported_once_and_never_loosens_a_halt() -> None:
    manager = _manager()
    near = _snapshot(_swap("0.1", "60000", "59000"))
    manager.check_account(near)

    again = manager.check_account(near)
    manager.set_trading_state(TradingState.HALTED, "operator")
    halted = manager.check_account(near)

    assert again.action is ProtectionAction.NONE
    assert again.state is TradingState.REDUCING
    assert halted.action is ProtectionAction.NONE
    assert manager.trading_state is TradingState.HALTED


def test_liquidation_check_off_by_default_and_ignores_spot_views() -> None:
    off = _manager(None).check_account(_snapshot(_swap("0.1", "60000", "59999")))
    spot = _manager().check_account(
        _snapshot(PositionView(symbol=Symbol("BTC/USDT"), quantity=D(1), unrealized_pnl=D(0)))
    )

    assert (off.action, spot.action) == (ProtectionAction.NONE, ProtectionAction.NONE)


def test_account_protection_takes_the_distance_directly() -> None:
    protection = AccountProtection(ProtectionConfig(), liquidation_distance_pct=D(10))

    decision = protection.evaluate(_snapshot(_swap("0.1", "60000", "55000")), TradingState.ACTIVE)

    assert decision.action is ProtectionAction.LIQUIDATION_REDUCE  # 8.33 % < 10 %


@pytest.mark.parametrize(
    "field", ["max_leverage", "min_liquidation_distance_pct", "reduce_at_liquidation_distance_pct"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_new_risk_fields_refuse_nan_infinity_negative_and_zero(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RiskConfig.model_validate({field: value})


def test_reduce_distance_above_the_opening_distance_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"reduce_at_liquidation_distance_pct .* must be at most"):
        RiskConfig.model_validate({"min_liquidation_distance_pct": "5", "reduce_at_liquidation_distance_pct": "10"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MIN_LIQUIDATION_DISTANCE_PCT", "nan", r"^risk\.min_liquidation_distance_pct: must be a finite number"),
        ("REDUCE_AT_LIQUIDATION_DISTANCE_PCT", "-1", r"^risk\.reduce_at_liquidation_distance_pct: must be greater"),
        ("MAX_LEVERAGE", "126", r"^risk\.max_leverage: .*allowed: \[1, 125\]"),
    ],
)
def test_bad_swap_risk_setting_is_one_line_naming_the_field(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(None, env={f"TRADING_BOT__RISK__{variable}": value}, dotenv=None)

    assert "\n" not in str(info.value)
