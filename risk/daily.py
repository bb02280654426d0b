"""The daily loss limit (rule ``daily_loss``): no new opens once the day's loss reaches a percentage.

The day is the UTC calendar day of the bot's clock (``now_ms // 86,400,000``; the simulated clock in a
backtest or replay). Its starting equity is the account equity (quote currency, realized and unrealized
alike) at the first observation on or after 00:00 UTC: the supervisor begins the day on the first market
event of the day (``DailyLossRule.begin_day``), and a check that finds the day not begun yet begins it with
the context's equity. The loss is ``(start − equity) / start × 100``; once it reaches ``limit_pct`` every
order that does not reduce its instrument's position without flipping it (an open or an increase) is
refused. Exits (take-profits, closes, stops that reduce) still pass. The next UTC day begins afresh, so
opens resume automatically after 00:00 UTC.

The denial is transient (it clears at midnight). ``DailyLossRule.alert`` answers the reason once per UTC day
while the limit is in force, so the supervisor alerts once a day rather than once per refused order.

``DayStart`` is what survives a restart: the supervisor stores it in the journal when a day begins and
``restore`` takes it back when it belongs to the current day (a start on a later day ignores it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from risk.base import RiskContext
from risk.base import RiskRule
from risk.base import reduces
from trading_bot.domain import OrderParams
from trading_bot.domain import decimal_text

__all__ = ["DAILY_LOSS_RULE", "DAY_MS", "DailyLossRule", "DayStart", "utc_day"]

DAY_MS = 86_400_000
"""Milliseconds in a UTC day; days start at 00:00 UTC (epoch milliseconds are a multiple of it)."""

DAILY_LOSS_RULE = "daily_loss"
"""The rule name of a daily-loss denial."""

_HUNDRED = Decimal(100)


def utc_day(now_ms: int) -> int:
    """Return the UTC day number of ``now_ms`` (days since 1970-01-01)."""
    return now_ms // DAY_MS


def _date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_MS / 1000, tz=UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class DayStart:
    """The start of one UTC day's loss accounting.

    Attributes:
        day: the UTC day number (``utc_day``).
        equity: account equity at the day's first observation, quote currency.
        ts_ms: when that observation was made, epoch milliseconds.
    """

    day: int
    equity: Decimal
    ts_ms: int

    def to_state(self) -> dict[str, Any]:
        """Return a JSON-friendly form (``equity`` as exact text) for the journal."""
        return {"day": self.day, "equity": str(self.equity), "ts_ms": self.ts_ms}

    @classmethod
    def from_state(cls, state: object) -> DayStart | None:
        """Return the ``DayStart`` a ``to_state`` produced, or ``None`` when ``state`` is not one."""
        if not isinstance(state, Mapping):
            return None
        try:
            day, ts_ms, equity = state["day"], state["ts_ms"], Decimal(str(state["equity"]))
        except (KeyError, TypeError, InvalidOperation):
            return None
        if not isinstance(day, int) or not isinstance(ts_ms, int) or not equity.is_finite() or equity <= 0:
            return None
        return cls(day=day, equity=equity, ts_ms=ts_ms)


class DailyLossRule(RiskRule):
    """Refuse opens once equity is ``limit_pct`` percent below the UTC day's starting equity."""

    __slots__ = ("_alerted_day", "limit_pct", "start")
    name = DAILY_LOSS_RULE
    transient = True

    def __init__(self, limit_pct: Decimal) -> None:
        self.limit_pct = limit_pct
        self.start: DayStart | None = None
        self._alerted_day: int | None = None

    def due(self, now_ms: int) -> bool:
        """Return True when the UTC day of ``now_ms`` has not begun yet (no start, or yesterday's)."""
        start = self.start
        return start is None or start.day != now_ms // DAY_MS

    def begin_day(self, now_ms: int, equity: Decimal) -> DayStart:
        """Begin the UTC day of ``now_ms`` with ``equity`` (quote currency) as its start; return it."""
        self.start = start = DayStart(day=now_ms // DAY_MS, equity=equity, ts_ms=now_ms)
        return start

    def restore(self, start: DayStart, now_ms: int) -> bool:
        """Take back a stored start when it belongs to the UTC day of ``now_ms``; return whether it did."""
        if start.day != now_ms // DAY_MS:
            return False
        self.start = start
        return True

    def breach(self, now_ms: int, equity: Decimal) -> str | None:
        """Return the reason when the day's loss at ``equity`` has reached the limit, else ``None``."""
        start = self.start
        if start is None or start.day != now_ms // DAY_MS or start.equity <= 0:
            return None
        loss_pct = (start.equity - equity) / start.equity * _HUNDRED
        if loss_pct < self.limit_pct:
            return None
        return (
            f"daily loss: equity {equity:,.2f} is {loss_pct:.2f} % below {start.equity:,.2f} at the start of "
            f"{_date(start.day)} UTC; limit {decimal_text(self.limit_pct)} %; "
            "no new opens until 00:00 UTC, exits allowed"
        )

    def alert(self, now_ms: int, equity: Decimal) -> str | None:
        """Return the breach reason the first time it is seen on a UTC day, ``None`` otherwise."""
        day = now_ms // DAY_MS
        if self._alerted_day == day:
            return None
        reason = self.breach(now_ms, equity)
        if reason is not None:
            self._alerted_day = day
        return reason

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the order opens or grows a position while the daily limit is in force."""
        if self.due(ctx.now_ms):
            self.begin_day(ctx.now_ms, ctx.equity)
            return None
        if reduces(ctx.position.quantity, params.side, quantity):
            return None
        return self.breach(ctx.now_ms, ctx.equity)
