"""What went wrong in a run that still finished: denied orders, simulator rejections, no fill at all.

A warning is not an error: the run did what it was told and its metrics are right for what filled, but a
user reading "Round trips 0" should not have to guess why. ``WarningCollector`` is fed every order event
of the run (``TradingBot(on_order_event=...)``) and, at the end, the number of fills; ``warnings()``
returns one ``RunWarning`` per (kind, rule), in the order each first happened, then ``no_fill`` last.

Kinds and rules:

* ``denied``: the RiskManager or the sizer refused the order, nothing was sent; ``rule`` is the rule's
  name (``balance`` for a short on spot, ``market_limits``, ``max_order_notional``, ... of ``risk.rules``;
  ``sizing``).
* ``rejected``: the exchange (the simulator in a backtest) refused it; ``rule`` is ``post_only`` (a
  post-only limit would have crossed), ``transient`` (rate limit, not received) or ``refused`` (filters,
  insufficient funds, a stop that would trigger at once: the first reason says which).
* ``no_fill``: the run ended without a single fill (``rule`` empty, ``count`` the orders submitted).

The counts are exact; only the first reason of each (kind, rule) is kept, so memory does not grow with
the run. The CLI exit code is unchanged by warnings (0 for a run that finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSubmitted

__all__ = ["RunWarning", "WarningCollector"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunWarning:
    """One kind of trouble in a run.

    Attributes:
        kind: ``denied``, ``rejected`` or ``no_fill`` (see the module docstring).
        rule: the risk rule (denied), the refusal class (rejected), empty (no_fill).
        count: how many orders it hit (no_fill: orders submitted to the exchange).
        first_reason: the reason of the first one, as the risk manager or the exchange gave it.
    """

    kind: str
    rule: str
    count: int
    first_reason: str

    def line(self) -> str:
        """Return the warning as one line for a terminal or a report."""
        if self.kind == "no_fill":
            return f"no fill: {self.first_reason}"
        plural = "" if self.count == 1 else "s"
        return f"{self.count} order{plural} {self.kind} ({self.rule}); first: {self.first_reason}"

    def to_dict(self) -> dict[str, Any]:
        """Return the warning as JSON-safe data (``--json``): its fields plus ``message`` (``line()``)."""
        return {"kind": self.kind, "rule": self.rule, "count": self.count, "first_reason": self.first_reason,
                "message": self.line()}  # fmt: skip


class WarningCollector:
    """Counts denials and rejections from the run's order events (``observe``) and builds the warnings."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._first: dict[tuple[str, str], str] = {}
        self.submitted = 0

    def observe(self, event: OrderEvent) -> None:
        """Record one order event (any kind; only submissions, denials and rejections count)."""
        if isinstance(event, OrderSubmitted):
            self.submitted += 1
            return
        if isinstance(event, OrderDenied):
            key, reason = ("denied", event.rule), event.reason
        elif isinstance(event, OrderRejected):
            rule = "post_only" if event.post_only else "transient" if event.transient else "refused"
            key, reason = ("rejected", rule), event.reason
        else:
            return
        self._counts[key] = self._counts.get(key, 0) + 1
        self._first.setdefault(key, reason)

    def warnings(self, fills: int) -> tuple[RunWarning, ...]:
        """Return the run's warnings, given its number of ``fills`` (none: a ``no_fill`` warning last)."""
        found = [
            RunWarning(kind=kind, rule=rule, count=count, first_reason=self._first[kind, rule])
            for (kind, rule), count in self._counts.items()
        ]
        if fills == 0:
            found.append(RunWarning(kind="no_fill", rule="", count=self.submitted, first_reason=self._no_fill_reason()))
        return tuple(found)

    def _no_fill_reason(self) -> str:
        denied = sum(c for (kind, _), c in self._counts.items() if kind == "denied")
        rejected = sum(c for (kind, _), c in self._counts.items() if kind == "rejected")
        if not self.submitted and not denied:
            return "the strategy placed no order"
        return f"orders: {self.submitted} submitted, {denied} denied, {rejected} rejected, none filled"
