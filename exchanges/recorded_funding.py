"""Funding rates of a perpetual swap from recorded files, and the schedule's input (``exchanges.sim.funding``).

Two file shapes (``exchanges.recorded`` kind ``funding``; CSV or CSV.gz):

* ``timestamp,funding_rate`` — the realized rate at each funding time (epoch ms UTC; Binance stamps
  them a few milliseconds after the hour, e.g. ``1637193600017``): each row is one funding;
* Binance's ``@markPrice`` capture, ``timestamp,mark_price,...,funding_rate,next_funding_time`` — a
  predicted rate every second: the funding at time ``T`` is the last rate seen while
  ``next_funding_time`` was ``T`` (the stream moves on to the next ``T`` once ``T`` has settled). Its
  mark prices are read too (``mark_prices``).

Rates are fractions per funding interval (0.0001 = 0.01 %); a rate outside ±3 % is refused as a typo (Binance's
cap on any symbol is far below). Rows must be ascending in time; a bad row is a ``DataError`` naming ``file:line``.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path

from exchanges.recorded import columns_kind
from exchanges.sim.funding import MAX_FUNDING_RATE
from exchanges.sim.funding import FundingRate
from trading_bot.domain.checks import MAX_TS_MS
from trading_bot.errors import DataError
from trading_bot.files import open_data_text

__all__ = ["mark_prices", "read_funding"]


def _decimal(path: Path, line: int, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DataError(f"{path}:{line}: {name} {text!r} is not a number") from None
    if not value.is_finite():
        raise DataError(f"{path}:{line}: {name} {text!r} is not a finite number")
    return value


def _ms(path: Path, line: int, name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise DataError(f"{path}:{line}: {name} {text!r} is not epoch milliseconds") from None
    if not 0 < value <= MAX_TS_MS:
        raise DataError(f"{path}:{line}: {name} {value} is outside 1970–2100 in epoch milliseconds")
    return value


def read_funding(path: Path) -> list[FundingRate]:
    """Return the funding times and rates of ``path``, ascending (see the module docstring).

    Raises:
        DataError: unreadable file, unknown columns, a bad value, a rate beyond ±3 %, or times out of order.
    """
    with open_data_text(path, "funding file") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}:1: empty file, expected a CSV header")
        kind, cols = columns_kind(path, header)
        if kind != "funding":
            raise DataError(f"{path}:1: holds {kind}, not funding rates (timestamp,funding_rate)")
        t, r = cols["timestamp"], cols["funding_rate"]
        nxt = cols.get("next_funding_time")
        out: list[FundingRate] = []
        pending: FundingRate | None = None
        last_ts = 0
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                ts = _ms(path, line, "timestamp", row[t])
                rate = _decimal(path, line, "funding_rate", row[r])
                due = None if nxt is None else _ms(path, line, "next_funding_time", row[nxt])
            except IndexError:
                raise DataError(f"{path}:{line}: {len(row)} columns, the header has {len(header)}") from None
            if abs(rate) > MAX_FUNDING_RATE:
                raise DataError(f"{path}:{line}: funding_rate {rate} is beyond ±{MAX_FUNDING_RATE} per interval")
            if ts < last_ts:
                raise DataError(f"{path}:{line}: timestamp {ts} is before the previous row's {last_ts}")
            last_ts = ts
            if due is None:
                if out and out[-1].ts_ms == ts:
                    raise DataError(f"{path}:{line}: a second funding at {ts}")
                out.append(FundingRate(ts, rate))
                continue
            if pending is not None and due != pending.ts_ms and ts >= pending.ts_ms:
                out.append(pending)  # the stream moved on: the last prediction was the settled rate
            pending = FundingRate(due, rate)
        return out


def mark_prices(path: Path) -> list[tuple[int, Decimal]]:
    """Return ``(timestamp ms, mark price)`` of a ``@markPrice`` capture (empty for a plain funding file).

    Raises:
        DataError: as ``read_funding``, or a mark price that is not > 0.
    """
    with open_data_text(path, "funding file") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return []
        _, cols = columns_kind(path, header)
        if "mark_price" not in cols:
            return []
        t, m = cols["timestamp"], cols["mark_price"]
        out: list[tuple[int, Decimal]] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            price = _decimal(path, line, "mark_price", row[m])
            if price <= 0:
                raise DataError(f"{path}:{line}: mark_price {price} must be > 0")
            out.append((_ms(path, line, "timestamp", row[t]), price))
        return out
