"""Startup reconciliation: make the tracker, the journal and the portfolio agree with the exchange.

Run once after the exchange is connected and before the strategy starts (``TradingBot.after_connect``).
The exchange is the truth about what happened while the bot was down; the journal is the truth about
what the bot asked for. Steps:

0. a journal older than the exchange's history is refused, or repaired with ``adopt``
   (``trading_bot.runtime.history``); with ``adopt`` the steps below take in the exchange's open orders
   and recent fills of this bot, and the adoption is journaled;
a. the journal's open orders of this bot and symbol go into the tracker, their fill state rebuilt from
   the journal's fills (fills are facts; an order snapshot may lag or lead them after a ``kill -9``);
b. the exchange's open orders: ours and known → the report is applied; ours and unknown → adopted
   (tracked and journaled); others → foreign, reported once and never touched;
c. journal-open orders the exchange no longer lists → looked up by client id and their final state
   applied; one the exchange never heard of is REJECTED "not received by the exchange" (an intent whose
   request never left, or was lost) and is **never re-sent**;
d. the account's trades since the last journaled fill (or the oldest open order): every fill of ours
   not yet journaled is recorded and applied to its order; if an order still has less filled than the
   exchange says, the recent trade history is fetched once more without ``since``;
e. the position is rebuilt from all of this bot's journaled fills of the symbol (and the liquidation
   fills journaled for it, ``portfolio.LIQUIDATION_ORDER_ID``), their trade ids are marked seen (replays
   are ignored) and every changed order is written back to the journal;
f. a perpetual swap's funding total is restored from the journal, and the payments the venue made while
   the bot was down are recorded and added (``funding_sync``).

Idempotent: a second run (same objects or a fresh process) records nothing and changes no order.
Exchange errors propagate: a bot that cannot reconcile must not start trading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchanges.base import BaseExchangeClient
from trading_bot.domain import ZERO
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Order
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Position
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.log import get_logger
from trading_bot.runtime.funding_sync import sync_funding
from trading_bot.runtime.history import check_history
from trading_bot.runtime.history import is_own_client_id
from trading_bot.runtime.history import record_adoption
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import LIQUIDATION_ORDER_ID
from trading_bot.runtime.portfolio import Portfolio

__all__ = [
    "NOT_RECEIVED",
    "RECENT_CLOSED_LOADED",
    "ReconcileReport",
    "is_own_client_id",
    "reconcile",
]

_log = get_logger(__name__)

NOT_RECEIVED = "not received by the exchange"
"""Reason given to a journaled order the exchange never got; such an order is never re-sent."""

_NOT_FOUND = "not found on the exchange at reconciliation"
_ACKED = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL})


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileReport:
    """What one reconciliation found and did.

    Attributes:
        restored_open: journal-open orders loaded into the tracker.
        updated: orders whose journaled state changed (filled, canceled, accepted... while down).
        adopted: orders of this bot on the exchange that the journal did not have open.
        foreign: client (or exchange) ids of other parties' open orders, left alone.
        missed_fills_recorded: trade ids of fills the journal lacked, now recorded.
        not_received: journaled intents the exchange never got, now REJECTED (never re-sent).
        fill_gaps: orders the exchange reports more filled than the fills found (a warning).
        position_restored: the bot's signed position in base currency after the rebuild.
        fills_replayed: journaled fills applied to the portfolio.
        funding_restored: a swap's journaled funding payments added to the portfolio's funding total.
        funding_caught_up: ids of the funding payments the venue made while the bot was down, now recorded.
        events: the order events reconciliation caused, oldest first (for the strategy, if wanted).
    """

    restored_open: tuple[ClientOrderId, ...] = ()
    updated: tuple[ClientOrderId, ...] = ()
    adopted: tuple[ClientOrderId, ...] = ()
    foreign: tuple[str, ...] = ()
    missed_fills_recorded: tuple[TradeId, ...] = ()
    not_received: tuple[ClientOrderId, ...] = ()
    fill_gaps: tuple[ClientOrderId, ...] = ()
    position_restored: Decimal = ZERO
    fills_replayed: int = 0
    funding_restored: int = 0
    funding_caught_up: tuple[str, ...] = ()
    events: tuple[OrderEvent, ...] = ()

    def counts(self) -> dict[str, int]:
        """Return the size of every list (the ``reconcile_done`` log fields)."""
        return {
            "restored_open": len(self.restored_open),
            "updated": len(self.updated),
            "adopted": len(self.adopted),
            "foreign": len(self.foreign),
            "missed_fills_recorded": len(self.missed_fills_recorded),
            "not_received": len(self.not_received),
            "fill_gaps": len(self.fill_gaps),
            "fills_replayed": self.fills_replayed,
            "funding_restored": self.funding_restored,
            "funding_caught_up": len(self.funding_caught_up),
        }


RECENT_CLOSED_LOADED = 1000
"""How many of the bot's latest closed orders a restart loads from the journal (for the strategy's restore)."""


def _state(order: Order) -> tuple[Any, ...]:
    return (
        order.status,
        order.filled_quantity,
        order.average_price,
        order.fees,
        order.exchange_order_id,
        order.reason,
    )


class _Run:
    """The working state of one reconciliation."""

    def __init__(
        self,
        *,
        exchange: BaseExchangeClient,
        journal: Journal,
        tracker: OrderTracker,
        symbol: Symbol,
        bot_id: str,
        now_ms: int,
        venue: str | None,
    ) -> None:
        self.exchange = exchange
        self.journal = journal
        self.tracker = tracker
        self.symbol = symbol
        self.venue = venue
        self.bot_id = bot_id
        self.now_ms = now_ms
        self.before: dict[ClientOrderId, tuple[Any, ...] | None] = {}
        self.restored: list[ClientOrderId] = []
        self.adopted: list[ClientOrderId] = []
        self.foreign: list[str] = []
        self.missed: list[TradeId] = []
        self.not_received: list[ClientOrderId] = []
        self.events: list[OrderEvent] = []
        self.exchange_filled: dict[ClientOrderId, Decimal] = {}
        self.fills_by_order: dict[str, list[Fill]] = {}
        self.own_fills: list[Fill] = []
        self.late_reports: list[OrderStatusReport] = []
        self._journal_orders: dict[str, Order] | None = None

    # -- helpers -------------------------------------------------------------------------------
    def watch(self, order: Order, *, new: bool = False) -> None:
        if order.client_order_id not in self.before:
            self.before[order.client_order_id] = None if new else _state(order)

    def emit(self, event: OrderEvent | None) -> None:
        if event is not None:
            self.events.append(event)

    async def journal_order(self, client_order_id: str) -> Order | None:
        """Return the journaled order (any status) of this symbol; loads them all once, on demand."""
        if self._journal_orders is None:
            orders = await self.journal.orders(symbol=self.symbol, venue=self.venue)
            self._journal_orders = {o.client_order_id: o for o in orders}
        return self._journal_orders.get(client_order_id)

    def resync_from_fills(self, order: Order) -> None:
        """Rebuild the fill state of ``order`` from its journaled fills when the two disagree."""
        fills = self.fills_by_order.get(order.client_order_id, [])
        total = sum((f.quantity for f in fills), ZERO)
        if total == order.filled_quantity:
            return
        _log.warning(
            "reconcile_order_fill_resync",
            client_order_id=order.client_order_id,
            journaled_filled=str(order.filled_quantity),
            fills_total=str(total),
        )
        order.filled_quantity, order.average_price, order.fees = ZERO, None, ZERO
        if fills and order.status is OrderStatus.INITIALIZED:
            order.transition(OrderStatus.SUBMITTED, fills[0].ts_ms)
        for fill in fills:
            order.apply_fill(fill)

    # -- steps ---------------------------------------------------------------------------------
    async def load_journal(self) -> None:
        for fill in await self.journal.fills(symbol=self.symbol, venue=self.venue):
            if is_own_client_id(fill.client_order_id, self.bot_id) or fill.client_order_id == LIQUIDATION_ORDER_ID:
                self.fills_by_order.setdefault(fill.client_order_id, []).append(fill)
                self.own_fills.append(fill)
        self.tracker.mark_trades_seen((self.symbol, f.trade_id) for f in self.own_fills)
        # The recently closed orders first: a strategy's snapshot may be older than them (it is saved every
        # few seconds; a kill -9 loses the newest), and its restore looks them up by id and by tag.
        closed = await self.journal.recent_closed_orders(self.bot_id, self.symbol, RECENT_CLOSED_LOADED, self.venue)
        still_open = await self.journal.open_orders(bot_id=self.bot_id, symbol=self.symbol, venue=self.venue)
        for order in [*closed, *still_open]:
            if self.tracker.get(order.client_order_id) is not None:
                continue  # already tracked (a second run in the same process)
            self.watch(order)
            self.resync_from_fills(order)
            self.tracker.add(order)
            if not order.status.is_terminal:
                self.restored.append(order.client_order_id)

    async def match_open_orders(self, reports: Sequence[OrderStatusReport]) -> set[str]:
        listed: set[str] = set()
        for report in reports:
            coid = report.client_order_id
            if not is_own_client_id(coid, self.bot_id):
                self.foreign.append(coid or str(report.exchange_order_id))
                continue
            listed.add(coid)
            self.exchange_filled[coid] = report.filled_quantity
            order = self.tracker.get(coid)
            if order is None:
                await self.adopt(report)
                continue
            if order.status.is_terminal:  # only possible when the tracker was in use before
                _log.warning("closed_order_open_on_exchange", client_order_id=coid, status=order.status.value)
                continue
            self.watch(order)
            self.emit(self.tracker.apply_report(report))
        if self.foreign:
            _log.info("foreign_order_ignored", symbol=self.symbol, client_order_ids=sorted(self.foreign))
        return listed

    async def adopt(self, report: OrderStatusReport) -> None:
        coid = report.client_order_id
        known = await self.journal_order(coid)
        if known is not None:  # journaled as closed, yet open on the exchange: trust the exchange
            order = dataclasses.replace(
                known,
                status=OrderStatus.ACCEPTED,
                exchange_order_id=report.exchange_order_id or known.exchange_order_id,
                filled_quantity=ZERO,
                average_price=None,
                fees=ZERO,
                reason="reopened: open on the exchange at reconciliation",
            )
            for fill in self.fills_by_order.get(coid, []):
                order.apply_fill(fill)
            _log.warning("order_reopened", client_order_id=coid, journaled_status=known.status.value)
        else:
            order = _order_from_report(report, self.now_ms)
            _log.warning("order_adopted", client_order_id=coid, exchange_order_id=report.exchange_order_id)
        self.tracker.add(order)
        self.watch(order, new=True)
        self.adopted.append(coid)

    async def settle_missing(self, listed: set[str]) -> None:
        for order in self.tracker.open_orders():
            if order.symbol != self.symbol or order.client_order_id in listed:
                continue
            coid = order.client_order_id
            self.watch(order)
            report = await self.exchange.fetch_order(self.symbol, coid)
            if report is not None:
                self.exchange_filled[coid] = report.filled_quantity
                self.emit(self.tracker.apply_report(report))
            elif order.status in _ACKED:
                gone = OrderStatusReport(
                    client_order_id=coid,
                    symbol=self.symbol,
                    status=OrderStatus.CANCELED,
                    ts_ms=self.now_ms,
                    reason=_NOT_FOUND,
                )
                self.emit(self.tracker.apply_report(gone))
            else:
                self.emit(self.tracker.reject(coid, self.now_ms, NOT_RECEIVED, post_only=False, transient=True))
                self.not_received.append(coid)
                _log.warning("order_not_received", client_order_id=coid, status_was=order.status.value)

    def since_ms(self, last_fill_ms: int | None, lookback_ms: int) -> int | None:
        candidates = [last_fill_ms] if last_fill_ms is not None else []
        for coid in self.before:  # every order this run looked at, open or settled
            order = self.tracker.get(coid)
            if order is not None and order.created_ms > 0:
                candidates.append(order.created_ms)
        return None if not candidates else max(0, min(candidates) - lookback_ms)

    async def record_trades(self, since: int | None, also: Sequence[Fill] = ()) -> None:
        """Record and apply the own fills since ``since`` (epoch ms) and ``also`` (adopting: the newest ones)."""
        fetched = list(also) if since is None and also else await self.exchange.fetch_my_trades(self.symbol, since)
        if also:  # each trade once, in exchange order
            unique = {(f.symbol, f.trade_id): f for f in [*fetched, *also]}
            fetched = sorted(unique.values(), key=lambda f: (f.ts_ms, f.trade_id))
        for fill in fetched:
            coid = fill.client_order_id
            if not is_own_client_id(coid, self.bot_id) or self.tracker.seen_trade(fill.symbol, fill.trade_id):
                continue
            order = self.tracker.get(coid)
            if order is None:
                order = await self.journal_order(coid)
                if order is not None:  # closed in the journal; a late or lost fill
                    self.watch(order)
                    self.resync_from_fills(order)
                else:
                    order = await self.order_for_fill(fill)
                self.tracker.add(order)
            self.watch(order)
            if await self.journal.record_fill(fill, self.now_ms, self.venue):
                self.missed.append(fill.trade_id)
                _log.warning("missed_fill_recorded", client_order_id=coid, trade_id=fill.trade_id)
            self.fills_by_order.setdefault(coid, []).append(fill)
            self.own_fills.append(fill)
            self.emit(self.tracker.apply_fill(fill))
        for report in self.late_reports:
            self.emit(self.tracker.apply_report(report))
        self.late_reports.clear()

    async def order_for_fill(self, fill: Fill) -> Order:
        """Build the record of an own order known only by its fill (adopted: the journal never had it)."""
        report = await self.exchange.fetch_order(self.symbol, fill.client_order_id)
        if report is not None and report.side is not None and report.quantity is not None:
            order = _order_from_report(report, self.now_ms)
            order.status = OrderStatus.SUBMITTED  # its fills, then its report, settle it
            self.late_reports.append(report)
            self.exchange_filled[order.client_order_id] = report.filled_quantity
        else:
            order = Order(
                client_order_id=fill.client_order_id,
                symbol=self.symbol,
                side=fill.side,
                quantity=fill.quantity,
                order_type=OrderType.LIMIT,
                price=fill.price,
                status=OrderStatus.SUBMITTED,
                exchange_order_id=fill.exchange_order_id,
                created_ms=fill.ts_ms,
                updated_ms=fill.ts_ms,
                reason="adopted from a fill",
            )
        self.watch(order, new=True)
        self.adopted.append(order.client_order_id)
        _log.warning("order_adopted_from_fill", client_order_id=fill.client_order_id, trade_id=fill.trade_id)
        return order

    def gaps(self) -> list[ClientOrderId]:
        gaps: list[ClientOrderId] = []
        for coid, filled in self.exchange_filled.items():
            order = self.tracker.get(ClientOrderId(coid))
            if order is not None and order.filled_quantity < filled:
                gaps.append(order.client_order_id)
        return gaps

    async def persist(self) -> list[ClientOrderId]:
        changed: list[ClientOrderId] = []
        for coid, before in self.before.items():
            order = self.tracker.get(coid)
            if order is None or (before is not None and before == _state(order)):
                continue
            order.updated_ms = max(order.updated_ms, self.now_ms)
            await self.journal.record_order(order, self.venue)
            changed.append(coid)
        return changed


def _order_from_report(report: OrderStatusReport, now_ms: int) -> Order:
    """Build the tracked record of an adopted open order (fill state comes from fills, not the report)."""
    if report.side is None or report.quantity is None:
        raise ValueError(f"cannot adopt {report.client_order_id}: the exchange report lacks side or quantity")
    return Order(
        client_order_id=report.client_order_id,
        symbol=report.symbol,
        side=report.side,
        quantity=report.quantity,
        order_type=report.order_type or OrderType.LIMIT,
        price=report.price,
        status=OrderStatus.ACCEPTED,
        exchange_order_id=report.exchange_order_id,
        created_ms=report.ts_ms or now_ms,
        updated_ms=now_ms,
        reason="adopted at reconciliation",
    )


def _rebuild_position(portfolio: Portfolio, fills: Sequence[Fill]) -> int:
    market = portfolio.market
    portfolio.position = Position(symbol=market.symbol, quote_currency=market.quote)
    portfolio.fills = []
    for fill in sorted(fills, key=lambda f: f.ts_ms):  # stable: journal order within one millisecond
        portfolio.apply_fill(fill)
    return len(fills)


async def reconcile(
    *,
    exchange: BaseExchangeClient,
    journal: Journal,
    tracker: OrderTracker,
    portfolio: Portfolio,
    symbol: Symbol,
    bot_id: str,
    now_ms: int,
    lookback_ms: int = 60_000,
    adopt: bool = False,
    venue: str | None = None,
    run_id: int | None = None,
) -> ReconcileReport:
    """Reconcile the journal, the tracker and the portfolio with the exchange (see the module docstring).

    Args:
        exchange: the connected exchange client.
        journal: the open journal.
        tracker: the bot's tracker (empty at start; a second call is harmless).
        portfolio: the bot's portfolio; its position and fill list are rebuilt from the journal.
        symbol: the traded market.
        bot_id: this bot's id; only ``<bot_id>-<digits>`` client ids are ours.
        now_ms: the clock's time (epoch ms), stamped on every change.
        lookback_ms: extra history fetched before the last fill / oldest open order, in ms, to cover
            clock skew between us and the exchange (fills are de-duplicated, so overlap is harmless).
        adopt: repair a journal older than the exchange's history instead of refusing it (step 0).
        venue: the venue ``exchange`` trades: the journal's orders and fills are read from it and written
            to it. ``None`` (as before venues): read every venue's rows of ``symbol``, write the journal's.
        run_id: the run recording what reconciliation journals (caught-up funding payments).

    Returns:
        What was found and done.

    Raises:
        ConfigError: the journal is older than the exchange's history and ``adopt`` is off (nothing changed).
        ExchangeError: the exchange could not be asked; do not start trading.
    """
    run = _Run(
        exchange=exchange, journal=journal, tracker=tracker, symbol=symbol, bot_id=bot_id, now_ms=now_ms, venue=venue
    )
    reports = await exchange.fetch_open_orders(symbol)
    history = await check_history(
        exchange=exchange, journal=journal, symbol=symbol, bot_id=bot_id, open_orders=reports, adopt=adopt
    )
    await run.load_journal()
    listed = await run.match_open_orders(reports)
    await run.settle_missing(listed)
    since = run.since_ms(await journal.last_fill_ms(symbol, venue), lookback_ms)
    if history.adopted:
        await run.record_trades(since, also=history.recent_fills)
    elif since is not None or run.adopted:
        await run.record_trades(since)
    if run.gaps() and since is not None:
        await run.record_trades(None)  # the recent history without a lower bound, once
    gaps = run.gaps()
    for coid in gaps:
        _log.warning("reconcile_fill_gap", client_order_id=coid, exchange_filled=str(run.exchange_filled[coid]))
    replayed = _rebuild_position(portfolio, run.own_fills)
    tracker.mark_trades_seen((symbol, f.trade_id) for f in run.own_fills)
    funding = await sync_funding(
        exchange=exchange, journal=journal, portfolio=portfolio, own_fills=run.own_fills, now_ms=now_ms,
        venue=venue, run_id=run_id,
    )  # fmt: skip
    changed = await run.persist()
    if history.adopted:
        await record_adoption(
            history,
            journal,
            bot_id=bot_id,
            symbol=symbol,
            now_ms=now_ms,
            orders=run.adopted,
            fills=run.missed,
            venue=venue,
        )
    adopted = set(run.adopted)
    report = ReconcileReport(
        restored_open=tuple(run.restored),
        updated=tuple(c for c in changed if c not in adopted),
        adopted=tuple(run.adopted),
        foreign=tuple(run.foreign),
        missed_fills_recorded=tuple(run.missed),
        not_received=tuple(run.not_received),
        fill_gaps=tuple(gaps),
        position_restored=portfolio.position.quantity,
        fills_replayed=replayed,
        funding_restored=funding.restored,
        funding_caught_up=funding.caught_up,
        events=tuple(run.events),
    )
    _log.info(
        "reconcile_done",
        symbol=symbol,
        bot_id=bot_id,
        position=str(report.position_restored),
        open_orders=tracker.open_count,
        **report.counts(),
    )
    return report
