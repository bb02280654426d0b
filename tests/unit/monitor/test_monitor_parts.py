"""The monitor's small parts: the auth rules, the loop-lag probe, the log-event counts, the settings.

Rules guarded: a wrong token or a forged session is "wrong", none is "missing"; sessions are random, capped
and forgotten at logout; read-only refuses controls; the lag probe sees a blocked loop; reconnect and
rate-limit log events are counted only while installed; no token without read-only is refused (exit 2 line).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram
from pydantic import SecretStr

from trading_bot.config.monitor import MonitorSection
from trading_bot.errors import ConfigError
from trading_bot.log import configure_logging
from trading_bot.log import get_logger
from trading_bot.log import reset_logging
from trading_bot.monitor import monitor_settings
from trading_bot.monitor.auth import MAX_SESSIONS
from trading_bot.monitor.auth import SESSION_COOKIE
from trading_bot.monitor.auth import Auth
from trading_bot.monitor.events import LogEventCounter
from trading_bot.monitor.lag import LoopLagProbe

TOKEN = "unit-monitor-token-0123456789"


def _request(headers: dict[str, str] | None = None, method: str = "GET") -> web.Request:
    return make_mocked_request(method, "/api/v1/status", headers=headers or {})


def test_verdict_is_ok_for_the_token_or_a_live_session_wrong_otherwise_missing_without() -> None:
    auth = Auth(SecretStr(TOKEN), read_only=False)
    assert auth.verdict(_request({"Authorization": f"Bearer {TOKEN}"})) == "ok"
    assert auth.verdict(_request({"Authorization": f"bearer {TOKEN}"})) == "ok"
    assert auth.verdict(_request({"Authorization": f"Bearer {TOKEN}x"})) == "wrong"
    assert auth.verdict(_request({"Authorization": f"Basic {TOKEN}"})) == "wrong"
    assert auth.verdict(_request({"Cookie": f"{SESSION_COOKIE}=forged"})) == "wrong"
    assert auth.verdict(_request()) == "missing"
    session = auth.new_session()
    assert session != auth.new_session()
    assert auth.verdict(_request({"Cookie": f"{SESSION_COOKIE}={session}"})) == "ok"
    auth.end_session(session)
    assert auth.verdict(_request({"Cookie": f"{SESSION_COOKIE}={session}"})) == "wrong"


def test_sessions_are_capped_the_oldest_forgotten_first() -> None:
    auth = Auth(SecretStr(TOKEN), read_only=False)
    first = auth.new_session()
    for _ in range(MAX_SESSIONS):
        auth.new_session()
    assert auth.verdict(_request({"Cookie": f"{SESSION_COOKIE}={first}"})) == "wrong"


def test_check_raises_401_403_and_read_only_refuses_controls_even_with_the_token() -> None:
    auth = Auth(SecretStr(TOKEN), read_only=True)
    good = {"Authorization": f"Bearer {TOKEN}"}
    auth.check(_request(good), control=False)
    with pytest.raises(web.HTTPUnauthorized):
        auth.check(_request(), control=False)
    with pytest.raises(web.HTTPForbidden):
        auth.check(_request(good, "POST"), control=True)
    open_reads = Auth(None, read_only=True)
    open_reads.check(_request(), control=False)
    with pytest.raises(web.HTTPForbidden):
        open_reads.check(_request(good, "POST"), control=True)


def test_no_token_without_read_only_is_refused_naming_the_variable() -> None:
    assert monitor_settings(MonitorSection()) is None  # off
    with pytest.raises(ConfigError, match="TRADING_BOT__MONITOR__TOKEN") as info:
        monitor_settings(MonitorSection(), enabled=True)
    assert "\n" not in str(info.value)
    settings = monitor_settings(MonitorSection(read_only=True), port=9000)
    assert settings is not None
    assert (settings.host, settings.port, settings.token) == ("127.0.0.1", 9000, None)


@pytest.mark.asyncio
async def test_the_lag_probe_measures_a_blocked_loop() -> None:
    histogram = Histogram("lag_test_seconds", "test", registry=CollectorRegistry())
    probe = LoopLagProbe(histogram, interval_s=0.05)
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)
    time.sleep(0.3)
    while probe.samples < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    assert probe.max_s >= 0.2


@pytest.fixture
def _logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(level="info", fmt="json", stream=io.StringIO())
    yield
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("_logging")
def test_reconnect_and_rate_limit_log_events_are_counted_while_installed_only() -> None:
    log = get_logger("exchanges.ccxt.test")
    log.info("market_stream_reconnect")  # bound before the counter is installed
    counter = LogEventCounter()
    counter.install()
    counter.install()  # idempotent
    log.warning("market_stream_reconnect", attempt=1)
    log.warning("user_stream_reconnect", attempt=1)
    log.warning("exchange_rate_limited", action="place")
    log.info("order_submitted")
    counter.uninstall()
    log.warning("exchange_rate_limited", action="place")
    assert counter.total({"market_stream_reconnect", "user_stream_reconnect"}) == 2
    assert counter.total({"exchange_rate_limited"}) == 1

