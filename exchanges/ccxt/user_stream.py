"""The user stream of a ccxt account: order reports and fills kept flowing to the adapter's sink.

Over WebSocket (``watch_orders`` + ``watch_my_trades``) where the exchange has both, plus a REST
cross-check (open orders, orders that left the book, trades since the newest fill seen) that catches
what a stream missed. The cross-check runs every ``CROSS_CHECK_INTERVAL_S`` seconds and about 1 s after
each reconnect (the new subscription may lag); without WebSocket it is the only path and runs every
``2 * poll_interval_s``. A transient failure of a stream reconnects it with ``Backoff``
(``user_stream_reconnect``, then ``user_stream_reconnected``); a refused key ends the stream with
``AuthenticationError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from exchanges.base import OrderUpdate
from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.known import KnownOrders
from exchanges.ccxt.orders import OrderDesk
from exchanges.ccxt.retry import Backoff
from trading_bot.domain import Clock
from trading_bot.domain import Symbol
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import OrderNotFound
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger

__all__ = ["CROSS_CHECK_INTERVAL_S", "UserStream", "first_error"]

_log = get_logger(__name__)

CROSS_CHECK_INTERVAL_S = 30.0
"""Period of the REST cross-check when the user stream is on WebSocket, seconds."""
_FOLLOW_UP_S = 1.0  # the cross-check after a reconnect, seconds


class UserStream:
    """The user-stream part of one ccxt adapter.

    Args:
        session: the ccxt client.
        desk: the order part (parses reports and fills; its REST reads feed the cross-check).
        known: the session's memory of orders and fills.
        clock: the start of the stream bounds the first trade query (epoch ms).
        emit: delivers each report and fill to the adapter's sink.
    """

    def __init__(
        self,
        session: CcxtSession,
        desk: OrderDesk,
        known: KnownOrders,
        clock: Clock,
        emit: Callable[[OrderUpdate], None],
    ) -> None:
        self._session = session
        self._desk = desk
        self._known = known
        self._clock = clock
        self._emit = emit
        self._resync = asyncio.Event()
        self._started_ms: int | None = None

    async def run(self, poll_interval_s: float) -> None:
        """Run the streams and the cross-check until cancelled (see the module docstring).

        Args:
            poll_interval_s: the adapter's REST polling period, seconds (the cross-check runs every twice
                that when there is no WebSocket).

        Raises:
            AuthenticationError: the keys were refused (preferred over any other error of the streams).
        """
        if self._session.public_only:
            _log.info("user_stream_disabled", exchange=self._session.name, reason="public_only")
            return
        await self._session.load_markets()
        ex = self._session.client
        self._started_ms = self._clock.now_ms()
        ws = bool(self._session.ws and ex.has.get("watchOrders") and ex.has.get("watchMyTrades"))
        _log.info("user_stream_started", exchange=self._session.name, websocket=ws)
        try:
            async with asyncio.TaskGroup() as tg:
                if ws:
                    tg.create_task(self._ws_loop("orders"), name="user-orders")
                    tg.create_task(self._ws_loop("trades"), name="user-trades")
                tg.create_task(
                    self._cross_check_loop(CROSS_CHECK_INTERVAL_S if ws else poll_interval_s * 2),
                    name="user-cross-check",
                )
        except BaseExceptionGroup as group:
            raise first_error(group) from group

    async def _ws_loop(self, kind: str) -> None:
        session = self._session
        ex = session.client
        backoff = Backoff("user_stream_reconnect", stream=kind)
        while True:
            try:
                if kind == "orders":
                    for o in await session.call(session.ctx("watch_orders"), ex.watch_orders) or ():
                        try:
                            report = self._desk.report(o)
                        except BadExchangeResponse as e:
                            _log.error("bad_order_report", error=str(e))
                            continue
                        self._known.track(report)
                        self._emit(report)
                else:
                    trades = await session.call(session.ctx("watch_my_trades"), ex.watch_my_trades)
                    for t in trades or ():
                        await self._desk.emit_trades([t], Symbol(str(t.get("symbol") or "")))
                if backoff.succeeded():
                    _log.info("user_stream_reconnected", stream=kind)
            except (TransientExchangeError, BadExchangeResponse) as e:
                await backoff.failed(e)
                self._resync.set()

    async def _cross_check_loop(self, interval_s: float) -> None:
        follow_up = True
        while True:
            woke = False
            try:
                async with asyncio.timeout(_FOLLOW_UP_S if follow_up else interval_s):
                    await self._resync.wait()
                woke = True
            except TimeoutError:
                pass
            self._resync.clear()
            follow_up = woke  # after a reconnect, look again shortly: the new subscription may lag
            try:
                await self._cross_check()
            except (TransientExchangeError, BadExchangeResponse, OrderNotFound) as e:
                _log.warning("user_cross_check_failed", error=str(e))

    async def _cross_check(self) -> None:
        desk, known = self._desk, self._known
        for symbol in sorted(known.symbols):
            reports = await desk.fetch_open_orders(symbol)
            open_ids = {r.exchange_order_id for r in reports}
            for report in reports:
                self._emit(report)
            vanished = [(k, c) for k, (s, c) in list(known.open_seen.items()) if s == symbol and k not in open_ids]
            for key, client_id in vanished:
                found = await desk.fetch_order(symbol, client_id) if client_id else None
                if found is None:
                    known.open_seen.pop(key, None)
                    _log.warning("order_vanished", symbol=symbol, client_order_id=client_id, exchange_order_id=key)
                else:
                    self._emit(found)
            since = known.fills_since_ms.get(symbol, self._started_ms)
            for fill in await desk.fetch_my_trades(symbol, since):
                self._emit(fill)


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Return the error the supervisor should see: an auth failure first, else the first ordinary error."""
    flat: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            flat.append(exc)
    auth = [e for e in flat if isinstance(e, AuthenticationError)]
    ordinary = [e for e in flat if isinstance(e, Exception)]
    return (auth or ordinary or flat or [group])[0]
