"""Search spaces from the strategies' Params metadata, and the --space/--fix overrides."""

from __future__ import annotations

import re

import pytest

from strategies.grid_params import GridParams
from strategies.sma_cross import SmaCrossParams
from trading_bot.errors import ConfigError
from trading_bot.optimize.space import grid_values
from trading_bot.optimize.space import search_space


def test_sma_cross_ships_ranges_and_the_fast_below_slow_constraint() -> None:
    """Rule: a strategy's fields declare their ranges; a field without one is not searched."""
    space = search_space("sma_cross", SmaCrossParams)
    names = {r.name: r for r in space.ranges}
    assert set(names) == {"fast", "slow"}
    assert names["slow"].step == 5
    assert [str(c) for c in space.constraints] == ["fast < slow"]
    assert space.feasible({"fast": 10, "slow": 10}) is not None
    assert space.feasible({"fast": 9, "slow": 10}) is None


def test_grid_ships_ranges_with_a_log_scale() -> None:
    """Rule: the grid's take-profit and wait time are searched on a log scale, max_orders as an integer."""
    names = {r.name: r for r in search_space("grid", GridParams, fixes=["quantity=0.001"]).ranges}
    assert set(names) == {"take_profit", "max_orders", "wait_time"}
    assert names["take_profit"].log
    assert names["take_profit"].kind == "float"
    assert names["max_orders"].kind == "int"


def test_space_flags_override_and_fix_removes() -> None:
    """Rule: --space replaces a range, --fix holds a field at a value (no longer searched)."""
    space = search_space("sma_cross", SmaCrossParams, spaces=["fast=5:50", "slow=20:200:5"], fixes=["fraction=1"])
    names = {r.name: r for r in space.ranges}
    assert (names["fast"].low, names["fast"].high, names["fast"].step) == (5, 50, 1)
    assert (names["slow"].low, names["slow"].high, names["slow"].step) == (20, 200, 5)
    assert space.fixed == {"fraction": "1"}
    assert grid_values(names["slow"])[:3] == [20, 25, 30]
    fixed = search_space("sma_cross", SmaCrossParams, fixes=["fast=3"])
    assert [r.name for r in fixed.ranges] == ["slow"]


@pytest.mark.parametrize(
    ("spaces", "message"),
    [
        (["fsat=5:50"], "has no parameter 'fsat' (did you mean fast?)"),
        (["fast=50:5"], "empty or inverted range"),
        (["fast=5:5"], "empty or inverted range"),
        (["fast=a:b"], "must be numbers"),
        (["fast=100:200", "slow=20:90"], "no point satisfies the constraint fast < slow"),
    ],
)
def test_bad_spaces_are_one_line_config_errors(spaces: list[str], message: str) -> None:
    """Rule: an unknown parameter, an empty or inverted range, or an unsatisfiable constraint is refused up front."""
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        search_space("sma_cross", SmaCrossParams, spaces=spaces)
    assert "\n" not in str(info.value)
