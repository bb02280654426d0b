"""Alerts to Telegram, Discord, Slack, a JSON webhook and email, and remote control from Telegram.

``alert_services(config.alerts, bot_id)`` returns the side services to pass as
``TradingBot(services=...)``: one ``AlertService`` (``sender``: taps the log and the order events, one
bounded queue, per-channel delivery with retry, dedup and rate limit) and one ``TelegramControl``
(``control``) per telegram channel with ``control_chat_ids``. Modules: ``events`` (what becomes an
alert), ``outbox`` (queue, dedup, token bucket), ``channels`` (the five destinations), ``sender``,
``control``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trading_bot.alerts.control import TelegramControl
from trading_bot.alerts.sender import AlertService
from trading_bot.config.alerts import AlertsSection

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["AlertService", "TelegramControl", "alert_services", "finish_alerts"]


def alert_services(section: AlertsSection, bot_id: str) -> list[Callable[[TradingBot], Awaitable[None]]]:
    """Return the services the ``alerts`` section asks for (none when it is off or has no channel)."""
    if not section.active:
        return []
    services: list[Callable[[TradingBot], Awaitable[None]]] = [AlertService(section, bot_id).run]
    for name, channel in section.channels.items():
        if channel.type == "telegram" and channel.control_chat_ids:
            services.append(TelegramControl(name, channel).run)
    return services


async def finish_alerts(services: Sequence[Callable[[TradingBot], Awaitable[None]]]) -> None:
    """Wait for the alert services' last sends after the bot stopped (each bounded by ``sender.LINGER_S``)."""
    for service in services:
        owner = getattr(service, "__self__", None)
        if isinstance(owner, AlertService) and owner.closed is not None:
            await owner.closed
