"""The emulator's account: Binance's order wire layer over the project's one matching core (``exchanges.sim``).

What this module does itself is only Binance's: parsing and validating ``POST /api/v3/order`` (error
codes -1013, -2010, -2011, -2013...), integer order and trade ids, client-order-id lookups, and the
renderings (REST answers, ``executionReport`` and ``outboundAccountPosition`` events, public trade
prints of our taker fills). Every fill, lock and balance comes from one ``MatchingCore`` per market over
one ``SimAccount`` (``exchanges.sim.core`` has the rules), fed the emulator's external quote and public
trades, with Binance's habits: no queue model (our resting orders are in the visible book themselves),
fees in the quote asset rounded up to 8 decimals, ``LIMIT_MAKER`` as a post-only limit, and a
``quoteOrderQty`` market order sized at its fill so that its notional is at most that amount (the fee on top).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from exchanges.sim import FillModel
from exchanges.sim import MatchingCore
from exchanges.sim import SimAccount
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import TradeTick
from trading_bot.emulator.errors import MSG_DUPLICATE
from trading_bot.emulator.errors import MSG_INSUFFICIENT
from trading_bot.emulator.errors import MSG_UNKNOWN_ORDER_CANCEL
from trading_bot.emulator.errors import MSG_UNKNOWN_ORDER_QUERY
from trading_bot.emulator.errors import MSG_WOULD_TAKE
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import market_named
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.market import PublicTrade
from trading_bot.emulator.market import fmt
from trading_bot.emulator.market import quantize_down
from trading_bot.emulator.orders import EmuFill
from trading_bot.emulator.orders import EmuOrder
from trading_bot.emulator.validate import NewOrder
from trading_bot.emulator.validate import check_client_id
from trading_bot.emulator.validate import check_filters
from trading_bot.emulator.validate import parse_new_order
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.log import get_logger

__all__ = ["Engine", "EngineListener", "ServerClock", "random_client_id"]

_log = get_logger(__name__)
_ORDER_ID_BASE = 10_000
_TRADE_ID_BASE = 500_000
_BINANCE_STATUS = {
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}


class EngineListener(Protocol):
    """Receives what the engine changes: user-stream events, visible books, public trades."""

    def user_event(self, event: dict[str, object]) -> None:
        """Push one user-data event (executionReport, outboundAccountPosition)."""

    def book_changed(self, market: MarketState) -> None:
        """Publish the visible book of ``market`` after own orders changed."""

    def public_trade(self, market: MarketState, trade: PublicTrade) -> None:
        """Publish a public trade the account took part in as taker."""


class ServerClock:
    """The emulator's server clock as the core's ``Clock``."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms

    def now_ms(self) -> int:
        """Return the server clock in epoch milliseconds."""
        return self._now_ms()

    def now(self) -> datetime:
        """Return the server clock as a UTC datetime."""
        return datetime.fromtimestamp(self._now_ms() / 1000, tz=UTC)


class Engine:
    """The account's orders, fills and balances: Binance's wire layer over one matching core per market.

    Args:
        markets: Markets by Binance id (``BTCUSDT``).
        balances: Starting free balances per asset.
        maker_fee: Fee rate of maker fills.
        taker_fee: Fee rate of taker fills.
        now_ms: Server clock in epoch milliseconds.
        listener: Receiver of events.
        buy_fee_in_base: Charge a buy's fee in the base asset it receives (``FillModel.buy_fee_in_base``).
    """

    def __init__(
        self,
        markets: Mapping[str, MarketState],
        balances: Mapping[str, Decimal],
        maker_fee: Decimal,
        taker_fee: Decimal,
        now_ms: Callable[[], int],
        listener: EngineListener,
        *,
        buy_fee_in_base: bool = False,
    ) -> None:
        self.markets = markets
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self._now = now_ms
        self._listener = listener
        self.account_model = SimAccount(balances)
        for m in markets.values():
            for asset in (m.base, m.quote):
                if asset not in balances:
                    self.account_model.set_free(asset, Decimal(0))
        model = FillModel(maker_fee=maker_fee, taker_fee=taker_fee, queue_position=False,
                          quote_amount_includes_fee=False, fee_decimals=8, buy_fee_in_base=buy_fee_in_base)  # fmt: skip
        clock = ServerClock(now_ms)
        self._cores = {
            market_id: MatchingCore(m.rules, clock, model, self.account_model, self._on_update)
            for market_id, m in markets.items()
        }
        self.orders: dict[int, EmuOrder] = {}
        self.fills: list[EmuFill] = []
        self._by_client: dict[tuple[str, str], int] = {}
        self._order_ids = itertools.count(_ORDER_ID_BASE + 1)
        self._held: list[OrderStatusReport | Fill] | None = None
        self._fill_count = 0

    # -- lookups ---------------------------------------------------------------------------------------

    def market(self, params: Mapping[str, str]) -> MarketState:
        """Return the market named by ``params['symbol']``.

        Raises:
            BinanceApiError: -1102 without a symbol, -1121 for an unknown one.
        """
        return market_named(self.markets, params)

    def find(self, params: Mapping[str, str], *, for_cancel: bool) -> EmuOrder:
        """Return the order named by ``orderId`` or ``origClientOrderId`` in ``symbol``.

        Raises:
            BinanceApiError: -1102 without an id; -2013 (query) or -2011 (cancel) if unknown.
        """
        market = self.market(params)
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        found: int | None = None
        if order_id:
            found = int(order_id) if order_id.isdigit() else None
        elif client_id:
            found = self._by_client.get((market.market_id, client_id))
        else:
            raise BinanceApiError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        order = self.orders.get(found) if found is not None else None
        if order is None or order.symbol != market.market_id:
            if for_cancel:
                raise BinanceApiError(-2011, MSG_UNKNOWN_ORDER_CANCEL)
            raise BinanceApiError(-2013, MSG_UNKNOWN_ORDER_QUERY)
        return order

    def open_orders(self, symbol: str | None = None) -> list[EmuOrder]:
        """Return the open orders, of one market id or of all, oldest first."""
        return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def own_levels(self, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """Return the remaining quantity of resting orders per price: ``(bids, asks)``."""
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for order in self.open_orders(symbol):
            side = bids if order.side == "BUY" else asks
            side[order.price] = side.get(order.price, Decimal(0)) + order.remaining
        return bids, asks

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Return ``(free, locked)`` per asset, assets sorted."""
        return {a: (b.free, b.locked) for a, b in self.account_model.balances().items()}

    def account(self) -> dict[str, object]:
        """Return the ``GET /api/v3/account`` answer."""
        maker = int(self.maker_fee * 10_000)
        taker = int(self.taker_fee * 10_000)
        return {
            "makerCommission": maker,
            "takerCommission": taker,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt(self.maker_fee),
                "taker": fmt(self.taker_fee),
                "buyer": fmt(Decimal(0)),
                "seller": fmt(Decimal(0)),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self._now(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": fmt(free), "locked": fmt(locked)} for a, (free, locked) in self.balances().items()
            ],
            "permissions": ["SPOT"],
            "uid": 354_937_868,
        }

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Set the free balance of ``asset`` (control use) and push outboundAccountPosition."""
        self.account_model.set_free(asset, free)
        self._push_balances([asset])

    # -- commands --------------------------------------------------------------------------------------

    def place(self, params: Mapping[str, str]) -> dict[str, object]:
        """Handle ``POST /api/v3/order``; return the answer for the requested ``newOrderRespType``.

        Raises:
            BinanceApiError: Validation (-1102, -1100, -1013, -1121...), duplicate (-2010), post-only
                would take (-2010), insufficient balance (-2010).
        """
        market = self.market(params)
        new = parse_new_order(params)
        if new.client_order_id is not None:
            previous = self._by_client.get((market.market_id, new.client_order_id))
            if previous is not None and self.orders[previous].is_open:
                raise BinanceApiError(-2010, MSG_DUPLICATE)
        qty = self._check(market, new)
        now = self._now()
        order = EmuOrder(
            order_id=next(self._order_ids),
            client_order_id=new.client_order_id or random_client_id(),
            symbol=market.market_id,
            side=new.side,
            type=new.type,
            time_in_force=new.time_in_force,
            price=new.price,
            orig_qty=qty,
            quote_order_qty=new.quote_order_qty or Decimal(0),
            time_ms=now,
            update_ms=now,
            locked_asset=market.quote if new.side == "BUY" else market.base,
        )
        core = self._cores[market.market_id]
        core.set_quote(_quote(market, now))
        with self._holding() as held:
            try:
                core.submit(_order_params(new), qty, ClientOrderId(order.client_order_id))
            except InsufficientFunds:
                raise BinanceApiError(-2010, MSG_INSUFFICIENT) from None
            except PostOnlyWouldCross:
                raise BinanceApiError(-2010, MSG_WOULD_TAKE) from None
            except OrderRejected as exc:
                raise BinanceApiError(-1013, f"Filter failure: {exc}") from None
            self.orders[order.order_id] = order
            self._by_client[(market.market_id, order.client_order_id)] = order.order_id
            _log.info("emulator_order_new", symbol=order.symbol, side=order.side, type=order.type,
                      price=str(order.price), qty=str(qty), client_order_id=order.client_order_id)  # fmt: skip
            self._listener.user_event(order.execution_report(now, "NEW"))
            self._push_balances([market.base, market.quote])
        fills = self._apply(market, held)
        if order.is_open and (order.type == "MARKET" or order.time_in_force in ("IOC", "FOK")):
            self._finish(market, order, "EXPIRED")  # the core expired the rest inside the request
        self._listener.book_changed(market)
        return order.rest_new(new.resp_type, fills)

    def cancel(self, params: Mapping[str, str]) -> dict[str, object]:
        """Handle ``DELETE /api/v3/order``.

        Raises:
            BinanceApiError: -2011 if the order is unknown or no longer open.
        """
        order = self.find(params, for_cancel=True)
        if not order.is_open:
            raise BinanceApiError(-2011, MSG_UNKNOWN_ORDER_CANCEL)
        cancel_id = params.get("newClientOrderId") or random_client_id()
        check_client_id("newClientOrderId", cancel_id)
        market = self.markets[order.symbol]
        self._cancel(market, order, cancel_id)
        self._listener.book_changed(market)
        return order.rest_cancel(cancel_id, self._now())

    def cancel_all(self, params: Mapping[str, str]) -> list[dict[str, object]]:
        """Handle ``DELETE /api/v3/openOrders`` for one symbol.

        Raises:
            BinanceApiError: -2011 if there is no open order.
        """
        market = self.market(params)
        orders = self.open_orders(market.market_id)
        if not orders:
            raise BinanceApiError(-2011, MSG_UNKNOWN_ORDER_CANCEL)
        answers = []
        for order in orders:
            cancel_id = random_client_id()
            self._cancel(market, order, cancel_id)
            answers.append(order.rest_cancel(cancel_id, self._now()))
        self._listener.book_changed(market)
        return answers

    # -- matching against the external market ----------------------------------------------------------

    def match_quote(self, market: MarketState) -> int:
        """Match resting orders against the external touch now; return the number of fills."""
        return self._feed(market, _quote(market, self._now()))

    def match_trade(self, market: MarketState, price: Decimal, qty: Decimal, taker_buy: bool) -> int:
        """Match resting orders against a public trade at ``price`` of ``qty``; return the fill count."""
        now = self._now()
        side = OrderSide.BUY if taker_buy else OrderSide.SELL
        md = _quote(market, now)
        trade = TradeTick(symbol=md.symbol, ts_ms=now, price=price, quantity=qty, side=side)
        return self._feed(market, MarketData(symbol=md.symbol, ts_ms=now, bid=md.bid, ask=md.ask, bid_size=md.bid_size,
                                             ask_size=md.ask_size, last=price, trade=trade))  # fmt: skip

    # -- internals -------------------------------------------------------------------------------------

    def _feed(self, market: MarketState, md: MarketData) -> int:
        with self._holding() as held:
            self._cores[market.market_id].on_market_data(md)
        fills = self._apply(market, held)
        if fills:
            self._listener.book_changed(market)
        return len(fills)

    @contextmanager
    def _holding(self) -> Iterator[list[OrderStatusReport | Fill]]:
        """Collect the core's updates while a command runs, to render them after it in Binance's order."""
        held: list[OrderStatusReport | Fill] = []
        self._held = held
        try:
            yield held
        finally:
            self._held = None

    def _on_update(self, update: OrderStatusReport | Fill) -> None:
        if self._held is None:  # pragma: no cover - every core call runs inside _holding
            raise RuntimeError("matching core update outside an emulator command")
        self._held.append(update)

    def _apply(self, market: MarketState, updates: Iterable[OrderStatusReport | Fill]) -> list[EmuFill]:
        """Render the core's fills and expiries as Binance events; return the fills."""
        fills: list[EmuFill] = []
        for update in updates:
            order = self.orders[self._by_client[(market.market_id, update.client_order_id)]]
            if isinstance(update, Fill):
                fills.append(self._fill(market, order, update))
            elif update.status in _BINANCE_STATUS and order.is_open:
                self._finish(market, order, _BINANCE_STATUS[update.status])
        return fills

    def _check(self, market: MarketState, new: NewOrder) -> Decimal:
        """Apply Binance's filters (-1013); return the order's quantity (a quote amount's: estimated at the touch)."""
        filters, rules = market.filters, market.rules
        if new.type != "MARKET":
            assert new.quantity is not None
            check_filters(rules, filters, new.price, new.quantity, None)
            return new.quantity
        touch = market.ask if new.side == "BUY" else market.bid
        if new.quantity is not None:
            check_filters(rules, filters, None, new.quantity, touch)
            return new.quantity
        assert new.quote_order_qty is not None
        qty = quantize_down(new.quote_order_qty / touch, filters.step_size)
        check_filters(rules, filters, None, qty, None)
        if new.quote_order_qty < filters.min_notional:  # Binance values a quote-amount order at that amount
            raise BinanceApiError(-1013, "Filter failure: NOTIONAL")
        return qty

    def _fill(self, market: MarketState, order: EmuOrder, fill: Fill) -> EmuFill:
        now = self._now()
        is_maker = fill.liquidity is LiquiditySide.MAKER
        emu = EmuFill(
            trade_id=_TRADE_ID_BASE + int(fill.trade_id),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=fill.price,
            qty=fill.quantity,
            commission=fill.fee,
            commission_asset=fill.fee_currency,
            time_ms=fill.ts_ms,
            is_maker=is_maker,
        )
        if order.type == "MARKET" and order.quote_order_qty:  # sized at the fill: what filled is the order
            order.orig_qty = order.executed_qty + fill.quantity
        order.executed_qty += fill.quantity
        order.cum_quote += fill.price * fill.quantity
        order.update_ms = now
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.fills.append(emu)
        self.fills.append(emu)
        _log.info("emulator_order_fill", symbol=order.symbol, order_id=order.order_id, price=str(fill.price),
                  qty=str(fill.quantity), status=order.status, maker=is_maker)  # fmt: skip
        self._listener.user_event(order.execution_report(now, "TRADE", emu))
        self._push_balances([market.base, market.quote])
        if not is_maker:
            trade = market.print_trade(fill.price, fill.quantity, buyer_maker=order.side == "SELL", time_ms=now)
            self._listener.public_trade(market, trade)
        return emu

    def _cancel(self, market: MarketState, order: EmuOrder, cancel_id: str) -> None:
        with self._holding():
            self._cores[market.market_id].cancel(ClientOrderId(order.client_order_id))
        self._finish(market, order, "CANCELED", cancel_id)

    def _finish(self, market: MarketState, order: EmuOrder, status: str, cancel_id: str | None = None) -> None:
        """Close ``order`` as ``status`` on the wire (the core has closed it and released its funds)."""
        core = self._cores[market.market_id]
        if core.open.get(ClientOrderId(order.client_order_id)) is not None:
            with self._holding():
                core.cancel(ClientOrderId(order.client_order_id))
        now = self._now()
        order.status = status
        order.update_ms = now
        _log.info("emulator_order_closed", symbol=order.symbol, order_id=order.order_id, status=status)
        self._listener.user_event(order.execution_report(now, status, cancel_client_id=cancel_id))
        self._push_balances([market.base, market.quote])

    def _push_balances(self, assets: Iterable[str]) -> None:
        now = self._now()
        balances = self.account_model.balances()
        rows = []
        for a in dict.fromkeys(assets):
            b = balances.get(a)
            free, locked = (Decimal(0), Decimal(0)) if b is None else (b.free, b.locked)
            rows.append({"a": a, "f": fmt(free), "l": fmt(locked)})
        self._listener.user_event({"e": "outboundAccountPosition", "E": now, "u": now, "B": rows})


def _quote(market: MarketState, now_ms: int) -> MarketData:
    """The external touch of ``market`` as the core's market event."""
    return MarketData(symbol=Symbol(market.symbol), ts_ms=now_ms, bid=market.bid, ask=market.ask,
                      bid_size=market.bid_qty, ask_size=market.ask_qty, last=market.last_price)  # fmt: skip


def _order_params(new: NewOrder) -> OrderParams:
    """Binance's order (``LIMIT``, ``LIMIT_MAKER``, ``MARKET``) as the core's ``OrderParams``."""
    side = OrderSide.BUY if new.side == "BUY" else OrderSide.SELL
    if new.type == "MARKET":
        return OrderParams(side=side, order_type=OrderType.MARKET, quote_quantity=new.quote_order_qty)
    tif = TimeInForce(new.time_in_force.lower()) if new.type == "LIMIT" else TimeInForce.GTC
    return OrderParams(side=side, order_type=OrderType.LIMIT, price=new.price, time_in_force=tif,
                       post_only=new.type == "LIMIT_MAKER")  # fmt: skip


def random_client_id() -> str:
    """Return a random client order id in Binance's alphabet (22 characters)."""
    return secrets.token_urlsafe(16)[:22]
