"""rsi_reversion: buy an oversold market, sell it once overbought (mean reversion on Wilder's RSI), long only.

Rules, on each closed bar of ``bar_timeframe``: flat and ``RSI(period) < oversold``: buy ``fraction`` of
equity at market; long and ``RSI > overbought``: sell the whole position at market. On bar data the
order fills at the next bar's open.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic import model_validator

from strategies import STRATEGIES
from strategies.bar_strategy import BarParams
from strategies.bar_strategy import BarStrategy
from strategies.lib import RSI
from trading_bot.domain import Bar
from trading_bot.domain import StrategyResult

__all__ = ["RsiReversionParams", "RsiReversionStrategy"]


class RsiReversionParams(BarParams):
    """Parameters of ``rsi_reversion``."""

    search_constraints: ClassVar[tuple[str, ...]] = ("oversold < overbought",)

    period: int = Field(default=14, ge=2, le=1_000, description="RSI length, in bars",
                        json_schema_extra={"search": {"low": 2, "high": 50, "step": 1}})  # fmt: skip
    oversold: float = Field(default=30.0, gt=0, lt=100, description="buy below this RSI (0-100)",
                            json_schema_extra={"search": {"low": 5, "high": 45, "step": 5}})  # fmt: skip
    overbought: float = Field(default=70.0, gt=0, lt=100, description="sell above this RSI (0-100)",
                              json_schema_extra={"search": {"low": 55, "high": 95, "step": 5}})  # fmt: skip

    @model_validator(mode="after")
    def _levels(self) -> RsiReversionParams:
        if self.oversold >= self.overbought:
            raise ValueError(f"oversold ({self.oversold}) must be below overbought ({self.overbought})")
        return self


@STRATEGIES.register("rsi_reversion")
class RsiReversionStrategy(BarStrategy[RsiReversionParams]):
    """RSI mean reversion (see the module docstring)."""

    name = "rsi_reversion"
    Params = RsiReversionParams

    def __init__(self, params: RsiReversionParams) -> None:
        super().__init__(params)
        self.warmup_bars = params.period + 1
        self._rsi = self.indicator(RSI(params.period))

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Buy when oversold, sell when overbought."""
        rsi = self._rsi.value
        if rsi is None:
            return None
        if self.ctx.is_flat():
            return self.enter() if rsi < self.params.oversold else None
        return self.exit() if rsi > self.params.overbought else None
