"""Portfolio: the bot's position, PnL, fees and equity, from its own fills.

The position is built from the bot's fills only, never from the account's whole balance of the base
currency, so the bot can share an account with other activity (GRID.md, "Safety"). Balances are the
exchange's reported figures, refreshed after fills. Equity counts the quote and base balances of the
bot's market, the base marked at mid. Equity curves are the backtester's job (it derives them from
the fills after the run), so a mark update costs one assignment on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal

from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Liquidation
from trading_bot.domain import Market
from trading_bot.domain import OrderSide
from trading_bot.domain import Position
from trading_bot.domain import TradeId

__all__ = ["LIQUIDATION_ORDER_ID", "Portfolio"]

LIQUIDATION_ORDER_ID = ClientOrderId("liquidation")
"""The client order id of the fill that records a liquidation (``Portfolio.apply_liquidation``): the venue's
fill of the bot's position, part of the position like the bot's own fills (``reconcile`` rebuilds it)."""


class Portfolio:
    """Position and money of the bot in one market.

    Args:
        market: the traded market (its base and quote currencies).
        leverage: swaps: the leverage the venue holds the position at (margin = |position| × mark / leverage).
    """

    def __init__(self, market: Market, leverage: int = 1) -> None:
        self.market = market
        self.leverage = leverage
        self.position = Position(symbol=market.symbol, quote_currency=market.quote)
        self.balances: dict[str, Balance] = {}
        self.starting_equity: Decimal | None = None
        self.mark: Decimal | None = None
        self.fills: list[Fill] = []
        self.funding = ZERO
        """Swaps: the sum of funding payments (settle currency; negative = paid)."""
        self._funding_ids: set[str] = set()
        self.liquidations: list[Liquidation] = []

    def set_balances(self, balances: Mapping[str, Balance]) -> None:
        """Replace the balances with the exchange's latest report."""
        self.balances = dict(balances)

    def apply_fill(self, fill: Fill) -> Decimal:
        """Apply one of the bot's fills; return the PnL it realized (quote currency, before fees)."""
        self.fills.append(fill)
        return self.position.apply(fill)

    def apply_funding(self, payment: FundingPayment) -> bool:
        """Add one funding payment (settle currency, signed) to the funding total; return False (and add
        nothing) when its id was already counted (the same payment from the user stream and a catch-up)."""
        if payment.id in self._funding_ids:
            return False
        self._funding_ids.add(payment.id)
        self.funding += payment.amount
        return True

    def restore_funding(self, payments: Iterable[FundingPayment]) -> None:
        """Replace the funding total and count with ``payments`` (the journal's, at a restart), each id once."""
        self.funding, self._funding_ids = ZERO, set()
        for payment in payments:
            self.apply_funding(payment)

    @property
    def funding_payments(self) -> int:
        """Swaps: how many funding payments ``funding`` sums (each payment id counted once)."""
        return len(self._funding_ids)

    def has_funding(self, payment_id: str) -> bool:
        """Return True when the funding payment ``payment_id`` is counted in ``funding``."""
        return payment_id in self._funding_ids

    def apply_liquidation(self, liquidation: Liquidation) -> Fill:
        """Close the position the venue liquidated, as the venue's own fill of it; return that fill.

        The fill (trade id ``liquidation-<ts>``, client order id ``liquidation``) realizes the PnL at the
        liquidation price and carries the liquidation fee, so position, round trips and fingerprint see it.
        """
        quantity = liquidation.quantity
        fill = Fill(
            trade_id=TradeId(f"liquidation-{liquidation.ts_ms}"),
            client_order_id=LIQUIDATION_ORDER_ID,
            symbol=self.market.symbol,
            side=OrderSide.SELL if quantity > 0 else OrderSide.BUY,
            quantity=abs(quantity),
            price=liquidation.price,
            fee=liquidation.fee,
            fee_currency=self.market.settle_currency,
            ts_ms=liquidation.ts_ms,
        )
        self.apply_fill(fill)
        self.liquidations.append(liquidation)
        return fill

    def update_mark(self, mark: Decimal) -> None:
        """Record the latest mid price (quote per base); the first one fixes ``starting_equity``."""
        self.mark = mark
        if self.starting_equity is None:
            self.starting_equity = self.equity()

    def _total(self, currency: str) -> Decimal:
        balance = self.balances.get(currency)
        return ZERO if balance is None else balance.total

    def equity(self) -> Decimal:
        """Return quote + base × mark of the bot's market, in quote currency."""
        base = self._total(self.market.base)
        mark = self.mark
        if mark is None or self.market.contract:
            return self._total(self.market.quote) + (self.unrealized_pnl() if self.market.contract else ZERO)
        return self._total(self.market.quote) + base * mark

    def position_margin(self) -> Decimal:
        """Swaps: the initial margin the position holds at the last mark, ``|position| × mark / leverage``."""
        if self.mark is None:
            return ZERO
        return abs(self.position.quantity) * self.mark / self.leverage

    def unrealized_pnl(self) -> Decimal:
        """Return the open position's PnL at the last mark (quote currency)."""
        if self.mark is None:
            return ZERO
        return self.position.unrealized_pnl(self.mark)

    def net_pnl(self) -> Decimal:
        """Return realized + unrealized PnL − fees + funding (quote currency): what the run made."""
        return self.position.realized_pnl + self.unrealized_pnl() - self.position.fees + self.funding

    @property
    def realized_pnl(self) -> Decimal:
        """Return the realized PnL before fees (quote currency)."""
        return self.position.realized_pnl

    @property
    def fees(self) -> Decimal:
        """Return the fees paid (quote currency)."""
        return self.position.fees
