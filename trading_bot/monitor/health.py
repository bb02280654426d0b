"""``/health``: is the bot alive and ready to trade — for systemd, Docker and Kubernetes probes.

The rule (README, "Monitoring and control"): **200** when every check passes, else **503**:

* ``connected``: the bot has connected to its venues (its session is built) and no venue has failed
  (a venue whose keys were refused three times or whose user stream was lost for good is HALTED);
* ``reconciled``: every strategy has started (reconciliation with the venues and the journal is done);
* ``journal_writable``: the journal is open and its last batch write succeeded (``null`` and passing when the
  run keeps no journal);
* ``trading_state``: not HALTED by a failure. An operator's halt (``POST /api/v1/halt``, the reason starts with
  ``operator``) is deliberate and still passes: a probe must not restart a bot someone halted on purpose.

Data age per instrument (seconds since its last market event, the bot's clock) is reported, not judged: a
quiet market is not a failure (the RiskManager's ``max_data_age_s`` is the rule that acts on stale data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain import TradingState

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["OPERATOR_REASON_PREFIX", "health_report"]

OPERATOR_REASON_PREFIX = "operator "
"""How the reason of a state set by an operator command starts (``runtime.operator``)."""


def health_report(bot: TradingBot) -> tuple[int, dict[str, Any]]:
    """Return the HTTP status (200 or 503) and the JSON body of ``/health`` for ``bot`` now."""
    slots = bot.slots
    venues = {v.name: {"state": v.state.value, "failure": v.failure or None} for v in bot.venues}
    connected = bool(slots) and all(v.state is not TradingState.HALTED for v in bot.venues)
    reconciled = bool(slots) and all(unit.started for unit in bot.units)
    writer = bot.journal.batch_writer if bot.journal is not None else None
    journal_writable = None if bot.journal is None else writer is not None and writer.failures == 0
    state = bot.risk.trading_state
    reason = bot.risk.trading_state_reason
    halted_by_failure = state is TradingState.HALTED and not reason.startswith(OPERATOR_REASON_PREFIX)
    now = bot.clock.now_ms()
    data_age = {
        str(slot.instrument): None if slot.view.last is None else round(max(0, now - slot.view.last.ts_ms) / 1000, 3)
        for slot in slots
    }
    ready = connected and reconciled and journal_writable is not False and not halted_by_failure
    body = {
        "status": "ok" if ready else "unavailable",
        "connected": connected,
        "reconciled": reconciled,
        "journal_writable": journal_writable,
        "trading_state": state.value,
        "trading_state_reason": reason,
        "halted_by_failure": halted_by_failure,
        "data_age_s": data_age,
        "venues": venues,
        "bot_id": bot.bot_id,
    }
    return (200 if ready else 503), body
