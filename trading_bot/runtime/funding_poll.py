"""A running bot's funding payments from its venues: asked after each funding time, and every 10 minutes.

At start, reconciliation catches up the payments made while the bot was down (``funding_sync``). While it
runs, a venue whose client does not push ``FundingPayment`` updates (the ccxt adapter: the venue's income
history is the record) is asked again by the supervisor's heartbeat:

* after each funding time the market data announced (``MarketData.next_funding_ms``, from the venue's mark
  price stream), ``SETTLE_DELAY_MS`` later, so the venue has booked it;
* every ``FALLBACK_MS`` in any case (a venue without a mark stream, a missed announcement);
* and once more at shutdown, so a run journals every payment made before it stopped.

Each ask covers the time since the newest payment seen (or the run's start less ``LOOKBACK_MS``). The payments
go through the supervisor's account-update path, where a payment already counted (the same id from a push, a
catch-up or an earlier ask) is skipped: each is journaled once. Clients that push their payments as they settle
them (``BaseExchangeClient.pushes_funding``: the simulators) are not asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from trading_bot.domain import FundingPayment
from trading_bot.domain import InstrumentId

__all__ = ["FALLBACK_MS", "LOOKBACK_MS", "SETTLE_DELAY_MS", "FundingPoller"]

SETTLE_DELAY_MS = 2_000
"""Wait after an announced funding time before asking the venue for the payment, ms."""
FALLBACK_MS = 600_000
"""Ask at least this often, ms."""
LOOKBACK_MS = 60_000
"""The first ask of a run starts this long before the run's start (reconciliation covered the time before), ms."""


@dataclass(slots=True)
class _Instrument:
    since_ms: int
    next_ask_ms: int
    announced: list[int] = field(default_factory=list)  # funding times announced and not asked about yet
    latest_announced_ms: int = 0


@dataclass(slots=True)
class FundingPoller:
    """When to ask each swap's venue for funding payments, and from when.

    Args:
        start_ms: the run's start (clock ms).
    """

    start_ms: int
    _instruments: dict[InstrumentId, _Instrument] = field(default_factory=dict)

    def _state(self, instrument: InstrumentId, now_ms: int) -> _Instrument:
        state = self._instruments.get(instrument)
        if state is None:
            state = _Instrument(since_ms=self.start_ms - LOOKBACK_MS, next_ask_ms=now_ms + FALLBACK_MS)
            self._instruments[instrument] = state
        return state

    def due(
        self, instrument: InstrumentId, next_funding_ms: int | None, now_ms: int, *, force: bool = False
    ) -> int | None:
        """Return the time to ask from (epoch ms) when ``instrument``'s venue should be asked now, else ``None``.

        Args:
            instrument: the swap.
            next_funding_ms: the next funding time its latest market data announced (``None``: unknown).
            now_ms: the clock's time.
            force: ask now whatever the schedule (the last ask, at shutdown).
        """
        state = self._state(instrument, now_ms)
        waiting = state.announced
        if next_funding_ms is not None and next_funding_ms > state.latest_announced_ms:
            state.latest_announced_ms = next_funding_ms
            waiting.append(next_funding_ms)  # kept after the stream moves on to the next funding time
        settled = [t for t in waiting if now_ms >= t + SETTLE_DELAY_MS]
        if not settled and not force and now_ms < state.next_ask_ms:
            return None
        del waiting[: len(settled)]
        state.next_ask_ms = now_ms + FALLBACK_MS
        return state.since_ms

    def seen(self, instrument: InstrumentId, payments: list[FundingPayment]) -> None:
        """Move ``instrument``'s next ask past the newest of ``payments`` (asked about, whether new or not)."""
        state = self._instruments.get(instrument)
        if state is not None and payments:
            state.since_ms = max(state.since_ms, max(p.ts_ms for p in payments))
