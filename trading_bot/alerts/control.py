"""Remote control from Telegram: the bot's chat answers ``/status`` ... and obeys ``/halt`` ... from allowed chats.

A service (``TradingBot(services=[...])``) long-polls ``getUpdates`` on the channel's ``api_url`` (with
``offset``, so each update is handled once) and answers with ``sendMessage``. Only chats listed in the
channel's ``control_chat_ids`` are obeyed; a message from any other chat gets no answer and one
``telegram_command_ignored`` warning per chat for the run. A command sent before the control started
(Telegram keeps undelivered updates for a day) is skipped (``telegram_command_stale``), not obeyed late.

============================  =========================================================================
command                       answer
============================  =========================================================================
``/status``                   trading state and reason, instruments, fills, net PnL, equity
``/positions``                each instrument's position, average entry and unrealized PnL
``/orders``                   the bot's open orders
``/pnl``                      realized, unrealized, fees and net PnL per instrument and in total
``/halt [reason]``            operator ``halt``: the RiskManager denies every new order
``/resume [reason]``          operator ``resume``: trading state ACTIVE
``/flatten [instrument]``     asks for ``/flatten confirm`` within 60 s, then operator ``flatten``
============================  =========================================================================

``/halt``, ``/resume`` and ``/flatten`` go through ``bot.operator.submit`` as ``telegram:<chat id>``, so
the supervisor executes them between passes and logs and journals each as an ``operator_action``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from typing import Any

import aiohttp

from trading_bot.alerts.channels import TelegramApi
from trading_bot.config.alerts import AlertChannel
from trading_bot.errors import AlertDeliveryError
from trading_bot.log import get_logger
from trading_bot.log import redact_message
from trading_bot.log import register_secret
from trading_bot.runtime.operator import OperatorAction
from trading_bot.runtime.operator import OperatorCommand

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["FLATTEN_CONFIRM_S", "TelegramControl"]

_log = get_logger(__name__)

FLATTEN_CONFIRM_S = 60.0
"""Seconds within which ``/flatten confirm`` must follow ``/flatten``."""

STALE_SLACK_S = 5
"""A command sent more than this many seconds before the control started is ignored (sent while it was down)."""

_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
_HELP = "commands: /status /positions /orders /pnl /halt [reason] /resume [reason] /flatten [instrument]"


class TelegramControl:
    """The remote control of one telegram channel (see the module docstring).

    Args:
        name: the channel's name (for the logs).
        config: the telegram channel; ``control_chat_ids`` are the chats obeyed.
    """

    def __init__(self, name: str, config: AlertChannel) -> None:
        for secret in config.secret_values():
            register_secret(secret)
        self._name = name
        self._config = config
        self._allowed = frozenset(config.control_chat_ids)
        self._warned: set[str] = set()
        self._flatten: dict[str, tuple[str | None, float]] = {}  # chat -> (instrument, monotonic deadline)
        self.offset = 0
        self._started_s = time.time()
        self.__name__ = f"telegram_control_{name}"

    async def run(self, bot: TradingBot) -> None:
        """Poll, execute and answer until cancelled."""
        async with aiohttp.ClientSession() as session:
            api = TelegramApi(session, self._config)
            failures = 0
            while True:
                try:
                    updates = await self._poll(api)
                except AlertDeliveryError as exc:
                    delay = _RETRY_S[min(failures, len(_RETRY_S) - 1)]
                    failures += 1
                    _log.warning("telegram_poll_failed", channel=self._name, error=redact_message(str(exc)),
                                 retry_in_s=delay)  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                for update in updates:
                    await self._handle(api, bot, update)

    async def _poll(self, api: TelegramApi) -> list[dict[str, Any]]:
        wait = self._config.poll_timeout_s
        payload = {"offset": self.offset, "timeout": wait, "allowed_updates": ["message"]}
        result = await api.call("getUpdates", payload, timeout_s=wait + self._config.timeout_s)
        updates = [u for u in result or () if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        if updates:
            self.offset = max(u["update_id"] for u in updates) + 1
        return updates

    async def _handle(self, api: TelegramApi, bot: TradingBot, update: dict[str, Any]) -> None:
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return
        chat = message.get("chat")
        chat_id = str(chat.get("id")) if isinstance(chat, dict) else ""
        if chat_id not in self._allowed:
            if chat_id not in self._warned:
                self._warned.add(chat_id)
                _log.warning("telegram_command_ignored", channel=self._name, chat_id=chat_id,
                             reason="chat not in control_chat_ids")  # fmt: skip
            return
        sent_s = message.get("date")
        if isinstance(sent_s, int) and sent_s < self._started_s - STALE_SLACK_S:
            _log.info("telegram_command_stale", channel=self._name, chat_id=chat_id, sent_s=sent_s)
            return  # sent while the bot was down: not obeyed now (a /resume from yesterday would surprise)
        reply = await self._answer(bot, chat_id, message["text"].strip())
        try:
            await api.send_message(chat_id, redact_message(reply))
        except AlertDeliveryError as exc:
            _log.warning("telegram_reply_failed", channel=self._name, error=redact_message(str(exc)))

    async def _answer(self, bot: TradingBot, chat_id: str, text: str) -> str:
        head, _, rest = text.partition(" ")
        command = head.split("@", 1)[0].lower()
        rest = rest.strip()
        if command == "/status":
            return status_text(bot)
        if command == "/positions":
            return positions_text(bot)
        if command == "/orders":
            return orders_text(bot)
        if command == "/pnl":
            return pnl_text(bot)
        if command in ("/halt", "/resume"):
            action = OperatorAction.HALT if command == "/halt" else OperatorAction.RESUME
            return await self._submit(bot, action, chat_id, None, rest)
        if command == "/flatten":
            return await self._flatten_step(bot, chat_id, rest)
        return _HELP

    async def _flatten_step(self, bot: TradingBot, chat_id: str, rest: str) -> str:
        if rest.lower() == "confirm":
            pending = self._flatten.pop(chat_id, None)
            if pending is None or time.monotonic() > pending[1]:
                return "nothing to confirm: send /flatten [instrument] first, then /flatten confirm within 60 s"
            return await self._submit(bot, OperatorAction.FLATTEN, chat_id, pending[0], "telegram /flatten")
        instrument = rest or None
        self._flatten[chat_id] = (instrument, time.monotonic() + FLATTEN_CONFIRM_S)
        what = instrument or "every instrument"
        return (f"flatten {what}: cancel its open orders and close its position at market? "
                f"Reply /flatten confirm within {FLATTEN_CONFIRM_S:g} s")  # fmt: skip

    async def _submit(
        self, bot: TradingBot, action: OperatorAction, chat_id: str, instrument: str | None, reason: str
    ) -> str:
        command = OperatorCommand(action=action, who=f"telegram:{chat_id}", instrument=instrument, reason=reason)
        try:
            outcome = await bot.operator.submit(command)
        except TimeoutError:
            return f"{action.value}: the bot did not run it within 30 s (it may still run it)"
        except asyncio.QueueFull:
            return f"{action.value}: too many operator commands waiting; try again"
        verdict = "done" if outcome.ok else "refused"
        return f"{action.value} {verdict}: {outcome.detail} (trading state {outcome.trading_state})"


def status_text(bot: TradingBot) -> str:
    """The ``/status`` answer."""
    snap = bot.snapshot()
    names = ", ".join(str(i) for i in bot.instruments)
    reason = bot.risk.trading_state_reason
    return (f"{bot.bot_id}: trading state {bot.risk.trading_state.value}" + (f" ({reason})" if reason else "")
            + f"\ninstruments: {names}\nfills {snap.get('fills', 0)}, net PnL {snap.get('net_pnl')}, "
            f"equity {snap.get('equity')}")  # fmt: skip


def positions_text(bot: TradingBot) -> str:
    """The ``/positions`` answer."""
    lines = []
    for slot in bot.slots:
        p = slot.portfolio
        lines.append(f"{slot.instrument}: {p.position.quantity} @ {p.position.average_price}, "
                     f"unrealized {p.unrealized_pnl()}")  # fmt: skip
    return "\n".join(lines) or "not connected yet: no positions known"


def orders_text(bot: TradingBot) -> str:
    """The ``/orders`` answer."""
    lines = []
    for slot in bot.slots:
        for o in slot.tracker.open_orders():
            price = "market" if o.price is None else str(o.price)
            lines.append(f"{slot.instrument} {o.client_order_id} {o.side.value} {o.quantity} @ {price} "
                         f"filled {o.filled_quantity} ({o.status.value})")  # fmt: skip
    return "\n".join(lines[:50]) or "no open orders"


def pnl_text(bot: TradingBot) -> str:
    """The ``/pnl`` answer."""
    lines = []
    for slot in bot.slots:
        p = slot.portfolio
        lines.append(f"{slot.instrument}: realized {p.realized_pnl}, unrealized {p.unrealized_pnl()}, "
                     f"fees {p.fees}, net {p.net_pnl()}")  # fmt: skip
    snap = bot.snapshot()
    lines.append(f"total net PnL {snap.get('net_pnl')}, equity {snap.get('equity')}")
    return "\n".join(lines)
