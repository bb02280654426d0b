"""Backtesting: metrics as a pure function of fills and equity, trade fingerprints, and reports."""

from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import Metrics
from trading_bot.backtest.metrics import RoundTrip
from trading_bot.backtest.metrics import compute_metrics
from trading_bot.backtest.metrics import drawdown_series
from trading_bot.backtest.metrics import reconstruct_round_trips
from trading_bot.backtest.report import format_metrics_table
from trading_bot.backtest.report import write_report
from trading_bot.domain.fingerprint import trade_fingerprint

__all__ = [
    "EquityPoint",
    "Metrics",
    "RoundTrip",
    "compute_metrics",
    "drawdown_series",
    "format_metrics_table",
    "reconstruct_round_trips",
    "trade_fingerprint",
    "write_report",
]
