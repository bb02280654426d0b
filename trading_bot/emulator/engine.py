"""Exchange-side matching of the account's orders against the external market, with Binance semantics.

* A limit order that crosses the external touch fills at once as taker at the touch (the whole
  quantity: the touch is treated as deep enough); a LIMIT_MAKER that would cross is rejected (-2010).
* A resting order fills as maker at its own price when a public trade prints at or through it (up to
  the trade's quantity, so a small print gives a partial fill) or when the opposite touch moves onto
  or through it (the whole remainder).
* MARKET orders fill at the touch, by ``quantity`` or by ``quoteOrderQty``.
* Funds are locked while an order rests (buys lock ``price * qty * (1 + max fee)`` of the quote asset)
  and released on fill, cancel or expiry. Fees are charged in the quote asset.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import ROUND_UP
from decimal import Decimal
from typing import Protocol

from trading_bot.emulator.errors import MSG_DUPLICATE
from trading_bot.emulator.errors import MSG_INSUFFICIENT
from trading_bot.emulator.errors import MSG_UNKNOWN_ORDER_CANCEL
from trading_bot.emulator.errors import MSG_UNKNOWN_ORDER_QUERY
from trading_bot.emulator.errors import MSG_WOULD_TAKE
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import mandatory
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
from trading_bot.log import get_logger

__all__ = ["Engine", "EngineListener"]

_log = get_logger(__name__)
_EIGHT = Decimal("0.00000001")


class EngineListener(Protocol):
    """Receives what the engine changes: user-stream events, visible books, public trades."""

    def user_event(self, event: dict[str, object]) -> None:
        """Push one user-data event (executionReport, outboundAccountPosition)."""

    def book_changed(self, market: MarketState) -> None:
        """Publish the visible book of ``market`` after own orders changed."""

    def public_trade(self, market: MarketState, trade: PublicTrade) -> None:
        """Publish a public trade the account took part in as taker."""


class Engine:
    """The account's orders, fills and balances, and their matching.

    Args:
        markets: Markets by Binance id (``BTCUSDT``).
        balances: Starting free balances per asset.
        maker_fee: Fee rate of maker fills.
        taker_fee: Fee rate of taker fills.
        now_ms: Server clock in epoch milliseconds.
        listener: Receiver of events.
    """

    def __init__(
        self,
        markets: Mapping[str, MarketState],
        balances: Mapping[str, Decimal],
        maker_fee: Decimal,
        taker_fee: Decimal,
        now_ms: Callable[[], int],
        listener: EngineListener,
    ) -> None:
        self.markets = markets
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self._now = now_ms
        self._listener = listener
        self.free: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self.locked: dict[str, Decimal] = {}
        for m in markets.values():
            for asset in (m.base, m.quote):
                self.free.setdefault(asset, Decimal(0))
        for asset in self.free:
            self.locked[asset] = Decimal(0)
        self.orders: dict[int, EmuOrder] = {}
        self.fills: list[EmuFill] = []
        self._by_client: dict[tuple[str, str], int] = {}
        self._order_ids = itertools.count(10_001)
        self._trade_ids = itertools.count(500_001)

    # -- lookups ---------------------------------------------------------------------------------------

    def market(self, params: Mapping[str, str]) -> MarketState:
        """Return the market named by ``params['symbol']``.

        Raises:
            BinanceApiError: -1102 without a symbol, -1121 for an unknown one.
        """
        symbol = params.get("symbol", "").upper()
        if not symbol:
            raise mandatory("symbol")
        market = self.markets.get(symbol)
        if market is None:
            raise BinanceApiError(-1121, "Invalid symbol.")
        return market

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
                {"asset": a, "free": fmt(self.free[a]), "locked": fmt(self.locked[a])} for a in sorted(self.free)
            ],
            "permissions": ["SPOT"],
            "uid": 354_937_868,
        }

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Set the free balance of ``asset`` (control use) and push outboundAccountPosition."""
        self.free[asset] = free
        self.locked.setdefault(asset, Decimal(0))
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
        qty, lock, lock_asset = self._check(market, new)
        now = self._now()
        order = EmuOrder(
            order_id=next(self._order_ids),
            client_order_id=new.client_order_id or _random_client_id(),
            symbol=market.market_id,
            side=new.side,
            type=new.type,
            time_in_force=new.time_in_force,
            price=new.price,
            orig_qty=qty,
            quote_order_qty=new.quote_order_qty or Decimal(0),
            time_ms=now,
            update_ms=now,
            locked_asset=lock_asset,
            locked=lock,
        )
        self.free[lock_asset] -= lock
        self.locked[lock_asset] += lock
        self.orders[order.order_id] = order
        self._by_client[(market.market_id, order.client_order_id)] = order.order_id
        _log.info(
            "emulator_order_new",
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            price=str(order.price),
            qty=str(qty),
            client_order_id=order.client_order_id,
        )
        self._listener.user_event(order.execution_report(now, "NEW"))
        self._push_balances([market.base, market.quote])
        fills: list[EmuFill] = []
        if self._crosses(market, order) or order.type == "MARKET":
            touch = market.ask if order.side == "BUY" else market.bid
            fills.append(self._fill(market, order, touch, order.remaining, is_maker=False))
        elif order.time_in_force in ("IOC", "FOK"):
            self._close(market, order, "EXPIRED")
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
        cancel_id = params.get("newClientOrderId") or _random_client_id()
        check_client_id("newClientOrderId", cancel_id)
        market = self.markets[order.symbol]
        self._close(market, order, "CANCELED", cancel_id)
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
            cancel_id = _random_client_id()
            self._close(market, order, "CANCELED", cancel_id)
            answers.append(order.rest_cancel(cancel_id, self._now()))
        self._listener.book_changed(market)
        return answers

    # -- matching against the external market ----------------------------------------------------------

    def match_quote(self, market: MarketState) -> int:
        """Fill resting orders the external touch now reaches; return the number of fills."""
        count = 0
        for order in self.open_orders(market.market_id):
            if (order.side == "BUY" and order.price >= market.ask) or (
                order.side == "SELL" and order.price <= market.bid
            ):
                self._fill(market, order, order.price, order.remaining, is_maker=True)
                count += 1
        if count:
            self._listener.book_changed(market)
        return count

    def match_trade(self, market: MarketState, price: Decimal, qty: Decimal, taker_buy: bool) -> int:
        """Fill resting orders a public trade prints at or through, up to ``qty``; return the fill count."""
        if taker_buy:
            hit = sorted(
                (o for o in self.open_orders(market.market_id) if o.side == "SELL" and o.price <= price),
                key=lambda o: (o.price, o.order_id),
            )
        else:
            hit = sorted(
                (o for o in self.open_orders(market.market_id) if o.side == "BUY" and o.price >= price),
                key=lambda o: (-o.price, o.order_id),
            )
        left = qty
        count = 0
        for order in hit:
            take = quantize_down(min(order.remaining, left), market.filters.step_size)
            if take <= 0:
                break
            self._fill(market, order, order.price, take, is_maker=True)
            left -= take
            count += 1
        if count:
            self._listener.book_changed(market)
        return count

    # -- internals -------------------------------------------------------------------------------------

    def _check(self, market: MarketState, new: NewOrder) -> tuple[Decimal, Decimal, str]:
        filters, rules = market.filters, market.rules
        max_fee = max(self.maker_fee, self.taker_fee)
        if new.type == "MARKET":
            touch = market.ask if new.side == "BUY" else market.bid
            if new.quantity is not None:
                qty = new.quantity
                check_filters(rules, filters, None, qty, touch)
            else:
                assert new.quote_order_qty is not None
                qty = quantize_down(new.quote_order_qty / touch, filters.step_size)
                check_filters(rules, filters, None, qty, None)
                if new.quote_order_qty < filters.min_notional:  # Binance values a quote-amount order at that amount
                    raise BinanceApiError(-1013, "Filter failure: NOTIONAL")
            price = touch
        else:
            assert new.quantity is not None
            qty, price = new.quantity, new.price
            check_filters(rules, filters, price, qty, None)
            if new.type == "LIMIT_MAKER" and (
                (new.side == "BUY" and price >= market.ask) or (new.side == "SELL" and price <= market.bid)
            ):
                raise BinanceApiError(-2010, MSG_WOULD_TAKE)
        if new.side == "BUY":
            lock = (price * qty * (1 + max_fee)).quantize(_EIGHT, rounding=ROUND_UP)
            asset = market.quote
        else:
            lock, asset = qty, market.base
        if self.free.get(asset, Decimal(0)) < lock:
            raise BinanceApiError(-2010, MSG_INSUFFICIENT)
        return qty, lock, asset

    @staticmethod
    def _crosses(market: MarketState, order: EmuOrder) -> bool:
        if order.type != "LIMIT":
            return False
        return order.price >= market.ask if order.side == "BUY" else order.price <= market.bid

    def _fill(self, market: MarketState, order: EmuOrder, price: Decimal, qty: Decimal, *, is_maker: bool) -> EmuFill:
        now = self._now()
        rate = self.maker_fee if is_maker else self.taker_fee
        quote_qty = price * qty
        fee = (quote_qty * rate).quantize(_EIGHT, rounding=ROUND_UP)
        if order.side == "BUY":
            release = (
                order.locked
                if qty >= order.remaining
                else (order.locked * qty / order.remaining).quantize(_EIGHT, rounding=ROUND_UP)
            )
            self.locked[market.quote] -= release
            self.free[market.quote] += release - quote_qty - fee
            self.free[market.base] += qty
        else:
            release = qty
            self.locked[market.base] -= qty
            self.free[market.quote] += quote_qty - fee
        order.locked -= release
        fill = EmuFill(
            trade_id=next(self._trade_ids),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=qty,
            commission=fee,
            commission_asset=market.quote,
            time_ms=now,
            is_maker=is_maker,
        )
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.update_ms = now
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.fills.append(fill)
        self.fills.append(fill)
        if order.status == "FILLED" and order.locked > 0:
            self.locked[order.locked_asset] -= order.locked
            self.free[order.locked_asset] += order.locked
            order.locked = Decimal(0)
        _log.info(
            "emulator_order_fill",
            symbol=order.symbol,
            order_id=order.order_id,
            price=str(price),
            qty=str(qty),
            status=order.status,
            maker=is_maker,
        )
        self._listener.user_event(order.execution_report(now, "TRADE", fill))
        self._push_balances([market.base, market.quote])
        if not is_maker:
            trade = market.print_trade(price, qty, buyer_maker=order.side == "SELL", time_ms=now)
            self._listener.public_trade(market, trade)
        return fill

    def _close(self, market: MarketState, order: EmuOrder, status: str, cancel_id: str | None = None) -> None:
        now = self._now()
        self.locked[order.locked_asset] -= order.locked
        self.free[order.locked_asset] += order.locked
        order.locked = Decimal(0)
        order.status = status
        order.update_ms = now
        _log.info("emulator_order_closed", symbol=order.symbol, order_id=order.order_id, status=status)
        self._listener.user_event(order.execution_report(now, status, cancel_client_id=cancel_id))
        self._push_balances([market.base, market.quote])

    def _push_balances(self, assets: Iterable[str]) -> None:
        now = self._now()
        self._listener.user_event(
            {
                "e": "outboundAccountPosition",
                "E": now,
                "u": now,
                "B": [{"a": a, "f": fmt(self.free[a]), "l": fmt(self.locked[a])} for a in dict.fromkeys(assets)],
            }
        )


def _random_client_id() -> str:
    return secrets.token_urlsafe(16)[:22]
