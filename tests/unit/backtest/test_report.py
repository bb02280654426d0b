"""write_report and format_metrics_table: files, charts, tables, escaping, CSV headers."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

from tests.unit.backtest.helpers import make_fill
from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import RoundTrip
from trading_bot.backtest.metrics import compute_metrics
from trading_bot.backtest.metrics import reconstruct_round_trips
from trading_bot.backtest.report import BAR_EQUITY_CSV_HEADER
from trading_bot.backtest.report import FILLS_CSV_HEADER
from trading_bot.backtest.report import PriceBars
from trading_bot.backtest.report import format_metrics_table
from trading_bot.backtest.report import write_report
from trading_bot.domain import Bar
from trading_bot.domain import Fill
from trading_bot.domain import OrderSide

_FILLS = [
    make_fill("buy", "1", "100", ts_ms=1_000, fee="0.1"),
    make_fill("sell", "1", "110", ts_ms=2_000, fee="0.11"),
    make_fill("sell", "2", "110", ts_ms=3_000),
    make_fill("buy", "2", "105", ts_ms=4_000),
]
_EQUITY = [EquityPoint(0, Decimal(100)), EquityPoint(1_000, Decimal(110)), EquityPoint(2_000, Decimal(99))]


def _write(
    out_dir: Path,
    *,
    equity: list[EquityPoint] = _EQUITY,
    trips: list[RoundTrip] | None = None,
    fills: list[Fill] = _FILLS,
    title: str = "SMA cross BTC/USDT",
    params: dict[str, object] | None = None,
    prices: list[PriceBars] | None = None,
    warnings: list[str] | None = None,
) -> Path:
    metrics = compute_metrics(fills, equity, starting_cash=Decimal(100), buy_and_hold_return=0.05)
    return write_report(
        out_dir,
        metrics=metrics,
        round_trips=reconstruct_round_trips(fills) if trips is None else trips,
        fills=fills,
        equity=equity,
        params={"fast": 10, "slow": 30} if params is None else params,
        title=title,
        prices=prices or [],
        warnings=warnings or [],
    )


def _trip(i: int) -> RoundTrip:
    return RoundTrip(
        symbol="BTC/USDT", side=OrderSide.BUY, entry_ts=i, exit_ts=i + 1, quantity=Decimal(1),
        entry_price=Decimal(100), exit_price=Decimal(101), pnl=Decimal(1), return_pct=1.0, fees=Decimal(0),
    )  # fmt: skip


def test_write_report_creates_html_and_both_csvs_in_a_new_directory(tmp_path: Path) -> None:
    path = _write(tmp_path / "run" / "out")

    assert path == tmp_path / "run" / "out" / "report.html"
    assert {p.name for p in path.parent.iterdir()} == {"report.html", "trades.csv", "fills.csv", "equity.csv"}


def test_report_html_contains_the_plotly_charts_and_all_tables(tmp_path: Path) -> None:
    """Rule: the page has the equity/drawdown chart, the metrics, parameters, warnings and fills sections."""
    page = _write(tmp_path).read_text(encoding="utf-8")

    assert 'id="equity-chart"' in page
    assert "Drawdown (%)" in page
    assert '<table class="metrics">' in page
    assert '<table class="params">' in page
    assert '<table class="fills">' in page
    assert '<td class="k">fast</td><td>10</td>' in page
    assert "Sharpe ratio" in page
    assert "No warnings." in page


def test_report_is_self_contained_with_plotly_js_embedded(tmp_path: Path) -> None:
    """Rule: the page opens offline: plotly.js is inline, no script or stylesheet is loaded from anywhere."""
    page = _write(tmp_path).read_text(encoding="utf-8")

    assert "<script" in page
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert not re.search(r"<link[^>]*href=", page)
    assert "Plotly.newPlot" in page
    assert page.count("plotly.js v") >= 1  # the library itself, once


def test_report_trades_table_has_one_row_per_round_trip(tmp_path: Path) -> None:
    page = _write(tmp_path).read_text(encoding="utf-8")

    trades = page.split('<table class="trades">')[1].split("</table>")[0]
    assert trades.count("<tr>") == 3  # header + long 100->110 + short 110->105
    assert '<td class="k">short</td>' in trades


def test_report_escapes_title_and_parameters(tmp_path: Path) -> None:
    page = _write(tmp_path, title="<script>x</script>", params={"<b>": "a&b"}).read_text(encoding="utf-8")

    assert "<title><script>" not in page
    assert "<h1><script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page
    assert "a&amp;b" in page


def test_report_caps_trade_rows_and_says_so_while_csv_keeps_all(tmp_path: Path) -> None:
    trips = [_trip(i) for i in range(1_005)]

    page = _write(tmp_path, trips=trips).read_text(encoding="utf-8")

    assert "Showing the first 1,000 of 1,005 round trips" in page
    assert page.split('<table class="trades">')[1].split("</table>")[0].count("<tr>") == 1_001
    with (tmp_path / "trades.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 1_006


def test_report_with_no_trades_or_equity_still_renders(tmp_path: Path) -> None:
    page = _write(tmp_path, equity=[], fills=[]).read_text(encoding="utf-8")

    assert "No completed round trips." in page
    assert "No fills." in page


def test_trades_csv_has_header_and_exact_decimal_rows(tmp_path: Path) -> None:
    _write(tmp_path)

    with (tmp_path / "trades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "symbol", "side", "entry_ts", "entry_time", "exit_ts", "exit_time", "quantity",
        "entry_price", "exit_price", "pnl", "return_pct", "fees",
    ]  # fmt: skip
    assert rows[1][:4] == ["BTC/USDT", "long", "1000", "1970-01-01T00:00:01.000+00:00"]
    assert rows[1][9] == "9.79"
    assert rows[2][1] == "short"
    assert rows[2][9] == "10"


def test_equity_csv_has_header_and_drawdown_from_running_peak(tmp_path: Path) -> None:
    _write(tmp_path)

    with (tmp_path / "equity.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ts_ms", "time_utc", "equity", "drawdown", "drawdown_pct"]
    assert rows[3] == ["2000", "1970-01-01T00:00:02.000+00:00", "99", "11", "0.10000000"]


def test_metrics_table_lists_every_metric_in_aligned_columns() -> None:
    metrics = compute_metrics(_FILLS, _EQUITY, starting_cash=Decimal(100), buy_and_hold_return=None)

    lines = format_metrics_table(metrics).splitlines()

    assert len({len(line) for line in lines}) == 1
    assert any(line.startswith("Max drawdown %") and line.endswith("10.00 %") for line in lines)
    assert any(line.startswith("Buy & hold return") and line.endswith("n/a") for line in lines)
    assert any(line.startswith("Round trips") and line.endswith("2") for line in lines)


def _bars(n: int, start: int = 0, step: int = 60_000) -> list[Bar]:
    return [
        Bar(ts_ms=start + i * step, open=Decimal(100), high=Decimal(101 + i % 5), low=Decimal(99), close=Decimal(100),
            volume=Decimal(1))
        for i in range(n)
    ]  # fmt: skip


def test_fills_csv_has_every_fill_with_fee_and_fee_currency_open_ones_too(tmp_path: Path) -> None:
    """Rule: fills.csv lists every fill (a still-open position's too), fee in its currency and in quote."""
    fills = [*_FILLS, make_fill("buy", "0.5", "120", ts_ms=5_000, fee="0.06")]  # opens a position never closed
    _write(tmp_path, fills=fills)

    with (tmp_path / "fills.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    assert list(rows[0]) == list(FILLS_CSV_HEADER)
    assert rows[-1]["side"] == "buy"
    assert rows[-1]["fee"] == "0.06"
    assert rows[-1]["fee_currency"] == fills[-1].fee_currency
    assert rows[-1]["price"] == "120"
    assert rows[-1]["time_utc"] == "1970-01-01T00:00:05.000+00:00"


def test_bar_report_labels_equity_by_bar_open_time_and_draws_candles_with_fill_markers(tmp_path: Path) -> None:
    """Rule: on bars equity.csv says bar_open_*: the point at a bar's close is labelled with that bar's open."""
    bars = _bars(3)
    equity = [EquityPoint(b.ts_ms + 60_000, Decimal(100)) for b in bars]  # as the engine marks them: closes
    page = _write(tmp_path, equity=equity, prices=[PriceBars("BTC/USDT", bars, 60_000)]).read_text(encoding="utf-8")

    with (tmp_path / "equity.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(BAR_EQUITY_CSV_HEADER)
    assert [r[0] for r in rows[1:]] == ["0", "60000", "120000"]
    assert '"type":"candlestick"' in page
    assert "buy fills" in page
    assert "sell fills" in page
    assert "buy 1 @ 100, fee 0.1" in page  # the first fill's marker text


def test_report_renders_the_warnings_given_escaped(tmp_path: Path) -> None:
    """Rule: each warning passed in is one escaped list item of the warnings section."""
    page = _write(tmp_path, warnings=["3 orders denied by <risk>", "no fill"]).read_text(encoding="utf-8")

    assert "<h2>Warnings (2)</h2>" in page
    assert "<li>3 orders denied by &lt;risk&gt;</li>" in page
    assert "<li>no fill</li>" in page


def test_a_large_run_is_downsampled_for_display_while_the_csvs_stay_complete(tmp_path: Path) -> None:
    """Rule: 175,000 bars give at most MAX_CANDLES candles and a page under 10 MB; equity.csv keeps every point."""
    bars = _bars(175_000)
    equity = [EquityPoint(b.ts_ms + 60_000, Decimal(100 + i % 13)) for i, b in enumerate(bars)]
    path = _write(tmp_path, equity=equity, prices=[PriceBars("BTC/USDT", bars, 60_000)])

    assert path.stat().st_size < 10_000_000
    page = path.read_text(encoding="utf-8")
    assert "every 88 bars merged into one candle" in page
    with (tmp_path / "equity.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 175_001
