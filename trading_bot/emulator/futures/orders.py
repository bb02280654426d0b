"""The futures venue's order, fill and income records and their Binance USDⓈ-M renderings.

REST shapes follow ``POST /fapi/v1/order`` (``newOrderRespType=RESULT``), ``GET /fapi/v1/userTrades``,
``GET /fapi/v1/income`` and the Algo Order API (``POST /fapi/v1/algoOrder``); the user-stream events are
``ORDER_TRADE_UPDATE`` (plain orders) and ``ALGO_UPDATE`` (conditional ones). Money in the settle currency,
prices in quote per base.

A conditional order that triggers places a **new** plain order in the matching engine, as Binance's Algo
Service does: a MARKET order with its own ``orderId`` (the algo order's ``actualOrderId``, ``ai`` in
``ALGO_UPDATE``) and the algo order's client id, whose fills name that new id. The algo order itself is
TRIGGERED while that order works and FINISHED once it is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from trading_bot.emulator.futures.market import num

__all__ = ["FutFill", "FutOrder", "IncomeRow"]

_OPEN = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass(frozen=True, slots=True, kw_only=True)
class FutFill:
    """One fill of one of the account's orders (a row of ``userTrades``); ``realized_pnl`` before the fee."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    time_ms: int
    is_maker: bool

    def rest(self) -> dict[str, object]:
        """Return the ``GET /fapi/v1/userTrades`` row."""
        return {
            "buyer": self.side == "BUY",
            "commission": num(self.commission),
            "commissionAsset": self.commission_asset,
            "id": self.trade_id,
            "maker": self.is_maker,
            "orderId": self.order_id,
            "price": num(self.price),
            "qty": num(self.qty),
            "quoteQty": num(self.price * self.qty),
            "realizedPnl": num(self.realized_pnl),
            "side": self.side,
            "positionSide": "BOTH",
            "symbol": self.symbol,
            "time": self.time_ms,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomeRow:
    """One row of ``GET /fapi/v1/income``: ``income`` signed, in ``asset`` (negative: paid)."""

    tran_id: int
    symbol: str
    income_type: str
    income: Decimal
    asset: str
    time_ms: int
    trade_id: str = ""

    def rest(self) -> dict[str, object]:
        """Return the REST row (``tranId`` is what ccxt's funding history uses as the id)."""
        return {
            "symbol": self.symbol,
            "incomeType": self.income_type,
            "income": num(self.income),
            "asset": self.asset,
            "info": self.income_type,
            "time": self.time_ms,
            "tranId": self.tran_id,
            "tradeId": self.trade_id,
        }


@dataclass(slots=True, kw_only=True)
class FutOrder:
    """One order of the account; ``algo`` for a conditional order of the Algo Order API (STOP_MARKET)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    stop_price: Decimal
    orig_qty: Decimal
    reduce_only: bool
    time_ms: int
    update_ms: int
    algo: bool = False
    actual_order_id: int | None = None
    """A conditional order that triggered: the ``orderId`` of the plain order it placed (``actualOrderId``)."""
    parent_algo_id: int | None = None
    """A plain order placed by a conditional one that triggered: that order's ``algoId``."""
    trigger_ms: int = 0
    """When a conditional order triggered, epoch ms (0: not yet)."""
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    fills: list[FutFill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """Return True while the order can still fill (or, a conditional one, still trigger)."""
        return self.status in _OPEN

    @property
    def avg_price(self) -> Decimal:
        """Return the average fill price (0 before any fill)."""
        return self.cum_quote / self.executed_qty if self.executed_qty else Decimal(0)

    def rest(self, *, with_time: bool = True) -> dict[str, object]:
        """Return the order in ``GET /fapi/v1/order`` shape (``with_time`` False: the POST/DELETE answer)."""
        body: dict[str, object] = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": num(self.price),
            "avgPrice": num(self.avg_price),
            "origQty": num(self.orig_qty),
            "executedQty": num(self.executed_qty),
            "cumQty": num(self.executed_qty),
            "cumQuote": num(self.cum_quote),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": num(self.stop_price),
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": self.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": self.update_ms,
        }
        if with_time:
            body["time"] = self.time_ms
        return body

    def algo_status(self) -> str:
        """Return the Algo Order API status: NEW until triggered, TRIGGERED while the order it placed works,
        FINISHED once that order is done; CANCELED or EXPIRED when it closed untriggered."""
        if self.actual_order_id is None:
            return "NEW" if self.is_open else self.status
        return "TRIGGERED" if self.is_open else "FINISHED"

    def rest_algo(self) -> dict[str, object]:
        """Return the order in the Algo Order API's shape (``algoId``, ``clientAlgoId``, ``algoStatus``)."""
        return {
            "algoId": self.order_id,
            "clientAlgoId": self.client_order_id,
            "algoType": "CONDITIONAL",
            "orderType": self.type,
            "symbol": self.symbol,
            "side": self.side,
            "positionSide": "BOTH",
            "timeInForce": self.time_in_force,
            "quantity": num(self.orig_qty),
            "algoStatus": self.algo_status(),
            "actualOrderId": "" if self.actual_order_id is None else str(self.actual_order_id),
            "actualPrice": num(self.avg_price),
            "triggerPrice": num(self.stop_price),
            "price": "0",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE",
            "closePosition": False,
            "priceProtect": False,
            "reduceOnly": self.reduce_only,
            "createTime": self.time_ms,
            "updateTime": self.update_ms,
            "triggerTime": self.trigger_ms,
            "goodTillDate": 0,
        }

    def algo_update(self, now_ms: int) -> dict[str, object]:
        """Return the user-stream ``ALGO_UPDATE`` event of this conditional order's latest change."""
        return {
            "e": "ALGO_UPDATE",
            "T": now_ms,
            "E": now_ms,
            "o": {
                "caid": self.client_order_id,
                "aid": self.order_id,
                "at": "CONDITIONAL",
                "o": self.type,
                "s": self.symbol,
                "S": self.side,
                "ps": "BOTH",
                "f": self.time_in_force,
                "q": num(self.orig_qty),
                "X": self.algo_status(),
                "ai": "" if self.actual_order_id is None else str(self.actual_order_id),
                "ap": num(self.avg_price),
                "aq": num(self.executed_qty),
                "act": "0" if self.actual_order_id is None else "MARKET",
                "tp": num(self.stop_price),
                "p": "0",
                "V": "EXPIRE_MAKER",
                "wt": "CONTRACT_PRICE",
                "pm": "NONE",
                "cp": False,
                "pP": False,
                "R": self.reduce_only,
                "tt": self.trigger_ms,
                "gtd": 0,
            },
        }

    def trade_update(self, now_ms: int, exec_type: str, fill: FutFill | None = None) -> dict[str, object]:
        """Return the user-stream ``ORDER_TRADE_UPDATE`` event of this order's latest change."""
        return {
            "e": "ORDER_TRADE_UPDATE",
            "E": now_ms,
            "T": fill.time_ms if fill else now_ms,
            "o": {
                "s": self.symbol,
                "c": self.client_order_id,
                "S": self.side,
                "o": self.type,
                "f": self.time_in_force,
                "q": num(self.orig_qty),
                "p": num(self.price),
                "ap": num(self.avg_price),
                "sp": num(self.stop_price),
                "x": exec_type,
                "X": self.status,
                "i": self.order_id,
                "l": num(fill.qty) if fill else "0",
                "z": num(self.executed_qty),
                "L": num(fill.price) if fill else "0",
                "N": fill.commission_asset if fill else None,
                "n": num(fill.commission) if fill else "0",
                "T": fill.time_ms if fill else now_ms,
                "t": fill.trade_id if fill else 0,
                "b": "0",
                "a": "0",
                "m": fill.is_maker if fill else False,
                "R": self.reduce_only,
                "wt": "CONTRACT_PRICE",
                "ot": self.type,
                "ps": "BOTH",
                "cp": False,
                "rp": num(fill.realized_pnl) if fill else "0",
                "pP": False,
                "si": 0,
                "ss": 0,
                "V": "EXPIRE_MAKER",
                "pm": "NONE",
                "gtd": 0,
            },
        }
