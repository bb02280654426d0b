"""Orders of a ccxt account over REST: place, cancel, look up, and decide an unknown outcome; fills, balances.

Our Decimals are rounded with ccxt's ``amount_to_precision`` / ``price_to_precision`` before sending
(a sub-step amount is refused before anything is sent). Every answer is checked (``parse.py``): an
order answer without the exchange's order id is refused as ``BadExchangeResponse``, so a placement
answered that way is looked up by the runtime; one bad record of a list is logged and skipped.

Exactly-once: an order request that times out is never re-sent. The order is looked up by client id
on the schedule ``lookup_delays_s`` and the answer decides: found → its report; cleanly not found after
the exchange's receive window (``recvWindow``) → REJECTED "not received by the exchange"; lookups
failing → ``OrderOutcomeUnknown``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.errors import ErrorContext
from exchanges.ccxt.errors import map_ccxt_errors
from exchanges.ccxt.known import KnownOrders
from exchanges.ccxt.parse import to_balances
from exchanges.ccxt.parse import to_fill
from exchanges.ccxt.parse import to_report
from exchanges.ccxt.parse import trades_of_order_answer
from exchanges.ccxt.parse import triggered_order_id
from exchanges.ccxt.retry import retry_transient
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import decimal_text
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ExchangeError
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderOutcomeUnknown
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger

__all__ = ["LOOKUP_DELAYS_S", "OrderDesk"]

_log = get_logger(__name__)

LOOKUP_DELAYS_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
"""Waits before each lookup of an order whose request outcome is unknown, seconds (bounded: 7.7 s in all)."""


class OrderDesk:
    """The order and account part of one ccxt adapter (REST).

    Args:
        session: the ccxt client and markets.
        known: the session's memory of orders and fills (updated by every answer parsed here).
        clock: stamps reports and fills the exchange left without a time.
        emit: delivers fills found in answers (a placement's immediate fills) to the adapter's sink.

    Attributes:
        lookup_delays_s: waits before each lookup of an order whose request outcome is unknown, seconds.
    """

    def __init__(
        self,
        session: CcxtSession,
        known: KnownOrders,
        clock: Clock,
        emit: Callable[[Fill], None],
    ) -> None:
        self._session = session
        self._known = known
        self._clock = clock
        self._emit = emit
        self.lookup_delays_s = LOOKUP_DELAYS_S

    # -- answers → reports and fills -------------------------------------------------------------------

    def report(self, o: Mapping[str, Any], fallback_symbol: Symbol | None = None) -> OrderStatusReport:
        """Return the report of one ccxt order dict and remember its client id (see ``parse.to_report``).

        A triggered conditional order's client id is remembered for the order it placed too
        (``parse.triggered_order_id``), so that order's fills are named without asking the exchange.
        """
        report = to_report(o, self._known.client_id(o.get("id")), fallback_symbol, self._clock.now_ms())
        self._known.remember(report.exchange_order_id, report.client_order_id)
        self._known.remember(triggered_order_id(o), report.client_order_id)
        return report

    def _ack_report(self, raw: Mapping[str, Any], symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        if not isinstance(raw, Mapping):
            raise BadExchangeResponse(f"{symbol} (id {client_order_id}): order answer is {type(raw).__name__}")
        if raw.get("id") is None:  # an empty or unreadable body: ccxt leaves every field unset
            raise BadExchangeResponse(f"{symbol} (id {client_order_id}): order answer without the exchange's order id")
        report = self.report(raw, symbol)
        self._known.remember(raw.get("id"), client_order_id)  # a cancel answer may carry the cancel's own id
        if report.client_order_id != client_order_id:
            report = replace(report, client_order_id=client_order_id)
        self._known.track(report)
        return report

    async def _client_id_for(self, t: Mapping[str, Any], symbol: Symbol) -> ClientOrderId | None:
        order_id = t.get("order")
        if order_id is None:
            return None
        known = self._known.client_id(order_id)
        if known:
            return ClientOrderId(known)
        info = t.get("info") or {}
        raw = info.get("c") or info.get("clientOrderId") if isinstance(info, Mapping) else None
        if raw:
            self._known.remember(order_id, raw)
            return ClientOrderId(str(raw))
        session = self._session
        ctx = session.ctx("fetch_order", symbol)
        try:  # a fill of an order we have not seen in this session: ask the exchange whose it is
            o = await self._order_by_exchange_id(ctx, str(order_id), symbol)
        except (OrderNotFound, TransientExchangeError, BadExchangeResponse) as e:
            _log.warning("fill_order_unknown", symbol=symbol, exchange_order_id=order_id, error=str(e))
            return None
        self._known.remember(order_id, o.get("clientOrderId"))
        return ClientOrderId(self._known.client_id(order_id)) or None

    async def _order_by_exchange_id(self, ctx: ErrorContext, order_id: str, symbol: Symbol) -> Mapping[str, Any]:
        """Fetch one order by the exchange's id; on a contract market, a miss among the plain orders is looked
        for among the conditional ones (a stop that filled while the bot was down).

        Raises:
            OrderNotFound: neither knows it.
        """
        return await self._fetch_plain_or_conditional(ctx, order_id, symbol, {})

    async def _fetch_plain_or_conditional(
        self, ctx: ErrorContext, order_id: str | None, symbol: Symbol, params: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """``fetch_order(order_id, symbol, params)``; on a contract market, when ``params`` did not already ask
        for a conditional order, a miss is asked again with ccxt's ``{'trigger': True}`` (Binance USDⓈ-M keeps
        conditional orders apart) and the order's client id is remembered as conditional.

        A conditional order that triggered is answered with the fill state of the order it placed
        (``_with_triggered_fills``): Binance's answer for it says "finished" but carries no filled quantity.

        Raises:
            OrderNotFound: neither knows it.
        """
        session = self._session
        try:
            found: Mapping[str, Any] = await session.call(ctx, session.client.fetch_order, order_id, symbol, params)
            if params.get("trigger"):
                return await self._with_triggered_fills(ctx, found, symbol)
            return found
        except OrderNotFound:
            if params.get("trigger") or not session.market(symbol).contract:
                raise
        o: Mapping[str, Any] = await session.call(ctx, session.client.fetch_order, order_id, symbol,
                                                  {**params, "trigger": True})  # fmt: skip
        client_id = o.get("clientOrderId") or params.get("clientOrderId")
        if client_id:
            self._known.triggers.add(ClientOrderId(str(client_id)))
        return await self._with_triggered_fills(ctx, o, symbol)

    async def _with_triggered_fills(self, ctx: ErrorContext, o: Mapping[str, Any], symbol: Symbol) -> Mapping[str, Any]:
        """Return the conditional order ``o`` with the status, filled quantity and average price of the plain
        order it placed when it triggered (``parse.triggered_order_id``); ``o`` itself when it has not
        triggered or that order is not found. The ids stay the conditional order's (those the journal holds).
        """
        placed = triggered_order_id(o)
        if placed is None:
            return o
        session = self._session
        try:
            child: Mapping[str, Any] = await session.call(ctx, session.client.fetch_order, placed, symbol, {})
        except OrderNotFound:
            _log.warning("triggered_order_not_found", symbol=symbol, exchange_order_id=o.get("id"),
                         placed_order_id=placed)  # fmt: skip
            return o
        keys = ("status", "filled", "average", "cost", "lastTradeTimestamp", "lastUpdateTimestamp")
        return {**o, **{k: child[k] for k in keys if child.get(k) is not None}}

    async def fill(self, t: Mapping[str, Any], fallback_symbol: Symbol) -> Fill | None:
        """Return the fill of one ccxt trade dict, or ``None`` when it is not of an order of ours we can name.

        The client id comes from the session's memory, the trade's raw ``info``, or (for an order not
        seen in this session) one ``fetch_order``; a parsed fill moves ``known.fills_since_ms`` forward.

        Raises:
            BadExchangeResponse: the trade is malformed or impossible (``parse.to_fill``).
        """
        symbol = Symbol(t.get("symbol") or fallback_symbol)
        client_id = await self._client_id_for(t, symbol)
        if client_id is None:
            _log.info("fill_without_client_id", symbol=symbol, trade_id=t.get("id"), exchange_order_id=t.get("order"))
            return None
        fill = to_fill(t, symbol, client_id, self._clock.now_ms())
        self._known.note_fill(symbol, fill.ts_ms)
        return fill

    async def emit_trades(self, trades: Any, symbol: Symbol) -> list[Fill]:
        """Emit the fill of each ccxt trade dict in ``trades`` (bad ones logged as ``bad_fill`` and skipped)."""
        fills: list[Fill] = []
        for t in trades or ():
            try:
                fill = await self.fill(t, symbol)
            except BadExchangeResponse as e:
                _log.error("bad_fill", symbol=symbol, error=str(e))
                continue
            if fill is not None:
                fills.append(fill)
                self._emit(fill)
        return fills

    # -- placing and cancelling ------------------------------------------------------------------------

    def _order_args(
        self, market: Market, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId, ctx: ErrorContext
    ) -> tuple[str, float, float | None, dict[str, Any]]:
        ex, symbol = self._session.client, market.symbol
        extra: dict[str, Any] = {"clientOrderId": client_order_id}
        with map_ccxt_errors(ctx):  # rounding: a sub-step amount is refused here, before anything is sent
            amount = float(ex.amount_to_precision(symbol, str(quantity)))
            price = None
            if params.order_type is OrderType.LIMIT and params.price is not None:
                price = float(ex.price_to_precision(symbol, str(params.price)))
            if params.order_type is OrderType.STOP_MARKET and params.trigger_price is not None:
                extra["triggerPrice"] = float(ex.price_to_precision(symbol, str(params.trigger_price)))
        order_type = "limit" if params.order_type is OrderType.LIMIT else "market"
        if params.quote_quantity is not None and _has_quote_amount_market(ex, params.side):
            # sized at the fill by the venue (Binance quoteOrderQty): ccxt sends ``cost`` instead of the amount
            extra["cost"] = decimal_text(params.quote_quantity)
        if params.post_only:
            extra["postOnly"] = True  # binance spot: LIMIT_MAKER
        elif params.time_in_force is not TimeInForce.GTC and params.order_type is OrderType.LIMIT:
            extra["timeInForce"] = params.time_in_force.value.upper()
        if params.reduce_only and market.contract:
            extra["reduceOnly"] = True
        return order_type, amount, price, extra

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Send one order with our client id; on an unknown outcome, look it up instead of re-sending.

        Fills in the answer are emitted before it returns.

        Raises:
            OrderOutcomeUnknown: the request may have reached the exchange and the lookups failed too.
            OrderRejected: the exchange refused it (``InsufficientFunds``, ``PostOnlyWouldCross``).
            RateLimited: the exchange refused it for rate (nothing was placed).
        """
        session = self._session
        await session.load_markets()
        market = session.market(symbol)
        self._known.symbols.add(symbol)
        ctx = session.ctx(
            "place_order",
            symbol,
            side=params.side.value,
            amount=quantity,
            price=params.price,
            client_order_id=client_order_id,
            order_request=True,
        )
        order_type, amount, price, extra = self._order_args(market, params, quantity, client_order_id, ctx)
        if "triggerPrice" in extra and market.contract:
            self._known.triggers.add(client_order_id)
        sent_at = time.monotonic()
        try:
            raw = await session.call(
                ctx, session.client.create_order, symbol, order_type, params.side.value, amount, price, extra
            )
        except OrderOutcomeUnknown as e:
            report = await self._resolve_outcome(ctx, sent_at, e)
            if report is not None:
                return report
            _log.warning("order_not_received", symbol=symbol, client_order_id=client_order_id)
            return OrderStatusReport(
                client_order_id=client_order_id,
                symbol=symbol,
                status=OrderStatus.REJECTED,
                ts_ms=self._clock.now_ms(),
                side=params.side,
                order_type=params.order_type,
                quantity=quantity,
                price=params.price,
                reason="not received by the exchange",
                transient=True,  # it never reached the exchange: the same order may be sent again
            )
        report = self._ack_report(raw, symbol, client_order_id)
        await self.emit_trades(trades_of_order_answer(raw, params.side, symbol), symbol)
        _log.info(
            "order_placed",
            symbol=symbol,
            client_order_id=client_order_id,
            status=report.status.value,
            exchange_order_id=report.exchange_order_id,
        )
        return report

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one order by client id; on an unknown outcome, look it up.

        Raises:
            OrderNotFound: the exchange does not know the order.
            OrderOutcomeUnknown: the request timed out and the lookups failed too.
        """
        session = self._session
        await session.load_markets()
        ctx = session.ctx("cancel_order", symbol, client_order_id=client_order_id, order_request=True)
        exchange_id = self._known.exchange_id(client_order_id)
        extra = {"clientOrderId": client_order_id, **self._trigger_flag(client_order_id)}
        sent_at = time.monotonic()
        try:
            raw = await session.call(ctx, session.client.cancel_order, exchange_id, symbol, extra)
        except OrderOutcomeUnknown as e:
            report = await self._resolve_outcome(ctx, sent_at, e)
            if report is None:
                raise OrderNotFound(f"{ctx.describe()}: the exchange does not know the order") from e
            return report
        report = self._ack_report(raw, symbol, client_order_id)
        _log.info("order_cancel_answered", symbol=symbol, client_order_id=client_order_id, status=report.status.value)
        return report

    # -- unknown outcomes ------------------------------------------------------------------------------

    def _receive_window_s(self) -> float:
        window = (self._session.client.options or {}).get("recvWindow")
        try:
            return min(float(window) / 1000, 60.0) if window is not None else 0.0
        except (TypeError, ValueError):
            return 0.0

    def _trigger_flag(self, client_order_id: ClientOrderId) -> dict[str, Any]:
        """Return ccxt's ``{'trigger': True}`` for one of our conditional orders on a contract market."""
        return {"trigger": True} if client_order_id in self._known.triggers else {}

    async def _lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; on a contract market an order not found among the plain ones is
        looked for among the conditional ones too (after a restart the session does not know which it is)."""
        ctx = self._session.ctx("fetch_order", symbol, client_order_id=client_order_id)
        params = {"clientOrderId": client_order_id, **self._trigger_flag(client_order_id)}
        try:
            raw = await self._fetch_plain_or_conditional(ctx, None, symbol, params)
        except OrderNotFound:
            return None
        return self._ack_report(raw, symbol, client_order_id)

    async def _resolve_outcome(
        self, ctx: ErrorContext, sent_at: float, error: OrderOutcomeUnknown
    ) -> OrderStatusReport | None:
        """Log the unknown outcome of ``ctx.action``, then look the order up by client id (``lookup_delays_s``).

        Returns its report when found; ``None`` when the exchange cleanly said "not found" after its receive
        window (``recvWindow``) had passed since the request was signed (``sent_at``, ``time.monotonic()``
        seconds), so it can no longer accept it.

        Raises:
            OrderOutcomeUnknown: the last lookup failed, so nothing can be concluded.
        """
        symbol, coid = Symbol(ctx.symbol or ""), ClientOrderId(ctx.client_order_id or "")
        _log.warning("order_outcome_unknown", action=ctx.action, symbol=symbol, client_order_id=coid, error=str(error))
        window = self._receive_window_s()
        delays = [*self.lookup_delays_s]
        clean_miss = False
        while delays:
            await asyncio.sleep(delays.pop(0))
            try:
                report = await self._lookup(symbol, coid)
            except ExchangeError as e:
                clean_miss = False
                _log.warning(
                    "order_lookup_failed", action=ctx.action, symbol=symbol, client_order_id=coid, error=str(e)
                )
                continue
            if report is not None:
                _log.info(
                    "order_outcome_resolved",
                    action=ctx.action,
                    symbol=symbol,
                    client_order_id=coid,
                    status=report.status.value,
                    exchange_order_id=report.exchange_order_id,
                )
                return report
            clean_miss = True
            remaining = window - (time.monotonic() - sent_at)
            if remaining <= 0:
                break
            if not delays:  # one last look once the exchange can no longer accept the request
                delays.append(remaining + 0.1)
        if not clean_miss:
            raise OrderOutcomeUnknown(f"{ctx.describe()}: outcome unknown, lookups failed; reconcile later")
        return None

    # -- account reads ---------------------------------------------------------------------------------

    @retry_transient()
    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the exchange does not know it."""
        await self._session.load_markets()
        return await self._lookup(symbol, client_order_id)

    @retry_transient()
    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return every open order of the account in ``symbol`` (ours and foreign; bad ones logged, skipped)."""
        session = self._session
        await session.load_markets()
        self._known.symbols.add(symbol)
        ctx = session.ctx("fetch_open_orders", symbol)
        raw = list(await session.call(ctx, session.client.fetch_open_orders, symbol) or ())
        if session.market(symbol).contract:  # the conditional orders are listed apart (Binance's Algo Order API)
            conditional = await session.call(ctx, session.client.fetch_open_orders, symbol, None, None,
                                             {"trigger": True})  # fmt: skip
            for o in conditional or ():
                if o.get("clientOrderId"):
                    self._known.triggers.add(ClientOrderId(str(o["clientOrderId"])))
                raw.append(o)
        reports = []
        for o in raw:
            try:
                report = self.report(o, symbol)
            except BadExchangeResponse as e:
                _log.error("bad_order_report", symbol=symbol, error=str(e))
                continue
            self._known.track(report)
            reports.append(report)
        return reports

    @retry_transient()
    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the account's fills in ``symbol`` since ``since_ms`` (epoch ms, inclusive), oldest first.

        Paginated by time (1000 a page, at most 100 pages); trades of orders we cannot name are left out.
        """
        session = self._session
        await session.load_markets()
        self._known.symbols.add(symbol)
        page, fills, since = 1000, dict[str, Fill](), since_ms
        for _ in range(100):
            batch = await session.call(
                session.ctx("fetch_my_trades", symbol), session.client.fetch_my_trades, symbol, since, page
            )
            new = [t for t in batch or () if str(t.get("id")) not in fills]
            for t in new:
                try:
                    fill = await self.fill(t, symbol)
                except BadExchangeResponse as e:
                    _log.error("bad_fill", symbol=symbol, error=str(e))
                    continue
                if fill is not None:
                    fills[fill.trade_id] = fill
            stamps = [int(t["timestamp"]) for t in batch or () if t.get("timestamp") is not None]
            if len(batch or ()) < page or not new or not stamps:
                break
            since = max(stamps)
        return sorted(fills.values(), key=lambda f: (f.ts_ms, f.trade_id))

    @retry_transient()
    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the account's balances by currency (``free`` and ``locked`` = ccxt's ``used``)."""
        session = self._session
        raw = await session.call(session.ctx("fetch_balance"), session.client.fetch_balance)
        return to_balances(raw)


def _has_quote_amount_market(client: Any, side: OrderSide) -> bool:
    """True when the venue takes a market order by quote amount (ccxt ``createMarket{Buy,Sell}OrderWithCost``).

    Binance spot does (``quoteOrderQty``; its fee comes out of what the order receives, so the amount is what
    leaves the account). A venue without it gets the quantity the caller estimated at the newest book.
    """
    has = client.has
    key = "createMarketBuyOrderWithCost" if side is OrderSide.BUY else "createMarketSellOrderWithCost"
    return bool(has.get(key) or has.get("createMarketOrderWithCost"))
