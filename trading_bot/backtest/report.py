"""Backtest reports: a self-contained HTML page, CSV files, and a plain-text metrics table.

``write_report`` writes into ``out_dir``:

- ``report.html``: one file that opens offline (inline CSS, inline SVG charts, no scripts): an equity
  chart, a drawdown chart (each downsampled to at most ``MAX_CHART_POINTS`` points, keeping each
  bucket's low and high so spikes stay visible), the metrics table, the parameters table, the trade
  fingerprint and the round-trip table (the first ``MAX_TRADE_ROWS`` rows, with a note when capped).
  Every piece of text is escaped with ``html.escape``.
- ``trades.csv``: every round trip, one per row.
- ``equity.csv``: ``ts_ms, time_utc, equity, drawdown, drawdown_pct`` per equity point; ``drawdown``
  is the fall below the running peak in quote currency, ``drawdown_pct`` the same as a fraction.

CSV numbers are exact Decimal text (no exponent); times are ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_bot.backtest.metrics import EquityPoint
from trading_bot.backtest.metrics import Metrics
from trading_bot.backtest.metrics import RoundTrip
from trading_bot.backtest.metrics import drawdown_series
from trading_bot.domain import Fill
from trading_bot.domain import decimal_text
from trading_bot.domain.fingerprint import trade_fingerprint
from trading_bot.files import open_private
from trading_bot.files import private_dir

__all__ = [
    "EQUITY_CSV_HEADER",
    "MAX_CHART_POINTS",
    "MAX_TRADE_ROWS",
    "TRADES_CSV_HEADER",
    "format_metrics_table",
    "write_report",
]

MAX_CHART_POINTS = 2_000
"""Most points drawn per chart."""
MAX_TRADE_ROWS = 1_000
"""Most round trips listed in the HTML table (``trades.csv`` has them all)."""

TRADES_CSV_HEADER = (
    "symbol", "side", "entry_ts", "entry_time", "exit_ts", "exit_time", "quantity",
    "entry_price", "exit_price", "pnl", "return_pct", "fees",
)  # fmt: skip
EQUITY_CSV_HEADER = ("ts_ms", "time_utc", "equity", "drawdown", "drawdown_pct")

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

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;background:#fff}
th,td{border:1px solid #d8dde6;padding:.25rem .6rem;text-align:right}
th{background:#eef1f6}td.k,th.k{text-align:left}
.note{color:#5f6673;font-size:.85rem}
svg{background:#fff;border:1px solid #d8dde6;max-width:100%;height:auto}
code{font-size:.85rem}
"""

_W, _H = 960, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 80, 16, 24, 32


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


def format_metrics_table(metrics: Metrics) -> str:
    """Return the metrics as plain, aligned two-column text for a terminal (one metric per line)."""
    rows = [(label, _format_value(getattr(metrics, name), kind)) for name, label, kind in _METRIC_ROWS]
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


def _svg_chart(points: Sequence[tuple[int, float]], *, css_class: str, label: str, color: str, unit: str) -> str:
    head = (
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}" role="img" aria-label="{html.escape(label)}">'
        f"<title>{html.escape(label)}</title>"
    )
    if not points:
        return head + f'<text x="{_W // 2}" y="{_H // 2}" text-anchor="middle">no data</text></svg>'
    drawn = _downsample(points, MAX_CHART_POINTS)
    t0, t1 = points[0][0], points[-1][0]
    v_low, v_high = min(p[1] for p in drawn), max(p[1] for p in drawn)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(ts: int) -> float:
        return _LEFT + ((ts - t0) / (t1 - t0) * plot_w if t1 > t0 else 0.0)

    def y(value: float) -> float:
        return _TOP + ((v_high - value) / (v_high - v_low) * plot_h if v_high > v_low else plot_h / 2)

    coords = " ".join(f"{x(ts):.1f},{y(v):.1f}" for ts, v in drawn)
    base_y = _TOP + plot_h
    return (
        head
        + f'<line x1="{_LEFT}" y1="{base_y}" x2="{_W - _RIGHT}" y2="{base_y}" stroke="#9aa3b2"/>'
        + f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base_y}" stroke="#9aa3b2"/>'
        + f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end" font-size="11">'
        + f"{html.escape(f'{v_high:,.2f}{unit}')}</text>"
        + f'<text x="{_LEFT - 6}" y="{base_y}" text-anchor="end" font-size="11">'
        + f"{html.escape(f'{v_low:,.2f}{unit}')}</text>"
        + f'<text x="{_LEFT}" y="{_H - 10}" font-size="11">{html.escape(_iso(t0))}</text>'
        + f'<text x="{_W - _RIGHT}" y="{_H - 10}" text-anchor="end" font-size="11">{html.escape(_iso(t1))}</text>'
        + f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/></svg>'
    )


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


def _trades_html(round_trips: Sequence[RoundTrip]) -> str:
    header = ["Symbol", "Side", "Entry (UTC)", "Exit (UTC)", "Quantity", "Entry price", "Exit price",
              "PnL (net)", "Return %", "Fees"]  # fmt: skip
    shown = round_trips[:MAX_TRADE_ROWS]
    note = ""
    if len(round_trips) > MAX_TRADE_ROWS:
        note = (
            f'<p class="note">Showing the first {MAX_TRADE_ROWS:,} of {len(round_trips):,} round trips; '
            "all of them are in trades.csv.</p>"
        )
    if not round_trips:
        return '<p class="note">No completed round trips.</p>'
    return note + _table(header, (_trip_row(t) for t in shown), css_class="trades", key_columns=2)


def _write_csvs(out_dir: Path, round_trips: Sequence[RoundTrip], equity: Sequence[EquityPoint]) -> None:
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
    with open_private(out_dir / "equity.csv", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EQUITY_CSV_HEADER)
        for point, (fall, fall_pct) in zip(equity, drawdown_series(equity), strict=True):
            writer.writerow(
                [point.ts_ms, _iso(point.ts_ms), decimal_text(point.equity), decimal_text(fall), f"{fall_pct:.8f}"]
            )


def write_report(
    out_dir: Path,
    *,
    metrics: Metrics,
    round_trips: Sequence[RoundTrip],
    fills: Sequence[Fill],
    equity: Sequence[EquityPoint],
    params: Mapping[str, Any],
    title: str,
) -> Path:
    """Write ``report.html``, ``trades.csv`` and ``equity.csv`` into ``out_dir`` (created if missing).

    Args:
        out_dir: the directory to write into, created ``0700`` if missing; existing files of the same names
            are replaced. Every file is written ``0600`` (owner only): a report shows the strategy's
            parameters and results.
        metrics: the run's metrics (from ``compute_metrics``).
        round_trips: the run's round trips (from ``reconstruct_round_trips``).
        fills: the run's fills (counted and fingerprinted in the report).
        equity: the equity curve, quote currency (sorted here by time).
        params: strategy and run parameters to list; values are shown as text (JSON for non-strings).
        title: the page title.

    Returns:
        The path of ``report.html``.
    """
    private_dir(out_dir)
    curve = sorted(equity, key=lambda p: p.ts_ms)
    _write_csvs(out_dir, round_trips, curve)
    drawdowns = drawdown_series(curve)
    equity_chart = _svg_chart(
        [(p.ts_ms, float(p.equity)) for p in curve], css_class="equity-chart", label="Equity", color="#1a5fb4", unit=""
    )
    drawdown_chart = _svg_chart(
        [(p.ts_ms, -d[1] * 100) for p, d in zip(curve, drawdowns, strict=True)],
        css_class="drawdown-chart", label="Drawdown (%)", color="#b3261e", unit=" %",
    )  # fmt: skip
    metric_rows = [(label, _format_value(getattr(metrics, name), kind)) for name, label, kind in _METRIC_ROWS]
    param_rows = [(str(key), _param_text(value)) for key, value in params.items()]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">{len(fills):,} fills · trade fingerprint <code>{trade_fingerprint(fills)}</code></p>'
        f"<h2>Equity</h2>{equity_chart}<h2>Drawdown</h2>{drawdown_chart}"
        f"<h2>Metrics</h2>{_table(['Metric', 'Value'], metric_rows, css_class='metrics')}"
        f"<h2>Parameters</h2>{_table(['Parameter', 'Value'], param_rows, css_class='params')}"
        f"<h2>Round trips ({len(round_trips):,})</h2>{_trades_html(round_trips)}"
        "</body></html>\n"
    )
    path = out_dir / "report.html"
    with open_private(path) as handle:
        handle.write(page)
    return path
