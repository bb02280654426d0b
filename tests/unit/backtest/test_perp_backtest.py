"""Backtests of a linear perpetual (issue 13): shorts, funding, fees and price PnL apart, liquidation.

Data: Binance USDⓈ-M XRP/USDT 5m bars and the realized 8 h funding rates of ``/work/shared/data`` (the
README there gives their provenance). The hand computations quote the CSV rows they use.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.recorded import parse_date
from exchanges.sim.model import PerpSettings
from trading_bot.backtest.engine import BacktestSpec
from trading_bot.backtest.engine import relaxed_risk_config
from trading_bot.backtest.engine import run_backtest
from trading_bot.errors import ConfigError

D = Decimal
DATA = Path("/work/shared/data")
BARS = DATA / "binanceusdm_XRPUSDT_5m.csv"
FUNDING = DATA / "binanceusdm_XRPUSDT_funding_8h.csv"

pytestmark = pytest.mark.skipif(not BARS.exists(), reason="needs /work/shared/data")


def test_a_short_slice_reports_price_pnl_fees_and_funding_that_add_up_by_hand() -> None:
    """Rule: net profit = price PnL − fees + funding; funding = −position × mark × rate, longs pay when > 0."""
    spec = BacktestSpec(
        strategy="sma_cross",
        params={"fast": 3, "slow": 8, "long_only": False, "quantity": "100"},
        data=(BARS, FUNDING),
        market_type="swap",
        fee=D("0.0005"),
        cash=D(1000),
        start_ms=parse_date("2021-11-17T22:00"),
        end_ms=parse_date("2021-11-18T01:00"),
    )
    result = run_backtest(spec)
    fills = [(f.side.value, f.quantity, f.price) for f in result.fills]
    # each at the next bar's open: buy 100, the flip sell 200 (short 100), the flip buy 200 (long 100)
    assert fills == [("buy", 100, D("1.0916")), ("sell", 200, D("1.0902")), ("buy", 200, D("1.0975"))]
    fees = (D(100) * D("1.0916") + D(200) * D("1.0902") + D(200) * D("1.0975")) * D("0.0005")
    # funding 1637193600017 (rate 0.0001) falls in the bar 1637193600000 (open 1.0959) with the long 100 held:
    funding = -D(100) * D("1.0959") * D("0.0001")
    # closed: long (1.0902 − 1.0916) × 100, short (1.0902 − 1.0975) × 100; open long 100 at the last close 1.1039
    price_pnl = (
        (D("1.0902") - D("1.0916")) * 100 + (D("1.0902") - D("1.0975")) * 100 + (D("1.1039") - D("1.0975")) * 100
    )
    metrics = result.metrics
    assert metrics.fees_paid == fees == D("0.27335")
    assert metrics.funding == funding == D("-0.010959")
    assert metrics.price_pnl == price_pnl == D("-0.23")
    assert metrics.net_profit == price_pnl - fees + funding
    assert result.summary["funding"] == "-0.010959"
    assert result.summary["funding_payments"] == 1


def test_the_whole_file_trades_both_sides_and_every_funding_while_a_position_is_open() -> None:
    """Rule: sma_cross --no-long-only reverses long/short on a swap (every cross after the first is a flip)."""
    spec = BacktestSpec(
        strategy="sma_cross",
        params={"long_only": False, "quantity": "100"},
        data=(BARS, FUNDING),
        market_type="swap",
        fee=D("0.0005"),
        cash=D(1000),
    )
    result = run_backtest(spec)
    sides = [f.side.value for f in result.fills]
    assert sides[:4] in (["buy", "sell", "buy", "sell"], ["sell", "buy", "sell", "buy"])
    assert {f.quantity for f in result.fills[1:]} == {D(200)}  # flips: close 100 and open 100
    assert any(t.side.value == "sell" for t in result.round_trips)  # shorts were held and closed
    metrics = result.metrics
    assert metrics.net_profit == metrics.price_pnl - metrics.fees_paid + metrics.funding
    # the bars end 2021-11-21 22:35: the funding times 2021-11-18 00:00 … 2021-11-21 16:00 are 12 (the file's
    # first), each settled on the position held then (there is always one after the first fill)
    assert result.summary["funding_payments"] == 12


def test_a_leveraged_long_is_liquidated_at_the_bar_its_liquidation_price_is_reached_once() -> None:
    """Rule: the position is closed where the path first reaches its liquidation price, with the fee, once.

    Entry: buy 1600 at 1.1047 (fee 0.88376) → wallet 99.11624; MMR 2.5 % (first bracket), 20x leverage.
    LP = (q·E − WB) / (q·(1 − MMR)) = (1767.52 − 99.11624) / 1560 = 1.06948… → the tick below, 1.0694.
    Bars (open, high, low): 1637241300000 low 1.0700 and 1637241600000 low 1.0707 stay above it;
    1637241900000 (1.0730, 1.0735, 1.0660) reaches it on its second leg (high first), at ts + 200 s.
    """
    spec = BacktestSpec(
        strategy="sma_cross",
        params={"fast": 50, "slow": 200, "long_only": False, "quantity": "1600"},
        data=(BARS,),
        market_type="swap",
        fee=D("0.0005"),
        cash=D(100),
        perp=PerpSettings(leverage=20),
        risk=relaxed_risk_config().model_copy(update={"balance_check_enabled": False}),
    )
    result = run_backtest(spec)
    entry, liquidation = result.fills
    assert (entry.side.value, entry.quantity, entry.price) == ("buy", 1600, D("1.1047"))
    assert liquidation.client_order_id == "liquidation"
    assert (liquidation.ts_ms, liquidation.side.value, liquidation.price) == (1637242100000, "sell", D("1.0694"))
    assert liquidation.fee == D(1600) * D("1.0694") * D("0.0125")
    assert result.metrics.liquidations == 1
    assert result.summary["liquidations"] == 1
    assert result.summary["position"] == "0"
    wallet = D(100) - D("0.88376") + (D("1.0694") - D("1.1047")) * 1600 - liquidation.fee
    assert result.metrics.end_equity == wallet == D("21.24824")


def test_swap_settings_on_a_spot_market_are_refused_in_one_line() -> None:
    spot = Path(__file__).parents[3] / "trading_bot/sample_data/binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
    spec = BacktestSpec(strategy="sma_cross", data=(spot,), perp=PerpSettings(leverage=3), symbol="BTC/USDT")
    with pytest.raises(ConfigError, match="is a spot market"):
        run_backtest(spec)


def test_funding_files_alone_are_not_market_data() -> None:
    with pytest.raises(ConfigError, match="only funding files"):
        run_backtest(BacktestSpec(strategy="sma_cross", data=(FUNDING,), market_type="swap"))
