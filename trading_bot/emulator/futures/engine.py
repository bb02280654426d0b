"""The futures account: Binance USDⓈ-M's order wire layer over the simulator's matching core and margin account.

Every fill, lock, position, funding payment and liquidation comes from ``exchanges.sim``: one
``MatchingCore`` per swap market over one ``MarginAccount`` (its rules and formulas). This module keeps
only Binance's: order parsing and error codes (-2019 margin insufficient, -2022 reduce-only rejected,
-4164 min notional, -5022 post-only would take, -5021 FOK not filled, -2021 stop would trigger, -4116
duplicate client id), integer ids, the records and their renderings, income rows (REALIZED_PNL,
COMMISSION, FUNDING_FEE, INSURANCE_CLEAR for liquidation fees), a liquidation's closing order
(``autoclose-<ms>``, execution type CALCULATED, its trade in ``userTrades``), a triggered conditional
order's new plain order (``FutOrder.actual_order_id``: its fills name that order) and the user-stream events
(``ORDER_TRADE_UPDATE``; ``ALGO_UPDATE`` NEW, TRIGGERED, FINISHED, CANCELED or EXPIRED for conditional
orders; ``ACCOUNT_UPDATE`` with reason ORDER, FUNDING_FEE or DEPOSIT).
Fees are charged in the settle currency, rounded up to 8 decimals; no queue model (own resting orders
are in the visible book).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Protocol

from exchanges.sim import FillModel
from exchanges.sim import MarginAccount
from exchanges.sim import MatchingCore
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Liquidation
from trading_bot.domain import LiquiditySide
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import MarketFilter
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol
from trading_bot.domain import TradeTick
from trading_bot.emulator.engine import ServerClock
from trading_bot.emulator.engine import random_client_id
from trading_bot.emulator.errors import BinanceApiError
from trading_bot.emulator.errors import market_named
from trading_bot.emulator.futures.config import FuturesConfig
from trading_bot.emulator.futures.market import PerpMarket
from trading_bot.emulator.futures.market import num
from trading_bot.emulator.futures.orders import FutFill
from trading_bot.emulator.futures.orders import FutOrder
from trading_bot.emulator.futures.orders import IncomeRow
from trading_bot.emulator.futures.validate import FuturesOrder
from trading_bot.emulator.futures.validate import parse_futures_order
from trading_bot.emulator.market import PublicTrade
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderRejected
from trading_bot.errors import PostOnlyWouldCross
from trading_bot.log import get_logger

__all__ = ["FuturesEngine", "FuturesListener"]

_log = get_logger(__name__)
_ORDER_ID_BASE = 700_000
_TRADE_ID_BASE = 90_000
_TRAN_ID_BASE = 5_000_000_000
_CLOSED = {OrderStatus.CANCELED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED", OrderStatus.REJECTED: "REJECTED"}
_FILTER_ERRORS = {
    MarketFilter.TICK: (-4014, "Price not increased by tick size."),
    MarketFilter.LOT_STEP: (-1111, "Precision is over the maximum defined for this asset."),
    MarketFilter.MIN_AMOUNT: (-1013, "Filter failure: LOT_SIZE"),
    MarketFilter.MAX_AMOUNT: (-4005, "Quantity greater than max quantity."),
}


class FuturesListener(Protocol):
    """Receives what the futures engine changes: user-stream events, visible books, public trades."""

    def user_event(self, event: dict[str, object]) -> None:
        """Push one user-stream event (ORDER_TRADE_UPDATE, ALGO_UPDATE, ACCOUNT_UPDATE)."""

    def book_changed(self, market: PerpMarket) -> None:
        """Publish the visible book of ``market`` after own orders changed."""

    def public_trade(self, market: PerpMarket, trade: PublicTrade) -> None:
        """Publish a public trade the account took as taker."""


class FuturesEngine:
    """Orders, fills, positions and income of one USDⓈ-M account over the simulator's core.

    Args:
        markets: Swap markets by Binance id.
        config: Balances, default leverage and margin mode, liquidation fee, position mode.
        now_ms: Server clock in epoch milliseconds.
        listener: Receiver of events.
    """

    def __init__(
        self,
        markets: Mapping[str, PerpMarket],
        config: FuturesConfig,
        now_ms: Callable[[], int],
        listener: FuturesListener,
    ) -> None:
        self.markets = markets
        self.hedge_mode = config.hedge_mode
        self._now = now_ms
        self._listener = listener
        self.account = MarginAccount(config.balances, leverage=config.leverage, margin_mode=config.margin_mode,
                                     liquidation_fee=config.liquidation_fee)  # fmt: skip
        clock = ServerClock(now_ms)
        self._cores: dict[str, MatchingCore] = {}
        for market_id, m in markets.items():
            model = FillModel(maker_fee=m.rules.maker_fee, taker_fee=m.rules.taker_fee, queue_position=False,
                              fee_decimals=8)  # fmt: skip
            self._cores[market_id] = MatchingCore(m.rules, clock, model, self.account, self._on_update)
            self.account.set_mark(m.rules.symbol, m.mark)
        for asset in {m.rules.settle for m in markets.values()} - set(config.balances):
            assert asset is not None  # swap markets always have one
            self.account.set_free(asset, Decimal(0))
        self.orders: dict[int, FutOrder] = {}
        self.fills: list[FutFill] = []
        self.income: list[IncomeRow] = []
        self._by_client: dict[tuple[str, str], int] = {}
        self._order_ids = itertools.count(_ORDER_ID_BASE + 1)
        self._tran_ids = itertools.count(_TRAN_ID_BASE + 1)
        self._realized: dict[str, Decimal] = {m.rules.symbol: Decimal(0) for m in markets.values()}
        self._held: list[tuple[OrderStatusReport | Fill, Decimal]] | None = None

    # -- lookups ---------------------------------------------------------------------------------------

    def market(self, params: Mapping[str, str]) -> PerpMarket:
        """Return the market named by ``params['symbol']``.

        Raises:
            BinanceApiError: -1102 without a symbol, -1121 for an unknown one.
        """
        return market_named(self.markets, params)

    def find(self, params: Mapping[str, str], *, algo: bool, for_cancel: bool) -> FutOrder:
        """Return the order named by ``orderId``/``origClientOrderId`` (algo: ``algoId``/``clientAlgoId``).

        Raises:
            BinanceApiError: -1102 without an id; -2013 (query) or -2011 (cancel) when unknown.
        """
        market = self.market(params) if "symbol" in params or not algo else None
        id_name, client_name = ("algoId", "clientAlgoId") if algo else ("orderId", "origClientOrderId")
        raw_id, client_id = params.get(id_name), params.get(client_name)
        found: int | None = None
        if raw_id:
            found = int(raw_id) if raw_id.isdigit() else None
        elif client_id:
            for (market_id, cid), order_id in self._by_client.items():
                if cid == client_id and (market is None or market_id == market.market_id):
                    found = order_id
        else:
            raise BinanceApiError(
                -1102, f"Param '{client_name}' or '{id_name}' must be sent, but both were empty/null!"
            )
        order = self.orders.get(found) if found is not None else None
        if order is None or order.algo is not algo or (market is not None and order.symbol != market.market_id):
            if for_cancel:
                raise BinanceApiError(-2011, "Unknown order sent.")
            raise BinanceApiError(-2013, "Order does not exist.")
        return order

    def open_orders(self, symbol: str | None = None, *, algo: bool = False) -> list[FutOrder]:
        """Return the open orders (of one market id, or all), oldest first; ``algo``: the conditional ones."""
        return [o for o in self.orders.values()
                if o.is_open and o.algo is algo and (symbol is None or o.symbol == symbol)]  # fmt: skip

    def own_levels(self, market_id: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """Return the remaining quantity of resting limit orders per price: ``(bids, asks)``."""
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for order in self.open_orders(market_id):
            side = bids if order.side == "BUY" else asks
            side[order.price] = side.get(order.price, Decimal(0)) + order.orig_qty - order.executed_qty
        return bids, asks

    def has_open_orders(self, market_id: str | None = None) -> bool:
        """Return True if any order (regular or conditional) is open, in one market id or in any."""
        return any(o.is_open and (market_id is None or o.symbol == market_id) for o in self.orders.values())

    def isolated_margin(self, asset: str) -> Decimal:
        """Return the margin the isolated positions settled in ``asset`` hold (``MarginAccount`` keeps it apart
        from its wallet; Binance counts it in ``walletBalance``)."""
        return sum(
            (self.account.position_margin(m.rules.symbol) for m in self.markets.values()
             if m.rules.settle == asset and self.account.margin_mode(m.rules.symbol) is MarginMode.ISOLATED),
            Decimal(0),
        )  # fmt: skip

    # -- settings ------------------------------------------------------------------------------------

    def set_position_mode(self, dual: bool) -> dict[str, object]:
        """Handle ``POST /fapi/v1/positionSide/dual`` (and the control call).

        Raises:
            BinanceApiError: -4059 unchanged, -4068 with a position, -4067 with open orders.
        """
        if dual is self.hedge_mode:
            raise BinanceApiError(-4059, "No need to change position side.")
        if self.account.positions():
            raise BinanceApiError(-4068, "Position side cannot be changed if there exists position.")
        if self.has_open_orders():
            raise BinanceApiError(-4067, "Position side cannot be changed if there exists open orders.")
        self.hedge_mode = dual
        return {"code": 200, "msg": "success"}

    def set_balance(self, asset: str, wallet: Decimal) -> None:
        """Set the wallet balance of ``asset`` (control use: a deposit) and push ACCOUNT_UPDATE (DEPOSIT)."""
        self.account.set_free(asset, wallet - self.account.locked(asset))
        self._push_account("DEPOSIT", [])

    # -- orders ----------------------------------------------------------------------------------------

    def place(self, params: Mapping[str, str], *, algo: bool = False) -> dict[str, object]:
        """Handle ``POST /fapi/v1/order`` (``algo``: ``POST /fapi/v1/algoOrder``); return the answer.

        Raises:
            BinanceApiError: validation, filters, duplicate id, reduce-only, margin, post-only, FOK (module doc).
        """
        market = self.market(params)
        new = parse_futures_order(params, algo=algo, hedge_mode=self.hedge_mode)
        client_id = new.client_order_id or random_client_id()
        previous = self._by_client.get((market.market_id, client_id))
        if previous is not None and self.orders[previous].is_open:
            raise BinanceApiError(-4116, "ClientOrderId is duplicated.")
        self._check(market, new)
        now = self._now()
        order = FutOrder(order_id=next(self._order_ids), client_order_id=client_id, symbol=market.market_id,
                         side=new.side, type=new.type, time_in_force=new.time_in_force, price=new.price,
                         stop_price=new.stop_price, orig_qty=new.quantity, reduce_only=new.reduce_only, time_ms=now,
                         update_ms=now, algo=algo)  # fmt: skip
        core = self._cores[market.market_id]
        core.set_quote(_quote(market, now))
        with self._holding() as held:
            try:
                report = core.submit(new.params(), new.quantity, ClientOrderId(client_id))
            except InsufficientFunds:
                raise BinanceApiError(-2019, "Margin is insufficient.") from None
            except PostOnlyWouldCross:
                raise BinanceApiError(-5022, "Due to the order could not be executed as maker, the Post Only order "
                                             "will be rejected.") from None  # fmt: skip
            except OrderRejected as exc:
                if "trigger immediately" in str(exc):
                    raise BinanceApiError(-2021, "Order would immediately trigger.") from None
                raise BinanceApiError(-1013, f"Filter failure: {exc}") from None
            if new.time_in_force == "FOK" and report.filled_quantity == 0 and not report.status.is_open:
                raise BinanceApiError(-5021, "Due to the order could not be filled immediately, the FOK order has "
                                             "been rejected.")  # fmt: skip
            self.orders[order.order_id] = order
            self._by_client[(market.market_id, client_id)] = order.order_id
            _log.info("emulator_futures_order_new", symbol=order.symbol, side=order.side, type=order.type,
                      price=str(order.price), qty=str(order.orig_qty), client_order_id=client_id)  # fmt: skip
            self._listener.user_event(order.algo_update(now) if algo else order.trade_update(now, "NEW"))
        fills = self._apply(market, held)
        if order.is_open and (order.type == "MARKET" or order.time_in_force in ("IOC", "FOK")):
            self._finish(market, order, "EXPIRED")
        if fills:
            self._push_account("ORDER", [market])
        self._listener.book_changed(market)
        return order.rest_algo() if algo else order.rest(with_time=False)

    def cancel(self, params: Mapping[str, str], *, algo: bool = False) -> dict[str, object]:
        """Handle ``DELETE /fapi/v1/order`` (``algo``: ``DELETE /fapi/v1/algoOrder``).

        Raises:
            BinanceApiError: -2011 if the order is unknown or no longer open.
        """
        order = self.find(params, algo=algo, for_cancel=True)
        if not order.is_open:
            raise BinanceApiError(-2011, "Unknown order sent.")
        market = self.markets[order.symbol]
        self._finish(market, order, "CANCELED")
        self._listener.book_changed(market)
        if algo:
            return {"algoId": order.order_id, "clientAlgoId": order.client_order_id, "code": "200", "msg": "success"}
        return order.rest(with_time=False)

    def cancel_all(self, params: Mapping[str, str], *, algo: bool = False) -> dict[str, object]:
        """Handle ``DELETE /fapi/v1/allOpenOrders`` (``algo``: ``/fapi/v1/algoOpenOrders``) for one symbol."""
        market = self.market(params)
        for order in self.open_orders(market.market_id, algo=algo):
            self._finish(market, order, "CANCELED")
        self._listener.book_changed(market)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- the market ------------------------------------------------------------------------------------

    def match_quote(self, market: PerpMarket) -> int:
        """Match resting and conditional orders against the external touch now; return the fill count."""
        return self._feed(market, _quote(market, self._now()))

    def match_trade(self, market: PerpMarket, price: Decimal, qty: Decimal, taker_buy: bool) -> int:
        """Match against a public trade at ``price`` of ``qty``; return the fill count."""
        now = self._now()
        md = _quote(market, now)
        side = OrderSide.BUY if taker_buy else OrderSide.SELL
        trade = TradeTick(symbol=md.symbol, ts_ms=now, price=price, quantity=qty, side=side)
        return self._feed(market, MarketData(symbol=md.symbol, ts_ms=now, bid=md.bid, ask=md.ask, bid_size=md.bid_size,
                                             ask_size=md.ask_size, last=price, trade=trade))  # fmt: skip

    def set_mark(self, market: PerpMarket, mark: Decimal) -> list[str]:
        """Record a new mark of ``market`` and liquidate what falls below maintenance; return liquidated ids."""
        market.mark = mark
        self.account.set_mark(market.rules.symbol, mark)
        return self.check_liquidations()

    def check_liquidations(self) -> list[str]:
        """Liquidate at the marks (``MarginAccount.check_liquidations``): orders expire first; return the ids."""
        now = self._now()
        out: list[str] = []
        for liquidation in self.account.check_liquidations(now):
            market = next(m for m in self.markets.values() if m.rules.symbol == liquidation.symbol)
            for order in self.open_orders(market.market_id) + self.open_orders(market.market_id, algo=True):
                self._finish(market, order, "EXPIRED")
            self._realized[liquidation.symbol] = self.account.position(liquidation.symbol).realized_pnl
            settle = market.rules.settle_currency
            self._record_liquidation(market, liquidation, settle, now)
            self._income(liquidation.symbol, "REALIZED_PNL", liquidation.realized_pnl, settle, now)
            if liquidation.fee:
                self._income(liquidation.symbol, "INSURANCE_CLEAR", -liquidation.fee, settle, now)
            _log.warning("emulator_futures_liquidation", symbol=liquidation.symbol, qty=str(liquidation.quantity),
                         price=str(liquidation.price), fee=str(liquidation.fee))  # fmt: skip
            self._push_account("ORDER", [market])
            self._listener.book_changed(market)
            out.append(market.market_id)
        return out

    def _record_liquidation(self, market: PerpMarket, liquidation: Liquidation, settle: str, now: int) -> None:
        """Book the venue's closing order (``autoclose-<ms>``, execution type CALCULATED) and its trade."""
        qty = abs(liquidation.quantity)
        side = "SELL" if liquidation.quantity > 0 else "BUY"
        order = FutOrder(order_id=next(self._order_ids), client_order_id=f"autoclose-{now}", symbol=market.market_id,
                         side=side, type="MARKET", time_in_force="IOC", price=Decimal(0), stop_price=Decimal(0),
                         orig_qty=qty, reduce_only=True, time_ms=now, update_ms=now, executed_qty=qty,
                         cum_quote=qty * liquidation.price, status="FILLED")  # fmt: skip
        fill = FutFill(trade_id=_TRADE_ID_BASE + int(self.account.next_trade_id()), order_id=order.order_id,
                       symbol=market.market_id, side=side, price=liquidation.price, qty=qty, commission=Decimal(0),
                       commission_asset=settle, realized_pnl=liquidation.realized_pnl, time_ms=now,
                       is_maker=False)  # fmt: skip
        order.fills.append(fill)
        self.orders[order.order_id] = order
        self._by_client[(market.market_id, order.client_order_id)] = order.order_id
        self.fills.append(fill)
        self._listener.user_event(order.trade_update(now, "CALCULATED", fill))

    def settle_funding(self, market: PerpMarket, rate: Decimal, ts_ms: int) -> IncomeRow | None:
        """Settle one funding time of ``market`` at ``rate`` on its mark (``MarginAccount.apply_funding``).

        Returns the FUNDING_FEE income row (``None`` when flat), after pushing ACCOUNT_UPDATE (FUNDING_FEE).
        """
        tran_id = next(self._tran_ids)
        payment = self.account.apply_funding(market.rules, rate, ts_ms, str(tran_id))
        if payment is None:
            return None
        symbol = market.rules.symbol
        self._realized[symbol] = self.account.position(symbol).realized_pnl
        row = IncomeRow(tran_id=tran_id, symbol=market.market_id, income_type="FUNDING_FEE", income=payment.amount,
                        asset=market.rules.settle_currency, time_ms=ts_ms)  # fmt: skip
        self.income.append(row)
        _log.info("emulator_futures_funding", symbol=market.market_id, rate=str(rate), amount=str(payment.amount))
        self._push_account("FUNDING_FEE", [market])
        return row

    # -- internals -------------------------------------------------------------------------------------

    def _check(self, market: PerpMarket, new: FuturesOrder) -> None:
        rules = market.rules
        if new.quantity <= 0:
            raise BinanceApiError(-4003, "Quantity less than or equal to zero.")
        if new.type == "LIMIT" and new.price <= 0:
            raise BinanceApiError(-4001, "Price less than 0.")
        reference = market.state.ask if new.side == "BUY" else market.state.bid
        price = new.price if new.type == "LIMIT" else None
        trigger = new.stop_price if new.type == "STOP_MARKET" else None
        breach = rules.order_problem(new.quantity, price, trigger, reference)
        if breach is not None and breach.filter is MarketFilter.MIN_NOTIONAL:
            raise BinanceApiError(-4164, f"Order's notional must be no smaller than {num(rules.min_notional)} "
                                         "(unless you choose reduce only).")  # fmt: skip
        if breach is not None:
            raise BinanceApiError(*_FILTER_ERRORS[breach.filter])
        if new.reduce_only:
            held = self.account.position(rules.symbol).quantity
            if held == 0 or (held > 0) == (new.side == "BUY"):
                raise BinanceApiError(-2022, "ReduceOnly Order is rejected.")

    def _feed(self, market: PerpMarket, md: MarketData) -> int:
        with self._holding() as held:
            self._cores[market.market_id].on_market_data(md)
        fills = self._apply(market, held)
        if fills:
            self._push_account("ORDER", [market])
            self._listener.book_changed(market)
        return len(fills)

    @contextmanager
    def _holding(self) -> Iterator[list[tuple[OrderStatusReport | Fill, Decimal]]]:
        held: list[tuple[OrderStatusReport | Fill, Decimal]] = []
        self._held = held
        try:
            yield held
        finally:
            self._held = None

    def _on_update(self, update: OrderStatusReport | Fill) -> None:
        if self._held is None:  # pragma: no cover - every core call runs inside _holding
            raise RuntimeError("matching core update outside an emulator command")
        realized = Decimal(0)
        if isinstance(update, Fill):  # the position moved just now: its realized PnL before the fee
            now = self.account.position(update.symbol).realized_pnl
            realized = now - self._realized.get(update.symbol, Decimal(0)) + update.fee
            self._realized[update.symbol] = now
        self._held.append((update, realized))

    def _apply(self, market: PerpMarket, updates: list[tuple[OrderStatusReport | Fill, Decimal]]) -> list[FutFill]:
        fills: list[FutFill] = []
        for update, realized in updates:
            order_id = self._by_client.get((market.market_id, update.client_order_id))
            if order_id is None:  # refused inside the request (FOK): never an order
                continue
            order = self.orders[order_id]
            if order.algo and (isinstance(update, Fill) or order.actual_order_id is not None):
                order = self._triggered(order)  # from its trigger on, the core's updates are of the order it placed
            if isinstance(update, Fill):
                fills.append(self._fill(market, order, update, realized))
            elif update.status in _CLOSED and order.is_open:
                self._finish(market, order, _CLOSED[update.status])
            if order.parent_algo_id is not None and not order.is_open:
                self._algo_finished(self.orders[order.parent_algo_id], order)
        return fills

    def _triggered(self, algo: FutOrder) -> FutOrder:
        """Return the plain order ``algo`` placed when it triggered, placing it at the first call (its first fill).

        As Binance's Algo Service: a MARKET order with a new ``orderId`` and the algo order's client id; the
        algo order turns TRIGGERED (``ALGO_UPDATE`` with ``ai``) before the new order's NEW event.
        """
        if algo.actual_order_id is not None:
            return self.orders[algo.actual_order_id]
        now = self._now()
        child = FutOrder(order_id=next(self._order_ids), client_order_id=algo.client_order_id, symbol=algo.symbol,
                         side=algo.side, type="MARKET", time_in_force="GTC", price=Decimal(0), stop_price=Decimal(0),
                         orig_qty=algo.orig_qty, reduce_only=algo.reduce_only, time_ms=now, update_ms=now,
                         parent_algo_id=algo.order_id)  # fmt: skip
        self.orders[child.order_id] = child
        algo.actual_order_id, algo.trigger_ms, algo.update_ms = child.order_id, now, now
        _log.info("emulator_futures_algo_triggered", symbol=algo.symbol, algo_id=algo.order_id,
                  order_id=child.order_id)  # fmt: skip
        self._listener.user_event(algo.algo_update(now))
        self._listener.user_event(child.trade_update(now, "NEW"))
        return child

    def _algo_finished(self, algo: FutOrder, child: FutOrder) -> None:
        """Close ``algo`` (FINISHED on the wire) now that the order it placed is done; it takes that order's fills."""
        if not algo.is_open:
            return
        now = self._now()
        algo.status, algo.update_ms = child.status, now
        algo.executed_qty, algo.cum_quote = child.executed_qty, child.cum_quote
        self._listener.user_event(algo.algo_update(now))

    def _fill(self, market: PerpMarket, order: FutOrder, fill: Fill, realized: Decimal) -> FutFill:
        now = self._now()
        is_maker = fill.liquidity is LiquiditySide.MAKER
        trade_id = _TRADE_ID_BASE + int(fill.trade_id)
        emu = FutFill(trade_id=trade_id, order_id=order.order_id, symbol=order.symbol, side=order.side,
                      price=fill.price, qty=fill.quantity, commission=fill.fee, commission_asset=fill.fee_currency,
                      realized_pnl=realized, time_ms=fill.ts_ms, is_maker=is_maker)  # fmt: skip
        order.executed_qty += fill.quantity
        order.cum_quote += fill.price * fill.quantity
        order.update_ms = now
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.fills.append(emu)
        self.fills.append(emu)
        if realized:
            self._income(market.rules.symbol, "REALIZED_PNL", realized, fill.fee_currency, now, str(trade_id))
        if fill.fee:
            self._income(market.rules.symbol, "COMMISSION", -fill.fee, fill.fee_currency, now, str(trade_id))
        _log.info("emulator_futures_order_fill", symbol=order.symbol, order_id=order.order_id, price=str(fill.price),
                  qty=str(fill.quantity), status=order.status, maker=is_maker)  # fmt: skip
        self._listener.user_event(order.trade_update(now, "TRADE", emu))
        if not is_maker:
            trade = market.state.print_trade(fill.price, fill.quantity, buyer_maker=order.side == "SELL", time_ms=now)
            self._listener.public_trade(market, trade)
        return emu

    def _income(self, symbol: str, kind: str, amount: Decimal, asset: str, now: int, trade_id: str = "") -> None:
        market_id = symbol.split(":", 1)[0].replace("/", "")
        self.income.append(IncomeRow(tran_id=next(self._tran_ids), symbol=market_id, income_type=kind, income=amount,
                                     asset=asset, time_ms=now, trade_id=trade_id))  # fmt: skip

    def _finish(self, market: PerpMarket, order: FutOrder, status: str) -> None:
        """Close ``order`` as ``status`` on the wire, closing it in the core first when it is still open there."""
        core = self._cores[market.market_id]
        if core.open.get(ClientOrderId(order.client_order_id)) is not None:
            with self._holding():
                core.cancel(ClientOrderId(order.client_order_id))
        now = self._now()
        order.status = status
        order.update_ms = now
        _log.info("emulator_futures_order_closed", symbol=order.symbol, order_id=order.order_id, status=status)
        self._listener.user_event(order.algo_update(now) if order.algo else order.trade_update(now, status))

    def _push_account(self, reason: str, markets: list[PerpMarket]) -> None:
        now = self._now()
        balances = []
        for asset in sorted({m.rules.settle_currency for m in self.markets.values()}):
            cross = self.account.wallet_balance(asset)  # isolated margin is held apart from it
            wallet = cross + self.isolated_margin(asset)
            balances.append({"a": asset, "wb": num(wallet), "cw": num(cross), "bc": "0"})
        positions = []
        for m in markets:
            p = self.account.position(m.rules.symbol)
            isolated = self.account.margin_mode(m.rules.symbol) is MarginMode.ISOLATED
            positions.append({
                "s": m.market_id, "pa": num(p.quantity), "ep": num(p.entry_price), "bep": num(p.entry_price),
                "cr": num(p.realized_pnl), "up": num(self.account.unrealized_pnl(m.rules.symbol)),
                "mt": "isolated" if isolated else "cross",
                "iw": num(self.account.position_margin(m.rules.symbol) if isolated else Decimal(0)), "ps": "BOTH",
            })  # fmt: skip
        self._listener.user_event({"e": "ACCOUNT_UPDATE", "E": now, "T": now,
                                   "a": {"m": reason, "B": balances, "P": positions}})  # fmt: skip


def _quote(market: PerpMarket, now_ms: int) -> MarketData:
    """The external touch of ``market`` as the core's market event."""
    s = market.state
    return MarketData(symbol=Symbol(market.rules.symbol), ts_ms=now_ms, bid=s.bid, ask=s.ask, bid_size=s.bid_qty,
                      ask_size=s.ask_qty, last=s.last_price)  # fmt: skip
