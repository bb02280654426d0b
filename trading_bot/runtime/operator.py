"""Operator controls of a running bot: halt, resume, reduce-only, cancel all, flatten — one queue, one executor.

Every surface that lets a person steer the bot (the monitor's JSON API and dashboard, Telegram commands,
``runbot.py ctl``) submits an ``OperatorCommand`` to the bot's ``OperatorDesk`` and awaits its
``OperatorOutcome``. The desk never touches orders itself: the supervisor drains it between strategy
passes (its heartbeat, woken at once by a submission), so a control never interleaves with a pass or
with account protection, and runs through the same order managers and RiskManager as everything else:

=============  =====================================================================================
action         effect
=============  =====================================================================================
``halt``       trading state HALTED: the RiskManager denies every new order (open orders stay)
``resume``     trading state ACTIVE (from HALTED or REDUCING)
``reduce-only``  trading state REDUCING: only orders that reduce a position pass
``cancel-all``   cancel every open order of the bot (one instrument, or all)
``flatten``    cancel the instrument's open orders and close its position with a reduce-only market
               order (one instrument, or all); the trading state is left as it was
=============  =====================================================================================

Each executed command is logged as ``operator_action`` (who, what, instrument, result) and journaled
when the bot has a journal (the audit log). ``who`` names the surface and the person: ``api:127.0.0.1``,
``telegram:12345``; it must never carry a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain import TradingState
from trading_bot.errors import ConfigError
from trading_bot.log import get_logger

if TYPE_CHECKING:
    from risk.manager import RiskManager
    from trading_bot.runtime.account_guard import AccountGuard
    from trading_bot.runtime.slot import InstrumentSlot

__all__ = ["OperatorAction", "OperatorCommand", "OperatorDesk", "OperatorOutcome", "execute_command"]

_log = get_logger(__name__)

OPERATOR_QUEUE_LIMIT = 64
"""Commands waiting at most; one more is refused (a surface submitting faster than the bot runs them)."""


class OperatorAction(StrEnum):
    """What an operator asks for (the wire names of the API, Telegram and ``ctl``)."""

    HALT = "halt"
    RESUME = "resume"
    REDUCE_ONLY = "reduce-only"
    CANCEL_ALL = "cancel-all"
    FLATTEN = "flatten"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorCommand:
    """One operator request.

    Attributes:
        action: what to do.
        who: the surface and the person (``api:127.0.0.1``, ``telegram:12345``); never a secret.
        instrument: ``venue:symbol`` or the bare symbol for cancel-all/flatten; ``None`` = every instrument.
        reason: free text for the log and the journal (at most 200 characters are kept).
    """

    action: OperatorAction
    who: str
    instrument: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.who or len(self.who) > 100:
            raise ConfigError("operator command: who must name the surface and the person (1..100 characters)")
        object.__setattr__(self, "reason", self.reason[:200])


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorOutcome:
    """What the bot did: ``ok`` False with ``detail`` saying why (unknown instrument, not running...)."""

    ok: bool
    detail: str
    trading_state: str
    ts_ms: int


@dataclass(slots=True)
class _Pending:
    command: OperatorCommand
    done: asyncio.Future[OperatorOutcome]


class OperatorDesk:
    """The queue between operator surfaces and the supervisor that executes their commands.

    Args:
        wake: called after each submission (the supervisor's heartbeat wake-up), so a command runs within
            one event-loop turn when the bot is idle, and right after the current pass otherwise.
    """

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=OPERATOR_QUEUE_LIMIT)
        self._wake = wake
        self.executed = 0


    async def submit(self, command: OperatorCommand, timeout_s: float = 30.0) -> OperatorOutcome:
        """Queue ``command`` and wait for the bot to execute it (at most ``timeout_s`` seconds).

        Raises:
            TimeoutError: the bot did not run it in time (it may still run it later: the caller says so).
            asyncio.QueueFull: too many commands are waiting.
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(command, loop.create_future())
        self._queue.put_nowait(pending)
        if self._wake is not None:
            self._wake()
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(pending.done)

    @property
    def pending(self) -> bool:
        """True when commands are waiting to be executed."""
        return not self._queue.empty()

    def take(self) -> list[tuple[OperatorCommand, asyncio.Future[OperatorOutcome]]]:
        """Return every waiting command with the future its outcome goes to (the supervisor's side)."""
        taken = []
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            taken.append((pending.command, pending.done))
        return taken

    def fail_waiting(self, detail: str, trading_state: str, ts_ms: int) -> None:
        """Answer every waiting command with ``detail`` (the bot is stopping: nothing more will run)."""
        for _command, done in self.take():
            if not done.done():
                done.set_result(OperatorOutcome(ok=False, detail=detail, trading_state=trading_state, ts_ms=ts_ms))


_STATES = {
    OperatorAction.HALT: TradingState.HALTED,
    OperatorAction.RESUME: TradingState.ACTIVE,
    OperatorAction.REDUCE_ONLY: TradingState.REDUCING,
}


def _targets(slots: Sequence[InstrumentSlot], instrument: str | None) -> list[InstrumentSlot] | str:
    """The slots ``instrument`` names (``venue:symbol`` or a symbol only one venue trades), or why none."""
    if instrument is None:
        return list(slots)
    named = [s for s in slots if instrument in (str(s.instrument), s.market.symbol)]
    if len(named) == 1:
        return named
    known = ", ".join(str(s.instrument) for s in slots)
    if not named:
        return f"unknown instrument {instrument!r}; the bot trades {known}"
    return f"{instrument!r} is traded on several venues; name one of {known}"


async def execute_command(
    command: OperatorCommand,
    *,
    risk: RiskManager,
    slots: Sequence[InstrumentSlot],
    guard: AccountGuard,
    guarded: Callable[[InstrumentSlot, Awaitable[Any]], Awaitable[None]],
    now_ms: int,
) -> OperatorOutcome:
    """Execute one command through the bot's own parts (the supervisor calls this between passes)."""
    action = command.action
    why = f"operator {action.value} by {command.who}" + (f": {command.reason}" if command.reason else "")
    state = _STATES.get(action)
    if state is not None:
        risk.set_trading_state(state, why)
        detail = f"trading state {state.value}"
    else:
        targets = _targets(slots, command.instrument)
        if isinstance(targets, str):
            return _outcome(command, False, targets, risk, now_ms)
        for slot in targets:
            await guarded(slot, slot.orders.cancel_all(by_operator=True))
        if action is OperatorAction.FLATTEN:
            for slot in targets:
                await guard.close_position(slot, why)
        names = ", ".join(str(s.instrument) for s in targets)
        detail = f"{'cancelled open orders' if action is OperatorAction.CANCEL_ALL else 'flattened'}: {names}"
    return _outcome(command, True, detail, risk, now_ms)


def _outcome(command: OperatorCommand, ok: bool, detail: str, risk: RiskManager, now_ms: int) -> OperatorOutcome:
    outcome = OperatorOutcome(ok=ok, detail=detail, trading_state=risk.trading_state.value, ts_ms=now_ms)
    log = _log.warning if ok else _log.info
    log("operator_action", action=command.action.value, who=command.who, instrument=command.instrument,
        ok=ok, detail=detail, reason=command.reason)  # fmt: skip
    return outcome
