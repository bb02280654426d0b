"""Portfolio rules: caps on the bot's gross and net exposure across all its instruments.

``ExposureRule`` (rule ``exposure``) values the book from ``RiskContext.portfolio`` (each position at its
mark; ``risk.base.portfolio_totals`` derives it from the order's instrument alone when the context has
none) and adds the order's change at the order's reference price (limit, trigger or mid)::

    before = position of the order's instrument, after = before ± quantity (buy +, sell −)
    gross after = gross + (|after| − |before|) × price
    net after   = net + (after − before) × price

An order that reduces its own instrument's position without flipping it (an exit) always passes, so a
book over a cap can always be unwound. Any other order is refused when it makes gross exposure grow above
``max_gross`` or |net exposure| grow above ``max_net`` (quote currency). The denial is transient: marks
and the other instruments' positions change by themselves.

The per-instrument ``max_position`` rule (``risk.rules``) is a different limit: it caps one instrument's
|position| whatever the others hold; with a single instrument ``max_gross`` is the same figure valued at
the mark instead of the order's price, so set one or the other.
"""

from __future__ import annotations

from decimal import Decimal

from risk.base import RiskContext
from risk.base import RiskRule
from risk.base import portfolio_totals
from risk.base import reduces
from risk.base import reference_price
from risk.base import signed
from trading_bot.domain import OrderParams

__all__ = ["ExposureRule"]


class ExposureRule(RiskRule):
    """Gross and net exposure caps over all instruments, quote currency; either may be ``None`` (off)."""

    __slots__ = ("max_gross", "max_net")
    name = "exposure"
    transient = True

    def __init__(self, max_gross: Decimal | None, max_net: Decimal | None) -> None:
        self.max_gross = max_gross
        self.max_net = max_net

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the order would take gross or |net| exposure above its cap."""
        before = ctx.position.quantity
        if reduces(before, params.side, quantity):
            return None
        price = reference_price(params, ctx.market_data)
        totals = portfolio_totals(ctx)
        if price is None or totals is None:
            return "the exposure cannot be valued without market data"
        quote = ctx.market.quote
        change = signed(params.side, quantity)
        after = before + change
        max_gross = self.max_gross
        if max_gross is not None:
            gross_after = totals.gross_exposure + (abs(after) - abs(before)) * price
            if gross_after > max_gross and gross_after > totals.gross_exposure:
                return (
                    f"gross exposure after the fill {gross_after:,.2f} {quote} (now "
                    f"{totals.gross_exposure:,.2f}) exceeds the limit {max_gross:,.2f}"
                )
        max_net = self.max_net
        if max_net is not None:
            net_after = totals.net_exposure + change * price
            if abs(net_after) > max_net and abs(net_after) > abs(totals.net_exposure):
                return (
                    f"net exposure after the fill {net_after:,.2f} {quote} (now {totals.net_exposure:,.2f}) "
                    f"exceeds the limit ±{max_net:,.2f}"
                )
        return None
