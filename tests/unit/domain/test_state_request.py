"""StateRequest: a strategy may ask to restrict trading, never to resume it."""

import pytest

from trading_bot.domain import StateRequest
from trading_bot.domain import TradingState


def test_state_request_for_active_raises() -> None:
    with pytest.raises(ValueError, match="only restrict"):
        StateRequest(state=TradingState.ACTIVE, reason="resume")


@pytest.mark.parametrize(
    ("requested", "current", "restricts"),
    [
        (TradingState.REDUCING, TradingState.ACTIVE, True),
        (TradingState.HALTED, TradingState.REDUCING, True),
        (TradingState.REDUCING, TradingState.REDUCING, False),
        (TradingState.REDUCING, TradingState.HALTED, False),
    ],
)
def test_state_request_restricts_only_a_less_restrictive_state(
    requested: TradingState, current: TradingState, restricts: bool
) -> None:
    assert StateRequest(state=requested, reason="x").restricts(current) is restricts
