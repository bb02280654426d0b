"""The five destinations: one ``send`` each, over aiohttp (HTTP) or aiosmtplib (SMTP).

Every ``send`` is bounded by the channel's ``timeout_s`` and raises ``AlertDeliveryError`` (retryable
or not) on any failure; its message never carries the URL (a Telegram URL holds the bot token, a
Discord or Slack webhook URL is itself the credential), only the host and the status.

=============  ======================================================================================
type           request
=============  ======================================================================================
``telegram``   ``POST {api_url}/bot{token}/sendMessage`` ``{"chat_id", "text"}`` (Bot API)
``discord``    ``POST {webhook_url}`` ``{"content"}`` (at most 2000 characters)
``slack``      ``POST {webhook_url}`` ``{"text"}`` (incoming webhook)
``webhook``    ``POST {webhook_url}`` ``{"kind", "level", "text", "ts_ms", "bot_id"}``
``email``      SMTP to ``smtp_host:smtp_port`` (STARTTLS, TLS or plain), login when ``smtp_user`` is set
=============  ======================================================================================
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from trading_bot.alerts.events import Alert
from trading_bot.config.alerts import AlertChannel
from trading_bot.errors import AlertDeliveryError
from trading_bot.log import redact_message

__all__ = ["Channel", "TelegramApi", "build_channel"]

_DISCORD_LIMIT = 2000
_TELEGRAM_LIMIT = 4096


class Channel(Protocol):
    """One destination: ``send`` delivers one alert or raises ``AlertDeliveryError``."""

    name: str

    async def send(self, alert: Alert, text: str) -> None:
        """Deliver ``alert`` as ``text`` (already redacted)."""


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.port else f"{parts.scheme}://{parts.hostname}"


async def _post_json(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], timeout_s: float
) -> tuple[int, Any]:
    """POST ``payload``; return the status and the JSON answer (None when not JSON). Never names ``url``."""
    where = _host(url)
    try:
        async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return response.status, body
    except TimeoutError:
        raise AlertDeliveryError(f"{where}: no answer within {timeout_s:g} s", retryable=True) from None
    except aiohttp.ClientError as exc:
        raise AlertDeliveryError(f"{where}: {type(exc).__name__}", retryable=True) from None


def _check_status(where: str, status: int, body: Any) -> None:
    if 200 <= status < 300:
        return
    detail = (body.get("description") or body.get("message") or "") if isinstance(body, dict) else ""
    raise AlertDeliveryError(
        f"{where}: HTTP {status} {str(detail)[:200]}".rstrip(), retryable=status == 429 or status >= 500
    )


class TelegramApi:
    """The Bot API calls the alerts and the remote control make (``sendMessage``, ``getUpdates``)."""

    def __init__(self, session: aiohttp.ClientSession, config: AlertChannel) -> None:
        if config.token is None:
            raise AlertDeliveryError("telegram: no bot token", retryable=False)
        self._session = session
        self._base = f"{config.api_url.rstrip('/')}/bot{config.token.get_secret_value()}"
        self._where = _host(config.api_url)
        self.timeout_s = config.timeout_s

    async def call(self, method: str, payload: dict[str, Any], timeout_s: float | None = None) -> Any:
        """Call ``method``; return its ``result``. Raises ``AlertDeliveryError`` (never naming the token)."""
        status, body = await _post_json(self._session, f"{self._base}/{method}", payload, timeout_s or self.timeout_s)
        _check_status(f"{self._where} {method}", status, body)
        if not isinstance(body, dict) or body.get("ok") is not True:
            raise AlertDeliveryError(f"{self._where} {method}: not an ok answer", retryable=True)
        return body.get("result")

    async def send_message(self, chat_id: str, text: str) -> None:
        """Send ``text`` (cut at 4096 characters) to ``chat_id``."""
        payload = {"chat_id": chat_id, "text": text[:_TELEGRAM_LIMIT], "disable_web_page_preview": True}
        await self.call("sendMessage", payload)


class _Telegram:
    def __init__(self, name: str, session: aiohttp.ClientSession, config: AlertChannel) -> None:
        self.name = name
        self._api = TelegramApi(session, config)
        self._chat_id = str(config.chat_id)

    async def send(self, alert: Alert, text: str) -> None:
        await self._api.send_message(self._chat_id, text)


class _Webhook:
    """Discord, Slack and the generic JSON webhook: one POST each, bodies differ."""

    def __init__(self, name: str, session: aiohttp.ClientSession, config: AlertChannel, bot_id: str) -> None:
        if config.webhook_url is None:
            raise AlertDeliveryError(f"{name}: no webhook URL", retryable=False)
        self.name = name
        self._session = session
        self._url = config.webhook_url.get_secret_value()
        self._type = config.type
        self._timeout_s = config.timeout_s
        self._bot_id = bot_id

    def _payload(self, alert: Alert, text: str) -> dict[str, Any]:
        if self._type == "discord":
            return {"content": text[:_DISCORD_LIMIT]}
        if self._type == "slack":
            return {"text": text}
        return {"kind": alert.kind.value, "level": alert.level, "text": text, "ts_ms": alert.ts_ms,
                "bot_id": self._bot_id}  # fmt: skip

    async def send(self, alert: Alert, text: str) -> None:
        status, body = await _post_json(self._session, self._url, self._payload(alert, text), self._timeout_s)
        _check_status(f"{self.name} ({self._type}) {_host(self._url)}", status, body)


class _Email:
    def __init__(self, name: str, config: AlertChannel, bot_id: str) -> None:
        self.name = name
        self._config = config
        self._bot_id = bot_id

    async def send(self, alert: Alert, text: str) -> None:
        import aiosmtplib

        c = self._config
        message = EmailMessage()
        message["From"] = str(c.mail_from)
        message["To"] = ", ".join(c.mail_to)
        headline = redact_message(alert.text.splitlines()[0] if alert.text else "")[:80]
        message["Subject"] = f"[{self._bot_id}] {alert.level} {alert.kind.value}: {headline}"
        message.set_content(text)
        where = f"{self.name} (email) {c.smtp_host}:{c.smtp_port}"
        try:
            await aiosmtplib.send(
                message,
                hostname=c.smtp_host,
                port=c.smtp_port,
                username=c.smtp_user,
                password=c.password.get_secret_value() if c.password is not None else None,
                use_tls=c.smtp_tls == "tls",
                start_tls=c.smtp_tls == "starttls",
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPAuthenticationError:
            raise AlertDeliveryError(f"{where}: login refused", retryable=False) from None
        except aiosmtplib.SMTPRecipientsRefused:
            raise AlertDeliveryError(f"{where}: recipients refused", retryable=False) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise AlertDeliveryError(f"{where}: {type(exc).__name__}", retryable=True) from None


def build_channel(name: str, config: AlertChannel, session: aiohttp.ClientSession, bot_id: str) -> Channel:
    """Return the channel ``config`` describes, sending through ``session`` (HTTP channels)."""
    if config.type == "telegram":
        return _Telegram(name, session, config)
    if config.type == "email":
        return _Email(name, config, bot_id)
    return _Webhook(name, session, config, bot_id)
