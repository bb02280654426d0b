"""A position in one market, built from the bot's own fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain.enums import OrderSide
from trading_bot.domain.ids import Symbol
from trading_bot.domain.orders import Fill
from trading_bot.domain.values import ZERO

__all__ = ["Position"]


@dataclass(slots=True, kw_only=True)
class Position:
    """Net position of the bot in one market, from its own fills only (not the account's balance).

    ``quantity`` is signed base currency (+ long, - short). ``average_price`` is the average entry price
    of the open quantity. ``realized_pnl`` is in quote currency, before fees; ``fees`` are the quote
    currency fees paid (base-currency fees are converted at the fill price).

    A fee charged in the **base** currency (the base of ``symbol``, ``BASE/QUOTE``: Binance spot charges a
    buy's fee in the asset it receives, unless the account pays fees in BNB) also reduces ``quantity``:
    the account holds what it received, ``quantity − fee``, at the same average price (the fee's cost is
    in ``fees``). A fee in a third currency (BNB) cannot be valued here: it is left out of ``fees`` (the
    fill keeps it, and so does the journal).
    """

    symbol: Symbol
    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    fill_count: int = 0
    quote_currency: str = ""

    def apply(self, fill: Fill) -> Decimal:
        """Apply one fill and return the PnL it realized (quote currency, before fees)."""
        signed = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        self.fill_count += 1
        fee_in_base = False
        if not fill.fee_currency or not self.quote_currency or fill.fee_currency == self.quote_currency:
            self.fees += fill.fee
        elif fill.fee_in_base:
            self.fees += fill.fee * fill.price
            fee_in_base = fill.fee != 0
        realized = self._trade(signed, fill.price, fill.quantity)
        if fee_in_base:  # the account holds less than it traded by the fee: so does the position
            self.quantity -= fill.fee
            if self.quantity == 0:
                self.average_price = ZERO
        return realized

    def _trade(self, signed: Decimal, price: Decimal, quantity: Decimal) -> Decimal:
        """Move the position by ``signed`` base units at ``price``; return the PnL realized (quote)."""
        realized = ZERO
        qty = self.quantity
        if qty == 0 or (qty > 0) == (signed > 0):
            new_qty = qty + signed
            self.average_price = (self.average_price * abs(qty) + price * quantity) / abs(new_qty)
            self.quantity = new_qty
            return realized
        closing = min(abs(signed), abs(qty))
        direction = 1 if qty > 0 else -1
        realized = (price - self.average_price) * closing * direction
        self.realized_pnl += realized
        new_qty = qty + signed
        if new_qty == 0:
            self.average_price = ZERO
        elif (new_qty > 0) != (qty > 0):
            self.average_price = price  # flipped: the remainder opened at this price
        self.quantity = new_qty
        return realized

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """Return the PnL of the open quantity at ``mark`` (quote currency)."""
        if self.quantity == 0:
            return ZERO
        return (mark - self.average_price) * self.quantity

    @property
    def is_flat(self) -> bool:
        """Return True when no quantity is open."""
        return self.quantity == 0
