"""The strategy SDK's helpers: incremental indicators, crossing tests and exit barriers (``docs/strategies.md``)."""

from strategies.lib.cross import CrossTracker
from strategies.lib.cross import crossed_above
from strategies.lib.cross import crossed_below
from strategies.lib.exits import ExitPlan
from strategies.lib.exits import ExitWatch
from strategies.lib.indicators import ATR
from strategies.lib.indicators import EMA
from strategies.lib.indicators import MACD
from strategies.lib.indicators import ROC
from strategies.lib.indicators import RSI
from strategies.lib.indicators import SMA
from strategies.lib.indicators import VWAP
from strategies.lib.indicators import Bollinger
from strategies.lib.indicators import BollingerValue
from strategies.lib.indicators import MACDValue
from strategies.lib.indicators import RollingHigh
from strategies.lib.indicators import RollingLow

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "ROC",
    "RSI",
    "SMA",
    "VWAP",
    "Bollinger",
    "BollingerValue",
    "CrossTracker",
    "ExitPlan",
    "ExitWatch",
    "MACDValue",
    "RollingHigh",
    "RollingLow",
    "crossed_above",
    "crossed_below",
]
