"""The supervisor's side of the daily loss limit (``risk.daily``): begin each UTC day, keep it across restarts.

``DailyLossKeeper`` begins the UTC day on the first market event (or heartbeat) on or after 00:00 UTC of
the bot's clock, with the account value (``Book``, quote currency) after fresh balances, and stores that start
in the journal (the ``strategy_state`` table under the reserved key ``@risk``, which no strategy can be
named) so a restart later the same day measures the loss from the same start. A stored start of an earlier
day is ignored; without a journal (replays, backtests) nothing is stored. A store that fails is logged and
trading goes on: a restart that day would then measure from its own start.

``check`` logs ``daily_loss_limit`` (error, ``alert=True``) the first time on a UTC day that the limit is
found in force; the per-order denials (rule ``daily_loss``) are logged at debug level by the supervisor.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING

from risk.daily import DayStart
from risk.manager import RiskManager
from trading_bot.errors import TradingBotError
from trading_bot.log import get_logger
from trading_bot.runtime.book import Book

if TYPE_CHECKING:  # the journal pulls in SQLAlchemy: imported only when a run has one
    from trading_bot.runtime.journal.link import JournalLink

__all__ = ["RISK_STATE_KEY", "DailyLossKeeper"]

RISK_STATE_KEY = "@risk"
"""The ``strategy_state`` key the risk state is stored under (``@`` is not allowed in a strategy name)."""

_log = get_logger(__name__)


class DailyLossKeeper:
    """Begins, stores and restores the UTC day's starting equity for the RiskManager's daily loss rule.

    Args:
        risk: the RiskManager (its ``max_daily_loss_pct`` must be set).
        book: the bot's instruments, valued together (``Book``: quote currency, marks at mid).
        journal: the run's journal, or ``None`` (nothing stored).
        refresh_balances: refreshes the portfolio's balances when fills made them stale.
    """

    __slots__ = ("_book", "_journal", "_refresh_balances", "_risk")

    def __init__(
        self,
        risk: RiskManager,
        book: Book,
        journal: JournalLink | None,
        refresh_balances: Callable[[], Awaitable[None]],
    ) -> None:
        self._risk = risk
        self._book = book
        self._journal = journal
        self._refresh_balances = refresh_balances

    def due(self, now_ms: int) -> bool:
        """Return True when the UTC day of ``now_ms`` has not begun and every instrument has a mark (to value it)."""
        return self._book.valued and self._risk.day_due(now_ms)

    async def restore(self, now_ms: int) -> None:
        """Take back today's journaled start, if there is one (a start of another day is ignored)."""
        journal = self._journal
        if journal is None:
            return
        state = await journal.load_risk_state(RISK_STATE_KEY)
        start = None if state is None else DayStart.from_state(state.get("day_start"))
        if start is not None and self._risk.restore_day(start, now_ms):
            _log.info("trading_day_restored", day_start_ms=start.ts_ms, equity=str(start.equity))

    async def begin_day(self, now_ms: int) -> None:
        """Begin the UTC day of ``now_ms`` with the current equity and store it in the journal."""
        await self._refresh_balances()
        start = self._risk.begin_day(now_ms, self._book.equity())
        if start is None:
            return
        _log.info("trading_day_started", day_start_ms=start.ts_ms, equity=str(start.equity))
        journal = self._journal
        if journal is None or journal.run_id is None:
            return
        try:
            await journal.save_risk_state(RISK_STATE_KEY, now_ms, {"day_start": start.to_state()})
        except TradingBotError as exc:
            _log.error("trading_day_not_stored", error=str(exc), alert=True)

    def check(self, now_ms: int) -> None:
        """Alert once per UTC day when the daily loss limit is in force."""
        if not self._book.valued:
            return
        reason = self._risk.daily_loss_alert(now_ms, self._book.equity())
        if reason is not None:
            _log.error("daily_loss_limit", reason=reason, alert=True)
