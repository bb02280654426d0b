"""Strategies, chosen by name through the ``STRATEGIES`` registry."""

from strategies.base import BaseStrategy
from strategies.base import StrategyContext
from strategies.base import StrategyParams
from trading_bot.registry import Registry

__all__ = ["STRATEGIES", "BaseStrategy", "StrategyContext", "StrategyParams"]

STRATEGIES: Registry[BaseStrategy] = Registry(  # type: ignore[type-arg]
    "strategy",
    "trading_bot.strategies",
    builtin_modules=(
        "strategies.sma_cross",
        "strategies.grid",
        "strategies.leg_pair",
        "strategies.momentum",
        "strategies.rsi_reversion",
        "strategies.macd_trend",
        "strategies.bollinger_breakout",
        "strategies.dca",
    ),
)
