"""Indicators: hand-computed values, TA-Lib on real data (when installed), and no look-ahead."""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strategies.lib import ATR
from strategies.lib import EMA
from strategies.lib import MACD
from strategies.lib import ROC
from strategies.lib import RSI
from strategies.lib import SMA
from strategies.lib import VWAP
from strategies.lib import Bollinger
from strategies.lib import CrossTracker
from strategies.lib import RollingHigh
from strategies.lib import RollingLow
from strategies.lib import crossed_above
from strategies.lib import crossed_below

DATA = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
BARS = 5_000


def _load() -> list[tuple[int, float, float, float, float, float]]:
    if not DATA.exists():
        pytest.skip(f"{DATA} not present")
    rows = []
    with gzip.open(DATA, "rt") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i == BARS:
                break
            rows.append((int(row["timestamp"]), float(row["open"]), float(row["high"]), float(row["low"]),
                         float(row["close"]), float(row["volume"])))  # fmt: skip
    return rows


def _series(factory: Callable[[], Any], rows: list[tuple[int, float, float, float, float, float]]) -> list[Any]:
    ind = factory()
    out = []
    for ts, _o, h, lo, c, v in rows:
        if isinstance(ind, ATR):
            out.append(ind.update(h, lo, c))
        elif isinstance(ind, VWAP):
            out.append(ind.update(h, lo, c, v, ts))
        elif isinstance(ind, RollingHigh):
            out.append(ind.update(h))
        elif isinstance(ind, RollingLow):
            out.append(ind.update(lo))
        else:
            out.append(ind.update(c))
    return out


FACTORIES: dict[str, Callable[[], Any]] = {
    "sma": lambda: SMA(20),
    "ema": lambda: EMA(20),
    "rsi": lambda: RSI(14),
    "roc": lambda: ROC(10),
    "macd": lambda: MACD(12, 26, 9),
    "bollinger": lambda: Bollinger(20, 2.0),
    "atr": lambda: ATR(14),
    "high": lambda: RollingHigh(20),
    "low": lambda: RollingLow(20),
    "vwap": lambda: VWAP(),
}


# -- hand computations --------------------------------------------------------------------------
def test_sma_is_the_mean_of_the_last_period_values() -> None:
    sma = SMA(3)
    assert [sma.update(x) for x in (1, 2, 3, 4, 8)] == [None, None, 2.0, 3.0, 5.0]


def test_ema_is_seeded_with_the_sma_then_smoothed_with_alpha_2_over_n_plus_1() -> None:
    ema = EMA(3)  # alpha 0.5
    assert [ema.update(x) for x in (1, 2, 3, 5, 1)] == [None, None, 2.0, 3.5, 2.25]


def test_rsi_uses_wilder_averages_of_gains_and_losses() -> None:
    rsi = RSI(2)
    values = [rsi.update(x) for x in (10, 11, 10, 12, 12)]
    # changes +1, -1 → gain 0.5, loss 0.5 → 50; +2 → gain (0.5+2)/2=1.25, loss 0.25 → 83.33; 0 → 0.625/0.125
    assert values[:2] == [None, None]
    assert values[2] == pytest.approx(50.0)
    assert values[3] == pytest.approx(100 * 1.25 / 1.5)
    assert values[4] == pytest.approx(100 * 0.625 / 0.75)


def test_rsi_of_a_flat_series_is_zero_as_in_talib() -> None:
    rsi = RSI(2)
    assert [rsi.update(5) for _ in range(4)][-1] == 0.0


def test_macd_is_fast_minus_slow_with_an_ema_signal() -> None:
    macd = MACD(2, 3, 2)
    out = [macd.update(x) for x in (1, 2, 3, 4, 5)]
    # EMA2 (alpha 2/3): -,1.5,2.5,3.5,4.5 ; EMA3 (alpha 0.5): -,-,2,3,4 → macd 0.5,0.5,0.5; signal seeded 0.5
    assert out[:3] == [None, None, None]
    assert out[3] == pytest.approx((0.5, 0.5, 0.0))
    assert out[4] is not None
    assert out[4].macd == pytest.approx(0.5)


def test_bollinger_uses_the_population_standard_deviation() -> None:
    bands = Bollinger(4, 2.0)
    out = [bands.update(x) for x in (2, 4, 4, 6)]
    assert out[-1] is not None
    assert out[-1].middle == 4.0
    assert out[-1].upper == pytest.approx(4 + 2 * math.sqrt(2))
    assert out[-1].lower == pytest.approx(4 - 2 * math.sqrt(2))


def test_atr_averages_true_ranges_from_the_previous_close() -> None:
    atr = ATR(2)
    bars = [(10, 9, 9.5), (11, 10, 10.5), (10, 8, 9), (12, 11, 11.5)]
    out = [atr.update(*b) for b in bars]
    # TR: 11-9.5=1.5 ; 10.5-8=2.5 → seed 2.0 ; max(12,9)-min(11,9)=3 → (2*1+3)/2=2.5
    assert out == [None, None, 2.0, 2.5]


def test_rolling_high_and_low_slide_over_the_window() -> None:
    high, low = RollingHigh(3), RollingLow(3)
    xs = (5, 3, 4, 1, 2, 6)
    assert [high.update(x) for x in xs] == [None, None, 5.0, 4.0, 4.0, 6.0]
    assert [low.update(x) for x in xs] == [None, None, 3.0, 1.0, 1.0, 1.0]


def test_vwap_weights_the_typical_price_and_restarts_each_session() -> None:
    vwap = VWAP(reset_ms=1_000)
    assert vwap.update(12, 6, 9, 1, ts_ms=0) == 9.0
    assert vwap.update(3, 3, 3, 2, ts_ms=500) == pytest.approx((9 + 6) / 3)
    assert vwap.update(4, 4, 4, 1, ts_ms=1_000) == 4.0  # a new session


def test_roc_is_the_change_over_period_values_as_a_fraction() -> None:
    roc = ROC(2)
    assert [roc.update(x) for x in (100, 50, 110, 100)] == [None, None, pytest.approx(0.1), 1.0]


def test_period_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        SMA(0)


# -- the crossing rule --------------------------------------------------------------------------
def test_a_tie_is_not_a_cross_for_the_two_bar_helpers() -> None:
    assert crossed_above(1, 2, 3, 2)
    assert not crossed_above(2, 2, 3, 2)  # tie on the previous bar
    assert not crossed_above(1, 2, 2, 2)  # tie now
    assert crossed_below(3, 2, 1, 2)
    assert not crossed_below(3, 2, 2, 2)


def test_the_tracker_holds_the_last_side_through_a_tie() -> None:
    tracker = CrossTracker()
    signals = [tracker.update(a, 2) for a in (1, 2, 3, 2, 3, 1)]
    # below, tie, above (a cross), tie, above (same side: none), below (a cross)
    assert signals == [0, 0, 1, 0, 0, -1]


# -- real data ----------------------------------------------------------------------------------
def _close(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_values_match_talib_on_fil_1m() -> None:
    talib = pytest.importorskip("talib")
    np = pytest.importorskip("numpy")
    rows = _load()
    h = np.array([r[2] for r in rows])
    lo = np.array([r[3] for r in rows])
    c = np.array([r[4] for r in rows])
    references = {
        "sma": talib.SMA(c, 20),
        "ema": talib.EMA(c, 20),
        "rsi": talib.RSI(c, 14),
        "roc": talib.ROCR(c, 10) - 1,
        "atr": talib.ATR(h, lo, c, 14),
        "high": talib.MAX(h, 20),
        "low": talib.MIN(lo, 20),
    }
    for name, ref in references.items():
        ours = _series(FACTORIES[name], rows)
        for i, expected in enumerate(ref):
            if math.isnan(expected):
                assert ours[i] is None, (name, i)
            else:
                assert _close(ours[i], float(expected)), (name, i, ours[i], expected)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    for i, band in enumerate(_series(FACTORIES["bollinger"], rows)):
        if not math.isnan(middle[i]):
            assert band is not None
            assert _close(band.middle, middle[i])
            assert _close(band.upper, upper[i], 1e-7)
            assert _close(band.lower, lower[i], 1e-7)
    macd, signal, _hist = talib.MACD(c, 12, 26, 9)
    ours_macd = _series(FACTORIES["macd"], rows)
    for i in range(500, len(rows)):  # TA-Lib seeds the fast EMA later; equal once the seeds decayed
        value = ours_macd[i]
        assert value is not None
        assert math.isclose(value.macd, macd[i], abs_tol=1e-12)
        assert math.isclose(value.signal, signal[i], abs_tol=1e-12)


def test_vwap_matches_a_direct_sum_on_fil_1m() -> None:
    rows = _load()
    ours = _series(FACTORIES["vwap"], rows)
    day = rows[0][0] // 86_400_000
    pv = vol = 0.0
    for i, (ts, _o, h, lo, c, v) in enumerate(rows):
        if ts // 86_400_000 != day:
            day, pv, vol = ts // 86_400_000, 0.0, 0.0
        pv += (h + lo + c) / 3 * v
        vol += v
        if vol > 0:
            assert _close(ours[i], pv / vol), i


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_no_look_ahead_truncating_the_data_leaves_earlier_values_unchanged(name: str) -> None:
    rows = _load()
    cut = 3_217
    full = _series(FACTORIES[name], rows)
    truncated = _series(FACTORIES[name], rows[:cut])
    assert truncated == full[:cut]
