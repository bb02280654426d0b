"""Impossible market-data records, one per clause of ``trading_bot.domain.checks``, as CSV rows.

Each entry is ``(row, reason)``: a data row in the columns below and a fragment of the reason every
reader must give for it (after ``<file>:<line>: ``). The readers' tests write them into small files
(``write_rows``); ``BAD_RECORDS`` holds every case as ``pytest.param(header, good_row, bad_row, reason)``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

__all__ = [
    "BAD_BARS",
    "BAD_QUOTES",
    "BAD_RECORDS",
    "BAD_TRADES",
    "BARS_HEADER",
    "GOOD_BAR",
    "GOOD_QUOTE",
    "GOOD_TRADE",
    "QUOTES_HEADER",
    "TRADES_HEADER",
    "write_rows",
]

TS = 1_723_161_254_087  # 2024-08-08, epoch ms
QUOTES_HEADER = "timestamp,bid_price,bid_size,ask_price,ask_size"
TRADES_HEADER = "timestamp,price,quantity,side,trade_id"
BARS_HEADER = "timestamp,open,high,low,close,volume"

GOOD_QUOTE = f"{TS},100.0,1,100.1,2"
GOOD_TRADE = f"{TS},100.0,0.5,buy,1"
GOOD_BAR = f"{TS},100,101,99,100.5,10"

BAD_QUOTES: list[tuple[str, str]] = [
    (f"{TS},-2,1,-1,1", "bid -2 must be > 0"),
    (f"{TS},0,1,100.1,1", "bid 0 must be > 0"),
    (f"{TS},100.0,1,-1,1", "ask -1 must be > 0"),
    (f"{TS},inf,1,inf,1", "bid Infinity must be a finite number"),
    (f"{TS},100.0,1,Infinity,1", "ask Infinity must be a finite number"),
    (f"{TS},NaN,1,100.1,1", "bid NaN must be a finite number"),
    (f"{TS},100.2,1,100.1,1", "crossed quote: bid 100.2 > ask 100.1"),
    (f"{TS},100.0,-1,100.1,1", "bid_size -1 must be >= 0"),
    (f"{TS},100.0,1,100.1,-0.5", "ask_size -0.5 must be >= 0"),
    (f"{TS},100.0,inf,100.1,1", "bid_size Infinity must be a finite number"),
    (f"{TS},100.0,1,100.1,nan", "ask_size NaN must be a finite number"),
    (f"{TS}000,100.0,1,100.1,1", "timestamp 1723161254087000 is outside 1970-2100"),
    ("-5,100.0,1,100.1,1", "timestamp -5 is outside 1970-2100"),
    # prices above 1e15 overflowed the Decimal context downstream (found by tests/fuzz)
    (f"{TS},1e999999999,1,1e999999999,1", "bid 1E+999999999 must be at most 1e15"),
    (f"{TS},100.0,1,1e20,1", "ask 1E+20 must be at most 1e15"),
]

BAD_TRADES: list[tuple[str, str]] = [
    (f"{TS},100.0,-1,buy,1", "quantity -1 must be > 0"),
    (f"{TS},100.0,0,sell,1", "quantity 0 must be > 0"),
    (f"{TS},100.0,NaN,buy,1", "quantity NaN must be a finite number"),
    (f"{TS},100.0,inf,buy,1", "quantity Infinity must be a finite number"),
    (f"{TS},-100,1,buy,1", "price -100 must be > 0"),
    (f"{TS},0,1,buy,1", "price 0 must be > 0"),
    (f"{TS},inf,1,buy,1", "price Infinity must be a finite number"),
    (f"{TS}000000,100.0,1,buy,1", "timestamp 1723161254087000000 is outside 1970-2100"),
    (f"{TS},1e999999,1,buy,1", "price 1E+999999 must be at most 1e15"),
]

BAD_BARS: list[tuple[str, str]] = [
    (f"{TS},0,0,0,0,1", "open 0 must be > 0"),
    (f"{TS},-1,1,-2,1,1", "open -1 must be > 0"),
    (f"{TS},100,inf,99,100,1", "high Infinity must be a finite number"),
    (f"{TS},100,101,99,NaN,1", "close NaN must be a finite number"),
    (f"{TS},100,101,100.2,100.5,1", "low 100.2 is above min(open 100, close 100.5)"),
    (f"{TS},100,100.4,99,100.5,1", "high 100.4 is below max(open 100, close 100.5)"),
    (f"{TS},100,101,99,100.5,-3", "volume -3 must be >= 0"),
    (f"{TS},100,101,99,100.5,inf", "volume Infinity must be a finite number"),
    (f"{TS}000,100,101,99,100.5,1", "timestamp 1723161254087000 is outside 1970-2100"),
    (f"{TS},1e999999,1e999999,1e999999,1e999999,1", "open 1E+999999 must be at most 1e15"),
    (f"{TS},100,1e16,99,100.5,1", "high 1E+16 must be at most 1e15"),
]

BAD_RECORDS = (
    [pytest.param(QUOTES_HEADER, GOOD_QUOTE, row, reason, id=f"quote {reason}") for row, reason in BAD_QUOTES]
    + [pytest.param(TRADES_HEADER, GOOD_TRADE, row, reason, id=f"trade {reason}") for row, reason in BAD_TRADES]
    + [pytest.param(BARS_HEADER, GOOD_BAR, row, reason, id=f"bar {reason}") for row, reason in BAD_BARS]
)


def write_rows(path: Path, lines: list[str]) -> Path:
    """Write ``lines`` as a CSV file, gzip-compressed when the name ends in ``.gz``; return ``path``."""
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path
