"""The one back-off of the ccxt adapter (``exchanges/ccxt/retry.py``): its bounds and its count."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from exchanges.ccxt.retry import Backoff
from exchanges.ccxt.retry import jitter_s
from trading_bot.errors import TransientExchangeError


@pytest.mark.parametrize(("attempt", "ceiling"), [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (40, 30.0)])
def test_jitter_stays_within_a_ceiling_that_doubles_per_failure_up_to_the_cap(attempt: int, ceiling: float) -> None:
    draws = [jitter_s(attempt, 0.5, 30.0) for _ in range(200)]
    assert all(0.0 <= d <= ceiling for d in draws)
    assert max(draws) > ceiling / 4  # full jitter spans the range, not a constant


@pytest.mark.asyncio
async def test_backoff_counts_failures_in_a_row_logs_each_and_a_success_ends_the_run() -> None:
    backoff = Backoff("market_stream_reconnect", base_s=0.02, cap_s=0.04, symbol="BTC/USDT", stream="quotes")
    assert backoff.succeeded() is False  # healthy: nothing to recover from
    with capture_logs() as logs:
        await backoff.failed(TransientExchangeError("503"))
        await backoff.failed(TransientExchangeError("504"))
    assert [(e["event"], e["attempt"], e["symbol"], e["stream"], e["error"]) for e in logs] == [
        ("market_stream_reconnect", 1, "BTC/USDT", "quotes", "503"),
        ("market_stream_reconnect", 2, "BTC/USDT", "quotes", "504"),
    ]
    assert all(0.01 <= e["delay_s"] <= 0.05 for e in logs)  # never below half the base: no hammering
    assert backoff.succeeded() is True  # this success is a reconnect
    assert backoff.attempt == 0
    assert backoff.succeeded() is False
