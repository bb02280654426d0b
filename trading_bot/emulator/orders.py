"""The emulator's order and fill records and their Binance renderings (REST answers, executionReport)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from trading_bot.emulator.market import fmt

__all__ = ["OPEN_STATUSES", "EmuFill", "EmuOrder"]

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
_ZERO = "0.00000000"


@dataclass(slots=True, kw_only=True)
class EmuFill:
    """One fill of one of the account's orders (a row of ``myTrades``)."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool

    def rest(self) -> dict[str, object]:
        """Return the ``GET /api/v3/myTrades`` row."""
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def control(self) -> dict[str, object]:
        """Return the control-endpoint view (the REST row plus side and client order id)."""
        row = self.rest()
        row["side"] = self.side
        row["clientOrderId"] = self.client_order_id
        return row


@dataclass(slots=True, kw_only=True)
class EmuOrder:
    """One order of the account, with its locked funds (``locked``, in ``locked_asset``)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    quote_order_qty: Decimal
    time_ms: int
    update_ms: int
    locked_asset: str
    locked: Decimal = Decimal(0)
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    fills: list[EmuFill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        """Return the quantity still to fill, in base units."""
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        """Return True while the order can still fill."""
        return self.status in OPEN_STATUSES

    def _common(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.quote_order_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def rest_query(self) -> dict[str, object]:
        """Return the ``GET /api/v3/order`` / ``openOrders`` item."""
        body = self._common()
        body.update(
            {
                "stopPrice": _ZERO,
                "icebergQty": _ZERO,
                "time": self.time_ms,
                "updateTime": self.update_ms,
                "isWorking": True,
                "workingTime": self.time_ms,
                "selfTradePreventionMode": "EXPIRE_MAKER",
            }
        )
        return body

    def rest_new(self, resp_type: str, fills: list[EmuFill]) -> dict[str, object]:
        """Return the ``POST /api/v3/order`` answer for ``newOrderRespType`` ACK, RESULT or FULL."""
        if resp_type == "ACK":
            return {
                "symbol": self.symbol,
                "orderId": self.order_id,
                "orderListId": -1,
                "clientOrderId": self.client_order_id,
                "transactTime": self.time_ms,
            }
        body = self._common()
        body.update({"transactTime": self.time_ms, "workingTime": self.time_ms})
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        if resp_type == "FULL":
            body["fills"] = [
                {
                    "price": fmt(f.price),
                    "qty": fmt(f.qty),
                    "commission": fmt(f.commission),
                    "commissionAsset": f.commission_asset,
                    "tradeId": f.trade_id,
                }
                for f in fills
            ]
        return body

    def rest_cancel(self, cancel_client_id: str, now_ms: int) -> dict[str, object]:
        """Return the ``DELETE /api/v3/order`` answer (``clientOrderId`` is the cancel's own id)."""
        body = self._common()
        body["origClientOrderId"] = self.client_order_id
        body["clientOrderId"] = cancel_client_id
        body["transactTime"] = now_ms
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        return body

    def execution_report(
        self,
        now_ms: int,
        exec_type: str,
        fill: EmuFill | None = None,
        cancel_client_id: str | None = None,
        reject_reason: str = "NONE",
    ) -> dict[str, object]:
        """Return the user-stream ``executionReport`` for this order's latest change."""
        return {
            "e": "executionReport",
            "E": now_ms,
            "s": self.symbol,
            "c": cancel_client_id if cancel_client_id is not None else self.client_order_id,
            "S": self.side,
            "o": self.type,
            "f": self.time_in_force,
            "q": fmt(self.orig_qty),
            "p": fmt(self.price),
            "P": _ZERO,
            "F": _ZERO,
            "g": -1,
            "C": self.client_order_id if cancel_client_id is not None else "",
            "x": exec_type,
            "X": self.status,
            "r": reject_reason,
            "i": self.order_id,
            "l": fmt(fill.qty) if fill else _ZERO,
            "z": fmt(self.executed_qty),
            "L": fmt(fill.price) if fill else _ZERO,
            "n": fmt(fill.commission) if fill else "0",
            "N": fill.commission_asset if fill else None,
            "T": fill.time_ms if fill else now_ms,
            "t": fill.trade_id if fill else -1,
            "v": -1,
            "I": self.order_id * 2 + (1 if fill else 0),
            "w": self.is_open,
            "m": fill.is_maker if fill else False,
            "M": False,
            "O": self.time_ms,
            "Z": fmt(self.cum_quote),
            "Y": fmt(fill.price * fill.qty) if fill else _ZERO,
            "Q": fmt(self.quote_order_qty),
            "W": self.time_ms,
            "V": "EXPIRE_MAKER",
        }
