"""Recorded L2 order-book files rebuilt into a book, one ``MarketData`` (with ``book=BookView``) per message.

Format (``/work/shared/data/README.md`` §4): one CSV row per price level, columns found by name
(``exchanges.recorded.columns_kind``, kind ``book``): ``timestamp`` (exchange event time, epoch ms UTC),
``update_type`` (``snapshot`` or ``delta``), ``first_update_id`` and ``last_update_id`` (Binance ``U``/``u``,
repeated on every row of a message; a file with one ``update_id`` per message, Bybit's ``u``, uses it as
both), ``side`` (``bid``/``ask``), ``price`` (quote currency) and ``quantity`` (the level's new total size,
base currency; 0 removes the level); optionally ``prev_last_update_id`` (futures ``pu``); other columns are
ignored. A **message** is the run of consecutive rows sharing ``timestamp``,
``update_type`` and both update ids.

Rebuilding (Binance's procedure, the README's rule):

* a ``snapshot`` clears the book and sets every level it lists; its ``last_update_id`` is the snapshot id. A
  file may hold several (each restarts the book);
* deltas before the first snapshot are buffered (at most ``MAX_BUFFERED`` messages) and handled as if they
  came right after it; a delta with ``last_update_id`` below the snapshot id is dropped (already in it);
* the first delta kept must reach the snapshot (``first_update_id <= snapshot id + 1``); each later one must
  continue the previous one: ``prev_last_update_id == previous last_update_id`` when the file has ``pu``
  (futures), else ``first_update_id == previous last_update_id + 1`` (spot). Anything else is a gap —
  messages were lost and the book is wrong from there on — so it is a ``DataError`` naming the line.

After each snapshot (with the buffered deltas it takes) and each delta applied, the book is published as
one ``BookState(ts_ms, update_id, view)`` with the top ``depth`` levels per side, if it has both sides and is
not crossed (best bid > best ask); an empty, one-sided or crossed state is skipped and counted, and one warning
``book_states_skipped`` (with the count and the first line) is logged when the file ends. Published times
never go backwards: a snapshot's time (a REST snapshot's row time is the recorder's local receive time —
1.27 s behind in the 2024 spot capture) is raised to the time of the deltas it took and of the state before;
a delta may step back by at most ``backstep_tolerance_ms`` (clamped), more is a ``DataError``.

Every problem is a one-line ``DataError`` ``<file>:<line>: <reason>``: an unreadable gzip or text, a
non-numeric time, id, price or quantity, an unknown ``side`` or ``update_type``, a price that is not finite
and > 0, a negative or non-finite quantity, a sequence gap, a file without a snapshot.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from typing import Any
from typing import NamedTuple

from exchanges.recorded import BOOK_COLUMNS
from exchanges.recorded import columns_kind
from trading_bot.domain import BookView
from trading_bot.domain import L2Book
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol
from trading_bot.domain.checks import price_problem
from trading_bot.domain.checks import size_problem
from trading_bot.domain.checks import timestamp_problem
from trading_bot.errors import DataError
from trading_bot.files import open_data_text
from trading_bot.log import get_logger

__all__ = ["DEFAULT_DEPTH", "MAX_BUFFERED", "BookState", "book_states", "read_book"]

log = get_logger(__name__)

DEFAULT_DEPTH = 50
"""Levels per side in each published ``BookView``."""
MAX_BUFFERED = 10_000
"""Most delta messages kept while waiting for the first snapshot (a capture takes it within seconds)."""

_SIDES = {"bid": "bid", "ask": "ask", "buy": "bid", "sell": "ask", "b": "bid", "a": "ask"}
_TYPES = {"snapshot": True, "delta": False}
_MEMO_MAX = 1 << 16
_READ_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError, OSError)


class BookState(NamedTuple):
    """One published state of a rebuilt book.

    Attributes:
        ts_ms: the state's time, epoch ms UTC (non-decreasing along a file).
        update_id: the ``last_update_id`` of the last message applied (the snapshot id after a snapshot).
        view: the top levels per side.
    """

    ts_ms: int
    update_id: int
    view: BookView


@dataclass(frozen=True, slots=True)
class _Message:
    line: int
    ts_ms: int
    snapshot: bool
    first_id: int
    last_id: int
    prev_last_id: int | None
    levels: list[tuple[str, Decimal, Decimal]]


def read_book(
    path: Path, symbol: Symbol, depth: int = DEFAULT_DEPTH, *, backstep_tolerance_ms: int = 100
) -> Iterator[MarketData]:
    """Yield one ``MarketData`` per published book state of an L2 file (see the module docstring).

    ``bid``/``bid_size`` and ``ask``/``ask_size`` are the view's best levels, ``book`` the view itself.

    Args:
        path: the L2 file (CSV or CSV.gz).
        symbol: the symbol the events carry.
        depth: levels per side in each view (>= 1).
        backstep_tolerance_ms: largest backwards step of a delta's time accepted (clamped), milliseconds.

    Raises:
        DataError: the file is missing or malformed (raised when the bad line is reached).
    """
    md_cls = MarketData
    for ts, _, view in book_states(path, depth, backstep_tolerance_ms=backstep_tolerance_ms):
        (bid, bid_size), (ask, ask_size) = view.bids[0], view.asks[0]
        yield md_cls(symbol=symbol, ts_ms=ts, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, book=view)


def book_states(
    path: Path, depth: int = DEFAULT_DEPTH, *, backstep_tolerance_ms: int = 100
) -> Iterator[BookState]:
    """Yield one ``BookState`` per published state of an L2 file (see the module docstring), times non-decreasing.

    Raises:
        ValueError: ``depth`` is below 1.
        DataError: the file is missing or malformed (raised when the bad line is reached).
    """
    if depth < 1:
        raise ValueError(f"book depth must be >= 1, got {depth}")
    with open_data_text(path, "book file") as text:
        reader = csv.reader(text)
        try:
            header = next(reader, [])
        except (*_READ_ERRORS, csv.Error) as exc:
            raise DataError(f"{path}:1: unreadable gzip or text: {exc}") from None
        if not any(h.strip() for h in header):
            raise DataError(f"{path}:1: empty file, expected a CSV header")
        kind, cols = columns_kind(path, header)
        if kind != "book":
            raise DataError(f"{path}:1: holds {kind}, not an L2 book; expected columns {','.join(BOOK_COLUMNS)}")
        one_id = not {"first_update_id", "last_update_id"} <= cols.keys()
        rebuild = _Rebuild(path, depth, backstep_tolerance_ms, one_id=one_id)
        try:
            for message in _messages(path, reader, cols):
                yield from rebuild.message(message)
        except _READ_ERRORS as exc:
            raise DataError(f"{path}:{reader.line_num + 1}: unreadable gzip or text: {exc}") from None
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
        except (ValueError, InvalidOperation, IndexError) as exc:
            raise DataError(f"{path}:{reader.line_num}: not a valid number or value in row: {exc!r}") from None
        rebuild.finish()


def _messages(path: Path, reader: Any, cols: dict[str, int]) -> Iterator[_Message]:
    """Group a file's rows into messages, each level parsed and checked (prices and sizes memoised)."""
    i_ts, i_type, i_side, i_price, i_qty = (cols[c] for c in BOOK_COLUMNS[:5])
    if "first_update_id" in cols and "last_update_id" in cols:
        i_first, i_last = cols["first_update_id"], cols["last_update_id"]
    else:  # one id per message (Bybit u): it is both
        i_first = i_last = cols["update_id"]
    i_prev = cols.get("prev_last_update_id")
    prices: dict[str, Decimal] = {}
    sizes: dict[str, Decimal] = {}
    sides = _SIDES
    ts_s = type_s = first_s = last_s = ""
    head: list[str] = []
    head_line = 0
    levels: list[tuple[str, Decimal, Decimal]] = []
    append = levels.append
    for row in reader:
        if row[i_last] != last_s or row[i_first] != first_s or row[i_ts] != ts_s or row[i_type] != type_s:
            if head:
                yield _message(path, head_line, head, levels, i_ts, i_type, i_first, i_last, i_prev)
            head, head_line, levels = row, reader.line_num, []
            append = levels.append
            ts_s, type_s, first_s, last_s = row[i_ts], row[i_type], row[i_first], row[i_last]
        try:  # the fast path: a known side, a price and a size seen before (checked when first parsed)
            append((sides[row[i_side]], prices[row[i_price]], sizes[row[i_qty]]))
        except KeyError:
            append(_level(path, reader.line_num, row[i_side], row[i_price], row[i_qty], prices, sizes))
    if head:
        yield _message(path, head_line, head, levels, i_ts, i_type, i_first, i_last, i_prev)


def _level(
    path: Path, line: int, side_text: str, price_text: str, size_text: str,
    prices: dict[str, Decimal], sizes: dict[str, Decimal],
) -> tuple[str, Decimal, Decimal]:  # fmt: skip
    side = _SIDES.get(side_text)
    if side is None:
        side = _SIDES.get(side_text.strip().lower())
        if side is None:
            raise DataError(f"{path}:{line}: book side must be bid or ask, got {side_text!r}")
    price = prices.get(price_text)
    if price is None:
        price = _number(path, line, price_text, prices, price_problem, "price")
    size = sizes.get(size_text)
    if size is None:
        size = _number(path, line, size_text, sizes, size_problem, "quantity")
    return side, price, size


def _number(path: Path, line: int, text: str, memo: dict[str, Decimal], check: Any, name: str) -> Decimal:
    value = Decimal(text)
    problem = check(name, value)
    if problem is not None:
        raise DataError(f"{path}:{line}: {problem}")
    if len(memo) < _MEMO_MAX:
        memo[text] = value
    return value


def _message(
    path: Path, line: int, head: list[str], levels: list[tuple[str, Decimal, Decimal]],
    i_ts: int, i_type: int, i_first: int, i_last: int, i_prev: int | None,
) -> _Message:  # fmt: skip
    try:
        ts = int(head[i_ts])
        first, last = int(head[i_first]), int(head[i_last])
        prev_text = head[i_prev].strip() if i_prev is not None else ""
        prev = int(prev_text) if prev_text else None
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}:{line}: not a valid timestamp or update id: {exc}") from None
    problem = timestamp_problem(ts)
    if problem is not None:
        raise DataError(f"{path}:{line}: {problem}")
    snapshot = _TYPES.get(head[i_type].strip().lower())
    if snapshot is None:
        raise DataError(f"{path}:{line}: update_type must be snapshot or delta, got {head[i_type]!r}")
    if first > last:
        raise DataError(f"{path}:{line}: first_update_id {first} is above last_update_id {last}")
    return _Message(line, ts, snapshot, first, last, prev, levels)


class _Rebuild:
    """The snapshot-then-deltas state machine of ``book_states`` over one file's messages."""

    def __init__(self, path: Path, depth: int, tolerance_ms: int, *, one_id: bool) -> None:
        self.path = path
        names = ("update_id", "update_id") if one_id else ("first_update_id", "last_update_id")
        self.first_name, self.last_name = names
        self.depth = depth
        self.tolerance_ms = tolerance_ms
        self.book = L2Book()
        self.snapshot_id: int | None = None
        self.last_id: int | None = None  # None: the next delta is the first after a snapshot
        self.buffered: list[_Message] = []
        self.published_ts = -(2**62)
        self.skipped = 0
        self.first_skipped_line = 0
        self.dropped = 0

    def message(self, msg: _Message) -> Iterator[BookState]:
        if msg.snapshot:
            yield from self._snapshot(msg)
        elif self.snapshot_id is None:
            if len(self.buffered) >= MAX_BUFFERED:
                raise DataError(
                    f"{self.path}:{msg.line}: {MAX_BUFFERED} deltas and no snapshot yet; an L2 file must start "
                    "with (or soon reach) a snapshot of the book"
                )
            self.buffered.append(msg)
        else:
            if msg.ts_ms < self.published_ts - self.tolerance_ms:
                raise DataError(
                    f"{self.path}:{msg.line}: timestamps go backwards ({msg.ts_ms} after {self.published_ts}, more "
                    f"than {self.tolerance_ms} ms); the file's messages must be in time order"
                )
            if self._delta(msg):
                yield from self._publish(msg.ts_ms, msg.line)

    def finish(self) -> None:
        if self.snapshot_id is None:
            raise DataError(f"{self.path}: no snapshot in the file; an L2 book cannot be rebuilt from deltas alone")
        if self.skipped:
            log.warning(
                "book_states_skipped", path=str(self.path), count=self.skipped, first_line=self.first_skipped_line,
                reason="empty, one-sided or crossed book",
            )  # fmt: skip
        if self.dropped:
            log.debug("book_deltas_dropped", path=str(self.path), count=self.dropped, reason="older than snapshot")

    def _snapshot(self, msg: _Message) -> Iterator[BookState]:
        book = self.book
        book.clear()
        book.update(msg.levels)
        self.snapshot_id = msg.last_id
        self.last_id = None
        ts = msg.ts_ms
        pending, self.buffered = self.buffered, []
        for delta in pending:
            if self._delta(delta):
                ts = max(ts, delta.ts_ms)
        yield from self._publish(ts, msg.line)

    def _delta(self, msg: _Message) -> bool:
        """Apply a delta after a snapshot; False when it is older than the snapshot (dropped)."""
        last = self.last_id
        if last is None:
            assert self.snapshot_id is not None
            if msg.last_id < self.snapshot_id:
                self.dropped += 1
                return False
            if msg.first_id > self.snapshot_id + 1:
                raise DataError(
                    f"{self.path}:{msg.line}: update id gap: the first delta after the snapshot "
                    f"({self.last_name} {self.snapshot_id}) starts at {self.first_name} {msg.first_id}; messages were "
                    "lost: record again, or cut the file and start it with a fresh snapshot"
                )
        elif msg.prev_last_id is not None:
            if msg.prev_last_id != last:
                raise DataError(
                    f"{self.path}:{msg.line}: update id gap: prev_last_update_id {msg.prev_last_id} is not the "
                    f"previous message's last_update_id {last}; messages were lost: cut the file before this line "
                    "and start the rest with a fresh snapshot"
                )
        elif msg.first_id != last + 1:
            raise DataError(
                f"{self.path}:{msg.line}: update id gap: {self.first_name} {msg.first_id} does not follow the previous "
                f"message's {self.last_name} {last} (expected {last + 1}); messages were lost: cut the file before "
                "this line and start the rest with a fresh snapshot"
            )
        self.book.update(msg.levels)
        self.last_id = msg.last_id
        return True

    def _publish(self, ts: int, line: int) -> Iterator[BookState]:
        view = self.book.view(self.depth)
        if not view.bids or not view.asks or view.bids[0][0] > view.asks[0][0]:
            if not self.skipped:
                self.first_skipped_line = line
            self.skipped += 1
            return
        assert self.snapshot_id is not None
        if ts < self.published_ts:
            ts = self.published_ts
        self.published_ts = ts
        yield BookState(ts, self.snapshot_id if self.last_id is None else self.last_id, view)
