"""The funding schedule of a simulated perpetual swap: when funding settles and at what rate.

Times are epoch milliseconds UTC; a rate is a fraction of the position's notional per funding interval
(0.0001 = 0.01 %; positive: longs pay shorts). ``exchanges.recorded_funding`` reads recorded rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["MAX_FUNDING_RATE", "FundingRate", "FundingSchedule"]

MAX_FUNDING_RATE = Decimal("0.03")
"""The largest |rate| accepted per funding interval (3 %)."""


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One funding time (epoch ms UTC) and its rate (fraction of the position's notional)."""

    ts_ms: int
    rate: Decimal


class FundingSchedule:
    """The funding times of one swap market, consumed in time order by a simulator.

    Either recorded rates (``read_funding``) or one constant ``rate`` every ``interval_ms`` at the multiples
    of the interval since the epoch (00:00, 08:00 and 16:00 UTC for 8 h), from ``start_ms`` on.
    """

    def __init__(self, rates: Sequence[FundingRate] = (), *, rate: Decimal | None = None,
                 interval_ms: int = 28_800_000, start_ms: int = 0) -> None:  # fmt: skip
        if rate is not None and rates:
            raise ValueError("give recorded rates or a constant rate, not both")
        if rate is not None and (not rate.is_finite() or abs(rate) > MAX_FUNDING_RATE):
            raise ValueError(f"funding rate {rate} is beyond ±{MAX_FUNDING_RATE} per interval")
        if interval_ms <= 0:
            raise ValueError(f"funding interval must be > 0 ms, got {interval_ms}")
        self._rates = list(rates)
        self._i = 0
        self._rate = rate
        self._interval = interval_ms
        self._next = -(-start_ms // interval_ms) * interval_ms  # the first multiple at or after start_ms

    def peek(self) -> int | None:
        """Return the next funding time (epoch ms), ``None`` when the recorded rates are used up."""
        if self._rate is not None:
            return self._next
        return self._rates[self._i].ts_ms if self._i < len(self._rates) else None

    def due(self, until_ms: int) -> list[FundingRate]:
        """Return (and consume) every funding at or before ``until_ms``, oldest first."""
        out: list[FundingRate] = []
        if self._rate is not None:
            while self._next <= until_ms:
                out.append(FundingRate(self._next, self._rate))
                self._next += self._interval
            return out
        rates = self._rates
        while self._i < len(rates) and rates[self._i].ts_ms <= until_ms:
            out.append(rates[self._i])
            self._i += 1
        return out
