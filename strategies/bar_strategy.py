"""``BarStrategy``: the base of strategies that decide on closed bars (``on_bar``), long only.

It declares one timeframe (``Params.bar_timeframe``) and the warm-up its indicators need, answers
``should_execute`` with False (every decision is made in ``on_bar``), and gives two order helpers:

- ``enter(tag)``: a market buy of ``Params.fraction`` of equity: ``quote_quantity`` = equity × fraction
  (the simulated venue sizes it at the fill price, on bars the next bar's open), ``quantity`` the
  estimate at the ask with the taker fee, on the lot step; ``None`` when that rounds to nothing.
- ``exit(tag)``: ``ctx.close_position()``: a reduce-only market sell of the whole position.

Both return ``None`` while an order of the strategy is still open, so a signal repeated on the next bar
before the fill is not a second order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from typing import TypeVar

from pydantic import Field
from pydantic import field_validator

from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.domain.bounds import Fraction
from trading_bot.domain.timeframe import timeframe_ms

__all__ = ["BarParams", "BarStrategy"]


def _timeframe_ms(text: str) -> int:
    try:
        return timeframe_ms(text)
    except ValueError:
        raise ValueError("expected a number and a unit (s, m, h, d, w) such as 1m or 4h") from None


MAX_BAR_TIMEFRAME_MS = 4 * 604_800_000
"""The longest bar a strategy may decide on (4 weeks)."""


class BarParams(StrategyParams):
    """Parameters every ``BarStrategy`` has."""

    bar_timeframe: str = Field(
        default="1m",
        description="the bars decided on (1m, 5m, 1h...; bar data: its interval or a multiple)",
    )
    fraction: Fraction = Field(default=Decimal(1), description="fraction of equity spent on an entry (1.0 = all in)")

    @field_validator("bar_timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if _timeframe_ms(value) > MAX_BAR_TIMEFRAME_MS:  # a ValueError, named by the params' error: --bar-timeframe
            raise ValueError("at most 4w")
        return value


P = TypeVar("P", bound=BarParams)


class BarStrategy(BaseStrategy[P]):
    """Long-only decisions on closed bars of ``params.bar_timeframe`` (see the module docstring)."""

    def __init__(self, params: P) -> None:
        super().__init__(params)
        self.timeframes = (params.bar_timeframe,)
        self.entries = 0

    def should_execute(self, market_data: MarketData) -> bool:
        """Return False: decisions are made in ``on_bar``."""
        return False

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Do nothing (see ``should_execute``)."""
        return StrategyResult.nothing()

    def enter(self, tag: str = "entry", amount: Decimal | None = None) -> StrategyResult | None:
        """Return a market buy of ``amount`` quote currency (default equity × fraction), or ``None``."""
        ctx = self.ctx
        md = ctx.last_market_data
        if ctx.open_orders() or md is None or md.ask <= 0:
            return None
        budget = ctx.equity * self.params.fraction if amount is None else amount
        market = ctx.market
        quantity = market.round_amount(budget / (md.ask * (1 + market.taker_fee)))
        if quantity <= 0 or budget <= 0:
            return None
        self.entries += 1
        order = OrderParams(side=OrderSide.BUY, quantity=quantity, order_type=OrderType.MARKET, client_tag=tag,
                            quote_quantity=budget)  # fmt: skip
        return StrategyResult.place(order, message=f"{self.name} {tag}")

    def exit(self, tag: str = "exit") -> StrategyResult | None:
        """Return the order closing the position (reduce-only market), or ``None`` when flat or busy."""
        if self.ctx.open_orders():
            return None
        intent = self.ctx.close_position(tag=tag)
        return None if intent is None else StrategyResult.place(intent, message=f"{self.name} {tag}")

    def summary(self) -> dict[str, Any]:
        """Return the number of entries sent."""
        return {"entries": self.entries}
