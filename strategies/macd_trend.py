"""macd_trend: follow the trend when the MACD line crosses its signal line, long only.

Rules, on each closed bar of ``bar_timeframe``: the MACD line (``EMA(fast) − EMA(slow)``) crossing above its
signal line (``EMA(signal)`` of it) buys ``fraction`` of equity at market when flat; crossing below sells
the whole position. A cross is a change of side; a bar where the two are equal is no cross (the last
side holds: ``strategies.lib.CrossTracker``). On bar data the order fills at the next bar's open.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic import model_validator

from strategies import STRATEGIES
from strategies.bar_strategy import BarParams
from strategies.bar_strategy import BarStrategy
from strategies.lib import MACD
from strategies.lib import CrossTracker
from trading_bot.domain import Bar
from trading_bot.domain import StrategyResult

__all__ = ["MacdTrendParams", "MacdTrendStrategy"]


class MacdTrendParams(BarParams):
    """Parameters of ``macd_trend``."""

    search_constraints: ClassVar[tuple[str, ...]] = ("fast < slow",)

    fast: int = Field(default=12, ge=1, le=1_000, description="fast EMA length, in bars",
                      json_schema_extra={"search": {"low": 2, "high": 50, "step": 1}})  # fmt: skip
    slow: int = Field(default=26, ge=2, le=2_000, description="slow EMA length, in bars",
                      json_schema_extra={"search": {"low": 5, "high": 200, "step": 5}})  # fmt: skip
    signal: int = Field(default=9, ge=1, le=1_000, description="signal EMA length, in bars",
                        json_schema_extra={"search": {"low": 2, "high": 50, "step": 1}})  # fmt: skip

    @model_validator(mode="after")
    def _windows(self) -> MacdTrendParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


@STRATEGIES.register("macd_trend")
class MacdTrendStrategy(BarStrategy[MacdTrendParams]):
    """MACD/signal crossover (see the module docstring)."""

    name = "macd_trend"
    Params = MacdTrendParams

    def __init__(self, params: MacdTrendParams) -> None:
        super().__init__(params)
        self.warmup_bars = params.slow + params.signal
        self._macd = self.indicator(MACD(params.fast, params.slow, params.signal))
        self._cross = CrossTracker()

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Buy on an up-cross of MACD over its signal, sell on a down-cross."""
        value = self._macd.value
        if value is None:
            return None
        cross = self._cross.update(value.macd, value.signal)
        if cross > 0 and self.ctx.is_flat():
            return self.enter()
        if cross < 0 and not self.ctx.is_flat():
            return self.exit()
        return None
