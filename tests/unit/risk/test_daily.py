"""The daily loss limit (rule ``daily_loss``): opens refused from the limit to 00:00 UTC, exits always allowed.

Times are on the bot's clock; ``NOW_MS`` is 2024-08-08T00:00:00Z, so ``NOW_MS + DAY_MS`` is the next midnight.
"""

from __future__ import annotations

from risk.config import RiskConfig
from risk.daily import DAY_MS
from risk.daily import DailyLossRule
from risk.daily import DayStart
from risk.daily import utc_day
from risk.manager import Rejected
from risk.manager import RiskManager
from tests.unit.risk._support import NOW_MS
from tests.unit.risk._support import D
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from tests.unit.risk._support import sell

LAST_MS = NOW_MS + DAY_MS - 1  # 2024-08-08T23:59:59.999Z


def _rule_started(equity: str = "10000") -> DailyLossRule:
    rule = DailyLossRule(D("5"))
    rule.begin_day(NOW_MS + 1000, D(equity))
    return rule


def test_utc_day_changes_exactly_at_midnight_utc() -> None:
    assert utc_day(LAST_MS) == utc_day(NOW_MS) == 19943
    assert utc_day(NOW_MS + DAY_MS) == 19944


def test_an_open_below_the_limit_passes() -> None:
    """10,000 at the day's start, 9,501 now: 4.99 % down, limit 5 %."""
    rule = _rule_started()

    assert rule.check(buy(), D("0.001"), ctx(now_ms=NOW_MS + 5000, equity=D("9501"))) is None


def test_an_open_at_the_limit_is_refused_with_the_figures() -> None:
    """10,000 → 9,500 is exactly 5 %: refused."""
    rule = _rule_started()

    reason = rule.check(buy(), D("0.001"), ctx(now_ms=NOW_MS + 5000, equity=D("9500")))

    assert reason == (
        "daily loss: equity 9,500.00 is 5.00 % below 10,000.00 at the start of 2024-08-08 UTC; limit 5 %; "
        "no new opens until 00:00 UTC, exits allowed"
    )


def test_an_exit_passes_while_the_limit_is_in_force() -> None:
    """Long 0.1: a sell of 0.05 reduces it; a sell of 0.2 (a flip to short) is an open and is refused."""
    rule = _rule_started()
    after_loss = ctx(now_ms=NOW_MS + 5000, equity=D("9000"), position_qty=D("0.1"))

    assert rule.check(sell(), D("0.05"), after_loss) is None
    assert rule.check(sell(), D("0.2"), after_loss) is not None
    assert rule.check(buy(), D("0.05"), after_loss) is not None  # growing the long


def test_the_limit_holds_until_the_last_millisecond_of_the_day_and_lifts_at_midnight_utc() -> None:
    rule = _rule_started()

    assert rule.check(buy(), D("0.001"), ctx(now_ms=LAST_MS, equity=D("9000"))) is not None
    assert rule.check(buy(), D("0.001"), ctx(now_ms=NOW_MS + DAY_MS, equity=D("9000"))) is None


def test_the_new_day_measures_from_its_own_starting_equity() -> None:
    """Day 2 starts at 9,000 (the first check of the day begins it): 5 % of 9,000 is 450, so 8,550 refuses."""
    rule = _rule_started()
    midnight = NOW_MS + DAY_MS

    assert rule.check(buy(), D("0.001"), ctx(now_ms=midnight, equity=D("9000"))) is None

    assert rule.start == DayStart(day=utc_day(midnight), equity=D("9000"), ts_ms=midnight)
    assert rule.check(buy(), D("0.001"), ctx(now_ms=midnight + 60_000, equity=D("8551"))) is None
    assert rule.check(buy(), D("0.001"), ctx(now_ms=midnight + 60_000, equity=D("8550"))) is not None


def test_due_is_true_before_the_first_day_and_after_midnight() -> None:
    rule = DailyLossRule(D("5"))
    assert rule.due(NOW_MS)
    rule.begin_day(NOW_MS, D("10000"))
    assert not rule.due(LAST_MS)
    assert rule.due(NOW_MS + DAY_MS)


def test_a_stored_day_start_is_restored_on_the_same_day_and_ignored_on_a_later_one() -> None:
    """The restart rule: the journaled start of today survives; yesterday's does not."""
    stored = DayStart.from_state(DayStart(day=utc_day(NOW_MS), equity=D("10000.5"), ts_ms=NOW_MS).to_state())
    assert stored == DayStart(day=utc_day(NOW_MS), equity=D("10000.5"), ts_ms=NOW_MS)

    today = DailyLossRule(D("5"))
    assert today.restore(stored, NOW_MS + 3_600_000)
    assert today.check(buy(), D("0.001"), ctx(now_ms=NOW_MS + 3_600_000, equity=D("9000"))) is not None

    tomorrow = DailyLossRule(D("5"))
    assert not tomorrow.restore(stored, NOW_MS + DAY_MS)
    assert tomorrow.start is None


def test_a_malformed_stored_day_start_is_ignored() -> None:
    for state in ({}, {"day": "x", "equity": "1", "ts_ms": 0}, {"day": 1, "equity": "abc", "ts_ms": 0},
                  {"day": 1, "equity": "-5", "ts_ms": 0}, {"day": 1, "equity": "NaN", "ts_ms": 0}):  # fmt: skip
        assert DayStart.from_state(state) is None


def test_the_alert_is_given_once_per_day_while_the_limit_is_in_force() -> None:
    rule = _rule_started()

    assert rule.alert(NOW_MS + 2000, D("9600")) is None  # not reached: nothing to say, and not spent
    assert rule.alert(NOW_MS + 3000, D("9400")) is not None
    assert rule.alert(NOW_MS + 4000, D("9300")) is None  # the same day: said once
    midnight = NOW_MS + DAY_MS
    rule.begin_day(midnight, D("9300"))
    assert rule.alert(midnight + 1000, D("8800")) is not None  # a new day, a new breach: said again


def test_the_manager_refuses_with_rule_daily_loss_transient_and_exposes_the_day() -> None:
    manager = RiskManager(RiskConfig(max_daily_loss_pct=D("5"), price_band_pct=None, max_data_age_s=None))
    assert manager.daily_loss_enabled
    assert manager.day_due(NOW_MS)
    assert manager.begin_day(NOW_MS, D("10000")) == DayStart(day=utc_day(NOW_MS), equity=D("10000"), ts_ms=NOW_MS)

    decision = manager.check(buy(), D("0.001"), ctx(now_ms=NOW_MS + 1000, equity=D("9400")))

    assert isinstance(decision, Rejected)
    assert (decision.rule, decision.transient) == ("daily_loss", True)
    assert "6.00 % below 10,000.00" in decision.reason


def test_the_daily_limit_is_off_by_default() -> None:
    manager = RiskManager(RiskConfig())

    assert not manager.daily_loss_enabled
    assert not manager.day_due(NOW_MS)
    assert manager.begin_day(NOW_MS, D("1")) is None
    assert manager.daily_loss_alert(NOW_MS, D("1")) is None
