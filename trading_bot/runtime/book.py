"""The book: every instrument's portfolio of one bot, valued together as one account.

Valuation (the account protection, the daily loss limit, ``ctx.equity`` and the summary use it): per
venue, each currency the bot's instruments trade is counted once from that venue's balances — a base
currency at the mid of the first instrument trading it, a quote currency **at par** (one unit of each
quote currency is one unit of value; right for a bot on USDT and USDC, not for a cross pair such as
ETH/BTC, whose BTC would be counted as one unit per BTC). A derivative adds its unrealized PnL instead
of its base. With one instrument this is exactly ``Portfolio.equity()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from risk.base import PortfolioTotals
from trading_bot.domain import ZERO
from trading_bot.runtime.portfolio import Portfolio

__all__ = ["Book"]


class Book:
    """The portfolios of a bot's instruments, grouped by venue (``(venue, portfolio)`` pairs, in order)."""

    __slots__ = ("_only", "_starting", "_venues", "portfolios")

    def __init__(self, portfolios: Sequence[tuple[str, Portfolio]]) -> None:
        self.portfolios = tuple(p for _, p in portfolios)
        self._only = self.portfolios[0] if len(self.portfolios) == 1 else None
        venues: dict[str, list[Portfolio]] = {}
        for venue, portfolio in portfolios:
            venues.setdefault(venue, []).append(portfolio)
        self._venues = tuple(tuple(group) for group in venues.values())
        self._starting: Decimal | None = None

    @property
    def valued(self) -> bool:
        """True once every instrument has a mark (the account can be valued)."""
        return all(p.mark is not None for p in self.portfolios)

    @property
    def starting_equity(self) -> Decimal | None:
        """The account value when every instrument first had a mark (``None`` before)."""
        if self._only is not None:
            return self._only.starting_equity
        if self._starting is None and self.valued:
            self._starting = self.equity()
        return self._starting

    def equity(self) -> Decimal:
        """Return the account value (see the module docstring for the rules)."""
        if self._only is not None:
            return self._only.equity()
        total = ZERO
        for group in self._venues:
            balances = group[0].balances  # one venue, one account: every portfolio holds its balances
            counted: set[str] = set()
            for portfolio in group:
                market = portfolio.market
                if market.contract:
                    total += portfolio.unrealized_pnl()
                elif market.base not in counted and portfolio.mark is not None:
                    counted.add(market.base)
                    balance = balances.get(market.base)
                    if balance is not None:
                        total += balance.total * portfolio.mark
            for portfolio in group:
                quote = portfolio.market.quote
                if quote not in counted:
                    counted.add(quote)
                    balance = balances.get(quote)
                    if balance is not None:
                        total += balance.total
        return total

    def totals(self, open_orders: int) -> PortfolioTotals | None:
        """Return the exposures of every position at its mark (quote currency), or ``None`` without marks."""
        marked = []
        for portfolio in self.portfolios:
            quantity = portfolio.position.quantity
            if quantity and portfolio.mark is None:
                return None
            marked.append((quantity, portfolio.mark or ZERO))
        return PortfolioTotals.of(marked, open_orders)
