"""OrderTracker: the bot's record of its own orders, turning exchange reports and fills into events.

Rules it keeps:

* Fills are applied once per ``(symbol, trade_id)``, whatever the source (user stream, REST answer,
  polling cross-check, reconciliation) and however late. A fill for an order that already went terminal
  (a cancel that raced a fill) still counts and still produces a fill event.
* Fill quantities come only from ``Fill`` facts; status reports move the order's state (accepted,
  canceled, expired, rejected) but never invent filled quantity.
* Reports and fills for client ids that are not ours are ignored and reported once as foreign.
* Closed orders stay in a bounded "recently closed" cache so late updates still find them.
* A rejection carries its classification to the strategy (``OrderRejected.post_only`` / ``.transient``),
  decided once by whoever knew the cause: the order manager (by exception class) or the exchange
  client's report (``OrderStatusReport.transient``: "not received by the exchange").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderAccepted
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderExpired
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderPartiallyFilled
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.log import get_logger

__all__ = ["OrderTracker"]

_log = get_logger(__name__)

_RECENT_CLOSED_MAX = 10_000


class OrderTracker:
    """In-flight and recently closed orders of one bot, keyed by client order id.

    Args:
        client_id_prefix: ``"<bot-id>-"``; ids with another prefix are foreign and left alone.
    """

    def __init__(self, client_id_prefix: str) -> None:
        self.client_id_prefix = client_id_prefix
        self._open: dict[ClientOrderId, Order] = {}
        self._closed: OrderedDict[ClientOrderId, Order] = OrderedDict()
        self._operator_cancels: set[ClientOrderId] = set()
        self._seen_trades: set[tuple[str, str]] = set()
        self._foreign_seen: set[str] = set()
        self.duplicate_fills = 0

    # -- registry of orders -------------------------------------------------------------------
    def add(self, order: Order) -> None:
        """Start tracking an order (before it is sent)."""
        if order.client_order_id in self._open or order.client_order_id in self._closed:
            raise ValueError(f"client order id {order.client_order_id} is already tracked")
        if order.status.is_terminal:
            self._remember_closed(order)
        else:
            self._open[order.client_order_id] = order

    def get(self, client_order_id: ClientOrderId) -> Order | None:
        """Return an open or recently closed order, or ``None``."""
        order = self._open.get(client_order_id)
        if order is None:
            order = self._closed.get(client_order_id)
        return order

    def open_orders(self) -> list[Order]:
        """Return the orders that may still rest or fill, oldest first."""
        return list(self._open.values())

    def tagged(self, client_tag: str) -> Order | None:
        """Return the order carrying the strategy's ``client_tag``: an open one, else the latest closed one.

        Scans every tracked order (meant for restarts, when a strategy matches what it queued before
        the stop with what reconciliation found); ``None`` when no tracked order has the tag.
        """
        for order in self._open.values():
            if order.client_tag == client_tag:
                return order
        for order in reversed(self._closed.values()):
            if order.client_tag == client_tag:
                return order
        return None

    @property
    def open_count(self) -> int:
        """Return how many orders are open (INITIALIZED and SUBMITTED included)."""
        return len(self._open)

    def is_ours(self, client_order_id: str | None) -> bool:
        """Return True when the client id carries this bot's prefix."""
        return bool(client_order_id) and str(client_order_id).startswith(self.client_id_prefix)

    def seen_trade(self, symbol: str, trade_id: str) -> bool:
        """Return True when this fill was already applied."""
        return (symbol, trade_id) in self._seen_trades

    def mark_trades_seen(self, keys: Iterable[tuple[str, str]]) -> None:
        """Mark fills as applied (used when restoring from the journal)."""
        self._seen_trades.update(keys)

    def note_operator_cancel(self, client_order_id: ClientOrderId, asked: bool = True) -> None:
        """Mark an open order whose cancel the operator asked for (its ``OrderCanceled`` says ``by_operator``);
        ``asked=False`` drops the mark of a cancel that did not happen (the order rests again)."""
        if asked and client_order_id in self._open:
            self._operator_cancels.add(client_order_id)
        else:
            self._operator_cancels.discard(client_order_id)

    def _remember_closed(self, order: Order) -> None:
        self._open.pop(order.client_order_id, None)
        self._operator_cancels.discard(order.client_order_id)
        self._closed[order.client_order_id] = order
        if len(self._closed) > _RECENT_CLOSED_MAX:
            self._closed.popitem(last=False)

    def _settle(self, order: Order) -> None:
        if order.status.is_terminal:
            self._remember_closed(order)

    # -- updates from the exchange ------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> OrderEvent | None:
        """Apply one fill; return the fill event, or ``None`` for a duplicate or a foreign order."""
        key = (fill.symbol, fill.trade_id)
        if key in self._seen_trades:
            self.duplicate_fills += 1
            return None
        order = self.get(fill.client_order_id)
        if order is None:
            self._note_foreign(fill.client_order_id, "fill")
            return None
        self._seen_trades.add(key)
        if order.exchange_order_id is None and fill.exchange_order_id is not None:
            order.exchange_order_id = fill.exchange_order_id
        if order.status is OrderStatus.INITIALIZED:
            order.transition(OrderStatus.SUBMITTED, fill.ts_ms)
        order.apply_fill(fill)
        self._settle(order)
        if order.filled_quantity >= order.quantity:
            return OrderFilled(
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                ts_ms=fill.ts_ms,
                client_tag=order.client_tag,
                fill=fill,
                filled_quantity=order.filled_quantity,
                average_price=order.average_price or fill.price,
            )
        return OrderPartiallyFilled(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=fill.ts_ms,
            client_tag=order.client_tag,
            fill=fill,
            filled_quantity=order.filled_quantity,
            leaves_quantity=order.quantity - order.filled_quantity,
        )

    def apply_report(self, report: OrderStatusReport) -> OrderEvent | None:
        """Apply one status report; return the event it caused, or ``None`` when nothing changed."""
        order = self.get(report.client_order_id)
        if order is None:
            self._note_foreign(report.client_order_id, "report")
            return None
        if report.exchange_order_id is not None and order.exchange_order_id is None:
            order.exchange_order_id = report.exchange_order_id
        status = report.status
        if order.status.is_terminal or status is order.status:
            return None
        ts = report.ts_ms
        if status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            # Fill state comes from fills; a report only tells us the order is live on the book.
            if order.status in (OrderStatus.INITIALIZED, OrderStatus.SUBMITTED):
                if order.status is OrderStatus.INITIALIZED:
                    order.transition(OrderStatus.SUBMITTED, ts)
                order.transition(OrderStatus.ACCEPTED, ts)
                return OrderAccepted(
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    ts_ms=ts,
                    client_tag=order.client_tag,
                    exchange_order_id=order.exchange_order_id,
                )
            if order.status is OrderStatus.PENDING_CANCEL and status is OrderStatus.ACCEPTED:
                order.transition(OrderStatus.ACCEPTED, ts, reason=report.reason or "cancel refused")
            return None
        if status is OrderStatus.PENDING_CANCEL:
            if order.can_transition(status):
                order.transition(status, ts)
            return None
        return self._close(order, status, ts, report.reason, transient=report.transient)

    def _close(
        self,
        order: Order,
        status: OrderStatus,
        ts: int,
        reason: str,
        *,
        post_only: bool | None = None,
        transient: bool = False,
    ) -> OrderEvent | None:
        if order.status is OrderStatus.INITIALIZED and status is not OrderStatus.REJECTED:
            order.transition(OrderStatus.SUBMITTED, ts)
        if not order.can_transition(status):
            _log.warning(
                "order_report_ignored",
                client_order_id=order.client_order_id,
                status=order.status.value,
                reported=status.value,
            )
            return None
        order.transition(status, ts, reason=reason)
        coid, symbol, side, tag = order.client_order_id, order.symbol, order.side, order.client_tag
        by_operator = coid in self._operator_cancels
        self._settle(order)
        if status is OrderStatus.CANCELED:
            return OrderCanceled(
                client_order_id=coid, symbol=symbol, side=side, ts_ms=ts, client_tag=tag,
                filled_quantity=order.filled_quantity, by_operator=by_operator,
            )  # fmt: skip
        if status is OrderStatus.EXPIRED:
            return OrderExpired(
                client_order_id=coid, symbol=symbol, side=side, ts_ms=ts, client_tag=tag,
                filled_quantity=order.filled_quantity,
            )  # fmt: skip
        if status is OrderStatus.REJECTED:
            return OrderRejected(
                client_order_id=coid,
                symbol=symbol,
                side=side,
                ts_ms=ts,
                client_tag=tag,
                reason=reason or "rejected by the exchange",
                post_only=not transient and (order.post_only if post_only is None else post_only),
                transient=transient,
            )
        return None

    def reject(
        self, client_order_id: ClientOrderId, ts_ms: int, reason: str, *, post_only: bool, transient: bool = False
    ) -> OrderEvent | None:
        """Mark an order REJECTED after the exchange refused the request (an exception, not a report).

        ``post_only`` says whether it was refused for crossing (the strategy may retry at a new price);
        ``transient`` whether the cause says nothing about the order (a rate limit, "not received"), so
        the same order may be sent again later. A transient refusal is never a crossing.
        """
        order = self.get(client_order_id)
        if order is None or order.status.is_terminal:
            return None
        return self._close(order, OrderStatus.REJECTED, ts_ms, reason, post_only=post_only, transient=transient)

    def deny(self, order: Order, ts_ms: int, reason: str) -> None:
        """Record an order the RiskManager denied (it never reaches the exchange)."""
        order.transition(OrderStatus.DENIED, ts_ms, reason=reason)
        self._remember_closed(order)

    def _note_foreign(self, client_order_id: str, what: str) -> None:
        if client_order_id in self._foreign_seen:
            return
        self._foreign_seen.add(client_order_id)
        if self.is_ours(client_order_id):
            _log.warning("untracked_own_order", client_order_id=client_order_id, update=what)
        else:
            _log.info("foreign_order_ignored", client_order_id=client_order_id, update=what)
