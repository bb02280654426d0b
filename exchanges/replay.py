"""Replay of recorded market data files as a stream of ``MarketData`` events.

Formats (``/work/shared/data/README.md``; plain CSV or gzip, detected from the file's magic bytes):

* quotes — ``timestamp,bid_price,bid_size,ask_price,ask_size[,...]``
* trades — ``timestamp,price,quantity,side,trade_id[,...]`` (``side`` = aggressor side)
* book — L2 levels, ``timestamp,update_type,side,price,quantity,first_update_id,last_update_id[,...]``, rebuilt
  snapshot-then-deltas by ``exchanges.recorded_book`` (its rules: sequence gaps are errors, crossed states skipped)

The kind of a file is read from its header (columns are found by name, extra columns are ignored).
``timestamp`` is epoch milliseconds UTC; prices are in quote currency, sizes in base currency.

Events:

* A quote row → ``MarketData`` with its bid/ask and sizes; ``last`` is the last trade price
  seen so far (``None`` before any).
* A book message → ``MarketData`` with ``book=BookView`` (the top ``book_depth`` levels per side) and
  bid/ask and sizes of its best levels: the book **is** the symbol's quote stream, so a book file and a
  quote file of one symbol are refused together (``ConfigError``: two sources of one top of book would
  contradict each other), and so are two book files of one symbol.
* A trade row → ``MarketData`` with ``trade=TradeTick(...)``, ``last=price`` and bid/ask (and sizes) of
  the latest quote seen (and ``book`` = the latest book, when a book file is given); before any quote,
  ``bid = ask = price`` with zero sizes.
* A bar file is refused here (``ConfigError``): bars replay through the bar simulator
  (``exchanges.bar_venue.BarVenue``, the backtest's own), which ``exchanges.factories`` picks for them, so
  there is one intrabar path (``exchanges.backtest``) and one set of bar fill rules.

Several files are merged by timestamp; the merge is stable: on equal timestamps the event of the file
listed first comes first, and within a file rows keep file order, except that trades sharing a
timestamp are ordered by numeric ``trade_id``. A timestamp may step back by at most
``backstep_tolerance_ms`` (it is then clamped to the previous one); a larger step back is a
``DataError``. Note that the bundled Binance spot quotes are stamped with local receive time, about
1.27 s behind the trades' exchange time; the merge does not correct that skew. The bundled spot L2 book is
stamped with exchange time (its snapshot's receive time is raised to the deltas it takes), so a book + trades
replay of that capture has no such skew.

Every problem in a file is a ``DataError`` naming the file and line: missing file, unreadable gzip,
unknown header (naming the expected columns), non-numeric value, timestamps going backwards, and every
impossible record of ``trading_bot.domain.checks`` (a non-positive, infinite or NaN price, a negative
size, a zero trade quantity, a crossed quote ``bid > ask``, a timestamp outside 1970–2100 in ms), e.g.
``q.csv.gz:1234: bid -2 must be > 0``. A bad line stops the replay where it is: a bad record is never
skipped or traded on.

A file whose name carries a symbol (``binance_BTCUSDT_quotes_2024-08-08.csv.gz``) is refused by
``validate`` when the feed serves another symbol (``ConfigError``); a name without one is accepted.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import heapq
import zlib
from collections.abc import AsyncIterator
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from typing import Any
from typing import TextIO

from exchanges.markets import load_market_snapshot
from exchanges.recorded import columns_kind
from exchanges.recorded_book import DEFAULT_DEPTH
from exchanges.recorded_book import book_states
from trading_bot.domain import BookView
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TradeTick
from trading_bot.domain.checks import MAX_TS_MS
from trading_bot.domain.checks import book_problem
from trading_bot.domain.checks import file_symbol_problem
from trading_bot.domain.checks import price_problem
from trading_bot.domain.checks import quantity_problem
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import size_problem
from trading_bot.domain.checks import trade_problem
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.files import open_data_text
from trading_bot.log import get_logger

__all__ = ["ReplayFeed", "ReplayFile"]

log = get_logger(__name__)

_QUOTE, _TRADE, _BOOK = 0, 1, 2
_SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL, "b": OrderSide.BUY, "s": OrderSide.SELL}
_ZERO = Decimal(0)
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayFile:
    """One validated input file: its path, kind (``quotes``, ``trades`` or ``book``) and header columns."""

    path: Path
    kind: str
    columns: tuple[str, ...]


# A raw merged record: (ts_ms, file index, kind, a, b, c, d). Quotes: bid, bid_size, ask, ask_size.
# Trades: price, quantity, side, trade_id. Book: the BookView, then three Nones.
_Record = tuple[int, int, int, Any, Any, Any, Any]


def _open_text(path: Path) -> TextIO:
    return open_data_text(path, "replay file")


def _detect(path: Path, header: list[str]) -> tuple[str, dict[str, int]]:
    kind, cols = columns_kind(path, header)
    if kind == "bars":
        raise ConfigError(
            f"{path}: holds bars; bar files replay through the bar simulator (runbot.py --replay and backtest pick "
            "it), not the quote/trade feed"
        )
    return kind, cols


class ReplayFeed:
    """Recorded quotes and trades of one symbol, replayed in time order through a simulated clock.

    Satisfies the paper exchange's ``MarketDataSource`` protocol.

    Args:
        paths: the files to merge (CSV or CSV.gz, quotes or one book file, and trades; bars are refused).
        symbol: the unified symbol the data belongs to (``BTC/USDT``).
        clock: advanced to each event's ``ts_ms`` before the event is yielded.
        speed: replay speed factor: ``N`` sleeps ``Δt / N`` real seconds between events; ``None`` replays
            at full speed without sleeping or yielding to the event loop between events.
        start_ms: first event time to yield (earlier quotes still set the book); ``None`` = from the start.
        end_ms: last event time to yield (inclusive); ``None`` = to the end.
        markets: market metadata returned by ``load_markets``; default: the bundled Binance snapshot.
        backstep_tolerance_ms: largest backwards timestamp step accepted (clamped), milliseconds.
        book_depth: levels per side of each ``BookView`` of a book file.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        symbol: Symbol,
        clock: SimulatedClock,
        speed: float | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        markets: Mapping[Symbol, Market] | None = None,
        backstep_tolerance_ms: int = 100,
        book_depth: int = DEFAULT_DEPTH,
    ) -> None:
        if not paths:
            raise ConfigError("replay needs at least one data file")
        if speed is not None and speed <= 0:
            raise ConfigError(f"replay speed must be > 0, got {speed}")
        if book_depth < 1:
            raise ConfigError(f"replay book depth must be >= 1 level, got {book_depth}")
        self.paths = tuple(Path(p) for p in paths)
        self.symbol = symbol
        self.clock = clock
        self.speed = speed
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._markets = markets
        self._tolerance = backstep_tolerance_ms
        self._depth = book_depth
        self._latest: MarketData | None = None

    # ----------------------------------------------------------------- public API

    def validate(self) -> list[ReplayFile]:
        """Open every file and read its header, so a bad file fails before trading starts.

        Returns:
            One ``ReplayFile`` per path, in order.

        Raises:
            DataError: a file is missing, not readable (bad gzip) or has an unknown header.
            ConfigError: a file's name carries another symbol than the feed's, a file holds bars, or the files
                hold a book and quotes, or two books (see the module docstring).
        """
        for path in self.paths:
            problem = file_symbol_problem(str(path), self.symbol)
            if problem is not None:
                raise ConfigError(problem)
        return self._files()

    def _files(self) -> list[ReplayFile]:
        found: list[ReplayFile] = []
        for path in self.paths:
            with _open_text(path) as text:
                header = self._header(path, csv.reader(text))
            kind, _ = _detect(path, header)
            columns = tuple(h.strip().lstrip("\ufeff").lower() for h in header)
            found.append(ReplayFile(path=path, kind=kind, columns=columns))
        _check_quote_sources(found)
        return found

    @property
    def latest(self) -> MarketData | None:
        """Return the last event yielded by ``stream_market_data`` (``None`` before the first)."""
        return self._latest

    async def connect(self) -> None:
        """Check the files up front (``validate``); there is nothing else to open."""
        self.validate()

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return ``markets`` if given, else the bundled Binance snapshot's market of the feed's symbol.

        Raises:
            ConfigError: no ``markets`` were given and the snapshot does not know the symbol.
        """
        if self._markets is not None:
            return self._markets
        snapshot = load_market_snapshot("binance")
        if self.symbol not in snapshot:
            raise ConfigError(
                f"no bundled market metadata for {self.symbol} (known: {', '.join(sorted(snapshot))}); "
                "pass markets= to the replay feed"
            )
        return {self.symbol: snapshot[self.symbol]}

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the latest event streamed, or the first event of the data if nothing streamed yet."""
        self._check_symbol(symbol)
        if self._latest is not None:
            return self._latest
        for md in self.iter_events():
            return md
        raise DataError(f"{', '.join(map(str, self.paths))}: replay data has no events")

    async def close(self) -> None:
        """Release resources (files are closed as each pass ends; nothing to do)."""

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield every event in time order, advancing the clock to each event's time before yielding it.

        Raises:
            ConfigError: ``symbol`` is not the feed's symbol.
            DataError: a file is malformed (raised when the bad line is reached).
        """
        self._check_symbol(symbol)
        advance = self.clock.advance_to
        speed = self.speed
        if speed is None:
            for md in self.iter_events():
                advance(md.ts_ms)
                self._latest = md
                yield md
            return
        prev_ts: int | None = None
        for md in self.iter_events():
            if prev_ts is not None and md.ts_ms > prev_ts:
                await asyncio.sleep((md.ts_ms - prev_ts) / 1000 / speed)
            prev_ts = md.ts_ms
            advance(md.ts_ms)
            self._latest = md
            yield md

    def iter_events(self) -> Iterator[MarketData]:
        """Yield every event in time order, synchronously (for a backtest engine; the clock is untouched).

        Raises:
            DataError: a file is malformed (raised when the bad line is reached).
        """
        if len(self.paths) > 1:
            self._files()  # a book beside quotes is refused before the first event
        sources = [self._records(i, path) for i, path in enumerate(self.paths)]
        merged: Iterator[_Record] = sources[0] if len(sources) == 1 else heapq.merge(*sources)
        symbol = self.symbol
        start_ms = self.start_ms
        end_ms = self.end_ms
        md_cls = MarketData
        tick_cls = TradeTick
        bid: Decimal | None = None
        ask: Decimal | None = None
        bid_size = ask_size = _ZERO
        last: Decimal | None = None
        book: BookView | None = None
        for ts, _, kind, a, b, c, d in merged:
            if end_ms is not None and ts > end_ms:
                return
            if kind == _BOOK:
                book = a
                (bid, bid_size), (ask, ask_size) = a.bids[0], a.asks[0]
                if start_ms is not None and ts < start_ms:
                    continue
                yield md_cls(
                    symbol=symbol, ts_ms=ts, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, last=last, book=a
                )
            elif kind == _QUOTE:
                bid, bid_size, ask, ask_size = a, b, c, d
                if start_ms is not None and ts < start_ms:
                    continue
                yield md_cls(symbol=symbol, ts_ms=ts, bid=a, ask=c, bid_size=b, ask_size=d, last=last)
            else:
                last = a
                if start_ms is not None and ts < start_ms:
                    continue
                trade = tick_cls(ts_ms=ts, symbol=symbol, price=a, quantity=b, side=c, trade_id=d)
                if bid is None or ask is None:
                    yield md_cls(symbol=symbol, ts_ms=ts, bid=a, ask=a, last=a, trade=trade)
                else:
                    yield md_cls(
                        symbol=symbol,
                        ts_ms=ts,
                        bid=bid,
                        ask=ask,
                        bid_size=bid_size,
                        ask_size=ask_size,
                        last=a,
                        trade=trade,
                        book=book,
                    )

    # ----------------------------------------------------------------- internals

    def _check_symbol(self, symbol: Symbol) -> None:
        if symbol != self.symbol:
            raise ConfigError(f"the replay feed serves {self.symbol}, not {symbol}")

    @staticmethod
    def _header(path: Path, reader: Any) -> list[str]:
        try:
            header: list[str] = next(reader, [])
        except _GZIP_ERRORS as exc:
            raise DataError(f"{path}:1: unreadable gzip or text: {exc}") from exc
        except csv.Error as exc:
            raise DataError(f"{path}:1: malformed CSV header: {exc}") from exc
        if not any(h.strip() for h in header):
            raise DataError(f"{path}:1: empty file, expected a CSV header")
        return header

    def _records(self, index: int, path: Path) -> Iterator[_Record]:
        with _open_text(path) as text:
            reader = csv.reader(text)
            header = self._header(path, reader)
            kind, cols = _detect(path, header)
            if kind != "book":
                try:
                    if kind == "quotes":
                        yield from self._quote_records(index, path, reader, cols)
                    else:
                        yield from self._trade_records(index, path, reader, cols)
                except _GZIP_ERRORS as exc:
                    raise DataError(f"{path}:{reader.line_num + 1}: unreadable gzip or text: {exc}") from exc
                except csv.Error as exc:
                    raise DataError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from exc
                except (ValueError, InvalidOperation, IndexError, KeyError) as exc:
                    raise DataError(f"{path}:{reader.line_num}: not a valid number or value in row: {exc!r}") from exc
                return
        for ts, _, view in book_states(path, self._depth, backstep_tolerance_ms=self._tolerance):
            yield (ts, index, _BOOK, view, None, None, None)

    def _backstep(self, path: Path, line: int, ts: int, prev: int) -> int:
        if prev - ts > self._tolerance:
            raise DataError(
                f"{path}:{line}: timestamps go backwards ({ts} after {prev}, more than "
                f"{self._tolerance} ms); sort the file by timestamp"
            )
        return prev

    def _quote_records(self, index: int, path: Path, reader: Any, cols: dict[str, int]) -> Iterator[_Record]:
        i_ts, i_bp, i_bs = cols["timestamp"], cols["bid_price"], cols["bid_size"]
        i_ap, i_as = cols["ask_price"], cols["ask_size"]
        dec = Decimal
        book, size, max_ts = book_problem, size_problem, MAX_TS_MS
        prev = -(2**62)
        # Consecutive quotes often repeat a field: reuse the Decimal instead of parsing the string again,
        # and apply quote_problem's parts only to what is new: fields when parsed, the time on every row.
        bp_s = bs_s = ap_s = as_s = ""
        bp = bs = ap = asz = _ZERO
        for row in reader:
            ts = int(row[i_ts])
            if ts < prev:
                ts = self._backstep(path, reader.line_num, ts, prev)
            prev = ts
            new_book = new_bs = new_as = False
            s = row[i_bp]
            if s != bp_s:
                bp_s, bp, new_book = s, dec(s), True
            s = row[i_bs]
            if s != bs_s:
                bs_s, bs, new_bs = s, dec(s), True
            s = row[i_ap]
            if s != ap_s:
                ap_s, ap, new_book = s, dec(s), True
            s = row[i_as]
            if s != as_s:
                as_s, asz, new_as = s, dec(s), True
            if (
                not 0 <= ts < max_ts
                or (new_book and book(bp, ap) is not None)
                or (new_bs and size("bid_size", bs) is not None)
                or (new_as and size("ask_size", asz) is not None)
            ):
                raise DataError(f"{path}:{reader.line_num}: {quote_problem(ts, bp, bs, ap, asz)}")
            yield (ts, index, _QUOTE, bp, bs, ap, asz)

    def _trade_records(self, index: int, path: Path, reader: Any, cols: dict[str, int]) -> Iterator[_Record]:
        i_ts, i_p, i_q = cols["timestamp"], cols["price"], cols["quantity"]
        i_side, i_id = cols["side"], cols["trade_id"]
        dec = Decimal
        price_check, quantity_check, max_ts = price_problem, quantity_problem, MAX_TS_MS
        sides = _SIDES
        prev = -(2**62)
        group: list[_Record] = []
        p_s = q_s = ""
        price = quantity = _ZERO
        for row in reader:
            ts = int(row[i_ts])
            if ts < prev:
                ts = self._backstep(path, reader.line_num, ts, prev)
            new_price = new_quantity = False
            s = row[i_p]
            if s != p_s:
                p_s, price, new_price = s, dec(s), True
            s = row[i_q]
            if s != q_s:
                q_s, quantity, new_quantity = s, dec(s), True
            if (
                not 0 <= ts < max_ts
                or (new_price and price_check("price", price) is not None)
                or (new_quantity and quantity_check("quantity", quantity) is not None)
            ):
                raise DataError(f"{path}:{reader.line_num}: {trade_problem(ts, price, quantity)}")
            side_s = row[i_side]
            side = sides.get(side_s.strip().lower())
            if side is None:
                raise DataError(f"{path}:{reader.line_num}: trade side must be buy or sell, got {side_s!r}")
            record = (ts, index, _TRADE, price, quantity, side, row[i_id])
            if ts != prev:
                if len(group) > 1:
                    yield from _by_trade_id(group)
                elif group:
                    yield group[0]
                group = [record]
                prev = ts
            else:
                group.append(record)
        if len(group) > 1:
            yield from _by_trade_id(group)
        elif group:
            yield group[0]


def _by_trade_id(group: list[_Record]) -> list[_Record]:
    if all(str(r[6]).isdigit() for r in group):
        return sorted(group, key=lambda r: int(r[6]))
    return group


def _check_quote_sources(found: Sequence[ReplayFile]) -> None:
    """Refuse a book file beside a quote file, or two book files: one symbol has one top of book."""
    books = [f.path for f in found if f.kind == "book"]
    quotes = [f.path for f in found if f.kind == "quotes"]
    if len(books) > 1:
        raise ConfigError(
            f"{books[0]} and {books[1]} are two L2 books of one symbol; give one book file per symbol"
        )
    if books and quotes:
        raise ConfigError(
            f"{books[0]} (an L2 book) and {quotes[0]} (quotes) both give the top of book of one symbol; "
            "give the book file or the quotes file, not both"
        )
