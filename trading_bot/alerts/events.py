"""What becomes an alert: log events (through the log tap) and order events (through the bot's observers).

=================  ==========================================================================================
kind               source
=================  ==========================================================================================
``fill``           an ``OrderFilled`` / ``OrderPartiallyFilled`` event (observed, whatever the log level)
``rejection``      an ``OrderRejected`` event from the venue (a post-only crossing is a retry cue: not alerted)
``denial_burst``   ``AlertsSection.denial_burst`` ``OrderDenied`` events within ``denial_window_s``
``protection``     ``account_protection``, ``closing_position``, ``daily_loss_limit``, ``position_liquidated``
``halt_resume``    ``operator_action``, ``bot_halted``, and a change of the trading state (the sender watches it)
``venue``          ``market_stream_reconnect``, ``user_stream_reconnect``, ``user_stream_reconnected``,
                   ``market_stream_failed``, ``mark_stream_failed``, ``authentication_failed``,
                   ``exchange_auth_failed``, ``venue_halted``, ``venue_failed``
``error``          ``internal_error``, ``service_failed``, any other event at error level, any event with
                   ``alert=True``
``daily_summary``  the sender, once per UTC day, from ``TradingBot.snapshot()``
=================  ==========================================================================================

Events of the alerts themselves (``alert_*``, ``telegram_*``) never become alerts. Everything here runs
inline on the trading loop's logging and order paths: a dict lookup and a few string joins, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from trading_bot.config.alerts import AlertKind
from trading_bot.domain.events import OrderDenied
from trading_bot.domain.events import OrderEvent
from trading_bot.domain.events import OrderFilled
from trading_bot.domain.events import OrderPartiallyFilled
from trading_bot.domain.events import OrderRejected

__all__ = ["LEVELS", "Alert", "DenialBurst", "alert_from_log", "alert_from_order"]

LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
"""Alert levels, lowest first (the log's level names)."""

MAX_TEXT = 1500
"""Characters of an alert text at most (Telegram allows 4096, Discord 2000)."""

_LOG_KINDS: dict[str, AlertKind] = {
    "account_protection": AlertKind.PROTECTION,
    "closing_position": AlertKind.PROTECTION,
    "daily_loss_limit": AlertKind.PROTECTION,
    "position_liquidated": AlertKind.PROTECTION,
    "operator_action": AlertKind.HALT_RESUME,
    "bot_halted": AlertKind.HALT_RESUME,
    "market_stream_reconnect": AlertKind.VENUE,
    "user_stream_reconnect": AlertKind.VENUE,
    "user_stream_reconnected": AlertKind.VENUE,
    "market_stream_failed": AlertKind.VENUE,
    "mark_stream_failed": AlertKind.VENUE,
    "authentication_failed": AlertKind.VENUE,
    "exchange_auth_failed": AlertKind.VENUE,
    "venue_halted": AlertKind.VENUE,
    "venue_failed": AlertKind.VENUE,
    "internal_error": AlertKind.ERROR,
    "service_failed": AlertKind.ERROR,
}
_OWN_PREFIXES = ("alert_", "telegram_")
# attempt/delay_s change on every reconnect try: left out, so the same outage dedups to one alert
_HIDDEN_FIELDS = frozenset(
    {"event", "level", "timestamp", "logger", "exception", "exc_info", "stack", "stack_info", "attempt", "delay_s"}
    | {"alert"}
)


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the channels.

    Attributes:
        kind: what it is about.
        level: ``info``, ``warning`` or ``error``.
        text: the message (plain text; redacted again before it is sent).
        ts_ms: when, epoch milliseconds (the bot's clock for order events, wall time otherwise).
    """

    kind: AlertKind
    level: str
    text: str
    ts_ms: int


def _fields_text(event: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in event.items() if k not in _HIDDEN_FIELDS and v is not None]
    return ", ".join(parts)


def alert_from_log(level: str, event: dict[str, Any], now_ms: int) -> Alert | None:
    """Return the alert a log event makes, or None (see the module docstring).

    Args:
        level: the log level name.
        event: the event dict, already redacted.
        now_ms: epoch milliseconds now.
    """
    name = str(event.get("event", ""))
    if name.startswith(_OWN_PREFIXES):
        return None
    kind = _LOG_KINDS.get(name)
    if kind is None:
        if LEVELS.get(level, 0) < LEVELS["error"] and event.get("alert") is not True:
            return None
        kind = AlertKind.ERROR
    fields = _fields_text(event)
    text = f"{name}: {fields}" if fields else name
    alert_level = level if level in ("info", "warning") else "error"
    return Alert(kind, alert_level, text[:MAX_TEXT], now_ms)


def alert_from_order(event: OrderEvent) -> Alert | None:
    """Return the alert of a fill or a venue rejection, or None (denials go to ``DenialBurst``)."""
    if isinstance(event, OrderFilled):
        text = (f"fill {event.symbol} {event.side.value} {event.filled_quantity} @ {event.average_price} "
                f"(order {event.client_order_id}, fee {event.fill.fee} {event.fill.fee_currency})")  # fmt: skip
        return Alert(AlertKind.FILL, "info", text, event.ts_ms)
    if isinstance(event, OrderPartiallyFilled):
        fill = event.fill
        text = (f"partial fill {event.symbol} {event.side.value} {fill.quantity} @ {fill.price} "
                f"(order {event.client_order_id}, {event.leaves_quantity} left)")  # fmt: skip
        return Alert(AlertKind.FILL, "info", text, event.ts_ms)
    if isinstance(event, OrderRejected) and not event.post_only:
        text = f"order rejected {event.symbol} {event.side.value} (order {event.client_order_id}): {event.reason}"
        return Alert(AlertKind.REJECTION, "warning", text[:MAX_TEXT], event.ts_ms)
    return None


class DenialBurst:
    """Counts risk denials; ``count`` of them within ``window_s`` seconds make one alert, then it starts over.

    Args:
        count: denials that make a burst.
        window_s: seconds they must fall within.
    """

    def __init__(self, count: int, window_s: float) -> None:
        self._count = count
        self._window_ms = int(window_s * 1000)
        self._times: deque[int] = deque()
        self._rules: deque[str] = deque()

    def observe(self, event: OrderEvent) -> Alert | None:
        """Count ``event`` when it is a denial; return the burst's alert when it completes one."""
        if not isinstance(event, OrderDenied):
            return None
        self._times.append(event.ts_ms)
        self._rules.append(event.rule)
        while self._times and event.ts_ms - self._times[0] > self._window_ms:
            self._times.popleft()
            self._rules.popleft()
        if len(self._times) < self._count:
            return None
        rules = ", ".join(sorted(set(self._rules)))
        text = (f"{len(self._times)} orders denied by the risk gate within {self._window_ms // 1000} s "
                f"(rules: {rules}; last: {event.symbol} {event.reason})")  # fmt: skip
        self._times.clear()
        self._rules.clear()
        return Alert(AlertKind.DENIAL_BURST, "warning", text[:MAX_TEXT], event.ts_ms)
