"""momentum: buy when the close rose more than ``threshold`` over ``lookback`` bars, sell when it fell
more than ``threshold`` (seed 003's lookback/threshold strategy), long only.

Rules, on each closed bar of ``bar_timeframe``: ``roc = close / close[lookback bars ago] − 1``; flat and
``roc > threshold``: buy ``fraction`` of equity at market; long and ``roc < −threshold``: sell the
whole position at market. On bar data the order fills at the next bar's open.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from strategies import STRATEGIES
from strategies.bar_strategy import BarParams
from strategies.bar_strategy import BarStrategy
from strategies.lib import ROC
from trading_bot.domain import Bar
from trading_bot.domain import StrategyResult

__all__ = ["MomentumParams", "MomentumStrategy"]


class MomentumParams(BarParams):
    """Parameters of ``momentum``."""

    lookback: int = Field(default=20, ge=1, le=10_000, description="bars the change is measured over",
                          json_schema_extra={"search": {"low": 2, "high": 200, "step": 2}})  # fmt: skip
    threshold: Decimal = Field(default=Decimal("0.005"), ge=0, le=1, description="the change that signals (0.01 = 1 %)",
                               json_schema_extra={"search": {"low": 0.0005, "high": 0.05, "log": True}})  # fmt: skip


@STRATEGIES.register("momentum")
class MomentumStrategy(BarStrategy[MomentumParams]):
    """Rate-of-change momentum (see the module docstring)."""

    name = "momentum"
    Params = MomentumParams

    def __init__(self, params: MomentumParams) -> None:
        super().__init__(params)
        self.warmup_bars = params.lookback + 1
        self._roc = self.indicator(ROC(params.lookback))
        self._threshold = float(params.threshold)

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Buy on a rise above the threshold, sell on a fall below its negative."""
        roc = self._roc.value
        if roc is None:
            return None
        if self.ctx.is_flat():
            return self.enter() if roc > self._threshold else None
        return self.exit() if roc < -self._threshold else None
