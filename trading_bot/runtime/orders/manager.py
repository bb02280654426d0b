"""OrderManager: the one path from a strategy's intent to the exchange.

For every ``OrderParams``: size it (when the strategy left the quantity open) → ask the RiskManager →
give it a client order id → write the intent to the journal (write-ahead, durable) → send it. A denial
becomes an ``OrderDenied`` event, never an exception and never a request. A timeout while placing or
cancelling means *unknown outcome*: the order stays SUBMITTED and is looked up by client id, never
re-sent.

Refusals are classified here, once, where the cause is known, and carried on the events so that every
strategy can decide what to retry (``OrderRejected.transient`` / ``.post_only``, ``OrderDenied.transient``):

=============================================== ============ ============================================
cause                                           event        classification
=============================================== ============ ============================================
``RateLimited`` (429/418; nothing was placed)   rejected     transient
unknown outcome (5xx, timeout, network), then   rejected     transient ("not received by the exchange")
  the lookup finds nothing
``AuthenticationError`` (keys, signature)       rejected     transient (the supervisor halts after 3)
``PostOnlyWouldCross``                          rejected     post_only
``InsufficientFunds``, other ``OrderRejected``  rejected     permanent
a malformed or unmapped answer to a placement   (lookup)     unknown outcome: looked up, as for a 5xx
exchange back-off in force                      denied       transient (rule ``rate_limit_backoff``)
a RiskManager rule                              denied       the rule's ``transient`` (see ``risk.rules``)
the sizer left no quantity                      denied       permanent (rule ``sizing``)
=============================================== ============ ============================================

A cancel answered 429 or refused (keys, permissions) puts the order back on the book (it may be cancelled
again); one answered with a timeout, a 5xx or an unreadable answer is an unknown outcome, looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from exchanges.base import BaseExchangeClient
from risk.manager import Rejected
from risk.manager import RiskContext
from risk.manager import RiskManager
from risk.sizing import SIZING_RULE
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import Symbol
from trading_bot.domain import make_client_order_id
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ExchangeError
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.errors import RateLimited
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger
from trading_bot.runtime.orders.tracker import OrderTracker

__all__ = ["OrderJournal", "OrderManager", "SequenceSource", "TimeSeededSequence"]

_log = get_logger(__name__)

_BACKOFF_RULE = "rate_limit_backoff"


class SequenceSource(Protocol):
    """Hands out client-order-id sequence numbers that are never reused, even across restarts."""

    async def next(self) -> int:
        """Return the next unused sequence number."""
        ...


class TimeSeededSequence:
    """Sequence numbers for runs without a journal (replays, paper): start at the run's epoch ms.

    Unique across restarts as long as fewer than one order per millisecond is sent on average; the
    journal-backed sequence replaces it whenever a journal is configured.
    """

    def __init__(self, start: int) -> None:
        self._next = start

    async def next(self) -> int:
        """Return the next number."""
        value = self._next
        self._next += 1
        return value


class OrderJournal(Protocol):
    """What the order manager writes ahead of every request (the journal implements it)."""

    async def record_intent(self, order: Order, venue: str | None = None) -> None:
        """Durably record an order of ``venue`` (``None``: the journal's own) before it is sent."""
        ...

    def record_denial(self, order: Order, rule: str, reason: str, venue: str | None = None) -> None:
        """Queue a record of a risk denial of an order for ``venue``."""
        ...


class OrderManager:
    """Turns approved intents into exchange requests and exchange answers into tracker updates.

    Args:
        bot_id: prefix of every client order id.
        symbol: the market traded.
        exchange: the client; the only object that talks to the exchange.
        tracker: the order record; every answer is applied there.
        risk: the gate asked before every order.
        clock: the injected clock.
        sequence: source of client-order-id numbers.
        journal: the write-ahead journal, or ``None`` (replays).
        risk_context: builds the RiskContext for one check (the supervisor owns the state).
        publish: delivers events to the strategy, the logs and the journal.
        sizing: sizes an intent whose quantity the strategy left open.
        venue: the venue's name, written with every journal record (``None``: the journal's default).
        after_intent: called right after each intent is journaled and before its request is sent; ``None``
            in production. A test seam: the chaos test (``tests/stress/chaos_bot.py``) kills the process here.
    """

    def __init__(
        self,
        *,
        bot_id: str,
        symbol: Symbol,
        exchange: BaseExchangeClient,
        tracker: OrderTracker,
        risk: RiskManager,
        clock: Clock,
        sequence: SequenceSource,
        journal: OrderJournal | None,
        risk_context: Callable[[], RiskContext],
        publish: Callable[[OrderEvent], None],
        sizing: Callable[[OrderParams, RiskContext], Decimal | None] | None = None,
        after_intent: Callable[[], None] | None = None,
        venue: str | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.venue = venue
        self.symbol = symbol
        self.exchange = exchange
        self.tracker = tracker
        self.risk = risk
        self.clock = clock
        self.sequence = sequence
        self.journal = journal
        self._risk_context = risk_context
        self._publish = publish
        self._sizing = sizing
        self.after_intent = after_intent
        self.unknown_outcomes: set[ClientOrderId] = set()
        self.rate_limited_until_ms = 0
        self.auth_failures = 0
        self.stats = {"submitted": 0, "denied": 0, "rejected": 0, "unknown": 0, "cancel_requests": 0}

    async def submit(self, params: OrderParams, market_data: MarketData | None) -> ClientOrderId:
        """Size, check, journal and send one intent; return its client order id (denied ones too)."""
        ctx = self._risk_context()
        coid = make_client_order_id(self.bot_id, await self.sequence.next())
        now = self.clock.now_ms()
        quantity = params.quantity
        if quantity is None and self._sizing is not None:
            quantity = self._sizing(params, ctx)
        if quantity is None:
            self._deny(params, coid, Decimal(0), now, SIZING_RULE, "the position sizer left no quantity to trade")
            return coid
        if now < self.rate_limited_until_ms:
            wait_s = (self.rate_limited_until_ms - now) / 1000
            reason = f"the exchange asked us to wait {wait_s:.1f} s"
            self._deny(params, coid, quantity, now, _BACKOFF_RULE, reason, transient=True)
            return coid
        decision = self.risk.check(params, quantity, ctx)
        if isinstance(decision, Rejected):
            self._deny(params, coid, quantity, now, decision.rule, decision.reason, transient=decision.transient)
            return coid
        order = Order.from_params(params, coid, self.symbol, quantity, now)
        self.tracker.add(order)
        if self.journal is not None:
            await self.journal.record_intent(order, venue=self.venue)
            if self.after_intent is not None:
                self.after_intent()  # a test seam: the chaos test kills the process here
        order.transition(OrderStatus.SUBMITTED, now)
        self.stats["submitted"] += 1
        self._publish(
            OrderSubmitted(
                client_order_id=coid,
                symbol=self.symbol,
                side=order.side,
                ts_ms=now,
                client_tag=order.client_tag,
                quantity=quantity,
                price=order.price,
            )
        )
        await self._send(order, params, quantity)
        return coid

    async def _send(self, order: Order, params: OrderParams, quantity: Decimal) -> None:
        coid = order.client_order_id
        try:
            report = await self.exchange.place_order(self.symbol, params, quantity, coid)
        except RateLimited as exc:
            # A 429 answers before the order is processed: it was not placed.
            self._slow_down(exc)
            self._reject(coid, f"rate limited: {exc}", transient=True)
        except TransientExchangeError as exc:
            self._unknown(coid, exc)
        except PostOnlyWouldCross as exc:
            self._reject(coid, str(exc), post_only=True)
        except OrderRejected as exc:
            self._reject(coid, str(exc))
        except AuthenticationError:
            self.auth_failures += 1
            self._reject(coid, "authentication failed", transient=True)
            raise
        except ExchangeError as exc:
            self._unknown(coid, exc)  # a malformed or unmapped answer: the order may be on the book
            raise
        else:
            self.auth_failures = 0
            self._apply(self.tracker.apply_report(report))

    def _unknown(self, coid: ClientOrderId, exc: ExchangeError) -> None:
        self.stats["unknown"] += 1
        self.unknown_outcomes.add(coid)
        _log.warning("order_outcome_unknown", client_order_id=coid, error=str(exc))

    def _reject(self, coid: ClientOrderId, reason: str, *, post_only: bool = False, transient: bool = False) -> None:
        self.stats["rejected"] += 1
        now = self.clock.now_ms()
        self._apply(self.tracker.reject(coid, now, reason, post_only=post_only, transient=transient))

    def _apply(self, event: OrderEvent | None) -> None:
        if event is not None:
            self._publish(event)

    def _deny(
        self,
        params: OrderParams,
        coid: ClientOrderId,
        quantity: Decimal,
        now: int,
        rule: str,
        reason: str,
        *,
        transient: bool = False,
    ) -> None:
        self.stats["denied"] += 1
        order = Order.from_params(params, coid, self.symbol, quantity if quantity > 0 else Decimal(0), now)
        self.tracker.deny(order, now, f"{rule}: {reason}")
        if self.journal is not None:
            self.journal.record_denial(order, rule, reason, venue=self.venue)
        self._publish(
            OrderDenied(
                client_order_id=coid,
                symbol=self.symbol,
                side=params.side,
                ts_ms=now,
                client_tag=params.client_tag,
                rule=rule,
                reason=reason,
                transient=transient,
            )
        )

    def _slow_down(self, exc: RateLimited) -> None:
        pause_s = exc.retry_after if exc.retry_after is not None else 1.0
        self.rate_limited_until_ms = max(self.rate_limited_until_ms, self.clock.now_ms() + int(pause_s * 1000))
        _log.warning("rate_limited", retry_after_s=pause_s)

    async def cancel(self, client_order_id: ClientOrderId) -> None:
        """Request the cancel of one of the bot's open orders (no-op for unknown or closed ones)."""
        order = self.tracker.get(client_order_id)
        if order is None or not order.is_open or order.status is OrderStatus.PENDING_CANCEL:
            return
        self.stats["cancel_requests"] += 1
        order.transition(OrderStatus.PENDING_CANCEL, self.clock.now_ms())
        try:
            report = await self.exchange.cancel_order(self.symbol, client_order_id)
        except OrderNotFound:
            await self.resolve(client_order_id)
        except RateLimited as exc:
            self._slow_down(exc)
            self._back_on_book(order, "cancel rate limited")
        except (TransientExchangeError, BadExchangeResponse) as exc:  # the cancel may have happened: look it up
            self.unknown_outcomes.add(client_order_id)
            _log.warning("cancel_outcome_unknown", client_order_id=client_order_id, error=str(exc))
        except ExchangeError as exc:  # refused (keys, permissions...): the order still rests; a later cancel may go
            self._back_on_book(order, f"cancel refused: {exc}")
            raise
        else:
            self._apply(self.tracker.apply_report(report))

    def _back_on_book(self, order: Order, reason: str) -> None:
        """Undo PENDING_CANCEL after a cancel that did not happen. A fill may have reached the tracker while the
        request was out (the user stream runs meanwhile): an order that ended stays as it is."""
        back = OrderStatus.PARTIALLY_FILLED if order.filled_quantity > 0 else OrderStatus.ACCEPTED
        if order.can_transition(back):
            order.transition(back, self.clock.now_ms(), reason=reason)

    async def resolve(self, client_order_id: ClientOrderId) -> bool:
        """Look an order up by client id and apply what the exchange says; return True when settled.

        An order the exchange has never heard of is marked REJECTED ("not received"): it was never
        placed, and it is never re-sent.
        """
        try:
            report = await self.exchange.fetch_order(self.symbol, client_order_id)
        except ExchangeError as exc:
            _log.warning("order_lookup_failed", client_order_id=client_order_id, error=str(exc))
            return False
        self.unknown_outcomes.discard(client_order_id)
        if report is None:
            order = self.tracker.get(client_order_id)
            if order is not None and order.status is OrderStatus.PENDING_CANCEL:
                self._apply(self.tracker.apply_report(_gone(order, self.clock.now_ms())))
            else:
                self._reject(client_order_id, "not received by the exchange", transient=True)
            return True
        _log.info("order_outcome_resolved", client_order_id=client_order_id, status=report.status.value)
        self._apply(self.tracker.apply_report(report))
        return True

    async def resolve_unknown(self) -> None:
        """Retry the lookup of every order whose outcome is still unknown."""
        for coid in list(self.unknown_outcomes):
            await self.resolve(coid)

    async def cancel_all(self, *, by_operator: bool = False) -> None:
        """Cancel every open order of the bot (at shutdown, by protection rules, and by the operator: then
        ``by_operator`` marks each order's ``OrderCanceled``)."""
        for order in self.tracker.open_orders():
            if by_operator:
                self.tracker.note_operator_cancel(order.client_order_id)
            try:
                await self.cancel(order.client_order_id)
            except ExchangeError as exc:
                _log.error("cancel_failed", client_order_id=order.client_order_id, error=str(exc))
            if by_operator and order.is_open and order.status is not OrderStatus.PENDING_CANCEL:
                self.tracker.note_operator_cancel(order.client_order_id, asked=False)  # it rests again


def _gone(order: Order, ts_ms: int) -> OrderStatusReport:
    return OrderStatusReport(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        status=OrderStatus.CANCELED,
        ts_ms=ts_ms,
        filled_quantity=order.filled_quantity,
        reason="not found on the exchange after a cancel",
    )
