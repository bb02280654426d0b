"""bollinger_breakout: buy a close above the upper Bollinger band, sell a close back below the middle, long only.

Rules, on each closed bar of ``bar_timeframe``: the bands are ``SMA(period) ± k`` population standard
deviations of the closes, this bar included; flat and ``close > upper``: buy ``fraction`` of equity at
market; long and ``close < middle``: sell the whole position at market. On bar data the order fills at
the next bar's open.
"""

from __future__ import annotations

from pydantic import Field

from strategies import STRATEGIES
from strategies.bar_strategy import BarParams
from strategies.bar_strategy import BarStrategy
from strategies.lib import Bollinger
from trading_bot.domain import Bar
from trading_bot.domain import StrategyResult

__all__ = ["BollingerBreakoutParams", "BollingerBreakoutStrategy"]


class BollingerBreakoutParams(BarParams):
    """Parameters of ``bollinger_breakout``."""

    period: int = Field(default=20, ge=2, le=5_000, description="band length, in bars",
                        json_schema_extra={"search": {"low": 5, "high": 200, "step": 5}})  # fmt: skip
    k: float = Field(default=2.0, gt=0, le=10, description="band half-width, in standard deviations",
                     json_schema_extra={"search": {"low": 0.5, "high": 4.0, "step": 0.25}})  # fmt: skip


@STRATEGIES.register("bollinger_breakout")
class BollingerBreakoutStrategy(BarStrategy[BollingerBreakoutParams]):
    """Bollinger-band breakout (see the module docstring)."""

    name = "bollinger_breakout"
    Params = BollingerBreakoutParams

    def __init__(self, params: BollingerBreakoutParams) -> None:
        super().__init__(params)
        self.warmup_bars = params.period
        self._bands = self.indicator(Bollinger(params.period, params.k))

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Buy above the upper band, sell below the middle."""
        bands = self._bands.value
        if bands is None:
            return None
        close = float(bar.close)
        if self.ctx.is_flat():
            return self.enter() if close > bands.upper else None
        return self.exit() if close < bands.middle else None
