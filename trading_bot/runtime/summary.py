"""The end-of-run summary: orders, fills, fees, PnL, balances, throughput — as JSON-safe data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain import ZERO
from trading_bot.domain import decimal_text
from trading_bot.domain.fingerprint import trade_fingerprint

if TYPE_CHECKING:
    from trading_bot.runtime.book import Book
    from trading_bot.runtime.slot import InstrumentSlot
    from trading_bot.runtime.unit import StrategyUnit

__all__ = ["RunFacts", "build_summary", "format_summary"]


_REPORT_QUANTUM = Decimal("1e-8")


def _num(value: Decimal) -> str:
    """Render a Decimal for a report: at most 8 decimal places, no exponent (``1E+1`` → ``10``).

    Only the printed figure is rounded; the bot's own arithmetic stays exact.
    """
    if value.as_tuple().exponent < -8:  # type: ignore[operator]
        value = value.quantize(_REPORT_QUANTUM)
    return decimal_text(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFacts:
    """The run-level figures the supervisor hands to the summary (no access to its internals)."""

    bot_id: str
    exit_code: int
    stop_reason: str
    market_events: int
    elapsed_s: float
    trading_state: str


def _strategy_summary(unit: StrategyUnit) -> dict[str, Any]:
    try:
        return unit.strategy.summary()
    except Exception as exc:  # a summary must never hide the run's result
        return {"error": repr(exc)}


def _instrument_block(slot: InstrumentSlot, fingerprint: bool = True) -> dict[str, Any]:
    """The figures of one instrument (amounts are strings of exact Decimals, in its quote currency)."""
    portfolio, tracker = slot.portfolio, slot.tracker
    position = portfolio.position
    block: dict[str, Any] = {
        "orders": dict(slot.orders.stats),
        "open_orders": dict(Counter(o.status.value for o in tracker.open_orders())),
        "duplicate_fills_ignored": tracker.duplicate_fills,
        "fills": len(portfolio.fills),
        **({"trade_fingerprint": trade_fingerprint(portfolio.fills)} if fingerprint else {}),
        "fees": _num(portfolio.fees),
        "realized_pnl": _num(portfolio.realized_pnl),
        "unrealized_pnl": _num(portfolio.unrealized_pnl()),
        "net_pnl": _num(portfolio.net_pnl()),
        "position": _num(position.quantity),
        "average_entry": _num(position.average_price),
        "last_mid": _num(portfolio.mark) if portfolio.mark is not None else None,
    }
    if slot.market.contract:  # a perpetual swap: what holds the position, and what it paid to hold
        block.update(
            {
                "leverage": portfolio.leverage,
                "margin": _num(portfolio.position_margin()),
                "funding": _num(portfolio.funding),
                "funding_payments": portfolio.funding_payments,
                "liquidations": len(portfolio.liquidations),
            }
        )
    return block


def _balances(slot: InstrumentSlot) -> dict[str, Any]:
    return {cur: {"free": _num(b.free), "locked": _num(b.locked)} for cur, b in sorted(slot.portfolio.balances.items())}


def build_summary(
    facts: RunFacts,
    units: Sequence[StrategyUnit],
    slots: Sequence[InstrumentSlot],
    book: Book | None,
    *,
    fingerprint: bool = True,
) -> dict[str, Any]:
    """Collect the figures of a finished run (amounts are strings of exact Decimals).

    One instrument: its figures at the top level. Several: per-instrument blocks under ``instruments``
    (``venue:symbol`` → figures, each with its own trade fingerprint, and ``strategy_summary`` of a
    single-instrument strategy's instance), balances per venue, and portfolio totals at the top level —
    ``net_pnl`` summed with quote currencies at par, ``equity`` valued by the ``Book``.
    """
    elapsed_s = facts.elapsed_s
    events = facts.market_events
    summary: dict[str, Any] = {
        "bot_id": facts.bot_id,
        "symbol": slots[0].market.symbol if slots else (units[0].instruments[0].symbol if units else None),
        "strategy": ", ".join(dict.fromkeys(u.name for u in units)),
        "exit_code": facts.exit_code,
        "stop_reason": facts.stop_reason,
        "market_events": events,
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(events / elapsed_s) if elapsed_s > 0 else None,
        "trading_state": facts.trading_state,
    }
    if len(slots) <= 1:
        if slots:
            block = _instrument_block(slots[0], fingerprint)
            summary.update({k: block[k] for k in ("orders", "open_orders", "duplicate_fills_ignored")})
            summary.update({k: v for k, v in block.items() if k not in summary})
            portfolio = slots[0].portfolio
            summary["starting_equity"] = _num(portfolio.starting_equity) if portfolio.starting_equity else None
            summary["equity"] = _num(portfolio.equity())
            summary["balances"] = _balances(slots[0])
        else:
            summary.update({"orders": {}, "open_orders": {}, "duplicate_fills_ignored": 0})
        summary["strategy_summary"] = _strategy_summary(units[0]) if units else {}
        return summary
    instruments: dict[str, Any] = {}
    for slot in slots:
        block = _instrument_block(slot, fingerprint)
        if len(slot.unit.instruments) == 1:
            block["strategy_summary"] = _strategy_summary(slot.unit)
        instruments[str(slot.instrument)] = block
    fill_count = sum(len(s.portfolio.fills) for s in slots)
    net = sum((s.portfolio.net_pnl() for s in slots), ZERO)
    starting = book.starting_equity if book is not None else None
    venues = dict.fromkeys(s.venue for s in slots)
    summary.update(
        {
            "instrument_count": len(slots),
            "fills": fill_count,
            **({"trade_fingerprint": trade_fingerprint(f for s in slots for f in s.portfolio.fills)} if fingerprint
               else {}),
            "net_pnl": _num(net),
            "starting_equity": _num(starting) if starting else None,
            "equity": _num(book.equity()) if book is not None else None,
            "balances": {v.name: _balances(next(iter(v.slots.values()))) for v in venues},
            "instruments": instruments,
        }
    )
    multi = [u for u in units if len(u.instruments) > 1]
    if multi:
        summary["strategy_summary"] = {u.label: _strategy_summary(u) for u in multi}
    return summary


def _flatten(prefix: str, value: Any, depth: int, out: list[tuple[str, Any]]) -> None:
    """Flatten nested figures into ``a.b.c`` keys; a dict of plain values below the top is one ``k=v`` line."""
    if not isinstance(value, dict):
        out.append((prefix, "-" if value is None else value))
        return
    if not value:
        out.append((prefix, "-"))
        return
    if depth >= 2 and not any(isinstance(v, dict) for v in value.values()):
        out.append((prefix, "  ".join(f"{k}={v}" for k, v in value.items())))
        return
    for key, sub in value.items():
        _flatten(f"{prefix}.{key}", sub, depth + 1, out)


def format_summary(summary: dict[str, Any]) -> str:
    """Render the summary as aligned ``key  value`` lines for a terminal (nested blocks as ``a.b`` keys)."""
    flat: list[tuple[str, Any]] = []
    for key, value in summary.items():
        _flatten(key, value, 1, flat)
    width = max(len(k) for k, _ in flat)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in flat)
