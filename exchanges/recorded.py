"""Recorded-data files: what kind of data they hold, bar loading, dates, timeframes, symbols in names.

Formats are those of ``/work/shared/data`` (CSV or CSV.gz, gzip detected from the magic bytes):

* bars — ``timestamp,open,high,low,close[,volume,...]``; ``timestamp`` is the bar **open** time, epoch
  milliseconds UTC; extra columns are ignored;
* quotes — ``timestamp,bid_price,bid_size,ask_price,ask_size[,...]``;
* trades — ``timestamp,price,quantity,side,trade_id[,...]``;
* funding — ``timestamp,funding_rate`` (realized rates at each funding time), or Binance's ``@markPrice``
  capture ``timestamp,mark_price,...,funding_rate,next_funding_time`` (predicted rates); read by
  ``exchanges.recorded_funding``;
* book — L2 levels, ``timestamp,update_type,side,price,quantity,first_update_id,last_update_id[,...]``, or with
  one ``update_id`` per message instead of the two (Bybit); one row per level, the rows of one message in a row;
  read by ``exchanges.recorded_book``.

Bars must be strictly ascending in time within a file (unsorted or duplicate timestamps are a
``DataError`` naming the file and line) and plausible by ``trading_bot.domain.checks.bar_problem``
(prices finite and > 0, low/high containing open/close, volume >= 0, a timestamp in 1970–2100 ms): an
impossible bar is a ``DataError`` such as ``bars.csv:12: low 101 is above min(open 100, close 100.5)``.
Several bar files are merged by time, and the same timestamp in two files is a duplicate too. Quote, trade
and book files are handed to the replay feed unchanged (it applies the same rules to them). A file whose
name carries a symbol (``binance_FILUSDT_1m.csv.gz``) is data of that symbol only (``check_data_symbol``).

``synthetic_market`` (for benches and tests; a backtest asks the user for the rules of a market without
a bundled snapshot, see ``trading_bot.backtest.market_specs``): tick = the finest decimal step of the
prices in the first rows of the data, lot step ``1e-8`` base units, no minimum amount or notional.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from typing import TextIO

from exchanges.bar_columns import ColumnsBuilder
from exchanges.bar_columns import pack_text
from trading_bot.domain import Bar
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.domain.checks import MAX_TS_MS
from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import file_symbol
from trading_bot.domain.checks import file_symbol_problem
from trading_bot.domain.instrument import split_venue
from trading_bot.domain.timeframe import timeframe_ms
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.files import open_data_text
from trading_bot.registry import did_you_mean

__all__ = [
    "BAR_COLUMNS",
    "BOOK_COLUMNS",
    "BOOK_ONE_ID_COLUMNS",
    "FUNDING_COLUMNS",
    "QUOTE_COLUMNS",
    "TRADE_COLUMNS",
    "BarSeries",
    "check_data_symbol",
    "columns_kind",
    "data_kind",
    "data_specs",
    "files_by_symbol",
    "guess_symbol",
    "load_bars",
    "market_of",
    "parse_date",
    "parse_timeframe",
    "sample_price_decimals",
    "synthetic_market",
]

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close")
QUOTE_COLUMNS = ("timestamp", "bid_price", "bid_size", "ask_price", "ask_size")
TRADE_COLUMNS = ("timestamp", "price", "quantity", "side", "trade_id")
BOOK_COLUMNS = ("timestamp", "update_type", "side", "price", "quantity", "first_update_id", "last_update_id")
BOOK_ONE_ID_COLUMNS = ("timestamp", "update_type", "side", "price", "quantity", "update_id")
"""An L2 book whose messages carry one update id each (Bybit ``u``): it stands for the first and the last."""
FUNDING_COLUMNS = ("timestamp", "funding_rate")
"""Funding rates of a perpetual swap (``exchanges.recorded_funding``); checked after every market-data kind."""
_KINDS = (
    ("quotes", QUOTE_COLUMNS),
    ("trades", TRADE_COLUMNS),
    ("book", BOOK_COLUMNS),
    ("book", BOOK_ONE_ID_COLUMNS),
    ("bars", BAR_COLUMNS),
    ("funding", FUNDING_COLUMNS),
)
_ZERO = Decimal(0)
_SAMPLE_ROWS = 200
_MEMO_MAX = 1 << 16
"""Distinct number texts a bar file shares (see ``_DecimalMemo``); ≈ 10 MB of keys and values at most."""
_SPEC_SYMBOL = re.compile(r"(?:[a-z][a-z0-9_]{0,31}:)?[A-Za-z0-9.\-]+/[A-Za-z0-9.\-]+(?::[A-Za-z0-9]+)?")


@dataclass(frozen=True, slots=True)
class BarSeries:
    """Bars loaded for a backtest.

    Attributes:
        bars: open time strictly ascending, held column-wise (``exchanges.bar_columns.BarColumns``).
        interval_ms: the smallest step between consecutive bars, milliseconds (``None`` for one bar).
        price_decimals: the most decimal places seen in the sampled prices.
    """

    bars: Sequence[Bar]
    interval_ms: int | None
    price_decimals: int


def _open_text(path: Path) -> TextIO:
    return open_data_text(path, "data file")


def _header(path: Path, text: TextIO) -> list[str]:
    try:
        first = text.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}:1: unreadable gzip or text: {exc}") from exc
    names = [n.strip().lstrip("\ufeff").lower() for n in first.strip().split(",")]
    if not any(names):
        raise DataError(f"{path}:1: empty file, expected a CSV header")
    return names


def data_kind(path: Path) -> str:
    """Return ``bars``, ``quotes``, ``trades``, ``book`` or ``funding`` from a file's header.

    Raises:
        DataError: the file is missing, unreadable or has none of the known sets of columns.
    """
    with _open_text(path) as text:
        names = _header(path, text)
    return columns_kind(path, names)[0]


def columns_kind(path: Path, header: Sequence[str]) -> tuple[str, dict[str, int]]:
    """Return a header's kind (``quotes``, ``trades``, ``book``, ``bars``, ``funding``) and each column's index by name.

    The one copy of the column schemas of recorded files: a kind's columns may come in any order, extra
    columns are ignored, names are matched without case, surrounding blanks or a byte-order mark.

    Raises:
        DataError: the header holds none of the known sets of columns (naming them, ``path:1``).
    """
    names = [name.strip().lstrip("\ufeff").lower() for name in header]
    for kind, required in _KINDS:
        if all(column in names for column in required):
            return kind, {name: i for i, name in enumerate(names)}
    expected = "; ".join(f"{kind}: {','.join(cols)}" for kind, cols in _KINDS)
    raise DataError(f"{path}:1: unknown columns {','.join(names)!r}; expected {expected}")


def _decimals(text: str) -> int:
    point = text.find(".")
    return 0 if point < 0 else len(text.rstrip("0")) - point - 1


class _DecimalMemo(dict[str, tuple[Decimal, "int | Decimal"]]):
    """``memo[text]`` is ``(Decimal(text), packed)``: one shared ``Decimal`` per distinct text, and how the column
    store keeps it (``bar_columns.pack``, or the ``Decimal`` itself when it does not pack).

    Bar prices repeat: converting each text once is most of the load's saving. The same text gives the same
    Decimal, exponent included. Up to ``_MEMO_MAX`` distinct texts are kept; past that, new texts are
    converted without being kept.
    """

    def __missing__(self, text: str) -> tuple[Decimal, int | Decimal]:
        value = Decimal(text)
        packed = pack_text(text, value)
        entry = (value, value if packed is None else packed)
        if len(self) < _MEMO_MAX:
            self[text] = entry
        return entry


def _file_columns(
    path: Path, start_ms: int | None, end_ms: int | None
) -> tuple[ColumnsBuilder, list[int]]:  # fmt: skip
    """Read one bar file: its kept bars as columns, and the decimal places of its first ``_SAMPLE_ROWS`` kept bars."""
    decimals: list[int] = []
    columns = ColumnsBuilder(_MEMO_MAX)
    with _open_text(path) as text:
        names = _header(path, text)
        if not all(c in names for c in BAR_COLUMNS):
            raise DataError(f"{path}:1: not a bar file: expected columns {','.join(BAR_COLUMNS)}[,volume]")
        i_ts, i_o, i_h, i_l, i_c = (names.index(c) for c in BAR_COLUMNS)
        i_v = names.index("volume") if "volume" in names else None
        dec = _DecimalMemo()
        zero: tuple[Decimal, int | Decimal] = (_ZERO, 0)  # pack(Decimal(0))
        check = bar_problem
        append = columns.append
        prev = -(2**62)
        line = 1
        reader = csv.reader(text)
        try:
            for row in reader:
                line += 1
                ts = int(row[i_ts])
                if ts <= prev:
                    what = "duplicate" if ts == prev else "unsorted"
                    raise DataError(f"{path}:{line}: {what} bar timestamp {ts} after {prev}; bars must be ascending")
                prev = ts
                if (start_ms is not None and ts < start_ms) or (end_ms is not None and ts > end_ms):
                    continue
                o, h, low, c = row[i_o], row[i_h], row[i_l], row[i_c]
                if len(decimals) < _SAMPLE_ROWS:
                    decimals.append(max(_decimals(o), _decimals(h), _decimals(low), _decimals(c)))
                (do, po), (dh, ph), (dl, pl), (dc, pc) = dec[o], dec[h], dec[low], dec[c]
                dv, pv = zero if i_v is None or not row[i_v] else dec[row[i_v]]
                problem = check(ts, do, dh, dl, dc, dv)
                if problem is not None:
                    raise DataError(f"{path}:{line}: {problem}")
                append(ts, (po, ph, pl, pc, pv))
        except (ValueError, InvalidOperation, IndexError) as exc:
            raise DataError(f"{path}:{line}: not a valid number in row: {exc!r}") from None
        except (OSError, EOFError, csv.Error) as exc:
            raise DataError(f"{path}:{line}: unreadable data: {exc}") from None
        columns.share(0, _ZERO)
        for value, packed in dec.values():
            if not isinstance(packed, Decimal):
                columns.share(packed, value)
    return columns, decimals


def _merge(files: Sequence[tuple[ColumnsBuilder, list[int]]], paths: Sequence[Path]) -> tuple[ColumnsBuilder, int]:
    """Merge several files' bars by open time; return them and the most decimal places of the sampled rows.

    The sample is the first ``_SAMPLE_ROWS`` rows in the order a lazy time-merge of the files reads them (the
    first row of each file, then the row after each one taken), as when the files were read side by side.

    Raises:
        DataError: the same open time in two files.
    """
    merged = ColumnsBuilder(_MEMO_MAX)
    for columns, _ in files:
        for packed, value in columns.memo.items():
            merged.share(packed, value)
    sample = [decimals[0] for _, decimals in files if decimals]
    heap = [(columns.ts[0], k, 0) for k, (columns, _) in enumerate(files) if len(columns)]
    heapq.heapify(heap)
    prev: int | None = None
    while heap:
        ts, k, i = heap[0]
        if ts == prev:
            raise DataError(f"duplicate bar timestamp {ts} in {', '.join(map(str, paths))}")
        prev = ts
        columns, decimals = files[k]
        merged.append(ts, columns.raw(i))
        if i + 1 < len(columns):
            heapq.heapreplace(heap, (columns.ts[i + 1], k, i + 1))
            if len(sample) < _SAMPLE_ROWS and i + 1 < len(decimals):
                sample.append(decimals[i + 1])
        else:
            heapq.heappop(heap)
    return merged, max(sample, default=0)


def load_bars(paths: Sequence[Path], start_ms: int | None = None, end_ms: int | None = None) -> BarSeries:
    """Load and merge bar files, keeping bars whose open time is in ``[start_ms, end_ms]``.

    The bars are held column-wise (``exchanges.bar_columns.BarColumns``: 48 bytes a bar); each ``Bar`` read
    from them is built then, equal to the file's row (every ``Decimal`` exactly ``Decimal(text)``).

    Args:
        paths: bar files (CSV or CSV.gz).
        start_ms: first bar open time kept, epoch ms (``None`` = from the start).
        end_ms: last bar open time kept, epoch ms, inclusive (``None`` = to the end).

    Raises:
        DataError: a file is missing or malformed, bars are unsorted or duplicated, or none are left.
    """
    files = [_file_columns(p, start_ms, end_ms) for p in paths]
    if len(files) == 1:
        columns, decimals = files[0]
        most = max(decimals, default=0)
    else:
        columns, most = _merge(files, paths)
    if not len(columns):
        window = "" if start_ms is None and end_ms is None else " between the --from and --to dates"
        raise DataError(f"no bars in {', '.join(map(str, paths))}{window}")
    ts = columns.ts
    interval = min((b - a for a, b in itertools.pairwise(ts)), default=None)
    return BarSeries(bars=columns.build(), interval_ms=interval, price_decimals=most)


def parse_timeframe(text: str) -> int:
    """Return a timeframe such as ``1m``, ``4h``, ``1d`` in milliseconds.

    Raises:
        ConfigError: the text is not ``<number><s|m|h|d|w>``.
    """
    try:
        return timeframe_ms(text)
    except ValueError as exc:
        raise ConfigError(f"--timeframe: {exc}") from None


def parse_date(text: str, *, end: bool = False) -> int:
    """Return epoch milliseconds UTC for ``2023-08-01``, ``2023-08-01T12:00``, or a number of epoch ms.

    A bare date means the start of that day (UTC), or with ``end`` its last millisecond, so
    ``--to 2023-08-31`` includes that whole day. Times without a zone are UTC.

    Raises:
        ConfigError: the text is not a date, or epoch ms from 2100 on.
    """
    value = text.strip()
    if value.isascii() and value.isdigit():  # not str.isdigit alone: int() refuses '²'
        if len(value) > len(str(MAX_TS_MS)) or int(value) >= MAX_TS_MS:
            raise ConfigError(f"epoch ms must be before 2100 (below {MAX_TS_MS}), got {text!r}")
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"expected a date such as 2023-08-01 or 2023-08-01T12:00, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ms = int(parsed.timestamp() * 1000)
    if end and len(value) == 10:
        ms += 86_400_000 - 1
    return ms


def guess_symbol(path: Path) -> str | None:
    """Return ``FIL/USDT`` for ``binance_FILUSDT_1m.csv.gz`` (``<exchange>_<SYMBOL>_...``), else ``None``."""
    return file_symbol(path.name)


def check_data_symbol(paths: Sequence[Path], symbol: str) -> None:
    """Refuse data files whose names carry another symbol than ``symbol`` (names without one pass).

    Raises:
        ConfigError: naming the file, the symbol it carries and the fix.
    """
    for path in paths:
        problem = file_symbol_problem(str(path), symbol)
        if problem is not None:
            raise ConfigError(problem)


def synthetic_market(symbol: str, price_decimals: int, fee: Decimal) -> Market:
    """Return a market for a symbol without a bundled snapshot (see the module docstring).

    Args:
        symbol: ``BASE/QUOTE``.
        price_decimals: decimal places of the data's prices (the tick is ``10^-price_decimals``).
        fee: maker and taker fee rate.

    Raises:
        ConfigError: the symbol is not ``BASE/QUOTE``.
    """
    return market_of(symbol, tick=Decimal(1).scaleb(-price_decimals), lot_step=Decimal("1e-8"), fee=fee)


def market_of(
    symbol: str, *, tick: Decimal, lot_step: Decimal, fee: Decimal, min_amount: Decimal = _ZERO,
    min_notional: Decimal = _ZERO,
) -> Market:  # fmt: skip
    """Return the spot market ``BASE/QUOTE`` with these rules (prices and notional in QUOTE, amounts in BASE).

    Raises:
        ConfigError: the symbol is not ``BASE/QUOTE``.
    """
    base, slash, quote = symbol.partition("/")
    quote = quote.partition(":")[0]
    if not slash or not base or not quote:
        raise ConfigError(f"--symbol: expected BASE/QUOTE such as BTC/USDT or GOOG/USD, got {symbol!r}")
    return Market(
        symbol=Symbol(symbol),
        base=base,
        quote=quote,
        price_increment=tick,
        amount_increment=lot_step,
        min_amount=min_amount,
        min_notional=min_notional,
        maker_fee=fee,
        taker_fee=fee,
    )


def sample_price_decimals(path: Path) -> int:
    """Return the most decimal places among the prices of the first rows of a quote or trade file.

    Raises:
        DataError: the file is missing or unreadable.
    """
    with _open_text(path) as text:
        names = _header(path, text)
        columns = [names.index(c) for c in ("bid_price", "ask_price", "price", "open", "close") if c in names]
        most = 0
        line = 1
        try:
            for row in csv.reader(text):
                line += 1
                if line > _SAMPLE_ROWS + 1:
                    break
                most = max([most, *(_decimals(row[i]) for i in columns if i < len(row))])
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:  # a bad gzip, not UTF-8, a NUL
            raise DataError(f"{path}:{line + 1}: unreadable data: {exc}") from None  # the line it could not read
    return most


def data_specs(
    values: Sequence[str], symbols: Sequence[str], *, option: str = "--data", default: str | None = None
) -> list[tuple[Symbol, Path]]:
    """Map ``--data`` / ``--replay`` values to the symbols they hold, one ``(symbol, path)`` per value, in order.

    A value is ``FILE`` (its symbol from its name, ``binanceus_BTCUSDC_1m.csv.gz`` → ``BTC/USDC``) or
    ``SYMBOL=FILE`` (``BTC/USDC=bars.csv``, ``spot:BTC/USDT=bars.csv``; the text before the first ``=`` when it
    reads as a symbol and the whole value is no existing file). Several files may hold one symbol (quotes and
    trades, or bar files to merge). The symbol returned is the ``--symbol`` value the file belongs to, as written
    (venues are left to the caller); without ``--symbol`` values, the ``SYMBOL=`` text as written or the name's.

    A ``SYMBOL=`` part never overrides the file's name: a file named for BTC/USDT given as ``BTC/USDC=…`` is an
    error (a swapped pair is the mistake to catch; rename a file that really holds other data).

    Args:
        values: the option's values.
        symbols: the ``--symbol`` values in order (``venue:SYMBOL`` allowed); empty: the files' own symbols.
        option: the option's name for messages (``--data`` or ``--replay``).
        default: the symbol of a file whose name carries none when no ``--symbol`` is given (``None``: an error).

    Raises:
        ConfigError: one line: a ``--symbol`` or file given twice, a malformed ``SYMBOL=FILE``, a ``SYMBOL=``
            part the file's name contradicts, a file of no ``--symbol`` (with did-you-mean), a file whose symbol
            is unknown or matches two ``--symbol`` values, a ``--symbol`` with no file.
    """
    seen_symbols: set[str] = set()
    for symbol in symbols:
        if symbol in seen_symbols:
            raise ConfigError(f"--symbol {symbol} is given twice; give each symbol once")
        seen_symbols.add(symbol)
    specs: list[tuple[Symbol, Path]] = []
    seen_files: set[Path] = set()
    for value in values:
        given, path = _split_spec(value, option)
        key = path.resolve()
        if key in seen_files:
            raise ConfigError(f"{option} {path} is given twice; give each file once")
        seen_files.add(key)
        specs.append((_spec_symbol(value, given, path, symbols, option, default), path))
    for symbol in symbols:
        if not any(s == symbol for s, _ in specs):
            raise ConfigError(
                f"--symbol {symbol}: no {option} file holds it; add {option} {symbol}=FILE "
                "(or a file named like binance_BASEQUOTE_1m.csv)"
            )
    return specs


def files_by_symbol(specs: Sequence[tuple[Symbol, Path]]) -> dict[Symbol, list[Path]]:
    """Group ``data_specs``' result: each symbol's files in the order given, symbols in order of first mention."""
    grouped: dict[Symbol, list[Path]] = {}
    for symbol, path in specs:
        grouped.setdefault(symbol, []).append(path)
    return grouped


def _split_spec(value: str, option: str) -> tuple[str | None, Path]:
    """Return ``(SYMBOL as written or None, path)`` of one ``FILE`` or ``SYMBOL=FILE`` value."""
    head, sep, tail = value.partition("=")
    if not sep or Path(value).exists() or not _SPEC_SYMBOL.fullmatch(head.strip()):
        if sep and not head.strip():
            raise ConfigError(f"{option} {value!r}: expected SYMBOL=FILE such as BTC/USDT=bars.csv, or a FILE")
        return None, Path(value)
    if not tail.strip():
        raise ConfigError(f"{option} {value!r}: no file after '='; expected SYMBOL=FILE such as BTC/USDT=bars.csv")
    return head.strip(), Path(tail.strip())


def _matches(held: str, from_name: bool, wanted: str) -> bool:
    """Whether a file holding ``held`` (``venue:SYMBOL`` or bare) is data of the ``--symbol`` value ``wanted``."""
    w_venue, w_symbol = split_venue(wanted)
    h_venue, h_symbol = split_venue(held)
    if h_venue is not None and h_venue != w_venue:
        return False
    if from_name:  # a name carries BASE/QUOTE only: it is data of BTC/USDT:USDT too
        w_symbol = w_symbol.partition(":")[0]
    return w_symbol.upper() == h_symbol.upper()


def _spec_symbol(
    value: str, given: str | None, path: Path, symbols: Sequence[str], option: str, default: str | None
) -> Symbol:
    named = guess_symbol(path)
    if given is not None and named is not None:
        problem = file_symbol_problem(str(path), split_venue(given)[1])
        if problem is not None:
            raise ConfigError(
                f"{option} {value}: the file's name carries {named}, not {split_venue(given)[1]}; "
                f"write {named}={path} (or rename the file if it really holds that data)"
            )
    held, from_name = (given, False) if given is not None else (named, True)
    if held is None:
        if len(symbols) == 1:
            return Symbol(symbols[0])
        if not symbols and default is not None:
            return Symbol(default)
        choices = f" (one of {', '.join(symbols)})" if symbols else ""
        raise ConfigError(f"{option} {path}: its name carries no symbol; write SYMBOL={path}{choices}")
    if not symbols:
        return Symbol(held)
    matching = [s for s in symbols if _matches(held, from_name, s)]
    if len(matching) > 1:
        raise ConfigError(
            f"{option} {value}: {held} is data of --symbol {' and '.join(matching)}; write {matching[0]}={path}"
        )
    if not matching:
        source = " (from its name)" if from_name else ""
        raise ConfigError(
            f"{option} {value} holds {held}{source}, which no --symbol names{did_you_mean(held, symbols)}; "
            f"add --symbol {held}, or drop the file"
        )
    return Symbol(matching[0])
