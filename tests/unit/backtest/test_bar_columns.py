"""Bars held column-wise give back exactly the file's bars; the equity curve as columns gives the same metrics."""

from __future__ import annotations

import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.bar_columns import BarColumns
from exchanges.bar_columns import decode
from exchanges.bar_columns import pack
from exchanges.bar_columns import pack_text
from exchanges.recorded import load_bars
from trading_bot.backtest.metrics import EquityCurve
from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import compute_metrics
from trading_bot.domain import Bar
from trading_bot.errors import DataError

SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
BTCUSDT = SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz"
FIL = Path("/work/shared/data/binance_FILUSDT_1m.csv.gz")
FIELDS = ("open", "high", "low", "close", "volume")


def _plain_bars(path: Path) -> list[Bar]:
    """The file read the plain way: one ``Bar`` of ``Decimal(text)`` per row."""
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    rows = csv.DictReader(io.StringIO(text))
    return [
        Bar(ts_ms=int(r["timestamp"]), **{f: Decimal(r[f]) for f in FIELDS}) for r in rows
    ]  # fmt: skip


def _assert_same(loaded: object, plain: list[Bar]) -> None:
    bars = list(loaded)  # type: ignore[call-overload]
    assert len(bars) == len(plain)
    for got, want in zip(bars, plain, strict=True):
        assert got == want
        assert [str(getattr(got, f)) for f in FIELDS] == [str(getattr(want, f)) for f in FIELDS]  # exponents too


@pytest.mark.parametrize("path", [BTCUSDT, FIL], ids=["sample BTC/USDT 1m", "FIL/USDT 1m"])
def test_the_column_store_gives_every_bar_of_a_real_file_exactly(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    plain = _plain_bars(path)

    series = load_bars([path])

    assert isinstance(series.bars, BarColumns)
    _assert_same(series.bars, plain)
    picks = (0, 1, -1, -2, len(plain) // 2)
    assert [series.bars[i] for i in picks] == [plain[i] for i in picks]


def test_slices_are_views_that_behave_as_list_slices() -> None:
    plain = _plain_bars(BTCUSDT)
    bars = load_bars([BTCUSDT]).bars

    cuts = (slice(None, 10), slice(5, 25, 3), slice(-7, None), slice(None, None, -1), slice(40, 10), slice(None, 10**9))
    for cut in cuts:
        view = bars[cut]
        assert isinstance(view, BarColumns)
        assert list(view) == plain[cut]
        assert len(view) == len(plain[cut])
    assert list(bars[10:30][2:8]) == plain[10:30][2:8]
    assert bars[10:30][-1] == plain[29]
    assert list(reversed(bars[:5])) == plain[:5][::-1]
    with pytest.raises(IndexError):
        bars[len(plain)]
    with pytest.raises(IndexError):
        bars[:3][3]


def test_numbers_that_do_not_pack_are_kept_as_decimals_read_exactly(tmp_path: Path) -> None:
    """More than 15 places, a positive exponent, -0: that column becomes a list of Decimals; the others stay packed."""
    rows = [
        "60000,1.10,1.2,1.0,1.1,5",
        "120000,1.1,1.2,1.0,1.1,0.1234567890123456789",
        "180000,1.1,1.2,1.0,1.10,1E+3",
        "240000,1.1,1.2,1.0,1.1,-0",
    ]
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(["timestamp,open,high,low,close,volume", *rows]) + "\n")

    bars = load_bars([path]).bars

    _assert_same(bars, _plain_bars(path))
    assert [str(b.volume) for b in bars] == ["5", "0.1234567890123456789", "1E+3", "-0"]
    assert [str(b.open) for b in bars] == ["1.10", "1.1", "1.1", "1.1"]


@pytest.mark.parametrize(
    "text",
    ["0", "0.000", "1", "1.10", "1.1", "007.50", ".5", "5.", "123456789012345678", "9.999999999999999", "25259.1"],
)
def test_pack_keeps_coefficient_and_exponent(text: str) -> None:
    value = Decimal(text)
    packed = pack(value)

    assert packed is not None
    assert pack_text(text, value) == packed
    assert str(decode(packed)) == str(value)
    assert decode(packed).as_tuple() == value.as_tuple()


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "-0",
        "1E+3",
        "999999999999999999",
        "99999999999.9999999",
        "0.1234567890123456",
        "1234567890123456789",
        "NaN",
        "1e999999",
    ],
)
def test_numbers_outside_the_packing_do_not_pack(text: str) -> None:
    assert pack(Decimal(text)) is None
    assert pack_text(text, Decimal(text)) is None


def test_several_files_merge_by_time_and_a_time_in_two_files_is_the_same_error(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    second = tmp_path / "b.csv"
    first.write_text("timestamp,open,high,low,close,volume\n60000,1.0,1,1,1,1\n180000,3.25,3.25,3,3.25,3\n")
    second.write_text("timestamp,open,high,low,close,volume\n120000,2.0,2,2,2,2\n240000,4,4,4,4,4.5\n")

    series = load_bars([first, second])

    assert [b.ts_ms for b in series.bars] == [60000, 120000, 180000, 240000]
    assert [str(b.open) for b in series.bars] == ["1.0", "2.0", "3.25", "4"]
    assert series.interval_ms == 60000
    assert series.price_decimals == 2
    second.write_text("timestamp,open,high,low,close,volume\n180000,2,2,2,2,2\n")
    with pytest.raises(DataError, match=rf"^duplicate bar timestamp 180000 in {first}, {second}$"):
        load_bars([first, second])


def test_bad_rows_are_refused_with_the_same_line_as_before(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n60000,1,1,1,1,1\n120000,1,1,1,x,1\n")
    with pytest.raises(DataError, match=r"bars\.csv:3: not a valid number in row: "):
        load_bars([path])
    path.write_text("timestamp,open,high,low,close,volume\n60000,1,1,1,1,1\n60000,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"bars\.csv:3: duplicate bar timestamp 60000 after 60000; bars must be"):
        load_bars([path])
    path.write_text("timestamp,open,high,low,close,volume\n60000,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"^no bars in .*bars\.csv between the --from and --to dates$"):
        load_bars([path], start_ms=120000)


def _points(bars: list[Bar]) -> list[EquityPoint]:
    """A curve that moves with the closes and sits flat in between, as a bar backtest's does."""
    cash = Decimal("10000")
    out = []
    for i, bar in enumerate(bars):
        held = Decimal("0.12345678") if (i // 50) % 2 else Decimal(0)
        out.append(EquityPoint(bar.ts_ms + 60_000, cash + held * bar.close - held * bars[0].close if held else cash))
    return out


def test_the_equity_curve_as_columns_gives_the_points_and_the_metrics_of_the_list() -> None:
    points = _points(_plain_bars(BTCUSDT))
    curve = EquityCurve()
    for point in points:
        curve.add(point.ts_ms, point.equity)

    assert list(curve) == points
    assert [str(p.equity) for p in curve] == [str(p.equity) for p in points]
    assert curve[-1] == points[-1]
    assert curve[3:9] == points[3:9]
    as_list = compute_metrics([], points, starting_cash=Decimal(10000), buy_and_hold_return=None)
    as_columns = compute_metrics([], curve, starting_cash=Decimal(10000), buy_and_hold_return=None)
    assert as_columns == as_list
    assert str(as_columns.max_drawdown) == str(as_list.max_drawdown)
    assert as_columns.max_drawdown > 0


def test_an_equity_point_at_the_last_time_replaces_it_and_an_earlier_one_is_refused() -> None:
    curve = EquityCurve()
    curve.add(1_000, Decimal("1.0"))
    curve.add(2_000, Decimal("2.0"))
    curve.add(2_000, Decimal("3.00"))

    assert list(curve) == [EquityPoint(1_000, Decimal("1.0")), EquityPoint(2_000, Decimal("3.00"))]
    assert str(curve[1].equity) == "3.00"
    with pytest.raises(ValueError, match="before the last one"):
        curve.add(1_500, Decimal(1))
    curve.add(3_000, Decimal("-5"))  # does not pack: the curve keeps Decimals from now on
    assert [str(p.equity) for p in curve] == ["1.0", "3.00", "-5"]
