"""Plausibility of market data: one rule per record kind, shared by every reader and the ccxt adapter.

Each ``*_problem`` function returns ``None`` for a plausible record, else the reason as a short phrase
naming the field, e.g. ``bid -2 must be > 0``. The caller says where the record came from and decides
what happens to it: a file reader raises ``DataError("<file>:<line>: <reason>")``, the ccxt adapter logs
``market_data_rejected`` and drops the record.

The rules (prices in quote currency, sizes in base currency, times in epoch milliseconds UTC):

* **time** — an integer in ``[0, MAX_TS_MS)`` (before 2100-01-01). The upper bound catches files stamped
  in micro- or nanoseconds; the lower bound is 0, not 1990, because synthetic data and tests count from
  the epoch.
* **price** — finite, ``> 0`` and at most ``MAX_PRICE`` (1e15, the config's bound of a price,
  ``trading_bot.domain.bounds.Price``): a larger one is a corrupt file, and its arithmetic overflows.
* **quote** — ``bid`` and ``ask`` prices; ``bid <= ask``: a **crossed** quote (``bid > ask``)
  is rejected, a locked one (``bid == ask``) is kept (a trade seen before any quote is replayed as one,
  and strategies already refuse to quote into a zero spread); ``bid_size`` / ``ask_size`` finite and
  ``>= 0`` (0 = unknown size).
* **trade** — ``price`` a price; ``quantity`` finite and ``> 0``.
* **bar** — ``open``, ``high``, ``low``, ``close`` prices; ``low <= min(open, close)`` and
  ``high >= max(open, close)``; ``volume`` finite and ``>= 0``.

Each record rule is composed of the field rules ``timestamp_problem``, ``price_problem``,
``quantity_problem``, ``size_problem`` and ``book_problem`` (bid/ask together). A reader may apply those
parts where they are cheapest — the replay feed checks a field when it parses a new value and the
timestamp on every row — and gets the same verdict and the same reason. The record rules start with
one cheap test that lets a plausible record through (comparisons between finite numbers and
``is_finite`` / ``is_signed``, never a comparison with infinity, which costs twice as much); only a
record that fails it is examined field by field for the reason. A negative zero size passes the slow
path (``-0 >= 0``) after failing the fast one.

The module also reads the symbol a data file's name carries (``binance_BTCUSDT_quotes_2024-08-08.csv.gz``
→ ``BTC/USDT``), so a file of one market is not replayed as another.
"""

from __future__ import annotations

from decimal import Decimal
from decimal import InvalidOperation
from pathlib import PurePath

from trading_bot.domain.bounds import MAX_MONEY
from trading_bot.domain.ids import Symbol

__all__ = [
    "MAX_PRICE",
    "MAX_TS_MS",
    "bar_problem",
    "book_problem",
    "file_symbol",
    "file_symbol_problem",
    "price_problem",
    "quantity_problem",
    "quote_problem",
    "size_problem",
    "timestamp_problem",
    "trade_problem",
]

MAX_TS_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z in epoch milliseconds: the first timestamp no longer accepted."""

MAX_PRICE = MAX_MONEY
"""Highest plausible price, quote currency per base unit: the config's bound of a price (1e15)."""

_ZERO = Decimal(0)
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")


def timestamp_problem(ts_ms: int) -> str | None:
    """Return why ``ts_ms`` (epoch milliseconds) is not a plausible event time, or ``None``."""
    if 0 <= ts_ms < MAX_TS_MS:
        return None
    return f"timestamp {ts_ms} is outside 1970-2100 in epoch milliseconds (a file in micro- or nanoseconds?)"


def price_problem(name: str, value: Decimal) -> str | None:
    """Return why ``value`` cannot be the price ``name``: it must be finite, > 0 and at most ``MAX_PRICE``."""
    problem = quantity_problem(name, value)
    if problem is None and value > MAX_PRICE:
        return f"{name} {value} must be at most 1e15"
    return problem


def quantity_problem(name: str, value: Decimal) -> str | None:
    """Return why ``value`` cannot be the trade quantity ``name``: it must be finite and > 0."""
    if not value.is_finite():
        return f"{name} {value} must be a finite number"
    if value <= _ZERO:
        return f"{name} {value} must be > 0"
    return None


def size_problem(name: str, value: Decimal) -> str | None:
    """Return why ``value`` cannot be the size (or volume) ``name``: it must be finite and >= 0."""
    if not value.is_finite():
        return f"{name} {value} must be a finite number"
    if value < _ZERO:
        return f"{name} {value} must be >= 0"
    return None


def book_problem(bid: Decimal, ask: Decimal) -> str | None:
    """Return why ``bid``/``ask`` cannot be a top of book: each a price, and not crossed (``bid > ask``)."""
    return (
        price_problem("bid", bid)
        or price_problem("ask", ask)
        or (f"crossed quote: bid {bid} > ask {ask}" if bid > ask else None)
    )


def quote_problem(ts_ms: int, bid: Decimal, bid_size: Decimal, ask: Decimal, ask_size: Decimal) -> str | None:
    """Return why a top-of-book quote is impossible (see the module docstring), or ``None``."""
    try:
        if (
            0 <= ts_ms < MAX_TS_MS
            and _ZERO < bid <= ask <= MAX_PRICE
            and bid_size.is_finite()
            and not bid_size.is_signed()
            and ask_size.is_finite()
            and not ask_size.is_signed()
        ):
            return None
    except InvalidOperation:  # a NaN was compared; the reason is found below
        pass
    return (
        timestamp_problem(ts_ms)
        or book_problem(bid, ask)
        or size_problem("bid_size", bid_size)
        or size_problem("ask_size", ask_size)
    )


def trade_problem(ts_ms: int, price: Decimal, quantity: Decimal) -> str | None:
    """Return why a public trade is impossible (see the module docstring), or ``None``."""
    try:
        if 0 <= ts_ms < MAX_TS_MS and _ZERO < price <= MAX_PRICE and quantity > _ZERO and quantity.is_finite():
            return None
    except InvalidOperation:
        pass
    return timestamp_problem(ts_ms) or price_problem("price", price) or quantity_problem("quantity", quantity)


def bar_problem(ts_ms: int, open_: Decimal, high: Decimal, low: Decimal, close: Decimal, volume: Decimal) -> str | None:
    """Return why an OHLCV bar is impossible (see the module docstring), or ``None``."""
    try:
        if (
            0 <= ts_ms < MAX_TS_MS
            and _ZERO < low <= open_ <= high <= MAX_PRICE
            and low <= close <= high
            and volume.is_finite()
            and not volume.is_signed()
        ):
            return None
    except InvalidOperation:
        pass
    problem = (
        timestamp_problem(ts_ms)
        or price_problem("open", open_)
        or price_problem("high", high)
        or price_problem("low", low)
        or price_problem("close", close)
    )
    if problem is not None:
        return problem
    if low > min(open_, close):
        return f"low {low} is above min(open {open_}, close {close})"
    if high < max(open_, close):
        return f"high {high} is below max(open {open_}, close {close})"
    return size_problem("volume", volume)


def file_symbol(name: str) -> Symbol | None:
    """Return the symbol a data file's name carries: ``BTC/USDT`` for ``binance_BTCUSDT_1m.csv.gz``.

    The name is ``<exchange>_<PAIR>_...``; ``PAIR`` may be written ``BTCUSDT``, ``BTC-USDT``; a pair whose
    quote currency is not recognised, or a multi-market file (``bitstamp_MULTI-USD_1d.csv``), carries none.
    """
    parts = name.split("_")
    if len(parts) < 2:
        return None
    pair = parts[1].partition(".")[0].replace("-", "").upper()
    if pair.startswith("MULTI"):
        return None
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return Symbol(f"{pair[: -len(quote)]}/{quote}")
    return None


def file_symbol_problem(path: str, symbol: str) -> str | None:
    """Return why the data file at ``path`` cannot be used as data of ``symbol``, or ``None``.

    Only base and quote are compared (``BTC/USDT:USDT`` takes a ``binanceusdm_BTCUSDT_...`` file). A file
    whose name carries no symbol is accepted.
    """
    named = file_symbol(PurePath(path).name)
    if named is None:
        return None
    wanted = symbol.partition(":")[0].upper()
    if named == wanted:
        return None
    return (
        f"--symbol {symbol}: data file {path} carries {named} (from its name); pass --symbol {named}, "
        f"or rename the file if it really holds {wanted} data"
    )
