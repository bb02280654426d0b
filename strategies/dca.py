"""dca: dollar-cost averaging: buy ``amount`` of quote currency every ``interval_bars`` bars, and sell the
whole position once the close is ``take_profit`` above its average entry price.

Rules, on each closed bar of ``bar_timeframe``: every ``interval_bars``-th bar (the first bar included) buys
``amount`` quote currency at market (no buy while an order is open, or when the free quote balance is
below ``amount``); when long and ``close ≥ average price × (1 + take_profit)``, the take-profit sells the whole
position at market instead (the average is over the bot's own fills: ``ctx.position.average_price``).
On bar data orders fill at the next bar's open. The bar count survives a restart (no buy at once on a
restart unless one is due). ``take_profit`` is this rule, not the exit barrier of the same name; the other
barriers (``--stop-loss``, ``--trailing-stop``, ``--time-stop``) attach to each buy, priced from the average.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog
from pydantic import Field

from strategies import STRATEGIES
from strategies.bar_strategy import BarParams
from strategies.bar_strategy import BarStrategy
from strategies.lib.exits import ExitPlan
from trading_bot.domain import Bar
from trading_bot.domain import StrategyResult
from trading_bot.domain.bounds import QuoteAmount

__all__ = ["DcaParams", "DcaStrategy"]

_log = structlog.get_logger(__name__)


class DcaParams(BarParams):
    """Parameters of ``dca``."""

    interval_bars: int = Field(default=60, ge=1, le=1_000_000, description="bars between two buys",
                               json_schema_extra={"search": {"low": 10, "high": 1_440, "log": True}})  # fmt: skip
    amount: QuoteAmount = Field(default=Decimal(100), description="quote currency spent per buy")
    take_profit: Decimal = Field(default=Decimal("0.02"), gt=0, le=10,
                                 description="sell all once the close is this far above the average entry (0.02 = 2 %)",
                                 json_schema_extra={"search": {"low": 0.002, "high": 0.2, "log": True}})  # fmt: skip

    def exit_plan(self) -> ExitPlan:
        """Return the barriers attached to each buy: ``take_profit`` is dca's own rule, so not one of them."""
        return replace(super().exit_plan(), take_profit=None)


@STRATEGIES.register("dca")
class DcaStrategy(BarStrategy[DcaParams]):
    """Periodic buys with a take-profit (see the module docstring)."""

    name = "dca"
    Params = DcaParams

    def __init__(self, params: DcaParams) -> None:
        super().__init__(params)
        self._bars = 0
        self.take_profits = 0

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Take the profit when it is there, else buy on every ``interval_bars``-th bar."""
        index, self._bars = self._bars, self._bars + 1
        position = self.ctx.position
        if self.ctx.tradable_quantity() > 0 and bar.close >= position.average_price * (1 + self.params.take_profit):
            result = self.exit("tp")
            self.take_profits += result is not None
            return result
        if index % self.params.interval_bars:
            return None
        cash = self.ctx.balances().get(self.ctx.market.quote)
        if cash is None or cash.free < self.params.amount:
            return None
        return self.enter("buy", self.params.amount)

    def snapshot(self) -> dict[str, Any]:
        """Return the bars seen and the take-profits taken (plus the exit plan being watched)."""
        return {**super().snapshot(), "bars": self._bars, "take_profits": self.take_profits}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Go on counting bars where the journaled run stopped (the next buy is not at once)."""
        super().restore(state)
        self._bars, self.take_profits = _count(state, "bars"), _count(state, "take_profits")


def _count(state: Mapping[str, Any], key: str) -> int:
    """Return ``state[key]`` as a count; an unreadable one (a damaged journal) is logged and counts 0."""
    value = state.get(key, 0)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    _log.error("dca_restore_unreadable", key=key, value=repr(value)[:80], alert=True)
    return 0
