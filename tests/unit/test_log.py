"""Tests of trading_bot.log: formats, levels and that secrets never reach a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from trading_bot.errors import ConfigError
from trading_bot.log import REDACTED
from trading_bot.log import clear_registered_secrets
from trading_bot.log import configure_logging
from trading_bot.log import is_secret_key
from trading_bot.log import redact_secrets
from trading_bot.log import redact_text
from trading_bot.log import register_secret
from trading_bot.log import reset_logging

API_SECRET = "Zq9-api-secret-77x"
FORMATS = ["json", "console"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    clear_registered_secrets()
    yield
    clear_registered_secrets()
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


def _configured(fmt: str, level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level=level, fmt=fmt, stream=stream)
    register_secret(API_SECRET)
    return stream


# -------------------------------------------------------------------------------------------- formats


def test_json_format_writes_one_object_per_line_with_utc_iso_timestamp_and_level() -> None:
    stream = _configured("json")
    structlog.get_logger().info("order_submitted", client_order_id="tb1-1", quantity=2)
    record = json.loads(stream.getvalue())
    assert record["event"] == "order_submitted"
    assert (record["level"], record["client_order_id"], record["quantity"]) == ("info", "tb1-1", 2)
    assert datetime.fromisoformat(record["timestamp"]).utcoffset() is not None
    assert record["timestamp"].endswith("Z")


def test_auto_format_is_json_when_the_stream_is_not_a_tty() -> None:
    stream = io.StringIO()
    configure_logging(fmt="auto", stream=stream)
    structlog.get_logger().info("bot_started")
    assert json.loads(stream.getvalue())["event"] == "bot_started"


def test_auto_format_is_console_on_a_tty() -> None:
    stream = _Tty()
    configure_logging(fmt="auto", stream=stream)
    structlog.get_logger().info("bot_started", symbol="BTC/USDT")
    line = stream.getvalue()
    assert "bot_started" in line
    assert "BTC/USDT" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_messages_below_the_configured_level_are_dropped() -> None:
    stream = _configured("json", level="warning")
    log = structlog.get_logger()
    log.info("not_written")
    log.warning("written")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["written"]


def test_contextvars_are_added_to_every_line() -> None:
    stream = _configured("json")
    with structlog.contextvars.bound_contextvars(run_id="r-1"):
        structlog.get_logger().info("tick")
    assert json.loads(stream.getvalue())["run_id"] == "r-1"


def test_stdlib_logging_records_are_rendered_by_the_same_pipeline() -> None:
    stream = _configured("json")
    logging.getLogger("ccxt.test").warning("GET /api?signature=%s", API_SECRET)
    record = json.loads(stream.getvalue())
    assert (record["level"], record["logger"]) == ("warning", "ccxt.test")
    assert API_SECRET not in stream.getvalue()


@pytest.mark.parametrize(("level", "fmt"), [("loud", "json"), ("info", "xml")])
def test_unknown_level_or_format_raises_config_error(level: str, fmt: str) -> None:
    with pytest.raises(ConfigError):
        configure_logging(level=level, fmt=fmt, stream=io.StringIO())


# -------------------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("fmt", FORMATS)
def test_registered_secret_never_appears_in_event_text_or_kwargs(fmt: str) -> None:
    stream = _configured(fmt)
    log = structlog.get_logger()
    log.info(f"auth_failed for {API_SECRET}")
    log.info("request_sent", url=f"https://api.example.com/x?key={API_SECRET}&a=1")
    log.info("nested", payload={"outer": {"inner": [f"x{API_SECRET}y"]}})
    output = stream.getvalue()
    assert API_SECRET not in output
    assert output.count(REDACTED) >= 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_named_keys_are_redacted_at_any_depth(fmt: str) -> None:
    stream = _configured(fmt)
    clear_registered_secrets()  # by key name alone, no registration needed
    structlog.get_logger().info(
        "connected",
        api_key="plain-key-123",
        headers={"X-MBX-APIKEY": "plain-key-456", "Accept": "json"},
        params=[{"signature": "plain-sig-789"}],
        apiKey="plain-key-000",
    )
    output = stream.getvalue()
    for value in ("plain-key-123", "plain-key-456", "plain-sig-789", "plain-key-000"):
        assert value not in output
    assert "json" in output


@pytest.mark.parametrize("fmt", FORMATS)
def test_registered_secret_never_appears_in_an_exception_message_or_traceback(fmt: str) -> None:
    stream = _configured(fmt)
    log = structlog.get_logger()
    try:
        raise RuntimeError(f"binance said: invalid key {API_SECRET}")
    except RuntimeError as exc:
        log.exception("exchange_call_failed")
        log.error("exchange_call_failed_again", error=exc)
    output = stream.getvalue()
    assert "RuntimeError" in output
    assert API_SECRET not in output


@pytest.mark.parametrize("fmt", FORMATS)
def test_secretstr_values_are_written_masked(fmt: str) -> None:
    stream = _configured(fmt)
    structlog.get_logger().info("loaded", credential=SecretStr("another-plain-secret"))
    assert "another-plain-secret" not in stream.getvalue()


def test_url_encoded_form_of_a_registered_secret_is_scrubbed() -> None:
    stream = _configured("json")
    register_secret("p@ss/w0rd+x")
    structlog.get_logger().info("request_sent", url="https://x/?p=p%40ss%2Fw0rd%2Bx")
    assert "p%40ss%2Fw0rd%2Bx" not in stream.getvalue()


def test_register_secret_ignores_none_and_very_short_values() -> None:
    register_secret(None)
    register_secret("ab")
    event: dict[str, Any] = {"event": "about_ab"}
    assert redact_secrets(None, "info", event) == {"event": "about_ab"}


def test_redact_secrets_leaves_an_event_without_secrets_unchanged() -> None:
    register_secret(API_SECRET)
    payload = {"a": [1, 2], "b": {"c": "d"}}
    event: dict[str, Any] = {"event": "tick", "price": 1.5, "payload": payload, "flag": True, "none": None}
    result = redact_secrets(None, "info", event)
    assert result == {
        "event": "tick",
        "price": 1.5,
        "payload": {"a": [1, 2], "b": {"c": "d"}},
        "flag": True,
        "none": None,
    }
    assert result["payload"] is payload


def test_redact_secrets_does_not_mutate_nested_containers_of_the_caller() -> None:
    headers = {"Authorization": "Bearer plain-token"}
    event: dict[str, Any] = {"event": "request", "headers": headers}
    redact_secrets(None, "info", event)
    assert event["headers"] == {"Authorization": REDACTED}
    assert headers == {"Authorization": "Bearer plain-token"}


@pytest.mark.parametrize(
    "name",
    [
        "api_key", "apiKey", "secret", "password", "token", "signature", "X-MBX-APIKEY", "AUTH", "x-auth-token",
        "Authorization", "listenKey", "accessKey", "privateKey",
    ],
)  # fmt: skip
def test_is_secret_key_matches_secret_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["event", "symbol", "client_order_id", "price", "level", "keys", "timestamp"])
def test_is_secret_key_leaves_ordinary_names_alone(name: str) -> None:
    assert not is_secret_key(name)


# ------------------------------------------------------------------------------- secrets inside text

SIGNATURE = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.mark.parametrize("fmt", FORMATS)
def test_signed_request_url_logged_by_ccxt_at_debug_level_shows_no_signature(fmt: str) -> None:
    stream = _configured(fmt, level="debug")
    clear_registered_secrets()  # the signature is never registered: it changes with every request
    url = f"https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1723075200000&signature={SIGNATURE}"
    # what ccxt's async fetch() logs, word for word: self.logger.debug("%s %s, Request: %s %s", ...)
    logging.getLogger("ccxt.base.exchange").debug(
        "%s %s, Request: %s %s", "DELETE", url, {"X-MBX-APIKEY": "k3y-v4lue"}, None
    )
    structlog.get_logger().warning("exchange_error", error=f"binance DELETE {url} 503 Service Unavailable")
    output = stream.getvalue()
    assert SIGNATURE not in output
    assert "k3y-v4lue" not in output
    assert output.count("signature=" + REDACTED) == 2
    assert "timestamp=1723075200000" in output  # only the secret part of the URL is masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?apiKey=abc&recvWindow=5000", "GET /x?apiKey=**********&recvWindow=5000"),
        (
            "POST body symbol=BTCUSDT&timestamp=1&signature=ff00",
            "POST body symbol=BTCUSDT&timestamp=1&signature=**********",
        ),
        ("okx sign=abc123 ts=1", "okx sign=********** ts=1"),
        (
            "{'Authorization': 'Bearer xyz', 'User-Agent': 'ccxt'}",
            "{'Authorization': '**********', 'User-Agent': 'ccxt'}",
        ),
        ('{"listenKey": "pqr\\"s", "e": 1}', '{"listenKey": "**********", "e": 1}'),
        (
            "db postgresql+asyncpg://bot:p@ss/w:rd@db:5432/j failed",
            "db postgresql+asyncpg://bot:**********@db:5432/j failed",
        ),
        ("https://host:8443/path?symbol=BTCUSDT", "https://host:8443/path?symbol=BTCUSDT"),
        ("order_placed price=60000 quantity=0.001", "order_placed price=60000 quantity=0.001"),
    ],
)
def test_redact_text_masks_url_passwords_and_secret_named_values(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_named_values_inside_an_exception_traceback_are_masked() -> None:
    stream = _configured("json")
    clear_registered_secrets()
    try:
        raise RuntimeError(f"GET https://x/api?timestamp=1&signature={SIGNATURE}")
    except RuntimeError:
        structlog.get_logger().exception("request_failed")
    assert SIGNATURE not in stream.getvalue()
