"""The JSON views of a running bot for ``/api/v1/``: plain data, money as exact Decimal text, no secrets.

Amounts are strings of exact Decimals (``"0.001"``), in the instrument's quote currency unless named;
times are epoch milliseconds of the bot's clock (``*_ms``) or seconds (``*_s``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import decimal_text

if TYPE_CHECKING:
    from trading_bot.monitor.observer import BotObserver
    from trading_bot.runtime.slot import InstrumentSlot
    from trading_bot.runtime.supervisor import TradingBot

__all__ = [
    "MAX_FILLS",
    "equity_now",
    "equity_view",
    "fills_view",
    "instruments_view",
    "orders_view",
    "positions_view",
    "risk_view",
    "status_view",
]

MAX_FILLS = 1000
"""Most fills one ``/api/v1/fills`` answer lists."""


def _text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def status_view(bot: TradingBot, read_only: bool, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's figures (``TradingBot.snapshot``: the end-of-run summary's), its state and its instruments.

    ``summary``: figures already taken (the stream's, kept a while: taking them costs time proportional to
    the run's fills); ``None`` takes them now. The trading state is always read now.
    """
    return {
        "bot_id": bot.bot_id,
        "instruments": [str(i) for i in bot.instruments],
        "strategies": [unit.label for unit in bot.units],
        "trading_state": bot.risk.trading_state.value,
        "trading_state_reason": bot.risk.trading_state_reason,
        "read_only": read_only,
        "summary": bot.snapshot() if summary is None else summary,
    }


def _instrument(slot: InstrumentSlot, now_ms: int) -> dict[str, Any]:
    market, last = slot.market, slot.view.last
    return {
        "instrument": str(slot.instrument),
        "venue": slot.venue.name,
        "symbol": str(market.symbol),
        "kind": market.kind,
        "base": market.base,
        "quote": market.quote,
        "settle": market.settle,
        "tick_size": _text(market.price_increment),
        "lot_step": _text(market.amount_increment),
        "min_notional": _text(market.min_notional),
        "venue_state": slot.venue.state.value,
        "strategy": slot.unit.label,
        "bid": None if last is None else _text(last.bid),
        "ask": None if last is None else _text(last.ask),
        "last_ts_ms": None if last is None else last.ts_ms,
        "data_age_s": None if last is None else round(max(0, now_ms - last.ts_ms) / 1000, 3),
    }


def instruments_view(bot: TradingBot) -> list[dict[str, Any]]:
    """Every instrument: its market rules, venue state, last quote and data age."""
    now = bot.clock.now_ms()
    return [_instrument(slot, now) for slot in bot.slots]


def positions_view(bot: TradingBot) -> list[dict[str, Any]]:
    """Every instrument's position and PnL (a swap adds leverage, margin and funding)."""
    found = []
    for slot in bot.slots:
        portfolio = slot.portfolio
        position = portfolio.position
        marked = portfolio.mark is not None
        row: dict[str, Any] = {
            "instrument": str(slot.instrument),
            "venue": slot.venue.name,
            "symbol": str(slot.market.symbol),
            "quantity": _text(position.quantity),
            "average_entry": _text(position.average_price),
            "mark": _text(portfolio.mark),
            "realized_pnl": _text(portfolio.realized_pnl),
            "unrealized_pnl": _text(portfolio.unrealized_pnl()) if marked else None,
            "net_pnl": _text(portfolio.net_pnl()) if marked else None,
            "fees": _text(portfolio.fees),
            "equity": _text(portfolio.equity()) if marked else None,
            "fills": len(portfolio.fills),
        }
        if slot.market.contract:
            row |= {"leverage": portfolio.leverage, "margin": _text(portfolio.position_margin()) if marked else None,
                    "funding": _text(portfolio.funding), "settle": slot.market.settle}  # fmt: skip
        found.append(row)
    return found


def _order(slot: InstrumentSlot, order: Order) -> dict[str, Any]:
    return {
        "instrument": str(slot.instrument),
        "client_order_id": str(order.client_order_id),
        "exchange_order_id": None if order.exchange_order_id is None else str(order.exchange_order_id),
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": _text(order.quantity),
        "price": _text(order.price),
        "trigger_price": _text(order.trigger_price),
        "status": order.status.value,
        "filled_quantity": _text(order.filled_quantity),
        "average_price": _text(order.average_price),
        "reduce_only": order.reduce_only,
        "post_only": order.post_only,
        "tag": order.client_tag,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def orders_view(bot: TradingBot) -> list[dict[str, Any]]:
    """Every open order of the bot, oldest first."""
    found = [(order.created_ms, _order(slot, order)) for slot in bot.slots for order in slot.tracker.open_orders()]
    return [row for _, row in sorted(found, key=lambda pair: pair[0])]


def _fill(slot: InstrumentSlot, fill: Fill) -> dict[str, Any]:
    return {
        "instrument": str(slot.instrument),
        "trade_id": str(fill.trade_id),
        "client_order_id": str(fill.client_order_id),
        "side": fill.side.value,
        "quantity": _text(fill.quantity),
        "price": _text(fill.price),
        "fee": _text(fill.fee),
        "fee_currency": fill.fee_currency,
        "liquidity": fill.liquidity.value,
        "ts_ms": fill.ts_ms,
    }


def fills_view(bot: TradingBot, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` fills of every instrument, oldest first.

    Only each instrument's last ``limit`` fills (in arrival order) are looked at, so the cost does not grow
    with the run's length.
    """
    if limit <= 0:
        return []
    found = [(fill.ts_ms, i, slot, fill) for slot in bot.slots
             for i, fill in enumerate(slot.portfolio.fills[-limit:])]  # fmt: skip
    found.sort(key=lambda item: (item[0], item[1]))
    return [_fill(slot, fill) for _, _, slot, fill in found[-limit:]]


def equity_view(observer: BotObserver, interval_s: float) -> dict[str, Any]:
    """The sampled equity curve (oldest first), the sampling interval and how many points it keeps."""
    return {
        "interval_s": interval_s,
        "max_points": observer.equity.maxlen,
        "points": [{"ts_ms": p.ts_ms, "equity": decimal_text(p.equity)} for p in observer.equity],
    }


def equity_now(bot: TradingBot) -> dict[str, Any] | None:
    """The account's equity at this moment (``{"ts_ms", "equity"}``), or ``None`` before it is valued."""
    book = bot.book
    if book is None or not book.valued:
        return None
    return {"ts_ms": bot.clock.now_ms(), "equity": decimal_text(book.equity())}


def risk_view(bot: TradingBot, observer: BotObserver) -> dict[str, Any]:
    """The trading state and why, each venue's state, denials by rule and the latest denials (newest last)."""
    return {
        "trading_state": bot.risk.trading_state.value,
        "trading_state_reason": bot.risk.trading_state_reason,
        "venues": {v.name: {"state": v.state.value, "failure": v.failure or None} for v in bot.venues},
        "denials_by_rule": dict(sorted(observer.denials.items())),
        "recent_denials": [
            {"ts_ms": d.ts_ms, "client_order_id": d.client_order_id, "symbol": d.symbol, "side": d.side,
             "rule": d.rule, "reason": d.reason}
            for d in observer.recent_denials
        ],
    }
