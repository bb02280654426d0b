"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trading_bot.log import reset_logging


@pytest.fixture(autouse=True)
def _logging_reset_after_each_test() -> Iterator[None]:
    """Start the next test from structlog's defaults, whatever this one configured.

    A test that ran a bot under ``configure_logging`` left each module's ``Logger`` bound to that
    configuration (``structlog.reset_defaults()`` alone does not rebind them), so a later test of the same
    pytest worker saw none of their events in ``capture_logs``: the result depended on how xdist shared
    the tests out (``test_grid_exits``' state-request tests after ``test_alerts``).
    """
    yield
    reset_logging()
