"""Backtest reports: a self-contained interactive HTML page, CSV files, and a plain-text metrics table.

``write_report`` writes into ``out_dir``:

- ``report.html``: one file that opens offline. plotly.js is **embedded** in the page (about 4.8 MB, the
  same for every run), no file or network resource is loaded. It holds: per instrument, the price candles
  with the fills as markers (buy ▲, sell ▼; hover for quantity, price and fee); the equity and drawdown
  charts; the metrics, the parameters, the warnings given (one line each), the trade fingerprint, and the
  fills and round-trip tables (the first ``MAX_TABLE_ROWS`` rows each, with a note when capped). Every
  piece of text is escaped with ``html.escape``.
- ``trades.csv``: every round trip, one per row (``entry_ts``/``exit_ts`` are the fill times).
- ``fills.csv``: every fill, in execution order, open positions' fills included (``FILLS_CSV_HEADER``), with
  its fee in its fee currency and in quote currency.
- ``equity.csv``: one row per equity point with the drawdown (fall below the running peak, quote currency,
  and as a fraction). On **bar** data the rows are labelled by **bar open time** (``bar_open_ts_ms``,
  ``bar_open_time``; ``BAR_EQUITY_CSV_HEADER``): the row of the bar that opened Friday 00:00 holds the
  equity at that bar's close, so a daily Friday bar is Friday's, not Saturday's. On quotes/trades data the
  rows are the sample times (``ts_ms``, ``time_utc``; ``EQUITY_CSV_HEADER``). Several markets with
  different intervals: the shortest interval is taken off the close times.

Times: fills and round trips carry the simulated execution time. On bars a market order fills at the next
bar's open, stamped with that bar's open time; a limit or stop at its path point (``open``, ``+i/3``,
``+2i/3``, ``+i``), so a fill on a bar's last leg is stamped at its close (= the next bar's open time).
The charts use the same labels: candles and equity at bar open times, fill markers at fill times.

Display downsampling (the CSVs stay complete): an instrument with more than ``MAX_CANDLES`` bars is drawn
with each run of ``k`` consecutive bars merged into one candle (first open, highest high, lowest low, last
close, at the first bar's open time; ``k`` the smallest that fits); the equity and drawdown charts keep
each bucket's low and high (at most ``MAX_CHART_POINTS`` points) so spikes stay visible; more than
``MAX_FILL_MARKERS`` fills of an instrument are thinned to every ``k``-th, with a note. A 175,000-bar run
makes a page of about 5 MB.

CSV numbers are exact Decimal text (no exponent); times are ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import Metrics
from trading_bot.backtest.metrics import RoundTrip
from trading_bot.backtest.metrics import drawdown_series
from trading_bot.backtest.metrics import fee_in_quote
from trading_bot.domain import Bar
from trading_bot.domain import Fill
from trading_bot.domain import decimal_text
from trading_bot.domain.fingerprint import trade_fingerprint
from trading_bot.files import open_private
from trading_bot.files import private_dir

__all__ = [
    "BAR_EQUITY_CSV_HEADER",
    "EQUITY_CSV_HEADER",
    "FILLS_CSV_HEADER",
    "MAX_CANDLES",
    "MAX_CHART_POINTS",
    "MAX_FILL_MARKERS",
    "MAX_TABLE_ROWS",
    "MAX_TRADE_ROWS",
    "TRADES_CSV_HEADER",
    "PriceBars",
    "format_metrics_table",
    "write_report",
]

MAX_CHART_POINTS = 2_000
"""Most points drawn per equity or drawdown chart."""
MAX_CANDLES = 2_000
"""Most candles drawn per instrument (more bars are merged, see the module docstring)."""
MAX_FILL_MARKERS = 5_000
"""Most fill markers drawn per instrument (``fills.csv`` has them all)."""
MAX_TABLE_ROWS = 1_000
"""Most rows of the HTML fills and round-trip tables (the CSV files have them all)."""
MAX_TRADE_ROWS = MAX_TABLE_ROWS
"""Most round trips listed in the HTML table (``trades.csv`` has them all)."""

TRADES_CSV_HEADER = (
    "symbol", "side", "entry_ts", "entry_time", "exit_ts", "exit_time", "quantity",
    "entry_price", "exit_price", "pnl", "return_pct", "fees",
)  # fmt: skip
FILLS_CSV_HEADER = (
    "ts_ms", "time_utc", "symbol", "side", "quantity", "price", "notional", "fee", "fee_currency",
    "fee_quote", "liquidity", "client_order_id", "trade_id",
)  # fmt: skip
"""``fills.csv``: ``ts_ms``/``time_utc`` the execution time, ``notional`` = price × quantity and ``fee_quote``
the fee in quote currency (``trading_bot.backtest.metrics.fee_in_quote``), both quote currency."""
EQUITY_CSV_HEADER = ("ts_ms", "time_utc", "equity", "drawdown", "drawdown_pct")
"""``equity.csv`` of a quotes/trades run: the sample times."""
BAR_EQUITY_CSV_HEADER = ("bar_open_ts_ms", "bar_open_time", "equity", "drawdown", "drawdown_pct")
"""``equity.csv`` of a bar run: each row labelled by its bar's open time, the equity at that bar's close."""


@dataclass(frozen=True, slots=True)
class PriceBars:
    """One instrument's bars for the report's candle chart.

    Attributes:
        symbol: the market, as on its fills.
        bars: the bars, open time (epoch ms UTC) ascending; prices in quote currency.
        bar_ms: the bar interval, milliseconds (a bar closes at its open time plus this).
    """

    symbol: str
    bars: Sequence[Bar]
    bar_ms: int


# (field, label, kind): kind picks the formatting in both the HTML and the terminal table.
_METRIC_ROWS: tuple[tuple[str, str, str], ...] = (
    ("start_equity", "Start equity", "money"),
    ("end_equity", "End equity", "money"),
    ("net_profit", "Net profit", "money"),
    ("total_return", "Total return", "pct"),
    ("buy_and_hold_return", "Buy & hold return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (ann.)", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("max_drawdown", "Max drawdown", "money"),
    ("max_drawdown_pct", "Max drawdown %", "pct"),
    ("max_drawdown_duration_ms", "Max drawdown duration", "duration"),
    ("trade_count", "Round trips", "int"),
    ("fill_count", "Fills", "int"),
    ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy", "Expectancy (per trade)", "money"),
    ("exposure", "Exposure time", "pct"),
    ("fees_paid", "Fees paid", "money"),
    ("periods_per_year", "Periods per year", "ratio"),
    ("start_ts_ms", "Start", "time"),
    ("end_ts_ms", "End", "time"),
)
_SWAP_ROWS: tuple[tuple[str, str, str], ...] = (
    ("price_pnl", "Price PnL (before fees, funding)", "money"),
    ("funding", "Funding (+ received, - paid)", "money"),
    ("liquidations", "Liquidations", "int"),
)
"""Shown after "Fees paid" for a perpetual swap: net profit = price PnL − fees + funding."""


def _metric_rows(metrics: Metrics, swap: bool) -> list[tuple[str, str]]:
    rows: list[tuple[str, str, str]] = []
    for row in _METRIC_ROWS:
        rows.append(row)
        if swap and row[0] == "fees_paid":
            rows += _SWAP_ROWS
    return [(label, _format_value(getattr(metrics, name), kind)) for name, label, kind in rows]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;background:#fff}
th,td{border:1px solid #d8dde6;padding:.25rem .6rem;text-align:right}
th{background:#eef1f6}td.k,th.k{text-align:left}
.note{color:#5f6673;font-size:.85rem}
.chart{background:#fff;border:1px solid #d8dde6;margin:.5rem 0}
ul.warnings li{color:#8a4b00}
code{font-size:.85rem}
"""


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _display(value: Decimal) -> str:
    return decimal_text(value.quantize(Decimal("1E-8"))) if value.as_tuple().exponent != 0 else decimal_text(value)


def _duration(ms: int) -> str:
    seconds = ms // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    if not days:
        parts.append(f"{seconds}s")
    return " ".join(parts)


def _format_value(value: Any, kind: str) -> str:
    if value is None:
        return "n/a"
    match kind:
        case "money":
            return _display(value)
        case "pct":
            return f"{value * 100:.2f} %"
        case "ratio":
            return f"{value:.3f}"
        case "duration":
            return _duration(value)
        case "time":
            return _iso(value)
    return str(value)


def format_metrics_table(metrics: Metrics, *, swap: bool = False) -> str:
    """Return the metrics as plain, aligned two-column text for a terminal (one metric per line).

    ``swap``: add the perpetual-swap rows (price PnL, funding, liquidations) after the fees.
    """
    rows = _metric_rows(metrics, swap)
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    lines = [f"{'Metric':<{label_width}}  {'Value':>{value_width}}", "-" * (label_width + 2 + value_width)]
    lines += [f"{label:<{label_width}}  {value:>{value_width}}" for label, value in rows]
    return "\n".join(lines)


def _downsample(points: Sequence[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    if len(points) <= limit:
        return list(points)
    buckets = limit // 2
    size = len(points) / buckets
    out: list[tuple[int, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, css_class: str, key_columns: int = 1) -> str:
    def cells(tag: str, values: Sequence[str]) -> str:
        key = ' class="k"'
        return "".join(f"<{tag}{key if i < key_columns else ''}>{html.escape(v)}</{tag}>" for i, v in enumerate(values))

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{cells("th", header)}</tr></thead><tbody>{body}</tbody></table>'


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _trip_row(trip: RoundTrip) -> list[str]:
    return [
        trip.symbol, "long" if trip.side.sign > 0 else "short", _iso(trip.entry_ts), _iso(trip.exit_ts),
        _display(trip.quantity), _display(trip.entry_price), _display(trip.exit_price),
        _display(trip.pnl), f"{trip.return_pct:.2f}", _display(trip.fees),
    ]  # fmt: skip


def _capped_note(shown: int, total: int, what: str, csv_name: str) -> str:
    if total <= shown:
        return ""
    return f'<p class="note">Showing the first {shown:,} of {total:,} {what}; all of them are in {csv_name}.</p>'


def _trades_html(round_trips: Sequence[RoundTrip]) -> str:
    header = ["Symbol", "Side", "Entry (UTC)", "Exit (UTC)", "Quantity", "Entry price", "Exit price",
              "PnL (net)", "Return %", "Fees"]  # fmt: skip
    if not round_trips:
        return '<p class="note">No completed round trips.</p>'
    shown = round_trips[:MAX_TABLE_ROWS]
    note = _capped_note(len(shown), len(round_trips), "round trips", "trades.csv")
    return note + _table(header, (_trip_row(t) for t in shown), css_class="trades", key_columns=2)


def _fills_html(fills: Sequence[Fill]) -> str:
    header = ["Time (UTC)", "Symbol", "Side", "Quantity", "Price", "Fee", "Fee currency", "Liquidity"]
    if not fills:
        return '<p class="note">No fills.</p>'
    shown = fills[:MAX_TABLE_ROWS]
    rows = (
        [_iso(f.ts_ms), f.symbol, f.side.value, _display(f.quantity), _display(f.price), _display(f.fee),
         f.fee_currency, f.liquidity.value]
        for f in shown
    )  # fmt: skip
    return _capped_note(len(shown), len(fills), "fills", "fills.csv") + _table(
        header, rows, css_class="fills", key_columns=3
    )


def _warnings_html(warnings: Sequence[str]) -> str:
    if not warnings:
        return '<p class="note">No warnings.</p>'
    return '<ul class="warnings">' + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>"


def _plot_time(ts_ms: int) -> str:
    """A time as plotly.js reads it on a date axis: UTC, no zone suffix (the axis is labelled UTC)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _candles(bars: Sequence[Bar]) -> tuple[int, list[tuple[int, float, float, float, float]]]:
    """Return ``(k, candles)``: runs of ``k`` bars merged so that at most ``MAX_CANDLES`` are left."""
    k = max(1, math.ceil(len(bars) / MAX_CANDLES))
    out = []
    for i in range(0, len(bars), k):
        run = bars[i : i + k]
        out.append((run[0].ts_ms, float(run[0].open), float(max(b.high for b in run)),
                    float(min(b.low for b in run)), float(run[-1].close)))  # fmt: skip
    return k, out


def _fill_markers(go: Any, fills: Sequence[Fill]) -> tuple[int, list[Any]]:
    """Return ``(k, traces)``: buy and sell marker traces of every ``k``-th fill (at most ``MAX_FILL_MARKERS``)."""
    k = max(1, math.ceil(len(fills) / MAX_FILL_MARKERS))
    shown = fills[::k]
    traces = []
    for side, symbol, color in (("buy", "triangle-up", "#1a7f37"), ("sell", "triangle-down", "#b3261e")):
        chosen = [f for f in shown if f.side.value == side]
        traces.append(go.Scatter(
            x=[_plot_time(f.ts_ms) for f in chosen], y=[float(f.price) for f in chosen], mode="markers",
            name=f"{side} fills", marker={"symbol": symbol, "size": 10, "color": color,
                                          "line": {"width": 1, "color": "#1d2330"}},
            text=[f"{side} {_display(f.quantity)} @ {_display(f.price)}, fee {_display(f.fee)} {f.fee_currency}"
                  for f in chosen],
            hoverinfo="x+text",
        ))  # fmt: skip
    return k, traces


def _price_chart(go: Any, prices: PriceBars, fills: Sequence[Fill], n: int) -> str:
    k, candles = _candles(prices.bars)
    mine = [f for f in fills if f.symbol == prices.symbol]
    every, markers = _fill_markers(go, mine)
    fig = go.Figure([
        go.Candlestick(
            x=[_plot_time(c[0]) for c in candles], open=[c[1] for c in candles], high=[c[2] for c in candles],
            low=[c[3] for c in candles], close=[c[4] for c in candles], name=prices.symbol,
        ),
        *markers,
    ])  # fmt: skip
    notes = [f"{len(prices.bars):,} bars at open times (UTC)"]
    if k > 1:
        notes.append(f"every {k} bars merged into one candle")
    if every > 1:
        notes.append(f"every {every}th of {len(mine):,} fills marked")
    fig.update_layout(title=f"{prices.symbol}: {'; '.join(notes)}", xaxis_rangeslider_visible=False,
                      height=480, template="plotly_white", xaxis_title="bar open time (UTC)")  # fmt: skip
    return _figure_html(fig, f"price-chart-{n}", first=n == 0)


def _equity_chart(go: Any, curve: Sequence[EquityPoint], shift_ms: int, first: bool) -> str:
    from plotly.subplots import make_subplots

    drawdowns = drawdown_series(curve)
    equity = _downsample([(p.ts_ms - shift_ms, float(p.equity)) for p in curve], MAX_CHART_POINTS)
    falls = _downsample(
        [(p.ts_ms - shift_ms, -d[1] * 100) for p, d in zip(curve, drawdowns, strict=True)], MAX_CHART_POINTS
    )
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.06,
                        subplot_titles=("Equity (quote currency)", "Drawdown (%)"))  # fmt: skip
    fig.add_trace(go.Scatter(x=[_plot_time(t) for t, _ in equity], y=[v for _, v in equity], name="equity",
                             line={"color": "#1a5fb4"}), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=[_plot_time(t) for t, _ in falls], y=[v for _, v in falls], name="drawdown %",
                             fill="tozeroy", line={"color": "#b3261e"}), row=2, col=1)  # fmt: skip
    label = "bar open time (UTC)" if shift_ms else "time (UTC)"
    fig.update_layout(height=560, template="plotly_white", showlegend=False)
    fig.update_xaxes(title_text=label, row=2, col=1)
    return _figure_html(fig, "equity-chart", first=first, css_class="equity-chart drawdown-chart")


def _figure_html(fig: Any, div_id: str, *, first: bool, css_class: str = "") -> str:
    """The figure as a ``<div>``; the first one of the page carries plotly.js itself (embedded, no network)."""
    body = fig.to_html(full_html=False, include_plotlyjs=first, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})  # fmt: skip
    return f'<div class="chart {css_class}">{body}</div>'


def _shift_ms(prices: Sequence[PriceBars]) -> int:
    """The interval taken off equity close times to label them by bar open time (0: not bar data)."""
    return min((p.bar_ms for p in prices), default=0)


def _write_csvs(
    out_dir: Path,
    round_trips: Sequence[RoundTrip],
    fills: Sequence[Fill],
    equity: Sequence[EquityPoint],
    shift_ms: int,
) -> None:
    with open_private(out_dir / "trades.csv", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRADES_CSV_HEADER)
        for t in round_trips:
            writer.writerow([
                t.symbol, "long" if t.side.sign > 0 else "short", t.entry_ts, _iso(t.entry_ts), t.exit_ts,
                _iso(t.exit_ts), decimal_text(t.quantity), decimal_text(t.entry_price), decimal_text(t.exit_price),
                decimal_text(t.pnl),
                f"{t.return_pct:.6f}", decimal_text(t.fees),
            ])  # fmt: skip
    with open_private(out_dir / "fills.csv", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FILLS_CSV_HEADER)
        for f in fills:
            writer.writerow([
                f.ts_ms, _iso(f.ts_ms), f.symbol, f.side.value, decimal_text(f.quantity), decimal_text(f.price),
                decimal_text(f.notional), decimal_text(f.fee), f.fee_currency, decimal_text(fee_in_quote(f)),
                f.liquidity.value, f.client_order_id, f.trade_id,
            ])  # fmt: skip
    with open_private(out_dir / "equity.csv", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BAR_EQUITY_CSV_HEADER if shift_ms else EQUITY_CSV_HEADER)
        for point, (fall, fall_pct) in zip(equity, drawdown_series(equity), strict=True):
            ts = point.ts_ms - shift_ms
            writer.writerow([ts, _iso(ts), decimal_text(point.equity), decimal_text(fall), f"{fall_pct:.8f}"])


def write_report(
    out_dir: Path,
    *,
    metrics: Metrics,
    round_trips: Sequence[RoundTrip],
    fills: Sequence[Fill],
    equity: Sequence[EquityPoint],
    params: Mapping[str, Any],
    title: str,
    prices: Sequence[PriceBars] = (),
    warnings: Sequence[str] = (),
    swap: bool = False,
) -> Path:
    """Write ``report.html``, ``trades.csv``, ``fills.csv`` and ``equity.csv`` into ``out_dir`` (created if missing).

    Args:
        out_dir: the directory to write into, created ``0700`` if missing; existing files of the same names
            are replaced. Every file is written ``0600`` (owner only): a report shows the strategy's
            parameters and results.
        metrics: the run's metrics (from ``compute_metrics``).
        round_trips: the run's round trips (from ``reconstruct_round_trips``).
        fills: every fill of the run, open positions' too (all in ``fills.csv``, marked on the candles).
        equity: the equity curve, quote currency (sorted here by time); on bar data one point per bar close.
        params: strategy and run parameters to list; values are shown as text (JSON for non-strings).
        title: the page title.
        prices: bar data only: each instrument's bars, one candle chart each; they also make ``equity.csv``
            and the equity chart labelled by bar open time. Empty for quotes/trades data (no candles).
        warnings: one-line messages for the page's warnings section (what went wrong in the run).
        swap: a perpetual swap: the metrics table adds price PnL, funding and liquidations.

    Returns:
        The path of ``report.html``.
    """
    import plotly.graph_objects as go

    private_dir(out_dir)
    curve = sorted(equity, key=lambda p: p.ts_ms)
    ordered = sorted(fills, key=lambda f: f.ts_ms)  # stable: execution order within a millisecond
    shift = _shift_ms(prices)
    _write_csvs(out_dir, round_trips, ordered, curve, shift)
    charts = [_price_chart(go, p, ordered, n) for n, p in enumerate(prices)]
    if not prices:
        charts.append('<p class="note">No price chart: candles are drawn for bar data.</p>')
    charts.append(_equity_chart(go, curve, shift, first=not prices))
    metric_rows = _metric_rows(metrics, swap)
    param_rows = [(str(key), _param_text(value)) for key, value in params.items()]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">{len(fills):,} fills · trade fingerprint <code>{trade_fingerprint(fills)}</code></p>'
        f"<h2>Warnings ({len(warnings)})</h2>{_warnings_html(warnings)}"
        f"<h2>Charts</h2>{''.join(charts)}"
        f"<h2>Metrics</h2>{_table(['Metric', 'Value'], metric_rows, css_class='metrics')}"
        f"<h2>Parameters</h2>{_table(['Parameter', 'Value'], param_rows, css_class='params')}"
        f"<h2>Round trips ({len(round_trips):,})</h2>{_trades_html(round_trips)}"
        f"<h2>Fills ({len(fills):,})</h2>{_fills_html(ordered)}"
        "</body></html>\n"
    )
    path = out_dir / "report.html"
    with open_private(path) as handle:
        handle.write(page)
    return path
