"""The alerts' rules without sockets: what becomes an alert, denial bursts, dedup, the token bucket, the config."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from trading_bot.alerts import alert_services
from trading_bot.alerts.events import DenialBurst
from trading_bot.alerts.events import alert_from_log
from trading_bot.alerts.events import alert_from_order
from trading_bot.alerts.outbox import Dedup
from trading_bot.alerts.outbox import TokenBucket
from trading_bot.alerts.sender import summary_text
from trading_bot.config import load_config
from trading_bot.config.alerts import AlertKind
from trading_bot.config.alerts import AlertsSection
from trading_bot.domain import OrderSide
from trading_bot.domain.events import OrderDenied
from trading_bot.domain.events import OrderRejected
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.ids import Symbol
from trading_bot.errors import ConfigError
from trading_bot.log import add_event_tap
from trading_bot.log import clear_registered_secrets
from trading_bot.log import configure_logging
from trading_bot.log import get_logger
from trading_bot.log import register_secret
from trading_bot.log import reset_logging

D = Decimal
_log = get_logger("tests.alerts.rules")


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    clear_registered_secrets()
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("level", "event", "kind"),
    [
        ("error", "account_protection", AlertKind.PROTECTION),
        ("error", "daily_loss_limit", AlertKind.PROTECTION),
        ("warning", "operator_action", AlertKind.HALT_RESUME),
        ("error", "bot_halted", AlertKind.HALT_RESUME),
        ("warning", "market_stream_reconnect", AlertKind.VENUE),
        ("warning", "user_stream_reconnect", AlertKind.VENUE),
        ("error", "authentication_failed", AlertKind.VENUE),
        ("error", "venue_halted", AlertKind.VENUE),
        ("error", "internal_error", AlertKind.ERROR),
        ("error", "service_failed", AlertKind.ERROR),
        ("error", "journal_write_failed", AlertKind.ERROR),  # any error-level event
    ],
)
def test_log_events_map_to_their_alert_kind(level: str, event: str, kind: AlertKind) -> None:
    alert = alert_from_log(level, {"event": event, "reason": "x"}, 1)
    assert alert is not None
    assert alert.kind is kind
    assert alert.text == f"{event}: reason=x"


def test_routine_events_and_the_alerts_own_events_make_no_alert() -> None:
    assert alert_from_log("info", {"event": "bot_started"}, 1) is None
    assert alert_from_log("warning", {"event": "order_denied"}, 1) is None  # denials count as bursts
    assert alert_from_log("warning", {"event": "alert_delivery_failed"}, 1) is None
    assert alert_from_log("error", {"event": "alert_something"}, 1) is None
    flagged = alert_from_log("warning", {"event": "grid_halted", "alert": True}, 1)
    assert flagged is not None
    assert flagged.kind is AlertKind.ERROR


def test_reconnect_attempts_of_one_outage_make_the_same_text_so_dedup_sends_one() -> None:
    first = alert_from_log("warning", {"event": "market_stream_reconnect", "stream": "quotes", "attempt": 1,
                                       "delay_s": 0.5, "timestamp": "a"}, 1)  # fmt: skip
    later = alert_from_log("warning", {"event": "market_stream_reconnect", "stream": "quotes", "attempt": 7,
                                       "delay_s": 30, "timestamp": "b"}, 2)  # fmt: skip
    assert first is not None
    assert later is not None
    assert first.text == later.text == "market_stream_reconnect: stream=quotes"


def _denied(ts: int, rule: str = "max_order_notional") -> OrderDenied:
    return OrderDenied(client_order_id=ClientOrderId("t1-1"), symbol=Symbol("BTC/USDT"), side=OrderSide.BUY,
                       ts_ms=ts, rule=rule, reason="too big")  # fmt: skip


def test_a_denial_burst_is_n_denials_within_the_window_and_starts_over_after_it() -> None:
    burst = DenialBurst(3, 60)
    assert burst.observe(_denied(0)) is None
    assert burst.observe(_denied(61_000)) is None  # the first left the window
    assert burst.observe(_denied(62_000, "price_band")) is None
    alert = burst.observe(_denied(63_000))
    assert alert is not None
    assert alert.kind is AlertKind.DENIAL_BURST
    assert "3 orders denied" in alert.text
    assert "max_order_notional, price_band" in alert.text
    assert burst.observe(_denied(64_000)) is None  # counting starts over


def test_a_post_only_crossing_is_not_a_rejection_alert() -> None:
    def rejected(post_only: bool) -> OrderRejected:
        return OrderRejected(client_order_id=ClientOrderId("t1-2"), symbol=Symbol("BTC/USDT"), side=OrderSide.SELL,
                             ts_ms=5, reason="would cross", post_only=post_only)  # fmt: skip

    assert alert_from_order(rejected(True)) is None
    alert = alert_from_order(rejected(False))
    assert alert is not None
    assert alert.kind is AlertKind.REJECTION


def test_dedup_remembers_a_key_for_its_window_only() -> None:
    now = [0.0]
    dedup = Dedup(10, now=lambda: now[0])
    assert dedup.first("a")
    assert not dedup.first("a")
    now[0] = 10.5
    assert dedup.first("a")
    assert Dedup(0).first("a")
    assert Dedup(0).first("a")


def test_the_token_bucket_gives_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(60, 2, now=lambda: now[0])
    assert bucket.wait_s() == 0
    assert bucket.wait_s() == 0
    assert bucket.wait_s() == pytest.approx(1.0)
    now[0] = 1.0
    assert bucket.wait_s() == 0


def test_the_daily_summary_names_the_day_and_each_instrument() -> None:
    one = {"trading_state": "active", "fills": 3, "net_pnl": "1.5", "equity": "10001.5", "symbol": "BTC/USDT",
           "position": "0.001", "fees": "0.1", "open_orders": {"open": 2}}  # fmt: skip
    text = summary_text(one, "2026-12-02")
    assert text.splitlines()[0].startswith("daily summary 2026-12-02 (UTC): state active, fills 3, net PnL 1.5")
    assert "BTC/USDT: position 0.001, net PnL 1.5, fees 0.1, open orders 2" in text
    many = {"instruments": {"a:BTC/USDT": {"position": "1", "open_orders": {}}, "b:ETH/USDT": {"position": "2"}}}
    assert len(summary_text(many, "2026-12-02").splitlines()) == 3


def test_the_log_tap_sees_redacted_events_survives_reconfiguration_and_cannot_break_logging() -> None:
    seen: list[tuple[str, dict[str, object]]] = []

    def tap(level: str, event: dict[str, object]) -> None:
        seen.append((level, event))
        _log.error("logged_inside_a_tap")  # not fed back to the taps

    def broken(level: str, event: dict[str, object]) -> None:
        raise RuntimeError("a broken tap")

    out = io.StringIO()
    configure_logging("info", "json", out)
    remove = add_event_tap(tap)
    remove_broken = add_event_tap(broken)
    try:
        register_secret("SUPERSECRETVALUE")
        _log.info("hello", detail="key SUPERSECRETVALUE", api_key="x")
        configure_logging("warning", "json", out)
        _log.info("filtered_out")
        _log.warning("after_reconfigure")
    finally:
        remove()
        remove_broken()
        clear_registered_secrets()
    _log.warning("after_remove")
    assert [(lvl, e["event"]) for lvl, e in seen] == [("info", "hello"), ("warning", "after_reconfigure")]
    assert seen[0][1]["detail"] == "key **********"
    assert seen[0][1]["api_key"] == "**********"
    assert "hello" in out.getvalue()
    assert "logged_inside_a_tap" in out.getvalue()


def _config_file(tmp_path: Path, channel: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"alerts": {"channels": {"ops": channel}}}), encoding="utf-8")
    return path


@pytest.mark.parametrize("field", ["token", "webhook_url", "password"])
def test_a_channel_secret_in_the_config_file_is_refused_naming_the_variable(tmp_path: Path, field: str) -> None:
    path = _config_file(tmp_path, {"type": "webhook", field: "s3cr3t-value"})
    variable = f"TRADING_BOT__ALERTS__CHANNELS__OPS__{field.upper()}"
    with pytest.raises(ConfigError, match=f"alerts.channels.ops.{field}: secrets are not read from the config file; "
                                          f"set {variable}"):  # fmt: skip
        load_config(path, env={}, dotenv=None)


def test_channel_secrets_come_from_the_environment_or_credential_files_and_are_never_shown(tmp_path: Path) -> None:
    path = _config_file(tmp_path, {"type": "telegram", "chat_id": -1001})
    with pytest.raises(ConfigError, match="needs the bot token: set TRADING_BOT__ALERTS__CHANNELS__OPS__TOKEN"):
        load_config(path, env={}, dotenv=None)
    config = load_config(path, env={"TRADING_BOT__ALERTS__CHANNELS__OPS__TOKEN": "123:from-env"}, dotenv=None)
    assert config.alerts.channels["ops"].chat_id == "-1001"
    assert "123:from-env" in config.secret_values()
    assert "123:from-env" not in json.dumps(config.redacted())
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "alerts_ops_token").write_text("456:from-file\n", encoding="utf-8")
    config = load_config(path, env={"CREDENTIALS_DIRECTORY": str(credentials)}, dotenv=None)
    assert config.alerts.channels["ops"].token is not None
    assert config.alerts.channels["ops"].token.get_secret_value() == "456:from-file"


def test_a_webhook_url_registers_its_path_too_and_email_needs_its_addresses() -> None:
    section = AlertsSection.model_validate(
        {"channels": {"d": {"type": "discord", "webhook_url": "https://discord.test/api/webhooks/1/abcdefghijklmnopqrstuvwxyz"}}}
    )
    assert section.secret_values() == [
        "https://discord.test/api/webhooks/1/abcdefghijklmnopqrstuvwxyz",
        "/api/webhooks/1/abcdefghijklmnopqrstuvwxyz",
        "abcdefghijklmnopqrstuvwxyz",
    ]
    with pytest.raises(ValueError, match="needs the SMTP server"):
        AlertsSection.model_validate({"channels": {"m": {"type": "email", "mail_to": ["a@b.c"]}}})
    with pytest.raises(ValueError, match="channel name 'Ops'"):
        AlertsSection.model_validate({"channels": {"Ops": {"type": "slack", "webhook_url": "http://x/y"}}})


def test_alert_services_are_none_without_channels_and_add_a_control_per_controlled_telegram_channel() -> None:
    assert alert_services(AlertsSection(), "t1") == []
    section = AlertsSection.model_validate({"channels": {
        "tg": {"type": "telegram", "chat_id": "1", "token": "1:abcd", "control_chat_ids": ["1"]},
        "hook": {"type": "webhook", "webhook_url": "http://127.0.0.1/x"},
    }})  # fmt: skip
    assert len(alert_services(section, "t1")) == 2
    assert alert_services(section.model_copy(update={"enabled": False}), "t1") == []
    clear_registered_secrets()


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "telegram", "chat_id": "   ", "token": "1:abc"}, "needs the chat id"),
        ({"type": "telegram", "chat_id": "5", "token": "1:abc", "control_chat_ids": ["", " "]}, "a chat id is empty"),
    ],
)
def test_a_blank_telegram_chat_id_is_refused_not_sent_to(channel: dict[str, object], message: str) -> None:
    """Rule: a chat id of spaces is no chat id (it was accepted and every send or command check would fail)."""
    with pytest.raises(ValueError, match=message):  # pydantic's ValidationError is a ValueError
        AlertsSection.model_validate({"channels": {"tg": channel}})
