"""Alerts and Telegram control over real sockets: a fake Bot API, a webhook receiver, aiosmtpd, dead endpoints."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.integration.conftest import QUOTES
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.kit.alert_standins import FakeTelegram
from tests.kit.alert_standins import SilentServer
from tests.kit.alert_standins import SmtpServer
from tests.kit.alert_standins import WebhookReceiver
from tests.kit.alert_standins import refused_port
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import quote
from trading_bot.alerts import AlertService
from trading_bot.alerts import TelegramControl
from trading_bot.alerts import alert_services
from trading_bot.alerts.events import Alert
from trading_bot.config.alerts import AlertChannel
from trading_bot.config.alerts import AlertKind
from trading_bot.config.alerts import AlertsSection
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import TradingState
from trading_bot.log import clear_registered_secrets
from trading_bot.log import configure_logging
from trading_bot.log import get_logger
from trading_bot.log import reset_logging
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.supervisor import TradingBot

D = Decimal
TOKEN = "123456:TGSECRETtokenXYZ"
HOOK_TOKEN = "WEBHOOKSECRET0123456789"
SMTP_PASSWORD = "SMTPpassSECRET42"
SECRETS = (TOKEN, HOOK_TOKEN, SMTP_PASSWORD)
ALLOWED_CHAT = 4242
STRANGER_CHAT = 666

_log = get_logger("tests.alerts")


class LiveSource(ListSource):
    """Quotes every few milliseconds until the bot stops (a live feed on the simulated clock)."""

    def __init__(self, clock: SimulatedClock, pause_s: float = 0.002) -> None:
        super().__init__([quote(1000, "60000", "60001")], clock)
        self.pause_s = pause_s

    async def stream_market_data(self, symbol: Any) -> AsyncIterator[MarketData]:
        ts = 1000
        while True:
            ts += 100
            self.clock.advance_to(ts)
            yield quote(ts, "60000", "60001")
            await asyncio.sleep(self.pause_s)


def _buy_first(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
    if i == 0:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.001"), order_type=OrderType.MARKET))
    return None


def live_bot(
    services: list[Callable[[TradingBot], Awaitable[None]]],
    script: Callable[[int, MarketData, ScriptedStrategy], StrategyResult | None] = _buy_first,
    journal: JournalLink | None = None,
) -> tuple[TradingBot, ScriptedStrategy]:
    clock = SimulatedClock()
    source = LiveSource(clock)
    exchange = PaperExchange(PaperConfig(balances={"USDT": D(10000)}), clock, source, markets=source.markets)
    strategy = ScriptedStrategy(script)
    bot = TradingBot(bot_id="t1", symbol=SYMBOL, exchange=exchange, strategy=strategy,
                     risk=RiskManager(RiskConfig(max_data_age_s=None)), clock=clock, heartbeat_s=0.05,
                     services=services, journal=journal)  # fmt: skip
    return bot, strategy


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds (checked every 10 ms); fail after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def section(channels: dict[str, AlertChannel], **kw: Any) -> AlertsSection:
    kw.setdefault("retry_base_s", 0.01)
    kw.setdefault("retry_max_s", 0.05)
    return AlertsSection(channels=channels, **kw)


def telegram(fake: FakeTelegram, **kw: Any) -> AlertChannel:
    return AlertChannel(type="telegram", api_url=fake.url, token=TOKEN, chat_id=str(ALLOWED_CHAT), **kw)


def hook(kind: str, url: str, **kw: Any) -> AlertChannel:
    return AlertChannel(type=kind, webhook_url=url, **kw)  # type: ignore[arg-type]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON, in one buffer; secrets forgotten afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("debug", "json", buffer)
    yield buffer
    clear_registered_secrets()
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer("bot", SMTP_PASSWORD)
    server.start()
    yield server
    server.stop()


async def _running(service: AlertService, bot: TradingBot) -> asyncio.Task[None]:
    task = asyncio.create_task(service.run(bot))
    await until(lambda: bool(service.outlets))
    return task


async def _stop(task: asyncio.Task[None], service: AlertService | None = None) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if service is not None and service.closed is not None:
        service.closed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await service.closed


@pytest.mark.asyncio
async def test_a_fill_of_a_running_bot_reaches_telegram_discord_slack_webhook_and_smtp(
    log_lines: io.StringIO, fake_telegram: FakeTelegram, receiver: WebhookReceiver, smtp: SmtpServer
) -> None:
    channels = {
        "tg": telegram(fake_telegram),
        "disc": hook("discord", receiver.hook("d" + HOOK_TOKEN)),
        "sl": hook("slack", receiver.hook("s" + HOOK_TOKEN)),
        "wh": hook("webhook", receiver.hook("w" + HOOK_TOKEN)),
        "mail": AlertChannel(type="email", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
                             smtp_user="bot", password=SMTP_PASSWORD, mail_from="bot@example.test",
                             mail_to=["ops@example.test"]),
    }
    service = AlertService(section(channels), "t1")
    bot, _ = live_bot([service.run])
    run = asyncio.create_task(bot.run())

    def fill_everywhere() -> bool:
        texts = [b.get("content") or b.get("text") for b in receiver.bodies]
        return (any("fill BTC/USDT buy" in t for t in fake_telegram.texts())
                and sum("fill BTC/USDT buy" in str(t) for t in texts) >= 3
                and any(b.get("kind") == "fill" for b in receiver.bodies)
                and any("fill BTC/USDT buy" in m for m in smtp.box.messages))  # fmt: skip

    await until(fill_everywhere)
    bot.request_stop("test over")
    assert (await run).exit_code == 0
    webhook_body = next(b for b in receiver.bodies if b.get("kind") == "fill")
    assert webhook_body["level"] == "info"
    assert webhook_body["bot_id"] == "t1"
    assert "content" in next(b for b in receiver.bodies if "content" in b)  # discord's shape
    assert smtp.box.logins == ["bot"]
    assert "Subject: [t1] info fill" in smtp.box.messages[0]
    assert fake_telegram.sent[0]["chat_id"] == str(ALLOWED_CHAT)
    assert all(o.failed == 0 for o in service.outlets.values())


@pytest.mark.asyncio
async def test_a_500_is_retried_with_backoff_and_then_delivered_once(log_lines: io.StringIO) -> None:
    server = WebhookReceiver(fail_first=2)
    await server.start()
    service = AlertService(section({"wh": hook("webhook", server.hook(HOOK_TOKEN))}), "t1")
    bot, _ = live_bot([])
    task = await _running(service, bot)
    service.push(Alert(AlertKind.ERROR, "error", "disk full", 1))
    await until(lambda: len(server.bodies) == 1)
    await _stop(task, service)
    await server.stop()
    assert server.attempts == 3
    assert service.outlets["wh"].retried == 2
    assert service.outlets["wh"].sent == 1


@pytest.mark.asyncio
async def test_a_4xx_is_given_up_at_once_and_logged_without_the_token(
    log_lines: io.StringIO, fake_telegram: FakeTelegram
) -> None:
    wrong = AlertChannel(type="telegram", api_url=fake_telegram.url, token=TOKEN + "x", chat_id="1")
    service = AlertService(section({"tg": wrong}), "t1")
    bot, _ = live_bot([])
    task = await _running(service, bot)
    service.push(Alert(AlertKind.ERROR, "error", "boom", 1))
    await until(lambda: service.outlets["tg"].failed == 1)
    await _stop(task, service)
    assert len(fake_telegram.requests) == 1  # not retried: a refused token stays refused
    failed = [json.loads(line) for line in log_lines.getvalue().splitlines() if "alert_delivery_failed" in line]
    assert failed
    assert "HTTP 401" in failed[0]["error"]
    assert TOKEN not in log_lines.getvalue()


@pytest.mark.asyncio
async def test_the_same_alert_is_sent_once_per_dedup_window_and_the_rate_limit_holds_the_rest(
    log_lines: io.StringIO, receiver: WebhookReceiver
) -> None:
    channel = hook("webhook", receiver.hook(HOOK_TOKEN), rate_per_minute=60, burst=2)
    service = AlertService(section({"wh": channel}), "t1")
    bot, _ = live_bot([])
    task = await _running(service, bot)
    for _ in range(3):
        service.push(Alert(AlertKind.VENUE, "warning", "market_stream_reconnect: stream=quotes", 1))
    for i in range(3):
        service.push(Alert(AlertKind.ERROR, "error", f"distinct {i}", 1))
    await until(lambda: len(receiver.bodies) == 2)
    await asyncio.sleep(0.3)
    assert len(receiver.bodies) == 2  # burst 2, then one a second
    await until(lambda: len(receiver.bodies) == 3, timeout_s=3)
    await _stop(task, service)
    texts = [b["text"] for b in receiver.bodies]
    assert sum("market_stream_reconnect" in t for t in texts) == 1
    assert service._dedup.suppressed == 2


@pytest.mark.asyncio
async def test_channels_get_only_their_kinds_and_levels(log_lines: io.StringIO, receiver: WebhookReceiver) -> None:
    channels = {
        "errors": hook("webhook", receiver.hook("e" + HOOK_TOKEN), events=[AlertKind.ERROR]),
        "loud": hook("webhook", receiver.hook("l" + HOOK_TOKEN), min_level="warning"),
    }
    service = AlertService(section(channels), "t1")
    bot, _ = live_bot([])
    task = await _running(service, bot)
    service.push(Alert(AlertKind.FILL, "info", "a fill", 1))
    service.push(Alert(AlertKind.VENUE, "warning", "a reconnect", 1))
    service.push(Alert(AlertKind.ERROR, "error", "an error", 1))
    await until(lambda: len(receiver.bodies) == 3)
    await asyncio.sleep(0.1)
    await _stop(task, service)
    by_path = sorted((r.split("/")[-1][0], b["text"].split(": ", 1)[1]) for r, b in
                     zip(receiver.requests, receiver.bodies, strict=True))  # fmt: skip
    assert by_path == [("e", "an error"), ("l", "a reconnect"), ("l", "an error")]


@pytest.mark.asyncio
async def test_a_dead_endpoint_neither_blocks_the_trading_loop_nor_the_other_channels(
    log_lines: io.StringIO, receiver: WebhookReceiver
) -> None:
    silent = SilentServer()
    await silent.start()
    channels = {
        "hung": hook("webhook", f"http://127.0.0.1:{silent.port}/hook/{HOOK_TOKEN}", timeout_s=30),
        "refused": hook("slack", f"http://127.0.0.1:{refused_port()}/hook/{HOOK_TOKEN}"),
        "good": hook("webhook", receiver.hook(HOOK_TOKEN)),
    }
    service = AlertService(section(channels, retry_attempts=100, dedup_window_s=0), "t1")

    def error_every_pass(i: int, md: MarketData, s: ScriptedStrategy) -> None:
        _log.error("strategy_trouble", n=i)  # an error alert on every market event: far more than any channel takes
        return None

    bot, strategy = live_bot([service.run], error_every_pass)
    run = asyncio.create_task(bot.run())
    await until(lambda: silent.connections >= 1 and len(receiver.bodies) >= 3)
    events_then = bot.events
    await until(lambda: bot.events >= events_then + 300)  # the loop runs on while the hung request waits
    assert silent.connections == 1  # the first request still hangs: no answer, no second attempt yet
    bot.request_stop("test over")
    result = await asyncio.wait_for(run, 10)
    await silent.stop()
    assert result.exit_code == 0
    assert service.outlets["refused"].retried >= 1  # connection refused: retried, never blocking
    assert service.outlets["hung"].sent == 0
    assert strategy.calls >= 300


@pytest.mark.asyncio
async def test_an_error_logged_while_the_bot_stops_still_goes_out_after_the_service_was_cancelled(
    log_lines: io.StringIO, receiver: WebhookReceiver
) -> None:
    service = AlertService(section({"wh": hook("webhook", receiver.hook(HOOK_TOKEN))}), "t1")
    bot, _ = live_bot([])
    task = await _running(service, bot)
    task.cancel()  # what the supervisor does when trading ends, before it logs why (internal_error, bot_halted)
    with pytest.raises(asyncio.CancelledError):
        await task
    _log.error("internal_error", error="RuntimeError('boom')")
    await until(lambda: len(receiver.bodies) == 1)
    assert "internal_error: error=RuntimeError('boom')" in receiver.bodies[0]["text"]
    assert service.closed is not None
    await asyncio.wait_for(service.closed, 5)  # it ends by itself (LINGER_S), tap removed
    _log.error("internal_error", error="after the linger")
    await asyncio.sleep(0.1)
    assert len(receiver.bodies) == 1


@pytest.mark.asyncio
async def test_a_trading_state_change_and_a_new_utc_day_are_alerted(
    log_lines: io.StringIO, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trading_bot.alerts import sender

    monkeypatch.setattr(sender, "WATCH_INTERVAL_S", 0.02)
    channel = hook("webhook", receiver.hook(HOOK_TOKEN), events=[AlertKind.HALT_RESUME, AlertKind.DAILY_SUMMARY])
    service = AlertService(section({"wh": channel}), "t1")
    bot, _ = live_bot([service.run])
    run = asyncio.create_task(bot.run())
    await until(lambda: bool(bot.slots) and bot.slots[0].portfolio.position.quantity > 0)
    bot.risk.set_trading_state(TradingState.REDUCING, "margin is thin")
    await until(lambda: any(b["kind"] == "halt_resume" for b in receiver.bodies))
    assert "trading state active -> reducing: margin is thin" in receiver.bodies[0]["text"]
    bot.clock.advance_to(86_400_000 + 5)  # type: ignore[attr-defined]  # the simulated clock enters 1970-01-02
    await until(lambda: any(b["kind"] == "daily_summary" for b in receiver.bodies))
    summary = next(b["text"] for b in receiver.bodies if b["kind"] == "daily_summary")
    assert "daily summary 1970-01-01 (UTC)" in summary
    assert "BTC/USDT: position 0.001" in summary
    bot.request_stop("test over")
    await run


@pytest.mark.asyncio
async def test_a_full_queue_drops_the_oldest_counts_them_and_warns_once(log_lines: io.StringIO) -> None:
    service = AlertService(section({"wh": hook("webhook", "http://127.0.0.1:9/x")}, queue_size=3), "t1")
    for i in range(10):
        service.push(Alert(AlertKind.ERROR, "error", f"e{i}", 1))
    assert service.queue.dropped == 7
    waiting = [(await service.queue.get()).text for _ in range(3)]
    assert waiting == ["e7", "e8", "e9"]
    assert log_lines.getvalue().count("alert_queue_full") == 1


@pytest.mark.asyncio
async def test_telegram_halt_from_an_unknown_chat_does_nothing_and_from_the_allowed_chat_halts_and_replies(
    log_lines: io.StringIO, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    channel = telegram(fake_telegram, control_chat_ids=[str(ALLOWED_CHAT)], poll_timeout_s=1, events=[])
    control = TelegramControl("tg", channel)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    bot, _ = live_bot([control.run], lambda *a: None, JournalLink(db_url, "t1", "hash", venue="paper"))
    run = asyncio.create_task(bot.run())
    await until(lambda: len(fake_telegram.offsets) >= 1)

    fake_telegram.say(ALLOWED_CHAT, "/halt", date=int(time.time()) - 3600)  # sent while the bot was down
    fake_telegram.say(STRANGER_CHAT, "/halt")
    fake_telegram.say(STRANGER_CHAT, "/halt again")
    await until(lambda: control.offset >= 1003)
    await asyncio.sleep(0.1)
    assert bot.risk.trading_state is TradingState.ACTIVE
    assert fake_telegram.sent == []  # no answer to a stranger
    assert log_lines.getvalue().count("telegram_command_ignored") == 1
    assert log_lines.getvalue().count("telegram_command_stale") == 1

    fake_telegram.say(ALLOWED_CHAT, "/halt going to lunch")
    await until(lambda: len(fake_telegram.sent) == 1)
    assert bot.risk.trading_state is TradingState.HALTED
    assert fake_telegram.sent[0]["text"] == "halt done: trading state halted (trading state halted)"
    actions = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"operator_action"' in line]
    assert [(a["action"], a["who"], a["reason"]) for a in actions] == [
        ("halt", f"telegram:{ALLOWED_CHAT}", "going to lunch")
    ]

    fake_telegram.say(ALLOWED_CHAT, "/status")
    fake_telegram.say(ALLOWED_CHAT, "/resume")
    await until(lambda: len(fake_telegram.sent) == 3)
    assert "trading state halted" in fake_telegram.sent[1]["text"]
    assert bot.risk.trading_state is TradingState.ACTIVE
    bot.request_stop("test over")
    assert (await run).exit_code == 0
    assert TOKEN not in log_lines.getvalue()
    journal = await Journal.open(db_url)
    try:  # the audit log: the allowed chat's halt and resume, nothing from the stranger
        journaled = [(a.action, a.who) for a in await journal.operator_actions(bot_id="t1")]
    finally:
        await journal.close()
    assert journaled == [("halt", f"telegram:{ALLOWED_CHAT}"), ("resume", f"telegram:{ALLOWED_CHAT}")]


@pytest.mark.asyncio
async def test_telegram_flatten_needs_a_confirmation_and_then_closes_the_position(
    log_lines: io.StringIO, fake_telegram: FakeTelegram
) -> None:
    channel = telegram(fake_telegram, control_chat_ids=[str(ALLOWED_CHAT)], poll_timeout_s=1)
    control = TelegramControl("tg", channel)
    bot, _ = live_bot([control.run])
    run = asyncio.create_task(bot.run())
    await until(lambda: bool(bot.slots) and bot.slots[0].portfolio.position.quantity == D("0.001"))

    fake_telegram.say(ALLOWED_CHAT, "/positions")
    fake_telegram.say(ALLOWED_CHAT, "/flatten confirm")  # nothing asked yet: refused
    fake_telegram.say(ALLOWED_CHAT, "/flatten")
    await until(lambda: len(fake_telegram.sent) == 3)
    assert "paper:BTC/USDT: 0.001" in fake_telegram.sent[0]["text"]
    assert "nothing to confirm" in fake_telegram.sent[1]["text"]
    assert "/flatten confirm within 60 s" in fake_telegram.sent[2]["text"]
    assert bot.slots[0].portfolio.position.quantity == D("0.001")

    fake_telegram.say(ALLOWED_CHAT, "/flatten confirm")
    await until(lambda: len(fake_telegram.sent) == 4)
    assert "flatten done" in fake_telegram.sent[3]["text"]
    await until(lambda: bot.slots[0].portfolio.position.quantity == 0)
    fake_telegram.say(ALLOWED_CHAT, "/pnl")
    fake_telegram.say(ALLOWED_CHAT, "/orders")
    await until(lambda: len(fake_telegram.sent) == 6)
    assert "total net PnL" in fake_telegram.sent[4]["text"]
    assert fake_telegram.sent[5]["text"] == "no open orders"
    bot.request_stop("test over")
    assert (await run).exit_code == 0


@pytest.mark.asyncio
async def test_no_secret_reaches_a_log_line_or_an_alert_text(
    log_lines: io.StringIO, fake_telegram: FakeTelegram, receiver: WebhookReceiver, smtp: SmtpServer
) -> None:
    channels = {
        "tg": telegram(fake_telegram),
        "wh": hook("webhook", receiver.hook(HOOK_TOKEN)),
        "dead": hook("discord", f"http://127.0.0.1:{refused_port()}/hook/{HOOK_TOKEN}"),
        "badmail": AlertChannel(type="email", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
                                smtp_user="intruder", password=SMTP_PASSWORD, mail_from="a@b.test",
                                mail_to=["c@d.test"]),
    }
    services = alert_services(section(channels, retry_attempts=2), "t1")
    bot, _ = live_bot(services, lambda *a: None)
    run = asyncio.create_task(bot.run())
    await asyncio.sleep(0.2)
    # an error whose text echoes every secret: the alert and the log line must show none of them
    _log.error("venue_said", detail=f"token {TOKEN} url {receiver.hook(HOOK_TOKEN)} pw {SMTP_PASSWORD}")
    await until(lambda: len(receiver.bodies) >= 1 and len(fake_telegram.sent) >= 1)
    await until(lambda: log_lines.getvalue().count("alert_delivery_failed") >= 2)
    bot.request_stop("test over")
    await run
    texts = [m["text"] for m in fake_telegram.sent] + [b["text"] for b in receiver.bodies]
    assert any("venue_said" in t and "**********" in t for t in texts)
    for secret in SECRETS:
        assert secret not in log_lines.getvalue()
        assert all(secret not in t for t in texts)
        assert all(secret not in m for m in smtp.box.messages)


@pytest.mark.asyncio
async def test_runbot_replay_sends_fill_alerts_to_a_webhook_from_the_environment_and_logs_no_secret(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = tmp_path / "alerts.json"
    config.write_text(json.dumps({"alerts": {"channels": {"wh": {"type": "webhook", "events": ["fill"], "burst": 3}}}}))
    env = cli_env(TRADING_BOT__ALERTS__CHANNELS__WH__WEBHOOK_URL=receiver.hook(HOOK_TOKEN))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--strategy", "sma_cross",
        "--exchange", "binance", "--replay", str(QUOTES), "--fast", "3", "--slow", "8", "--bar-seconds", "5",
        "--quantity", "0.01", "--json", "--log-level", "info", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert json.loads(stdout)["fills"] >= 3
    assert len(receiver.bodies) == 3  # the burst; the rest held by the rate limit (20 a minute)
    assert all(b["kind"] == "fill" and b["text"].startswith("[tb1] INFO fill: fill BTC/USDT") for b in receiver.bodies)
    assert HOOK_TOKEN not in stderr.decode()
