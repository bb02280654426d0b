"""Exit barriers attached to an entry (``strategies.lib.exits``): the rules of its module docstring."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from strategies.bar_strategy import BarParams
from strategies.lib.exits import ExitPlan
from strategies.lib.exits import ExitWatch
from tests.kit.pipeline import quote
from trading_bot.domain import MarketData

D = Decimal
ENTRY = D(100)
QTY = D(2)


def armed(plan: ExitPlan, *, quantity: Decimal = QTY, at: MarketData | None = None) -> ExitWatch:
    """A watch armed at ENTRY: the entry order is over and the position is held."""
    watch = ExitWatch()
    watch.attach(plan, "entry")
    assert watch.check(quantity, ENTRY, False, at or quote(0, "100", "100.1"), 0) is None
    assert watch.entry_price == ENTRY
    return watch


def hit(watch: ExitWatch, bid: str, ask: str, now_ms: int = 1, quantity: Decimal = QTY) -> str | None:
    return watch.check(quantity, ENTRY, False, quote(now_ms, bid, ask), now_ms)


def test_a_long_stop_loss_fires_when_the_bid_reaches_the_stop_and_not_before() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02")))

    assert hit(watch, "98.01", "98.1") is None
    assert hit(watch, "98", "98.1") == "sl"  # at the level: entry × (1 - 0.02) = 98


def test_a_long_take_profit_fires_at_its_level_on_the_bid() -> None:
    watch = armed(ExitPlan(take_profit=D("0.05")))

    assert hit(watch, "104.99", "106") is None  # the ask is past it, the bid (what a sell gets) is not
    assert hit(watch, "105", "105.1") == "tp"


def test_a_trailing_stop_follows_the_highest_bid_since_the_entry() -> None:
    watch = armed(ExitPlan(trailing_stop=D("0.1")))

    assert hit(watch, "120", "120.1") is None  # a new high: the stop moves to 108
    assert hit(watch, "108.01", "108.1") is None
    assert hit(watch, "108", "108.1") == "trail"


def test_a_time_stop_fires_its_duration_after_arming() -> None:
    watch = ExitWatch()
    watch.attach(ExitPlan.of(time_stop="1h"), "entry")
    assert watch.check(QTY, ENTRY, False, quote(1_000, "100", "100.1"), 1_000) is None  # armed at 1 s

    assert hit(watch, "100", "100.1", now_ms=1_000 + 3_600_000 - 1) is None
    assert hit(watch, "100", "100.1", now_ms=1_000 + 3_600_000) == "time"


def test_a_short_mirrors_every_barrier_on_the_ask() -> None:
    plan = ExitPlan(stop_loss=D("0.02"), take_profit=D("0.05"))
    stop, profit = armed(plan, quantity=-QTY), armed(plan, quantity=-QTY)

    assert hit(stop, "101.9", "101.99", quantity=-QTY) is None
    assert hit(stop, "101.9", "102", quantity=-QTY) == "sl"
    assert hit(profit, "94.9", "95", quantity=-QTY) == "tp"


def test_an_event_past_two_barriers_fires_the_stop_loss_first() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02"), trailing_stop=D("0.01")))

    assert hit(watch, "97", "97.1") == "sl"


def test_nothing_fires_while_an_order_is_open_nor_on_a_one_sided_book() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02")))

    assert watch.check(QTY, ENTRY, True, quote(1, "90", "90.1"), 1) is None  # the close (or another) in flight
    assert hit(watch, "0", "90.1") is None  # no bid: no price to sell at
    assert hit(watch, "90", "90.1") == "sl"


def test_the_plan_arms_at_the_average_entry_once_the_entry_is_over_and_drops_if_nothing_filled() -> None:
    waiting, unfilled = ExitWatch(), ExitWatch()
    waiting.attach(ExitPlan(stop_loss=D("0.5")), "entry")
    unfilled.attach(ExitPlan(stop_loss=D("0.5")), "entry")

    assert waiting.check(D(0), D(0), True, quote(0, "100", "100.1"), 0) is None  # the entry is still open
    assert waiting.plan is not None
    assert waiting.entry_price is None
    assert unfilled.check(D(0), D(0), False, quote(0, "100", "100.1"), 0) is None  # it ended: nothing filled
    assert unfilled.plan is None


def test_a_position_closed_by_something_else_ends_the_plan() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02")))

    assert hit(watch, "50", "50.1", quantity=D(0)) is None
    assert watch.plan is None
    assert watch.to_json() == {}


def test_a_snapshot_restores_the_same_barriers_the_high_and_the_arming_time() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02"), trailing_stop=D("0.1"), time_stop_ms=60_000))
    hit(watch, "130", "130.1")  # the high: 130, so the trail is at 117

    restored = ExitWatch()
    restored.restore(watch.to_json())

    assert restored.to_json() == watch.to_json()
    assert hit(restored, "117.01", "117.1") is None
    assert hit(restored, "117", "117.1") == "trail"


@pytest.mark.parametrize(
    "damage",
    [{"plan": "x"}, {"plan": {"stop_loss": "-1"}}, {"plan": {}, "entry_price": "NaN"}, {"entry_tag": "e"},
     {"plan": {"stop_loss": "0.1"}, "entry_price": "-5"}, {"plan": {"stop_loss": "0.1"}, "long": "false"},
     {"plan": {"stop_loss": "0.1"}, "entry_price": "100", "armed_ms": -1}],
)  # fmt: skip
def test_an_unreadable_journaled_plan_is_dropped_with_an_alert_not_a_crash(damage: dict[str, Any]) -> None:
    watch = ExitWatch()

    watch.restore(damage)

    assert watch.plan is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("stop_loss", "0"), ("stop_loss", "1"), ("stop_loss", "NaN"), ("trailing_stop", "-0.1"),
     ("take_profit", "Infinity"), ("take_profit", "11")],
)  # fmt: skip
def test_a_barrier_outside_its_range_is_refused_naming_the_field(field: str, value: str) -> None:
    given: dict[str, Any] = {field: D(value)}
    with pytest.raises(ValueError, match=field):
        ExitPlan(**given)
    with pytest.raises(ValueError, match=field):
        BarParams(**given)


@pytest.mark.parametrize("text", ["0m", "1y", "53w", "soon"])
def test_a_time_stop_that_is_not_a_duration_up_to_a_year_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time_stop"):
        BarParams(time_stop=text)


def test_bar_params_attach_their_barriers_and_none_by_default() -> None:
    assert BarParams().exit_plan().empty
    plan = BarParams(stop_loss=D("0.01"), time_stop="90m").exit_plan()
    assert (plan.stop_loss, plan.time_stop_ms, plan.take_profit) == (D("0.01"), 5_400_000, None)


def test_a_refused_close_is_asked_again_once_a_second_while_the_barrier_holds_and_counted_once() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02")))

    assert hit(watch, "97", "97.1", now_ms=1_000) == "sl"
    assert hit(watch, "96", "96.1", now_ms=1_500) is None  # refused (e.g. below the minimum): not every quote
    assert hit(watch, "96", "96.1", now_ms=2_000) == "sl"  # a second later: asked again

    assert watch.fired["sl"] == 1


def test_a_stop_loss_held_on_the_venue_is_not_watched_by_the_bot_and_the_other_barriers_are() -> None:
    watch = armed(ExitPlan(stop_loss=D("0.02"), take_profit=D("0.05")))

    assert watch.stop_level() == D(98)
    assert watch.check(QTY, ENTRY, False, quote(1, "97", "97.1"), 1, stop_on_venue=True) is None
    assert watch.check(QTY, ENTRY, False, quote(2, "105", "105.1"), 2, stop_on_venue=True) == "tp"
    assert hit(watch, "97", "97.1", now_ms=3) == "sl"  # no stop on the venue: the bot watches it again
