"""The one-pass (vectorised) indicator values are the incremental ones, bit for bit, on real data.

Rules guarded (``strategies.lib.batch``, ``strategies.lib.declared``):
- parity: ``series(ind, arrays).value(i)`` equals what ``ind.feed(bar_i)`` returns after bars ``0..i``,
  exactly (``==`` on floats), for every shipped indicator, from packed columns and from plain bars;
- no look-ahead: the series over the first ``k`` bars is the first ``k`` values of the series over all;
- a declared indicator fed a bar that is not the next precomputed one falls back to incremental and still
  gives the incremental values.

Data: FIL/USDT 1m (prices ~4, three decimals), XRP/ETH 1m (2,469 bars, prices ~0.0014, the
smallest bundled) and BTC/USD daily (prices up to ~69,000, two decimals).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exchanges.recorded import load_bars
from strategies.lib import ATR
from strategies.lib import EMA
from strategies.lib import MACD
from strategies.lib import ROC
from strategies.lib import RSI
from strategies.lib import SMA
from strategies.lib import VWAP
from strategies.lib import Bollinger
from strategies.lib import RollingHigh
from strategies.lib import RollingLow
from strategies.lib.batch import BarArrays
from strategies.lib.batch import series
from strategies.lib.declared import DeclaredIndicators
from trading_bot.domain import Bar

DATA = Path("/work/shared/data")
FILES = {
    "fil_1m": ("binance_FILUSDT_1m.csv.gz", 20_000),
    "xrpeth_1m": ("binance_XRPETH_1m.csv", 20_000),
    "btc_1d": ("bitstamp+coinbase_BTCUSD_1d.csv", 5_000),
}
FACTORIES: dict[str, Callable[[], Any]] = {
    "sma1": lambda: SMA(1),
    "sma20": lambda: SMA(20),
    "sma200": lambda: SMA(200),
    "ema1": lambda: EMA(1),
    "ema20": lambda: EMA(20),
    "rsi2": lambda: RSI(2),
    "rsi14": lambda: RSI(14),
    "roc1": lambda: ROC(1),
    "roc10": lambda: ROC(10),
    "macd": lambda: MACD(12, 26, 9),
    "macd_short": lambda: MACD(3, 10, 4),
    "bollinger": lambda: Bollinger(20, 2.0),
    "bollinger2": lambda: Bollinger(2, 1.0),
    "atr1": lambda: ATR(1),
    "atr14": lambda: ATR(14),
    "high1": lambda: RollingHigh(1),
    "high20": lambda: RollingHigh(20),
    "low20": lambda: RollingLow(20),
    "vwap_day": lambda: VWAP(),
    "vwap_hour": lambda: VWAP(3_600_000),
    "vwap_never": lambda: VWAP(0),
}
_LOADED: dict[str, Any] = {}


def _bars(name: str) -> Any:
    if name not in _LOADED:
        file, count = FILES[name]
        path = DATA / file
        if not path.exists():
            pytest.skip(f"{path} not present")
        _LOADED[name] = load_bars([path]).bars[:count]
    return _LOADED[name]


def _incremental(factory: Callable[[], Any], bars: Any) -> list[Any]:
    ind = factory()
    return [ind.feed(bar) for bar in bars]


def _batch(factory: Callable[[], Any], arrays: BarArrays) -> list[Any]:
    computed = series(factory(), arrays)
    assert computed is not None
    return [computed.value(i) for i in range(len(computed))]


@pytest.mark.parametrize("data", sorted(FILES))
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_the_batch_values_are_the_incremental_values_bit_for_bit(data: str, name: str) -> None:
    bars = _bars(data)
    expected = _incremental(FACTORIES[name], bars)
    assert any(v is not None for v in expected)
    assert _batch(FACTORIES[name], BarArrays.of(bars)) == expected  # packed columns
    assert _batch(FACTORIES[name], BarArrays.of(list(bars[:3_000]))) == expected[:3_000]  # plain Bar objects


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_no_look_ahead_the_batch_over_a_prefix_is_the_prefix_of_the_batch(name: str) -> None:
    bars = _bars("fil_1m")
    full = _batch(FACTORIES[name], BarArrays.of(bars))
    for cut in (1, 25, 7_321):
        assert _batch(FACTORIES[name], BarArrays.of(bars[:cut])) == full[:cut], cut


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_a_bar_off_the_precomputed_series_turns_the_indicator_incremental(name: str) -> None:
    bars = _bars("fil_1m")[:2_000]
    skipped = 40  # soon after the warm-up: a wrongly seeded rebuild (EMA, ATR) has not decayed yet
    expected = _incremental(FACTORIES[name], [b for i, b in enumerate(bars) if i != skipped])
    declared = DeclaredIndicators()
    indicator = declared.add(FACTORIES[name]())
    assert declared.precompute("1m", "1m", bars) == 1
    got = []
    for i, bar in enumerate(bars):
        if i == skipped:
            continue  # the run skipped a bar the precomputation has: the rest must still be right
        declared.feed(bar, "1m", "1m")
        got.append(indicator.value)
    assert got == expected


def test_sums_too_large_for_exact_floats_stay_incremental() -> None:
    price = Decimal("123456789012.345678")
    bars = [Bar(ts_ms=i * 60_000, open=price, high=price, low=price, close=price) for i in range(30)]
    assert series(SMA(20), BarArrays.of(bars)) is None  # 20 × 1.2e17 units is past 2^53
    declared = DeclaredIndicators()
    sma = declared.add(SMA(20))
    assert declared.precompute("1m", "1m", bars) == 0
    for bar in bars:
        declared.feed(bar, "1m", "1m")
    assert sma.value == float(price)
