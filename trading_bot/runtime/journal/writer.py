"""The batched journal writer: the hot loop queues rows, one task writes them in transactions.

See :class:`JournalWriter`. Rows are the journal's own (``schema.order_to_row`` / ``fill_to_row`` / ``funding_to_row``);
:meth:`~trading_bot.runtime.journal.store.Journal._write_batch` writes one batch in one transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import TYPE_CHECKING
from typing import Any
from typing import Unpack

from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Order
from trading_bot.errors import OperationalError
from trading_bot.log import get_logger
from trading_bot.runtime.journal import schema as js
from trading_bot.runtime.journal.rows import RiskDecisionFields
from trading_bot.runtime.journal.rows import risk_row

if TYPE_CHECKING:
    from trading_bot.runtime.journal.store import Journal

__all__ = ["JournalWriter"]

_log = get_logger(__name__)


class JournalWriter:
    """Batched, non-blocking journal writes for the hot loop.

    ``submit_*`` are sync and O(1): they snapshot the object and queue it. :meth:`run` (a long-lived task
    the supervisor owns) writes the queue in batches of at most ``max_batch`` rows, one transaction per
    batch; a write in progress is shielded from cancellation, so a cancel never splits a transaction.
    On shutdown cancel ``run()``, then ``await flush()`` to write what is left. Failed batches stay
    queued and are retried with back-off; after ``max_failures`` failures in a row ``run()`` raises
    ``OperationalError``.

    Args:
        journal: the open journal.
        clock: stamps ``recorded_ms`` of queued fills.
        max_batch: rows per transaction.
        max_failures: consecutive failed batches before ``run()`` gives up.
    """

    def __init__(self, journal: Journal, clock: Clock, *, max_batch: int = 500, max_failures: int = 10) -> None:
        """Create an idle writer; start :meth:`run` in the supervisor's TaskGroup."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._journal = journal
        self._clock = clock
        self._max_batch = max_batch
        self._max_failures = max_failures
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._inflight: asyncio.Task[None] | None = None
        self.batches_written = 0
        self.rows_written = 0
        self.write_seconds = 0.0
        """Wall seconds spent writing the batches written (their transactions, commit included)."""
        self.failures = 0
        """Batch writes failed in a row (0 after a success): the journal is not writable while above 0."""

    @property
    def pending(self) -> int:
        """Return the number of queued rows not yet committed."""
        return len(self._pending)

    def submit_order_update(self, order: Order, venue: str | None = None) -> None:
        """Queue a snapshot of ``order`` (taken now; later changes to the object are not included).

        ``venue``: the order's venue (``None``: the journal's venue); it is written when the order is new
        to the journal (an order's venue never changes).
        """
        self._enqueue("order", js.order_to_row(order) | {"venue": venue or self._journal.venue})

    def submit_fill(self, fill: Fill, venue: str | None = None) -> None:
        """Queue ``fill`` on ``venue`` (``None``: the journal's); one already journaled under its
        ``(venue, symbol, trade_id)`` is skipped."""
        self._enqueue("fill", js.fill_to_row(fill, self._clock.now_ms(), venue or self._journal.venue))

    def submit_funding(
        self, payment: FundingPayment, *, asset: str, venue: str | None = None, run_id: int | None = None
    ) -> None:
        """Queue a perpetual swap's funding ``payment`` (in ``asset``, the settle currency) on ``venue`` (``None``:
        the journal's), recorded by run ``run_id``; one already journaled under its ``(venue, symbol, id)`` is
        skipped."""
        row = js.funding_to_row(
            payment, venue=venue or self._journal.venue, asset=asset, run_id=run_id, recorded_ms=self._clock.now_ms()
        )
        self._enqueue("funding", row)

    def submit_operator_action(self, row: dict[str, Any]) -> None:
        """Queue one executed operator command (the columns of ``rows.operator_action_to_row``)."""
        self._enqueue("operator", row)

    def submit_risk_decision(self, **decision: Unpack[RiskDecisionFields]) -> None:
        """Queue a risk decision (same fields as :meth:`Journal.record_risk_decision`)."""
        self._enqueue("risk", risk_row(decision, self._journal.venue))

    async def run(self) -> None:
        """Write queued rows until cancelled.

        Raises:
            OperationalError: ``max_failures`` batches in a row failed to write.
        """
        failures = 0
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._inflight is None or self._inflight.done():
                self._inflight = asyncio.create_task(self._write_next(), name="journal_write_batch")
            try:
                await asyncio.shield(self._inflight)
            except asyncio.CancelledError:
                raise
            except OperationalError as exc:
                failures += 1
                self.failures = failures
                _log.error("journal_write_failed", error=repr(exc), failures=failures, pending=len(self._pending))
                if failures >= self._max_failures:
                    raise OperationalError(f"journal: {failures} batch writes failed in a row: {exc}") from exc
                await asyncio.sleep(min(0.1 * 2 ** (failures - 1), 5.0))
            else:
                failures = self.failures = 0

    async def flush(self) -> None:
        """Write everything queued (including a batch interrupted by cancelling :meth:`run`)."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            try:
                await inflight
            except OperationalError as exc:
                _log.warning("journal_write_retry_on_flush", error=repr(exc))
        while self._pending:
            await self._write_next()

    def _enqueue(self, kind: str, row: dict[str, Any]) -> None:
        self._pending.append((kind, row))
        self._wake.set()

    async def _write_next(self) -> None:
        async with self._lock:
            batch = list(itertools.islice(self._pending, self._max_batch))
            if not batch:
                return
            began = time.perf_counter()
            await self._journal._write_batch(batch)
            self.write_seconds += time.perf_counter() - began
            for _ in batch:
                self._pending.popleft()
            self.batches_written += 1
            self.rows_written += len(batch)
