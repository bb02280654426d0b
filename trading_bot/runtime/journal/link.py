"""JournalLink: the supervisor's connection to the journal for one run.

It gives the order manager what it needs (a durable write-ahead ``record_intent``, denial records and
client-order-id sequence numbers that survive restarts) and queues order updates and fills on the
batching writer, whose ``run`` loop the supervisor owns in its TaskGroup. It holds the one-bot lock
(``lock``) from ``open`` to ``close``, and carries the run's ``adopt`` choice to reconciliation.

Venues: the link is built with the bot's ``venue`` and ``instrument`` (``venue:symbol``). Every
``record_*`` / ``save_state`` / ``load_state`` takes an optional venue or instrument; ``None`` means the
link's own, so a one-instrument caller never names them.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Order
from trading_bot.errors import OperationalError
from trading_bot.log import get_logger
from trading_bot.runtime.journal.rows import operator_action_to_row
from trading_bot.runtime.journal.store import SEQUENCE_BLOCK
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.journal.store import JournalWriter
from trading_bot.runtime.journal.tables import BOT_WIDE
from trading_bot.runtime.journal.tables import INSTRUMENT_LENGTH

if TYPE_CHECKING:
    from trading_bot.runtime.operator import OperatorCommand
    from trading_bot.runtime.operator import OperatorOutcome

__all__ = ["JournalLink"]

_log = get_logger(__name__)


class JournalLink:
    """One run's journal: opened by ``open``, closed by ``close``.

    Args:
        db_url: SQLAlchemy URL of the journal.
        bot_id: the bot's id (prefix of client order ids).
        config_hash: hash of the redacted config, recorded with the run.
        adopt: at reconciliation, take the exchange's history of this bot into a journal that is older than
            it (``reconcile``); otherwise such a journal stops the start.
        venue: the bot's (default) venue name: rows that name no venue get it, and so do the rows of a v1
            journal when it is migrated (``schema``). ``None``: ``store.DEFAULT_VENUE`` (tests).
        instrument: the bot's (default) instrument, ``venue:symbol``: the key of snapshots that name none.
            ``None``: bot-wide snapshots (``schema.BOT_WIDE``), keyed as journal v1 kept them.
    """

    def __init__(
        self,
        db_url: str,
        bot_id: str,
        config_hash: str,
        *,
        adopt: bool = False,
        venue: str | None = None,
        instrument: str | None = None,
    ) -> None:
        self.db_url = db_url
        self.bot_id = bot_id
        self.config_hash = config_hash
        self.adopt = adopt
        self.venue = venue
        self.instrument = instrument
        self._journal: Journal | None = None
        self._writer: JournalWriter | None = None
        self.run_id: int | None = None
        self._next_seq = 0
        self._seq_end = 0

    @property
    def journal(self) -> Journal:
        """The open journal."""
        if self._journal is None:
            raise RuntimeError("journal used before open()")
        return self._journal

    @property
    def writer(self) -> JournalWriter:
        """The batching writer."""
        if self._writer is None:
            raise RuntimeError("journal used before open()")
        return self._writer

    @property
    def batch_writer(self) -> JournalWriter | None:
        """The batching writer while the journal is open, else ``None`` (the monitor reads its figures)."""
        return self._writer if self._journal is not None else None

    async def open(self, clock: Clock) -> None:
        """Lock, open (and migrate) the journal and record the start of a run.

        Raises:
            ConfigError: the journal is unusable as configured, or another bot holds it.
            OperationalError: permissions, disk or database server (see ``access``).
        """
        journal = await Journal.open(self.db_url, lock_as=self.bot_id, venue=self.venue, instrument=self.instrument)
        try:
            self.run_id = await journal.start_run(self.bot_id, self.config_hash, clock.now_ms())
        except BaseException:
            await journal.close()
            raise
        self._journal = journal
        self._writer = JournalWriter(journal, clock)
        _log.info("journal_run_started", run_id=self.run_id, db=journal.location.shown)

    async def next(self) -> int:
        """Return the next client-order-id sequence number (reserved durably in blocks)."""
        if self._next_seq >= self._seq_end:
            first = await self.journal.next_sequence(self.bot_id, SEQUENCE_BLOCK)
            self._next_seq, self._seq_end = first, first + SEQUENCE_BLOCK
        value = self._next_seq
        self._next_seq += 1
        return value

    async def record_intent(self, order: Order, venue: str | None = None) -> None:
        """Durably record an order on ``venue`` (``None``: the link's) before its request leaves (write-ahead)."""
        assert self.run_id is not None
        await self.journal.record_intent(order, self.run_id, self.bot_id, venue)

    def record_denial(self, order: Order, rule: str, reason: str, venue: str | None = None) -> None:
        """Queue the record of a risk denial of ``order`` on ``venue`` (``None``: the link's)."""
        self.writer.submit_risk_decision(
            venue=venue or self.journal.venue,
            ts_ms=order.created_ms,
            run_id=self.run_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity if order.quantity > 0 else None,
            price=order.price,
            rule=rule,
            reason=reason,
        )

    def record_order(self, order: Order, venue: str | None = None) -> None:
        """Queue a snapshot of an order's new state (the order is on ``venue``; ``None``: the link's)."""
        self.writer.submit_order_update(order, venue)

    def record_fill(self, fill: Fill, venue: str | None = None) -> None:
        """Queue a fill on ``venue`` (``None``: the link's); the journal keeps one row per
        ``(venue, symbol, trade_id)``."""
        self.writer.submit_fill(fill, venue)

    def record_funding(self, payment: FundingPayment, *, asset: str, venue: str | None = None) -> None:
        """Queue a funding payment (in ``asset``, the settle currency) on ``venue`` (``None``: the link's),
        recorded by this run; the journal keeps one row per ``(venue, symbol, payment id)``."""
        self.writer.submit_funding(payment, asset=asset, venue=venue, run_id=self.run_id)

    def record_operator_action(self, command: OperatorCommand, outcome: OperatorOutcome) -> None:
        """Queue the audit record of an executed operator command and its outcome (stamped ``outcome.ts_ms``)."""
        self.writer.submit_operator_action(
            operator_action_to_row(
                run_id=self.run_id, bot_id=self.bot_id, ts_ms=outcome.ts_ms, who=command.who,
                action=command.action.value, instrument=_bounded(command.instrument), reason=command.reason,
                ok=outcome.ok, detail=outcome.detail,
            )
        )  # fmt: skip

    async def run_writer(self) -> None:
        """Write queued rows until cancelled (a TaskGroup task)."""
        await self.writer.run()

    async def save_state(self, strategy: str, ts_ms: int, state: dict[str, Any], instrument: str | None = None) -> None:
        """Store the snapshot of ``strategy`` on ``instrument`` (``venue:symbol``; ``None``: the link's)."""
        await self.journal.save_strategy_state(strategy, ts_ms, state, instrument)

    async def load_state(self, strategy: str, instrument: str | None = None) -> dict[str, Any] | None:
        """Return the latest snapshot of ``strategy`` on ``instrument`` (``None``: the link's), or ``None``."""
        return await self.journal.load_strategy_state(strategy, instrument)

    async def save_risk_state(self, key: str, ts_ms: int, state: dict[str, Any]) -> None:
        """Store the risk manager's state under ``key`` (kept with the strategy snapshots, one bot-wide row)."""
        await self.journal.save_strategy_state(key, ts_ms, state, BOT_WIDE)

    async def load_risk_state(self, key: str) -> dict[str, Any] | None:
        """Return the risk state stored under ``key``, or ``None``."""
        return await self.journal.load_strategy_state(key, BOT_WIDE)

    async def close(
        self, stopped_ms: int, exit_reason: str, exit_code: int, *, flush_timeout_s: float | None = None
    ) -> None:
        """Flush queued rows, record the end of the run and close the journal.

        The end of the run is recorded even when the flush fails or runs out of time (the rows still
        queued are lost from the journal, not the run row; the next start reconciles them with the
        exchange).

        Args:
            stopped_ms: when the run stopped, epoch ms.
            exit_reason: why it stopped.
            exit_code: the process exit code.
            flush_timeout_s: longest wait for the queued rows, seconds; ``None`` waits for all.

        Raises:
            OperationalError: the queued rows could not be written (the run row was still recorded if possible).
            Exception: whatever recording the end of the run raised (the journal is closed either way).
        """
        journal = self._journal
        if journal is None:
            return
        flush_error: Exception | None = None
        try:
            if self._writer is not None:
                try:
                    async with asyncio.timeout(flush_timeout_s):
                        await self._writer.flush()
                except Exception as exc:  # incl. TimeoutError and a full disk: the run row comes first
                    flush_error = exc
                    _log.error("journal_flush_failed", error=repr(exc), pending=self._writer.pending)
            if self.run_id is not None:
                await journal.finish_run(self.run_id, stopped_ms, exit_reason, exit_code)
        finally:
            self._journal = None
            await journal.close()
        if flush_error is not None:
            pending = self._writer.pending if self._writer is not None else 0
            raise OperationalError(f"journal: {pending} queued rows not written: {flush_error!r}") from flush_error

    async def position(self, symbol: str, venue: str | None = None) -> Decimal:
        """Return the signed position from the journal's fills of ``symbol`` on ``venue`` (``None``: the link's)."""
        return await self.journal.position(symbol, venue or self.journal.venue)


def _bounded(instrument: str | None) -> str | None:
    """The instrument as given, cut to the column's length (PostgreSQL would refuse the whole batch)."""
    return None if instrument is None else instrument[:INSTRUMENT_LENGTH]
