"""The ``alerts`` section: where alerts go (Telegram, Discord, Slack, a JSON webhook, email) and which.

Each entry of ``alerts.channels`` is one destination, named by its key (``ops``, ``pager``: lower-case
letters, digits and ``_``, as the variables that carry its secrets are matched without case). Its secrets
— the Telegram bot ``token``, the ``webhook_url`` of a Discord/Slack/JSON webhook (the URL *is* the
credential), the SMTP ``password`` — are read only from the environment, ``.env`` or the credentials
directory, like the exchange keys: ``TRADING_BOT__ALERTS__CHANNELS__OPS__TOKEN`` or the credential file
``alerts_ops_token``. A telegram channel with ``control_chat_ids`` also accepts commands from those chats
(``trading_bot.alerts.control``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator
from pydantic import model_validator

from trading_bot.domain.bounds import Count
from trading_bot.domain.bounds import TimeoutSeconds
from trading_bot.domain.bounds import WindowSeconds

__all__ = [
    "ALERT_SECRET_FIELDS",
    "AlertChannel",
    "AlertKind",
    "AlertsSection",
    "alert_secret_variable",
    "channel_secrets_in",
]

ALERT_SECRET_FIELDS = ("token", "webhook_url", "password")
"""Fields of an alert channel that hold secrets; read only from the environment, .env or credentials."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class AlertKind(StrEnum):
    """What an alert is about (the names a channel's ``events`` lists)."""

    FILL = "fill"
    REJECTION = "rejection"
    DENIAL_BURST = "denial_burst"
    PROTECTION = "protection"
    HALT_RESUME = "halt_resume"
    VENUE = "venue"
    ERROR = "error"
    DAILY_SUMMARY = "daily_summary"


def alert_secret_variable(channel: str, field: str) -> str:
    """Return the variable that carries ``field`` of channel ``channel`` (``TRADING_BOT__ALERTS__CHANNELS__...``)."""
    return f"TRADING_BOT__ALERTS__CHANNELS__{channel.upper()}__{field.upper()}"


class AlertChannel(BaseModel):
    """One destination of alerts; which fields apply depends on ``type``."""

    model_config = _FROZEN

    type: Literal["telegram", "discord", "slack", "webhook", "email"] = Field(description="the kind of destination")
    events: list[AlertKind] = Field(
        default_factory=lambda: list(AlertKind), description="the alert kinds sent here (default: all)"
    )
    min_level: Literal["info", "warning", "error"] = Field(default="info", description="lowest alert level sent")
    rate_per_minute: float = Field(
        default=20.0, gt=0, le=6000, allow_inf_nan=False, description="messages per minute at most (token bucket)"
    )
    burst: Count = Field(default=5, description="messages that may go at once before the rate applies")
    timeout_s: TimeoutSeconds = Field(default=10.0, description="seconds one delivery attempt may take")
    # telegram
    chat_id: str | None = Field(default=None, description="telegram: the chat alerts are sent to")
    api_url: str = Field(default="https://api.telegram.org", description="telegram: the Bot API base URL")
    token: SecretStr | None = Field(default=None, description="telegram: the bot token (environment/credentials only)")
    control_chat_ids: list[str] = Field(
        default_factory=list, description="telegram: chats whose /halt, /status ... commands are obeyed (empty: none)"
    )
    poll_timeout_s: int = Field(default=30, ge=0, le=50, description="telegram: getUpdates long-poll seconds")
    # discord, slack, webhook
    webhook_url: SecretStr | None = Field(
        default=None, description="discord/slack/webhook: the URL posted to (environment/credentials only)"
    )
    # email
    smtp_host: str | None = Field(default=None, description="email: the SMTP server")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="email: the SMTP port")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(default="starttls", description="email: transport security")
    smtp_user: str | None = Field(default=None, description="email: the SMTP login (none: no login)")
    password: SecretStr | None = Field(default=None, description="email: the SMTP password (environment/credentials)")
    mail_from: str | None = Field(default=None, description="email: the sender address")
    mail_to: list[str] = Field(default_factory=list, description="email: the recipients")

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_text(cls, value: object) -> object:
        return _chat(value)

    @field_validator("control_chat_ids", mode="before")
    @classmethod
    def _chat_texts(cls, value: object) -> object:
        if isinstance(value, list):
            chats = [_chat(v) for v in value]
            if any(c is None for c in chats):
                raise ValueError("a chat id is empty; give each chat's numeric id, e.g. 123456789")
            return chats
        return value

    @field_validator("token", "webhook_url", "password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def missing(self) -> list[tuple[str, str]]:
        """Return ``(field, what it is)`` for each field this channel's type needs and lacks."""
        needs: dict[str, list[tuple[str, str]]] = {
            "telegram": [("token", "the bot token"), ("chat_id", "the chat id")],
            "discord": [("webhook_url", "the webhook URL")],
            "slack": [("webhook_url", "the webhook URL")],
            "webhook": [("webhook_url", "the webhook URL")],
            "email": [("smtp_host", "the SMTP server"), ("mail_from", "the sender"), ("mail_to", "a recipient")],
        }
        found = [(name, what) for name, what in needs[self.type] if not getattr(self, name)]
        if self.smtp_user is not None and self.password is None and self.type == "email":
            found.append(("password", "the SMTP password of smtp_user"))
        return found

    def secret_values(self) -> list[str]:
        """Return the plain values of this channel's secrets that are set.

        For ``webhook_url`` also its path and every path segment of 16 characters or more: a Discord or
        Slack URL's token is its path, and a server's access log or an error may show the path alone.
        """
        values = [value.get_secret_value() for name in ALERT_SECRET_FIELDS if (value := getattr(self, name))]
        if self.webhook_url is not None:
            path = urlsplit(self.webhook_url.get_secret_value()).path
            values += [path, *(part for part in path.split("/") if len(part) >= 16)] if len(path) > 1 else []
        return values


class AlertsSection(BaseModel):
    """Alerts: the channels, and how the one sender queues, deduplicates and retries."""

    model_config = _FROZEN

    enabled: bool = Field(default=True, description="send alerts to the channels (false: configured but silent)")
    channels: dict[str, AlertChannel] = Field(
        default_factory=dict, description="destinations by name; secrets from TRADING_BOT__ALERTS__CHANNELS__<NAME>__*"
    )
    queue_size: Count = Field(default=1000, description="alerts waiting at most; the oldest is dropped past it")
    dedup_window_s: WindowSeconds = Field(
        default=300.0, description="seconds within which the same alert (kind and text) is sent once"
    )
    denial_burst: Count = Field(default=5, description="risk denials within denial_window_s that make one alert")
    denial_window_s: WindowSeconds = Field(default=60.0, description="seconds of the denial-burst window")
    retry_attempts: Count = Field(default=5, description="delivery attempts per message and channel")
    retry_base_s: TimeoutSeconds = Field(default=1.0, description="first retry delay; doubles each time (+ jitter)")
    retry_max_s: TimeoutSeconds = Field(default=60.0, description="longest retry delay")

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: dict[str, AlertChannel]) -> dict[str, AlertChannel]:
        for name, channel in value.items():
            if not _CHANNEL_NAME.fullmatch(name):
                raise ValueError(
                    f"channel name {name!r}: use lower-case letters, digits and _, starting with a letter (at most 32)"
                )
            for field, what in channel.missing():
                fix = (
                    f"set {alert_secret_variable(name, field)} (or the credential alerts_{name}_{field})"
                    if field in ALERT_SECRET_FIELDS
                    else f"set alerts.channels.{name}.{field}"
                )
                raise ValueError(f"channel {name!r} ({channel.type}) needs {what}: {fix}")
        return value

    @model_validator(mode="after")
    def _check_retry(self) -> AlertsSection:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s must be at least retry_base_s")
        return self

    @property
    def active(self) -> bool:
        """True when alerts are enabled and at least one channel is configured."""
        return self.enabled and bool(self.channels)

    def secret_values(self) -> list[str]:
        """Return the plain values of every channel secret that is set (for ``register_secret``)."""
        return [text for channel in self.channels.values() for text in channel.secret_values()]


def channel_secrets_in(data: Any) -> list[tuple[str, str]]:
    """Return ``(channel, field)`` of every non-null secret field in the raw ``alerts`` data of a file."""
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        return []
    return [
        (str(name), field)
        for name, channel in data["channels"].items()
        if isinstance(channel, dict)
        for field in ALERT_SECRET_FIELDS
        if channel.get(field) not in (None, "")
    ]


def _chat(value: object) -> object:
    """A chat id as text (an int is written as one), stripped; blank is unset (``None``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return value
