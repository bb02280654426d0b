"""The alert service: taps the log and the order events, and delivers to every channel without slowing trading.

The trading loop only ever calls ``AlertService.on_log`` / ``on_order`` (a classification and a
``put_nowait`` on the bounded queue). Everything else runs in the service (one task of the bot's
TaskGroup, ``TradingBot(services=[service.run])``):

- the dispatcher drops an alert seen within ``dedup_window_s`` (same kind and text), then hands it to
  each channel that wants its kind at its level;
- each channel has its own bounded outbox and one worker (a child task of the service), so a dead or
  slow endpoint only delays its own messages: it waits for its token bucket (``rate_per_minute``,
  ``burst``), redacts the text again (``trading_bot.log.redact_message``), sends with the channel's
  ``timeout_s``, and retries a retryable failure up to ``retry_attempts`` times after
  ``min(retry_max_s, retry_base_s * 2**n)`` seconds times a jitter in [0.5, 1]. A message given up is
  counted and logged once (``alert_delivery_failed``, warning); a full outbox drops its oldest message;
- a watcher alerts each trading-state change (``halt_resume``) and, when the bot's clock enters a new
  UTC day, sends the ``daily_summary`` of ``TradingBot.snapshot()``;
- once cancelled (the bot stopping), a task of its own (``closed``) lingers at most ``LINGER_S`` seconds,
  sending once (within the token bucket) to every channel what was waiting and what the stop logs after
  the services ended (``internal_error``, ``bot_halted``), until no alert came for ``LINGER_IDLE_S``;
  then it removes the tap and closes its HTTP session. ``runbot.py`` waits for it before it exits (``finish_alerts``).

Delivery is at most once per channel: an alert lost with the process (or dropped, or given up) is not
sent later.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

import aiohttp

from trading_bot.alerts.channels import Channel
from trading_bot.alerts.channels import build_channel
from trading_bot.alerts.events import LEVELS
from trading_bot.alerts.events import Alert
from trading_bot.alerts.events import DenialBurst
from trading_bot.alerts.events import alert_from_log
from trading_bot.alerts.events import alert_from_order
from trading_bot.alerts.outbox import AlertQueue
from trading_bot.alerts.outbox import Dedup
from trading_bot.alerts.outbox import TokenBucket
from trading_bot.config.alerts import AlertChannel
from trading_bot.config.alerts import AlertKind
from trading_bot.config.alerts import AlertsSection
from trading_bot.domain import TradingState
from trading_bot.domain.events import OrderEvent
from trading_bot.errors import AlertDeliveryError
from trading_bot.log import add_event_tap
from trading_bot.log import get_logger
from trading_bot.log import redact_message
from trading_bot.log import register_secret

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["AlertService", "summary_text"]

_log = get_logger(__name__)

WATCH_INTERVAL_S = 1.0
"""Seconds between looks at the trading state and the UTC day."""

LINGER_S = 3.0
"""Seconds the service goes on sending after it was cancelled: the stop's own alerts (internal_error, bot_halted)."""

LINGER_IDLE_S = 0.5
"""The linger ends sooner when no alert came for this many seconds."""

_DAY_MS = 86_400_000


@dataclass(slots=True)
class _Outlet:
    """One channel's outbox, token bucket and counters."""

    name: str
    config: AlertChannel
    channel: Channel
    outbox: AlertQueue[Alert]
    bucket: TokenBucket
    sent: int = 0
    failed: int = 0
    retried: int = 0
    last_error: str = field(default="")

    def wants(self, alert: Alert) -> bool:
        return alert.kind in self.config.events and LEVELS[alert.level] >= LEVELS[self.config.min_level]


class AlertService:
    """Alerts of one bot (see the module docstring).

    Args:
        section: the ``alerts`` config; its channel secrets are registered with the log redaction here.
        bot_id: named in every message.
    """

    def __init__(self, section: AlertsSection, bot_id: str) -> None:
        for secret in section.secret_values():
            register_secret(secret)
        self._section = section
        self._bot_id = bot_id
        self.queue: AlertQueue[Alert] = AlertQueue(section.queue_size)
        self._dedup = Dedup(section.dedup_window_s)
        self._burst = DenialBurst(section.denial_burst, section.denial_window_s)
        self.outlets: dict[str, _Outlet] = {}
        self.closed: asyncio.Task[None] | None = None  # the linger task, once the service was cancelled
        self.__name__ = "alerts"  # named in service_failed

    # -- the trading loop's side: no I/O, never raises --------------------------------------------
    def on_log(self, level: str, event: dict[str, Any]) -> None:
        """The log tap: queue the alert of ``event`` when it makes one."""
        alert = alert_from_log(level, event, int(time.time() * 1000))
        if alert is not None:
            self.queue.put_nowait(alert)

    def on_order(self, event: OrderEvent) -> None:
        """The bot's order observer: queue a fill, a rejection or a completed denial burst."""
        try:
            alert = alert_from_order(event) or self._burst.observe(event)
        except Exception:  # an observer must not raise into the trading loop
            return
        if alert is not None:
            self.queue.put_nowait(alert)

    def push(self, alert: Alert) -> None:
        """Queue ``alert`` (the watcher's and the tests' way in)."""
        self.queue.put_nowait(alert)

    # -- the service ---------------------------------------------------------------------------------
    async def run(self, bot: TradingBot) -> None:
        """Tap the bot, then dispatch and deliver until cancelled (the bot stopping); then linger (see ``closed``)."""
        self.queue.bind()
        remove_tap = add_event_tap(self.on_log)
        bot.order_observers.append(self.on_order)
        session = aiohttp.ClientSession()
        try:
            self.outlets = self._outlets(session)
            async with asyncio.TaskGroup() as tg:
                for outlet in self.outlets.values():
                    tg.create_task(self._deliver_all(outlet), name=f"alerts_{outlet.name}")
                tg.create_task(self._watch(bot), name="alerts_watch")
                await self._dispatch()
        finally:

            def detach() -> None:
                remove_tap()
                if self.on_order in bot.order_observers:
                    bot.order_observers.remove(self.on_order)

            # what the stop itself logs (internal_error, bot_halted) comes after the services are cancelled:
            # a task of its own sends it while the bot shuts down, for LINGER_S seconds at most
            self.closed = asyncio.get_running_loop().create_task(self._linger(session, detach), name="alerts_linger")

    async def _linger(self, session: aiohttp.ClientSession, detach: Callable[[], None]) -> None:
        """Send what is waiting and what comes within ``LINGER_S``, one attempt each, all channels at once."""
        try:
            async with asyncio.timeout(LINGER_S):
                for outlet in self.outlets.values():
                    while len(outlet.outbox):
                        await self._send_once(outlet, await outlet.outbox.get())
                while True:
                    alert = await asyncio.wait_for(self.queue.get(), LINGER_IDLE_S)  # quiet: the stop is logged
                    if self._dedup.first((alert.kind, alert.text)):
                        wanting = [o for o in self.outlets.values() if o.wants(alert)]
                        await asyncio.gather(*(self._send_once(o, alert) for o in wanting))
        except TimeoutError:
            pass
        finally:
            detach()
            await session.close()

    async def _send_once(self, outlet: _Outlet, alert: Alert) -> None:
        if outlet.bucket.wait_s() > 0:  # the rate limit holds at the stop too: no token, not sent
            outlet.outbox.dropped += 1
            return
        try:
            await outlet.channel.send(alert, self._text(alert))
        except Exception as exc:
            outlet.failed += 1
            outlet.last_error = redact_message(str(exc))
        else:
            outlet.sent += 1

    def _text(self, alert: Alert) -> str:
        return redact_message(f"[{self._bot_id}] {alert.level.upper()} {alert.kind.value}: {alert.text}")

    def _outlets(self, session: aiohttp.ClientSession) -> dict[str, _Outlet]:
        s = self._section
        return {
            name: _Outlet(name, c, build_channel(name, c, session, self._bot_id),
                          AlertQueue(s.queue_size, f"alerts.{name}"), TokenBucket(c.rate_per_minute, c.burst))
            for name, c in s.channels.items()
        }  # fmt: skip

    async def _dispatch(self) -> None:
        while True:
            alert = await self.queue.get()
            if not self._dedup.first((alert.kind, alert.text)):
                continue
            for outlet in self.outlets.values():
                if outlet.wants(alert):
                    outlet.outbox.put_nowait(alert)

    async def _deliver_all(self, outlet: _Outlet) -> None:
        while True:
            alert = await outlet.outbox.get()
            await outlet.bucket.take()
            await self._deliver(outlet, alert, self._text(alert))

    async def _deliver(self, outlet: _Outlet, alert: Alert, text: str) -> None:
        s = self._section
        for attempt in range(s.retry_attempts):
            try:
                await outlet.channel.send(alert, text)
            except AlertDeliveryError as exc:
                outlet.last_error = redact_message(str(exc))
                if exc.retryable and attempt + 1 < s.retry_attempts:
                    outlet.retried += 1
                    delay = min(s.retry_max_s, s.retry_base_s * 2**attempt)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    continue
            except Exception as exc:  # a bug in a channel: give this message up, keep the channel
                outlet.last_error = redact_message(repr(exc))
            else:
                outlet.sent += 1
                return
            break
        outlet.failed += 1
        _log.warning("alert_delivery_failed", channel=outlet.name, kind=alert.kind.value, attempts=attempt + 1,
                     error=outlet.last_error)  # fmt: skip

    async def _watch(self, bot: TradingBot) -> None:
        state = bot.risk.trading_state
        day = bot.clock.now_ms() // _DAY_MS
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            now = bot.clock.now_ms()
            if bot.risk.trading_state is not state:
                new = bot.risk.trading_state
                level = "info" if new is TradingState.ACTIVE else "warning"
                text = f"trading state {state.value} -> {new.value}: {bot.risk.trading_state_reason}"
                self.push(Alert(AlertKind.HALT_RESUME, level, text, now))
                state = new
            if now // _DAY_MS != day:
                ended = datetime.fromtimestamp(day * _DAY_MS / 1000, tz=UTC).date().isoformat()
                day = now // _DAY_MS
                self.push(Alert(AlertKind.DAILY_SUMMARY, "info", summary_text(bot.snapshot(), ended), now))


def summary_text(snapshot: Mapping[str, Any], day: str) -> str:
    """Return the daily summary message of a ``TradingBot.snapshot()`` (``day``: the UTC date it closes)."""
    lines = [
        f"daily summary {day} (UTC): state {snapshot.get('trading_state')}, fills {snapshot.get('fills', 0)}, "
        f"net PnL {snapshot.get('net_pnl')}, equity {snapshot.get('equity')}"
    ]
    instruments = snapshot.get("instruments")
    blocks = instruments.items() if isinstance(instruments, dict) else [(str(snapshot.get("symbol")), snapshot)]
    for name, block in blocks:
        open_orders = sum((block.get("open_orders") or {}).values())
        lines.append(
            f"{name}: position {block.get('position')}, net PnL {block.get('net_pnl')}, "
            f"fees {block.get('fees')}, open orders {open_orders}"
        )
    return "\n".join(lines)
