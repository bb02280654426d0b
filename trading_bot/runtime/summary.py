"""The end-of-run summary: orders, fills, fees, PnL, balances, throughput — as JSON-safe data."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain.fingerprint import trade_fingerprint

if TYPE_CHECKING:
    from trading_bot.runtime.supervisor import TradingBot

__all__ = ["build_summary", "format_summary"]


_REPORT_QUANTUM = Decimal("1e-8")


def _num(value: Decimal) -> str:
    """Render a Decimal for a report: at most 8 decimal places, no exponent (``1E+1`` → ``10``).

    Only the printed figure is rounded; the bot's own arithmetic stays exact.
    """
    if value.as_tuple().exponent < -8:  # type: ignore[operator]
        value = value.quantize(_REPORT_QUANTUM)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def build_summary(bot: TradingBot, elapsed_s: float) -> dict[str, Any]:
    """Collect the figures of a finished run (amounts are strings of exact Decimals)."""
    portfolio = bot.portfolio
    statuses = Counter(o.status.value for o in bot.tracker.open_orders())
    orders = bot.orders
    summary: dict[str, Any] = {
        "bot_id": bot.bot_id,
        "symbol": bot.symbol,
        "strategy": bot.strategy.name,
        "exit_code": bot.exit_code,
        "stop_reason": bot.stop_reason,
        "market_events": bot.events,
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(bot.events / elapsed_s) if elapsed_s > 0 else None,
        "orders": dict(orders.stats) if orders is not None else {},
        "open_orders": dict(statuses),
        "duplicate_fills_ignored": bot.tracker.duplicate_fills,
        "trading_state": bot.risk.trading_state.value,
    }
    if portfolio is not None:
        position = portfolio.position
        summary.update(
            {
                "fills": len(portfolio.fills),
                "trade_fingerprint": trade_fingerprint(portfolio.fills),
                "fees": _num(portfolio.fees),
                "realized_pnl": _num(portfolio.realized_pnl),
                "unrealized_pnl": _num(portfolio.unrealized_pnl()),
                "net_pnl": _num(portfolio.realized_pnl + portfolio.unrealized_pnl() - portfolio.fees),
                "position": _num(position.quantity),
                "average_entry": _num(position.average_price),
                "last_mid": _num(portfolio.mark) if portfolio.mark is not None else None,
                "starting_equity": _num(portfolio.starting_equity) if portfolio.starting_equity else None,
                "equity": _num(portfolio.equity()),
                "balances": {
                    cur: {"free": _num(b.free), "locked": _num(b.locked)}
                    for cur, b in sorted(portfolio.balances.items())
                },
            }
        )
    try:
        summary["strategy_summary"] = bot.strategy.summary()
    except Exception as exc:  # a summary must never hide the run's result
        summary["strategy_summary"] = {"error": repr(exc)}
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """Render the summary as aligned ``key  value`` lines for a terminal."""
    lines = []
    flat: list[tuple[str, Any]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            if not value:
                flat.append((key, "-"))
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict):
                    subvalue = "  ".join(f"{k}={v}" for k, v in subvalue.items())
                flat.append((f"{key}.{sub}", subvalue))
        else:
            flat.append((key, "-" if value is None else value))
    width = max(len(k) for k, _ in flat)
    for key, value in flat:
        lines.append(f"{key.ljust(width)}  {value}")
    return "\n".join(lines)
