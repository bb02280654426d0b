"""Account protection through the RiskManager: emergency flatten, close worst, stall halt and recovery."""

from __future__ import annotations

from decimal import Decimal

from risk.config import RiskConfig
from risk.manager import RiskManager
from risk.protection import AccountSnapshot
from risk.protection import PositionView
from risk.protection import ProtectionAction
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState

_MIN = 60_000


def _manager(**protection: object) -> RiskManager:
    return RiskManager(RiskConfig.model_validate({"protection": protection}))


def _snapshot(equity: str, now_ms: int = NOW_MS, positions: tuple[PositionView, ...] = ()) -> AccountSnapshot:
    return AccountSnapshot(now_ms=now_ms, equity=D(equity), starting_equity=D("10000"), positions=positions)


def _position(symbol: str, pnl: str, quantity: str = "1") -> PositionView:
    return PositionView(symbol=Symbol(symbol), quantity=D(quantity), unrealized_pnl=D(pnl))


def _fail(manager: RiskManager, count: int, start_ms: int, step_ms: int) -> None:
    for i in range(count):
        manager.record_order_failure(start_ms + i * step_ms)


def test_check_account_when_all_is_well_returns_none_and_keeps_active() -> None:
    manager = _manager()

    decision = manager.check_account(_snapshot("9500"))

    assert decision.action is ProtectionAction.NONE
    assert decision.state is TradingState.ACTIVE
    assert manager.trading_state is TradingState.ACTIVE


def test_check_account_when_equity_below_emergency_limit_flattens_and_halts() -> None:
    manager = _manager()
    positions = (_position("BTC/USDT", "-1600"), _position("ETH/USDT", "0", quantity="0"))

    decision = manager.check_account(_snapshot("8400", positions=positions))

    assert decision.action is ProtectionAction.EMERGENCY_FLATTEN
    assert decision.state is TradingState.HALTED
    assert manager.trading_state is TradingState.HALTED
    assert decision.symbols_to_close == (Symbol("BTC/USDT"),)
    assert decision.reason == "emergency loss: equity 8,400.00 is 16.0 % below the starting 10,000.00; limit 15 %"


def test_check_account_when_equity_exactly_at_emergency_limit_flattens() -> None:
    manager = _manager()

    decision = manager.check_account(_snapshot("8500"))

    assert decision.action is ProtectionAction.EMERGENCY_FLATTEN


def test_check_account_when_emergency_switched_off_does_not_flatten() -> None:
    manager = _manager(emergency_enabled=False)

    decision = manager.check_account(_snapshot("8000"))

    assert decision.action is ProtectionAction.NONE


def test_check_account_when_loss_and_long_failure_streak_closes_worst_fifth() -> None:
    manager = _manager()
    _fail(manager, 15, NOW_MS - 700_000, 50_000)  # 15 failures spanning 700 s
    losing = [_position(f"C{i}/USDT", str(-10 * i)) for i in range(1, 11)]
    positions = (*losing, _position("W/USDT", "50"))

    decision = manager.check_account(_snapshot("8900", positions=positions))

    assert decision.action is ProtectionAction.CLOSE_WORST
    assert decision.symbols_to_close == (Symbol("C10/USDT"), Symbol("C9/USDT"))
    assert decision.state is TradingState.ACTIVE
    assert decision.reason == (
        "account loss: equity 8,900.00 is 11.0 % below the starting 10,000.00; limit 10 %; "
        "with 15 consecutive order failures over 700 s (limit 15 over 600 s); "
        "closing 2 of 10 losing positions: C10/USDT, C9/USDT"
    )


def test_check_account_when_few_losing_positions_closes_at_least_one() -> None:
    manager = _manager()
    _fail(manager, 15, NOW_MS - 700_000, 50_000)
    positions = (_position("A/USDT", "-5"), _position("B/USDT", "-9"))

    decision = manager.check_account(_snapshot("8900", positions=positions))

    assert decision.symbols_to_close == (Symbol("B/USDT"),)


def test_check_account_close_worst_restarts_the_failure_streak() -> None:
    manager = _manager()
    _fail(manager, 15, NOW_MS - 700_000, 50_000)
    snapshot = _snapshot("8900", positions=(_position("A/USDT", "-5"),))
    manager.check_account(snapshot)

    again = manager.check_account(snapshot)

    assert again.action is ProtectionAction.NONE


def test_check_account_when_failures_span_less_than_the_window_does_nothing() -> None:
    manager = _manager()
    _fail(manager, 20, NOW_MS - 100_000, 5_000)  # 20 failures over 95 s

    decision = manager.check_account(_snapshot("8900", positions=(_position("A/USDT", "-5"),)))

    assert decision.action is ProtectionAction.NONE


def test_check_account_when_streak_broken_by_a_success_does_nothing() -> None:
    manager = _manager()
    _fail(manager, 15, NOW_MS - 1_400_000, 50_000)
    manager.record_order_success(NOW_MS - 650_000)
    _fail(manager, 14, NOW_MS - 640_000, 50_000)

    decision = manager.check_account(_snapshot("8900", positions=(_position("A/USDT", "-5"),)))

    assert decision.action is ProtectionAction.NONE


def test_check_account_when_failure_streak_but_no_account_loss_does_nothing() -> None:
    manager = _manager()
    _fail(manager, 30, NOW_MS - 1_000_000, 30_000)

    decision = manager.check_account(_snapshot("9500", positions=(_position("A/USDT", "-5"),)))

    assert decision.action is ProtectionAction.NONE


def test_check_account_when_exchange_silent_past_timeout_halts_for_stall() -> None:
    manager = _manager()
    manager.record_exchange_ok(NOW_MS)

    decision = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 10 * _MIN))

    assert decision.action is ProtectionAction.STALL_HALT
    assert decision.state is TradingState.HALTED
    assert manager.trading_state is TradingState.HALTED
    assert decision.reason == "stall: no successful exchange interaction for 600 s; limit 600 s"


def test_check_account_when_exchange_silent_below_timeout_does_nothing() -> None:
    manager = _manager()
    manager.record_exchange_ok(NOW_MS)

    decision = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 9 * _MIN))

    assert decision.action is ProtectionAction.NONE


def test_check_account_stall_is_measured_from_the_first_check_when_no_ok_recorded() -> None:
    manager = _manager()
    first = manager.check_account(_snapshot("10000", now_ms=NOW_MS))

    later = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 10 * _MIN))

    assert first.action is ProtectionAction.NONE
    assert later.action is ProtectionAction.STALL_HALT


def test_stall_reported_once_then_halted_until_exchange_answers_and_previous_state_returns() -> None:
    manager = _manager()
    manager.set_trading_state(TradingState.REDUCING, "operator")
    manager.record_exchange_ok(NOW_MS)
    manager.check_account(_snapshot("10000", now_ms=NOW_MS + 11 * _MIN))

    still = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 12 * _MIN))
    halted_meanwhile = manager.trading_state
    manager.record_exchange_ok(NOW_MS + 13 * _MIN)
    after = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 14 * _MIN))

    assert still.action is ProtectionAction.NONE
    assert still.state is TradingState.HALTED
    assert halted_meanwhile is TradingState.HALTED
    assert manager.trading_state is TradingState.REDUCING
    assert after.action is ProtectionAction.NONE


def test_emergency_during_stall_stays_halted_after_the_exchange_answers() -> None:
    manager = _manager()
    manager.record_exchange_ok(NOW_MS)
    manager.check_account(_snapshot("10000", now_ms=NOW_MS + 11 * _MIN))
    manager.check_account(_snapshot("8000", now_ms=NOW_MS + 12 * _MIN))

    manager.record_exchange_ok(NOW_MS + 13 * _MIN)

    assert manager.trading_state is TradingState.HALTED


def test_check_account_when_stall_switched_off_never_halts() -> None:
    manager = _manager(stall_enabled=False)
    manager.record_exchange_ok(NOW_MS)

    decision = manager.check_account(_snapshot("10000", now_ms=NOW_MS + 60 * _MIN))

    assert decision.action is ProtectionAction.NONE


def test_check_account_when_starting_equity_zero_skips_loss_rules() -> None:
    manager = _manager()
    snapshot = AccountSnapshot(now_ms=NOW_MS, equity=Decimal(0), starting_equity=Decimal(0))

    decision = manager.check_account(snapshot)

    assert decision.action is ProtectionAction.NONE
