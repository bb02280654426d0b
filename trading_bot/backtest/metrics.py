"""Backtest metrics: a pure function of the fills and the equity curve.

Decimal money in, float statistics out: money figures (equity, PnL, fees, drawdown in quote currency)
stay exact ``Decimal``; ratio statistics (returns, volatility, Sharpe, Sortino, Calmar, rates) are
``float``, since they are estimates, not amounts anybody pays. A statistic that is undefined for the
input (no trades, zero volatility, a single equity point) is ``None``, never ``inf`` or ``NaN``.

Round trips are rebuilt from the fills per symbol. A round trip starts when the position leaves zero
and ends when it returns to zero: adding to the position, or closing part of it, stays inside the same
round trip. Closing fills are matched to the open lots first in, first out. A fill that crosses zero
(long 1, sell 3) is split: the closing part ends the round trip, the rest opens the next one in the
other direction, and the fill's fee is shared in proportion to quantity. A position still open after
the last fill is not a round trip (its fees still count in ``Metrics.fees_paid``).

Fees are converted to quote currency: a fee in the symbol's base currency is multiplied by the fill
price; any other fee currency (quote, empty, or a third currency such as BNB) is taken at face value.
"""

from __future__ import annotations

import itertools
import math
import statistics
from array import array
from collections import Counter
from collections import deque
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields
from decimal import Decimal
from typing import Any

from trading_bot.backtest.curve import EquityCurve
from trading_bot.backtest.curve import EquityPoint
from trading_bot.domain import ZERO
from trading_bot.domain import Fill
from trading_bot.domain import OrderSide
from trading_bot.domain import decimal_text

__all__ = [
    "MIN_CALENDAR_SPAN_MS",
    "MS_PER_DAY",
    "MS_PER_YEAR",
    "TRADING_DAYS_PER_YEAR",
    "WEEKEND_SHARE_LIMIT",
    "EquityCurve",
    "EquityPoint",
    "Metrics",
    "RoundTrip",
    "compute_metrics",
    "drawdown_series",
    "fee_in_quote",
    "infer_periods_per_year",
    "reconstruct_round_trips",
]

MS_PER_DAY = 24 * 60 * 60 * 1000
"""Milliseconds in a day."""
MS_PER_YEAR = 365 * MS_PER_DAY
"""Milliseconds in a 365-day year: the calendar of 24/7 data."""
TRADING_DAYS_PER_YEAR = 252
"""Trading days in a year of weekday-only data (weekdays less exchange holidays, the usual convention)."""
WEEKEND_SHARE_LIMIT = 0.10
"""Below this fraction of points on Saturdays and Sundays (UTC), data is weekday-only (24/7 data: 2/7)."""
MIN_CALENDAR_SPAN_MS = 7 * MS_PER_DAY
"""The shortest curve whose calendar is told from its dates; a shorter one is taken as 24/7."""

_EPSILON = 1e-12  # a standard deviation at or below this is treated as zero


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrip:
    """One flat-to-flat trade rebuilt from fills.

    Attributes:
        symbol: the market traded.
        side: ``BUY`` for a long round trip, ``SELL`` for a short one.
        entry_ts: time of the first opening fill, epoch ms UTC.
        exit_ts: time of the fill that brought the position back to zero, epoch ms UTC.
        quantity: total base quantity opened (equal to the total closed).
        entry_price: volume-weighted average price of the opening fills, quote per base.
        exit_price: volume-weighted average price of the closing fills, quote per base.
        pnl: realized PnL net of ``fees``, quote currency.
        return_pct: ``pnl`` over the entry notional (``entry_price × quantity``), in percent (5.0 = 5 %).
        fees: fees of the opening and closing fills (split fills pro rata), quote currency.
    """

    symbol: str
    side: OrderSide
    entry_ts: int
    exit_ts: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    return_pct: float
    fees: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Summary statistics of one backtest (or paper/live run).

    Fractions are plain ratios (0.1 = 10 %). ``None`` means undefined for the input.

    Attributes:
        start_equity: the starting cash, quote currency.
        end_equity: the last equity point (the starting cash if there is none), quote currency.
        net_profit: ``end_equity - start_equity``, quote currency.
        total_return: ``end_equity / start_equity - 1``, fraction.
        cagr: compound annual growth rate, the curve's periods counted in years of ``periods_per_year``, fraction.
        volatility: annualised standard deviation (sample) of per-point returns, fraction.
        sharpe: annualised mean over standard deviation of per-point returns, risk-free rate 0.
        sortino: annualised mean over downside deviation (target 0) of per-point returns.
        calmar: ``cagr / max_drawdown_pct``.
        max_drawdown: largest peak-to-trough fall of equity, quote currency (>= 0).
        max_drawdown_pct: largest peak-to-trough fall relative to the peak, fraction (>= 0).
        max_drawdown_duration_ms: longest time from a peak until equity first reaches it again (or the
            last point, if it never does), milliseconds.
        win_rate: fraction of round trips with ``pnl > 0``.
        profit_factor: gross profit over gross loss of round trips (``None`` without a losing trade).
        expectancy: mean round-trip ``pnl``, quote currency.
        exposure: fraction of the equity curve's time span with a non-zero position in any symbol.
        trade_count: number of completed round trips.
        fill_count: number of fills.
        fees_paid: fees of all fills, quote currency.
        funding: swaps: funding received (+) or paid (−) over the run, quote (settle) currency; 0 on spot.
        price_pnl: the PnL of the prices alone, before fees and funding: ``net_profit + fees_paid − funding``.
        liquidations: swaps: positions the simulator liquidated.
        buy_and_hold_return: the caller's buy-and-hold return over the same period, fraction.
        periods_per_year: equity points per year used to annualise (given, or inferred from the data's calendar).
        start_ts_ms: first equity point's time, epoch ms UTC.
        end_ts_ms: last equity point's time, epoch ms UTC.
    """

    start_equity: Decimal
    end_equity: Decimal
    net_profit: Decimal
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: Decimal
    max_drawdown_pct: float
    max_drawdown_duration_ms: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: Decimal | None
    exposure: float | None
    trade_count: int
    fill_count: int
    fees_paid: Decimal
    funding: Decimal
    price_pnl: Decimal
    liquidations: int
    buy_and_hold_return: float | None
    periods_per_year: float | None
    start_ts_ms: int | None
    end_ts_ms: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict: Decimals as strings, floats to 8 significant digits, None kept."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                out[f.name] = decimal_text(value)
            elif isinstance(value, float):
                out[f.name] = float(f"{value:.8g}") if math.isfinite(value) else None
            else:
                out[f.name] = value
        return out


def fee_in_quote(fill: Fill) -> Decimal:
    """Return the fill's fee in quote currency (a base-currency fee is converted at the fill price)."""
    return fill.fee * fill.price if fill.fee_in_base else fill.fee


class _Cycle:
    """Accumulates one flat-to-flat round trip of one symbol."""

    __slots__ = (
        "closed_notional",
        "closed_qty",
        "direction",
        "entry_ts",
        "fees",
        "gross",
        "lots",
        "opened_notional",
        "opened_qty",
    )

    def __init__(self, direction: int, entry_ts: int) -> None:
        self.direction = direction
        self.entry_ts = entry_ts
        self.lots: deque[list[Decimal]] = deque()  # [quantity, price], oldest first
        self.opened_qty = ZERO
        self.opened_notional = ZERO
        self.closed_qty = ZERO
        self.closed_notional = ZERO
        self.fees = ZERO
        self.gross = ZERO

    def open(self, quantity: Decimal, price: Decimal, fee: Decimal) -> None:
        self.lots.append([quantity, price])
        self.opened_qty += quantity
        self.opened_notional += quantity * price
        self.fees += fee

    def close(self, quantity: Decimal, price: Decimal, fee: Decimal) -> None:
        remaining = quantity
        while remaining > 0:
            lot = self.lots[0]
            matched = min(lot[0], remaining)
            self.gross += (price - lot[1]) * matched * self.direction
            lot[0] -= matched
            remaining -= matched
            if lot[0] == 0:
                self.lots.popleft()
        self.closed_qty += quantity
        self.closed_notional += quantity * price
        self.fees += fee

    @property
    def open_quantity(self) -> Decimal:
        return self.opened_qty - self.closed_qty

    def finish(self, symbol: str, exit_ts: int) -> RoundTrip:
        entry_price = self.opened_notional / self.opened_qty
        pnl = self.gross - self.fees
        return RoundTrip(
            symbol=symbol,
            side=OrderSide.BUY if self.direction > 0 else OrderSide.SELL,
            entry_ts=self.entry_ts,
            exit_ts=exit_ts,
            quantity=self.opened_qty,
            entry_price=entry_price,
            exit_price=self.closed_notional / self.closed_qty,
            pnl=pnl,
            return_pct=float(pnl / self.opened_notional * 100) if self.opened_notional else 0.0,
            fees=self.fees,
        )


def reconstruct_round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Rebuild completed round trips from fills, in the order they closed (see the module docstring).

    Args:
        fills: fills in execution order (ties keep their given order); quantities must be > 0.

    Returns:
        The completed round trips; an open position at the end contributes none.

    Raises:
        ValueError: a fill has a quantity <= 0.
    """
    cycles: dict[str, _Cycle] = {}
    trips: list[RoundTrip] = []
    for fill in sorted(fills, key=lambda f: f.ts_ms):
        if fill.quantity <= 0:
            raise ValueError(f"fill {fill.trade_id}: quantity must be > 0, got {fill.quantity}")
        fee = fee_in_quote(fill)
        sign = fill.side.sign
        cycle = cycles.get(fill.symbol)
        if cycle is None:
            cycle = cycles[fill.symbol] = _Cycle(sign, fill.ts_ms)
        if cycle.direction == sign:
            cycle.open(fill.quantity, fill.price, fee)
            continue
        closing = min(fill.quantity, cycle.open_quantity)
        cycle.close(closing, fill.price, fee * closing / fill.quantity)
        if cycle.open_quantity != 0:
            continue
        trips.append(cycle.finish(fill.symbol, fill.ts_ms))
        del cycles[fill.symbol]
        rest = fill.quantity - closing
        if rest > 0:
            flipped = cycles[fill.symbol] = _Cycle(sign, fill.ts_ms)
            flipped.open(rest, fill.price, fee * rest / fill.quantity)
    return trips


def drawdown_series(equity: Sequence[EquityPoint]) -> list[tuple[Decimal, float]]:
    """Return, per equity point, the drawdown from the running peak.

    Args:
        equity: the equity curve in time order.

    Returns:
        ``(absolute, relative)`` per point: the fall below the running peak in quote currency (>= 0)
        and as a fraction of that peak (0.0 while the peak is not positive).
    """
    out: list[tuple[Decimal, float]] = []
    peak: Decimal | None = None
    for point in equity:
        if peak is None or point.equity > peak:
            peak = point.equity
        fall = peak - point.equity
        out.append((fall, float(fall / peak) if peak > 0 else 0.0))
    return out


def infer_periods_per_year(equity: Sequence[EquityPoint]) -> float | None:
    """Return the periods per year of the data's calendar, or None if it cannot be told.

    Each equity point marks the end of its period (a bar's close time, or the time of the event a
    quotes/trades curve was sampled at), so a point belongs to the UTC date of ``ts_ms - 1``: a Friday
    daily bar, closing Saturday 00:00, is a Friday. With ``gap`` the median spacing of the points:

    * **24/7 data** (the default): ``MS_PER_YEAR / gap``, 365 days' worth of periods (1d → 365,
      1h → 8,760, 1m → 525,600);
    * **weekday-only data**: fewer than ``WEEKEND_SHARE_LIMIT`` (10 %) of the points fall on a Saturday or
      Sunday (24/7 data has 2/7 ≈ 28.6 %) and the points span at least ``MIN_CALENDAR_SPAN_MS`` (one week,
      so that a weekend was there to be seen). Then, for ``gap`` up to one day,
      ``TRADING_DAYS_PER_YEAR`` (252) × the median number of points per active date: daily bars → 252, a
      6.5-hour session of 1m bars (390 a day) → 98,280, of 1h bars (7 a day) → 1,764. A ``gap`` above a day
      (weekly, monthly bars) has no sessions to count and keeps ``MS_PER_YEAR / gap``.

    Args:
        equity: the equity curve in time order.

    Returns:
        Periods per year, or None with fewer than two points or a zero median spacing.
    """
    return _periods_per_year(equity.times if isinstance(equity, EquityCurve) else [p.ts_ms for p in equity])


def _periods_per_year(times: Sequence[int]) -> float | None:
    """``infer_periods_per_year`` of the points' times (ascending); counts, not lists, of the gaps and dates."""
    gaps = Counter(b - a for a, b in itertools.pairwise(times))
    if not gaps:
        return None
    median = _median(gaps)
    if median <= 0:
        return None
    calendar = MS_PER_YEAR / median
    if median > MS_PER_DAY or times[-1] - times[0] < MIN_CALENDAR_SPAN_MS:
        return calendar
    per_date = Counter((ts - 1) // MS_PER_DAY for ts in times)
    # 1970-01-01 (day 0) was a Thursday: day % 7 is 2 on Saturdays and 3 on Sundays
    weekend = sum(count for day, count in per_date.items() if day % 7 in (2, 3))
    if weekend >= WEEKEND_SHARE_LIMIT * len(times):
        return calendar
    return TRADING_DAYS_PER_YEAR * float(statistics.median(per_date.values()))


def _median(counts: Counter[int]) -> float:
    """``statistics.median`` of the values counted in ``counts`` (each value ``counts[value]`` times)."""
    total = sum(counts.values())
    wanted = (total - 1) // 2, total // 2  # the middle one, or the two middle ones
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while len(found) < 2 and wanted[len(found)] < seen:
            found.append(value)
        if len(found) == 2:
            break
    return found[0] if total % 2 else (found[0] + found[1]) / 2


def _max_drawdown_duration(equity: Sequence[EquityPoint]) -> int:
    if not equity:
        return 0
    scaled = equity.scaled() if isinstance(equity, EquityCurve) else None
    times = equity.times if isinstance(equity, EquityCurve) else [p.ts_ms for p in equity]
    values: Iterable[Decimal | int] = scaled if scaled is not None else (p.equity for p in equity)
    longest = 0
    peak: Decimal | int | None = None
    peak_ts, underwater = times[0], False
    for ts, value in zip(times, values, strict=True):
        if peak is None or value >= peak:
            if underwater:
                longest = max(longest, ts - peak_ts)
            peak, peak_ts, underwater = value, ts, False
        else:
            underwater = True
    if underwater:
        longest = max(longest, times[-1] - peak_ts)
    return longest


def _returns(values: Sequence[float]) -> array[float]:
    """Per-step simple returns of the equity values (as floats); a step from a non-positive value is skipped."""
    return array("d", (b / a - 1.0 for a, b in itertools.pairwise(values) if a > 0))


def _max_drawdowns(equity: Sequence[EquityPoint], values: Sequence[float]) -> tuple[Decimal, float]:
    """Return the largest fall below the running peak: exact in quote currency, and relative to its peak."""
    max_fall = _max_fall(equity)
    max_pct, peak_value = 0.0, -math.inf
    for value in values:
        if value > peak_value:
            peak_value = value
        elif peak_value > 0 and 1.0 - value / peak_value > max_pct:
            max_pct = 1.0 - value / peak_value
    return max_fall, max_pct


def _max_fall(equity: Sequence[EquityPoint]) -> Decimal:
    """The largest ``peak - equity`` (the first such pair's exact ``Decimal`` difference), ``ZERO`` if none."""
    scaled = equity.scaled() if isinstance(equity, EquityCurve) else None
    if scaled is None:
        max_fall, peak = ZERO, None
        for point in equity:
            if peak is None or point.equity > peak:
                peak = point.equity
            elif peak - point.equity > max_fall:
                max_fall = peak - point.equity
        return max_fall
    return _max_fall_scaled(equity, scaled)


def _max_fall_scaled(equity: Sequence[EquityPoint], scaled: Iterator[int]) -> Decimal:
    """``_max_fall`` by exact integer comparisons; only the winning pair becomes ``Decimal``s."""
    best, best_at = 0, None
    peak, peak_at = None, 0
    for i, value in enumerate(scaled):
        if peak is None or value > peak:
            peak, peak_at = value, i
        elif peak - value > best:
            best, best_at = peak - value, (peak_at, i)
    if best_at is None:
        return ZERO
    return equity[best_at[0]].equity - equity[best_at[1]].equity


def _exposure(fills: Sequence[Fill], start: int, end: int) -> float | None:
    if end <= start:
        return None
    positions: dict[str, Decimal] = {}
    changes: list[tuple[int, bool]] = []
    for fill in sorted(fills, key=lambda f: f.ts_ms):
        positions[fill.symbol] = positions.get(fill.symbol, ZERO) + fill.side.sign * fill.quantity
        exposed = any(qty != 0 for qty in positions.values())
        if changes and changes[-1][0] == fill.ts_ms:
            changes[-1] = (fill.ts_ms, exposed)
        else:
            changes.append((fill.ts_ms, exposed))
    exposed_ms = 0
    for i, (ts, exposed) in enumerate(changes):
        seg_end = min(changes[i + 1][0] if i + 1 < len(changes) else end, end)
        seg_start = max(ts, start)
        if exposed and seg_end > seg_start:
            exposed_ms += seg_end - seg_start
    return exposed_ms / (end - start)


def _risk_ratios(
    returns: Sequence[float], periods_per_year: float | None
) -> tuple[float | None, float | None, float | None]:
    if periods_per_year is None or len(returns) < 2:
        return None, None, None
    root = math.sqrt(periods_per_year)
    mean = math.fsum(returns) / len(returns)
    stdev = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))  # sample stdev
    volatility = stdev * root
    sharpe = mean / stdev * root if stdev > _EPSILON else None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    sortino = mean / downside * root if downside > _EPSILON else None
    return volatility, sharpe, sortino


def _cagr(start: Decimal, end: Decimal, periods: int, periods_per_year: float | None) -> float | None:
    """``(end / start) ** (periods_per_year / periods) - 1``: growth per year of ``periods_per_year`` periods."""
    if periods_per_year is None or periods <= 0 or start <= 0 or end <= 0:
        return None
    try:
        growth: float = float(end / start) ** (periods_per_year / periods)
    except OverflowError:  # a span of minutes annualised: meaningless, not infinite
        return None
    return growth - 1.0


def _trade_stats(trips: Sequence[RoundTrip]) -> tuple[float | None, float | None, Decimal | None]:
    if not trips:
        return None, None, None
    wins = [t.pnl for t in trips if t.pnl > 0]
    losses = [t.pnl for t in trips if t.pnl < 0]
    win_rate = len(wins) / len(trips)
    gross_loss = -sum(losses, ZERO)
    profit_factor = float(sum(wins, ZERO) / gross_loss) if gross_loss > 0 else None
    expectancy = sum((t.pnl for t in trips), ZERO) / len(trips)
    return win_rate, profit_factor, expectancy


def compute_metrics(
    fills: Sequence[Fill],
    equity: Sequence[EquityPoint],
    *,
    starting_cash: Decimal,
    buy_and_hold_return: float | None,
    periods_per_year: float | None = None,
    round_trips: Sequence[RoundTrip] | None = None,
    funding: Decimal = ZERO,
    liquidations: int = 0,
) -> Metrics:
    """Compute the summary statistics of a run; pure, the inputs are not changed.

    Per-point returns come from consecutive equity points (a step from a non-positive equity is
    skipped). Annualisation uses ``periods_per_year`` or, when None, the data's calendar
    (``infer_periods_per_year``: 24/7 → 365 days' worth of periods, weekday-only daily → 252). With
    ``P`` periods per year, ``N`` returns ``r`` (one fewer than the points), their mean ``m`` and sample
    standard deviation ``s`` (``N - 1`` in the denominator):

    * volatility = ``s × √P``; Sharpe = ``m / s × √P`` (risk-free rate 0);
    * Sortino = ``m / d × √P`` with the downside deviation ``d = √(Σ min(r, 0)² / N)`` (target 0, every
      return counted in ``N``);
    * CAGR = ``(end / start) ^ (P / N) - 1``: the curve covers ``N / P`` years (``start`` = the starting cash);
    * max drawdown = the largest ``1 - equity / running peak``.

    These are quantstats' definitions (``sharpe``, ``sortino``, ``volatility``, ``cagr`` with
    ``periods=P``, ``max_drawdown``), checked against it in ``tests/unit/backtest/test_metrics_quantstats.py``.

    Args:
        fills: every fill of the run, in execution order.
        equity: the equity curve (sorted here by time), quote currency.
        starting_cash: the equity the run started with, quote currency; the base of ``total_return``.
        buy_and_hold_return: the benchmark's return over the same period as a fraction, or None.
        periods_per_year: equity points per year (e.g. 8760 for hourly 24/7 bars, 252 for weekday daily bars);
            inferred from the curve's calendar when None.
        round_trips: ``reconstruct_round_trips(fills)`` when the caller has it already; rebuilt when None.
        funding: swaps: the funding settled over the run (already inside the equity), quote currency.
        liquidations: swaps: how many positions were liquidated.

    Returns:
        The ``Metrics``; undefined statistics are None.
    """
    curve = equity if isinstance(equity, EquityCurve) else sorted(equity, key=lambda p: p.ts_ms)  # it is in order
    end_equity = curve[-1].equity if curve else starting_cash
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(curve)
    values = curve.floats if isinstance(curve, EquityCurve) else array("d", (float(p.equity) for p in curve))
    volatility, sharpe, sortino = _risk_ratios(_returns(values), ppy)
    max_dd, max_dd_pct = _max_drawdowns(curve, values)
    cagr = _cagr(starting_cash, end_equity, len(curve) - 1, ppy)
    trips = reconstruct_round_trips(fills) if round_trips is None else round_trips
    win_rate, profit_factor, expectancy = _trade_stats(trips)
    fees_paid = sum((fee_in_quote(f) for f in fills), ZERO)
    return Metrics(
        start_equity=starting_cash,
        end_equity=end_equity,
        net_profit=end_equity - starting_cash,
        total_return=float(end_equity / starting_cash) - 1.0 if starting_cash > 0 else None,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=cagr / max_dd_pct if cagr is not None and max_dd_pct > 0 else None,
        max_drawdown=max_dd,
        max_drawdown_pct=max_dd_pct,
        max_drawdown_duration_ms=_max_drawdown_duration(curve),
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        exposure=_exposure(fills, curve[0].ts_ms, curve[-1].ts_ms) if curve else None,
        trade_count=len(trips),
        fill_count=len(fills),
        fees_paid=fees_paid,
        funding=funding,
        price_pnl=end_equity - starting_cash + fees_paid - funding,
        liquidations=liquidations,
        buy_and_hold_return=buy_and_hold_return,
        periods_per_year=ppy,
        start_ts_ms=curve[0].ts_ms if curve else None,
        end_ts_ms=curve[-1].ts_ms if curve else None,
    )
