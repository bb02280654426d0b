"""``BarParams.bar_timeframe``: one timeframe parser for bar data, bar feeds and strategies, with a sane bound."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from strategies.bar_strategy import BarParams
from trading_bot.domain.timeframe import timeframe_ms


@pytest.mark.parametrize("text", ["0m", "7x", "m", "", "1.5h"])
def test_a_timeframe_that_is_not_a_number_and_a_unit_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="expected a number and a unit"):
        BarParams(bar_timeframe=text)


def test_a_timeframe_beyond_four_weeks_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most 4w"):
        BarParams(bar_timeframe="99999999999d")
    assert BarParams(bar_timeframe="4w").bar_timeframe == "4w"


def test_timeframes_in_milliseconds() -> None:
    assert [timeframe_ms(t) for t in ("1s", "5m", "4h", "1d", "1w")] == [1_000, 300_000, 14_400_000, 86_400_000,
                                                                         604_800_000]  # fmt: skip
