"""The volatility-target (ATR) and fractional-Kelly sizers: their formulas, their caps, their configs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from risk.config import SizingConfig
from risk.sizing import kelly_fraction
from risk.sizing import size_order
from risk.sizing import volatility_target_quantity
from tests.unit.risk._support import D
from tests.unit.risk._support import buy
from tests.unit.risk._support import ctx
from trading_bot.domain import Bar
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol
from trading_bot.runtime.bars import BarFeed


def _config(**fields: object) -> SizingConfig:
    return SizingConfig.model_validate(fields)


def test_volatility_target_risks_the_fraction_of_equity_on_atr_multiple_atrs() -> None:
    # 10,000 × 1 % = 100 USDT lost on 2 × 500 = 1,000 USDT of adverse move → 0.1 BTC (6,000 USDT < cap)
    quantity = size_order(buy("60000.00"), ctx(atr=D("500")),
                          _config(mode="volatility_target", value="0.01", max_fraction="1"))  # fmt: skip
    assert quantity == D("0.1")


def test_volatility_target_is_capped_at_max_fraction_of_equity() -> None:
    # a tiny ATR would buy 10 BTC; the cap is 25 % of 10,000 = 2,500 USDT → 0.04166 BTC at 60,000
    quantity = size_order(buy("60000.00"), ctx(atr=D("5")), _config(mode="volatility_target", value="0.01"))
    assert quantity == D("0.04166")


def test_volatility_target_without_an_atr_yet_sizes_no_order() -> None:
    assert size_order(buy("60000.00"), ctx(), _config(mode="volatility_target", value="0.01")) is None


def test_kelly_bets_the_scaled_kelly_fraction_of_equity() -> None:
    # W 0.6, R 1.5 → f* = 0.6 − 0.4 / 1.5 = 0.3333…; half Kelly 0.1666… < cap 0.25 → 1,666.67 USDT
    config = _config(mode="kelly", value="0.5", win_rate="0.6", payoff_ratio="1.5")
    assert size_order(buy("50000.00"), ctx(), config) == D("0.03333")


def test_kelly_is_capped_and_without_an_edge_sizes_no_order() -> None:
    assert kelly_fraction(D("0.9"), D("3"), D("1"), D("0.25")) == D("0.25")
    no_edge = _config(mode="kelly", value="1", win_rate="0.4", payoff_ratio="1")  # f* = 0.4 − 0.6 < 0
    assert size_order(buy("50000.00"), ctx(), no_edge) is None


def test_volatility_target_quantity_of_a_zero_atr_is_zero() -> None:
    assert volatility_target_quantity(D(1), D("0.01"), D(0), D(2), D(100), D(1)) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "kelly", "value": "0.5"},  # no win rate / payoff
        {"mode": "kelly", "value": "1.5", "win_rate": "0.6", "payoff_ratio": "1"},  # above full Kelly
        {"mode": "kelly", "value": "0.5", "win_rate": "1", "payoff_ratio": "1"},  # a certain win
        {"mode": "volatility_target", "value": "0.01", "atr_multiple": "0"},
        {"mode": "volatility_target", "value": "0.01", "max_fraction": "1.5"},
        {"mode": "volatility_target", "value": "0.01", "atr_timeframe": "hourly"},
    ],
)
def test_sizing_config_bounds_refuse_out_of_range_figures(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SizingConfig.model_validate(fields)


def test_the_runtime_feeds_the_sizer_an_atr_of_its_timeframe_without_handing_those_bars_to_the_strategy() -> None:
    feed = BarFeed((), atr_timeframe="1m", atr_period=2)
    for i, (h, lo, c) in enumerate([(10, 9, 9.5), (11, 10, 10.5), (10, 8, 9)]):
        bar = Bar(ts_ms=i * 60_000, open=Decimal(c), high=Decimal(h), low=Decimal(lo), close=Decimal(str(c)))
        feed.update(MarketData(symbol=Symbol("X/USDT"), ts_ms=(i + 1) * 60_000, bid=bar.close, ask=bar.close, bar=bar))
    assert feed.take() == []
    assert feed.atr_value() == D("2.0")  # true ranges 1.5 and 2.5 (see the ATR's own test)
