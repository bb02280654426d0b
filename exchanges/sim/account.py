"""The simulated account model: spot balances (free and locked, by currency) and the id sequences.

``exchanges.sim.margin.MarginAccount`` extends it for perpetual swaps (its ``free`` is the available
collateral, so the bookkeeping below reads the raw free balance, never ``free()``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal

from exchanges.sim.orders import simulated_fill
from trading_bot.domain import Balance
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import TradeId

__all__ = ["SimAccount"]

_ZERO = Decimal(0)


class SimAccount:
    """Balances (free and locked, by currency) and id sequences of one simulated account.

    Several ``MatchingCore``s (one per market) share one account.

    Args:
        balances: starting free balances by currency.
    """

    def __init__(self, balances: Mapping[str, Decimal]) -> None:
        self._free: dict[str, Decimal] = {c: Decimal(v) for c, v in balances.items()}
        self._locked: dict[str, Decimal] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)

    def free(self, currency: str) -> Decimal:
        """Return the spendable balance of ``currency``."""
        return self._free.get(currency, _ZERO)

    def locked(self, currency: str) -> Decimal:
        """Return the balance of ``currency`` backing open orders."""
        return self._locked.get(currency, _ZERO)

    def lock(self, currency: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked (the caller checked it is free)."""
        self._free[currency] = self._free.get(currency, _ZERO) - amount
        self._locked[currency] = self._locked.get(currency, _ZERO) + amount

    def settle(self, currency: str, unlock: Decimal, spend: Decimal) -> None:
        """Release ``unlock`` from locked and take ``spend`` from it; the difference returns to free."""
        self._locked[currency] = self._locked.get(currency, _ZERO) - unlock
        self._free[currency] = self._free.get(currency, _ZERO) + unlock - spend

    def credit(self, currency: str, amount: Decimal) -> None:
        """Add ``amount`` to the free balance of ``currency``."""
        self._free[currency] = self._free.get(currency, _ZERO) + amount

    def set_free(self, currency: str, amount: Decimal) -> None:
        """Set the free balance of ``currency`` (an operator's or a test's deposit); locked is unchanged."""
        self._free[currency] = amount
        self._locked.setdefault(currency, _ZERO)

    def balances(self) -> dict[str, Balance]:
        """Return every balance by currency."""
        currencies = sorted(set(self._free) | set(self._locked))
        return {
            c: Balance(currency=c, free=self._free.get(c, _ZERO), locked=self._locked.get(c, _ZERO)) for c in currencies
        }

    def next_order_id(self) -> ExchangeOrderId:
        """Return a new exchange order id."""
        return ExchangeOrderId(str(next(self._order_seq)))

    def next_trade_id(self) -> TradeId:
        """Return a new trade id."""
        return TradeId(str(next(self._trade_seq)))

    def fill(
        self, order: Order, market: Market, *, unlock: Decimal, quantity: Decimal, price: Decimal, fee: Decimal,
        ts_ms: int, liquidity: LiquiditySide, fee_in_base: bool = False,
    ) -> Fill:  # fmt: skip
        """Settle a spot fill of ``order`` and apply it to the order; return the fill.

        A buy pays ``price × quantity + fee`` quote out of ``unlock`` (its locked quote; the difference
        returns to free) and receives ``quantity`` base; a sell delivers ``quantity`` base out of
        ``unlock`` and receives ``price × quantity − fee`` quote. The fee is in quote currency, except for a
        buy with ``fee_in_base`` (``FillModel.buy_fee_in_base``): it pays ``price × quantity`` quote and
        receives ``quantity − fee`` base.
        """
        notional = price * quantity
        fee_currency = market.quote
        if order.side is OrderSide.BUY and fee_in_base:
            self.settle(market.quote, unlock, notional)
            self.credit(market.base, quantity - fee)
            fee_currency = market.base
        elif order.side is OrderSide.BUY:
            self.settle(market.quote, unlock, notional + fee)
            self.credit(market.base, quantity)
        else:
            self.settle(market.base, unlock, quantity)
            self.credit(market.quote, notional - fee)
        fill = simulated_fill(order, trade_id=self.next_trade_id(), quantity=quantity, price=price, fee=fee,
                              fee_currency=fee_currency, ts_ms=ts_ms, liquidity=liquidity)  # fmt: skip
        order.apply_fill(fill)
        return fill
