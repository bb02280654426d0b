"""Price sources: a replay file reader (quotes, trades or bars CSV[.gz]) and a seeded random walk.

The reader accepts the formats of ``/work/shared/data`` (see its README): a header row, ``timestamp`` in
epoch ms, then ``bid_price,bid_size,ask_price,ask_size`` (quotes), ``price,quantity,side`` (trades, side =
taker side) or ``open,high,low,close,volume[,quote_volume,trades,taker_buy_volume]`` (bars). Long-format
files with a ``symbol`` column are filtered to one market.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import file_symbol
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import trade_problem
from trading_bot.emulator.config import market_id
from trading_bot.emulator.klines import StoredBar
from trading_bot.emulator.market import quantize_down
from trading_bot.errors import DataError
from trading_bot.files import open_data_text

__all__ = [
    "QuoteEvent",
    "RandomWalk",
    "ReplayFile",
    "TradeEvent",
    "load_replay",
    "symbol_from_filename",
]


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    """A new external top of book at ``time_ms``."""

    time_ms: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A public trade print at ``time_ms``; ``taker_buy`` is True when the buyer took liquidity."""

    time_ms: int
    price: Decimal
    qty: Decimal
    taker_buy: bool


@dataclass(frozen=True, slots=True)
class ReplayFile:
    """A loaded replay file: its ``kind`` and either ``events`` (quotes/trades) or ``bars``."""

    kind: str
    events: list[QuoteEvent | TradeEvent]
    bars: list[StoredBar]
    bar_ms: int

    def __len__(self) -> int:
        return len(self.bars) if self.kind == "bars" else len(self.events)

    def first_price(self) -> Decimal:
        """Return the first price of the file (to size the market's filters)."""
        if self.bars:
            return self.bars[0].open
        first = self.events[0]
        return first.price if isinstance(first, TradeEvent) else (first.bid + first.ask) / 2

    def iter_from(self, index: int, tick: Decimal) -> Iterator[QuoteEvent | TradeEvent]:
        """Yield the events from row ``index`` on; a bar becomes O, H/L, L/H, C prints with quotes."""
        if self.kind != "bars":
            yield from self.events[index:]
            return
        for bar in self.bars[index:]:
            yield from _bar_events(bar, self.bar_ms, tick)


def symbol_from_filename(path: Path) -> str | None:
    """Return the unified symbol named by a ``<exchange>_<SYMBOL>_<kind>.csv[.gz]`` file, if any."""
    return file_symbol(path.name)


def load_replay(path: Path, symbol: str) -> ReplayFile:
    """Load ``path`` for ``symbol`` (rows of other symbols are skipped in long-format files).

    Every row must be a plausible record (``trading_bot.domain.checks``): the emulator never replays a
    quote, trade or bar a real venue could not send.

    Raises:
        DataError: naming the file (and line) if the header is none of the known formats, no row is
            left, a value is not a number, or a record is impossible (``q.csv:7: bid -2 must be > 0``).
    """
    wanted = market_id(symbol)
    try:
        with open_data_text(path, "replay file") as handle:
            reader = csv.DictReader(handle)
            header = set(reader.fieldnames or ())
            rows = [
                (reader.line_num, r)
                for r in reader
                if "symbol" not in r or _same(r["symbol"], wanted, path, reader.line_num)
            ]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable replay file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: no rows for {symbol}")
    parse: Callable[[dict[str, str]], QuoteEvent | TradeEvent | StoredBar]
    if "update_type" in header:  # an L2 book's level rows have price, quantity and side, but are no trades
        raise DataError(f"{path}:1: an L2 book file; the emulator replays quotes, trades or bars, not books")
    if {"bid_price", "ask_price"} <= header:
        kind, parse = "quotes", _quote
    elif {"price", "quantity", "side"} <= header:
        kind, parse = "trades", _trade
    elif {"open", "high", "low", "close"} <= header:
        kind, parse = "bars", _bar
    else:
        raise DataError(f"{path}:1: unknown replay format, header {sorted(header)}")
    events: list[QuoteEvent | TradeEvent] = []
    bars: list[StoredBar] = []
    for line, row in rows:
        try:
            record = parse(row)
        except (ValueError, ArithmeticError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{line}: not a valid number or value in row: {exc!r}") from None
        problem = _problem(record)
        if problem is not None:
            raise DataError(f"{path}:{line}: {problem}")
        if isinstance(record, StoredBar):
            bars.append(record)
        else:
            events.append(record)
    if kind != "bars":
        return ReplayFile(kind, events, [], 0)
    diffs = [b.open_ms - a.open_ms for a, b in itertools.pairwise(bars) if b.open_ms > a.open_ms]
    return ReplayFile("bars", [], bars, min(diffs) if diffs else 60_000)


def _problem(record: QuoteEvent | TradeEvent | StoredBar) -> str | None:
    if isinstance(record, QuoteEvent):
        return quote_problem(record.time_ms, record.bid, record.bid_qty, record.ask, record.ask_qty)
    if isinstance(record, TradeEvent):
        return trade_problem(record.time_ms, record.price, record.qty)
    return bar_problem(record.open_ms, record.open, record.high, record.low, record.close, record.volume)


def _same(raw: str | None, wanted: str, path: Path, line: int) -> bool:
    if raw is None:  # a short row: csv.DictReader fills the missing cells with None
        raise DataError(f"{path}:{line}: the row has no symbol cell")
    try:
        return market_id(raw) == wanted
    except ValueError:
        return False


def _quote(row: dict[str, str]) -> QuoteEvent:
    return QuoteEvent(
        int(row["timestamp"]),
        Decimal(row["bid_price"]),
        Decimal(row["bid_size"] or "1"),
        Decimal(row["ask_price"]),
        Decimal(row["ask_size"] or "1"),
    )


def _trade(row: dict[str, str]) -> TradeEvent:
    return TradeEvent(int(row["timestamp"]), Decimal(row["price"]), Decimal(row["quantity"]), row["side"] == "buy")


def _bar(row: dict[str, str]) -> StoredBar:
    volume = Decimal(row.get("volume") or "0")
    close = Decimal(row["close"])
    quote_volume = row.get("quote_volume")
    return StoredBar(
        int(row["timestamp"]),
        Decimal(row["open"]),
        Decimal(row["high"]),
        Decimal(row["low"]),
        close,
        volume,
        Decimal(quote_volume) if quote_volume else volume * close,
        int(float(row.get("trades") or 0)),
        Decimal(row.get("taker_buy_volume") or "0"),
    )


def _bar_events(bar: StoredBar, bar_ms: int, tick: Decimal) -> Iterator[QuoteEvent | TradeEvent]:
    path = [bar.open, bar.low, bar.high, bar.close]
    if bar.close < bar.open:
        path = [bar.open, bar.high, bar.low, bar.close]
    qty = bar.volume / 4
    for i, price in enumerate(path):
        time_ms = bar.open_ms + bar_ms * i // 4
        taker_buy = i > 0 and price >= path[i - 1]
        bid, ask = (price - tick, price) if taker_buy else (price, price + tick)
        if bid > 0:
            yield QuoteEvent(time_ms, bid, max(qty, Decimal(1)), ask, max(qty, Decimal(1)))
        if qty > 0:
            yield TradeEvent(time_ms, price, qty, taker_buy)


class RandomWalk:
    """Seeded geometric random walk of a mid price on the tick grid, with occasional trade prints.

    Args:
        seed: Random seed (the same seed gives the same path).
        tick: Price tick size.
        step: Quantity step size.
        volatility: Standard deviation of one step's relative move.
    """

    def __init__(self, seed: int, tick: Decimal, step: Decimal, volatility: float = 0.0005) -> None:
        self._rng = random.Random(seed)
        self._tick = tick
        self._step = step
        self._vol = volatility

    def _qty(self, price: Decimal) -> Decimal:
        notional = self._rng.uniform(2_000, 60_000)
        return max(quantize_down(Decimal(str(notional)) / price, self._step), self._step)

    def next(self, mid: Decimal, time_ms: int) -> tuple[QuoteEvent, TradeEvent | None]:
        """Return the next quote around a moved ``mid`` and, half of the time, a trade at its touch."""
        moved = mid * Decimal(str(1 + self._rng.gauss(0, self._vol)))
        ask = max(quantize_down(moved, self._tick), self._tick * 2)
        bid = ask - self._tick
        quote = QuoteEvent(time_ms, bid, self._qty(bid), ask, self._qty(ask))
        if self._rng.random() < 0.5:
            return quote, None
        taker_buy = self._rng.random() < 0.5
        price = ask if taker_buy else bid
        return quote, TradeEvent(time_ms, price, self._qty(price), taker_buy)

    def history(self, price: Decimal, end_ms: int, count: int, bar_ms: int = 60_000) -> list[StoredBar]:
        """Return ``count`` seeded bars that end just before ``end_ms`` and close near ``price``."""
        closes = [float(price)]
        for _ in range(count):
            closes.append(closes[-1] / (1 + self._rng.gauss(0, self._vol * 4)))
        closes.reverse()
        last_open = end_ms - end_ms % bar_ms - bar_ms
        bars: list[StoredBar] = []
        for i in range(count):
            o, c = closes[i], closes[i + 1]
            spread = abs(self._rng.gauss(0, self._vol * 2))
            hi, lo = max(o, c) * (1 + spread), min(o, c) * (1 - spread)
            op, high, low, close = (quantize_down(Decimal(str(v)), self._tick) for v in (o, hi, lo, c))
            volume = quantize_down(Decimal(str(self._rng.uniform(5, 50) * 1000 / max(c, 1e-9))), self._step)
            open_ms = last_open - (count - 1 - i) * bar_ms
            bars.append(
                StoredBar(
                    open_ms,
                    op,
                    high,
                    low,
                    close,
                    volume,
                    volume * close,
                    math.ceil(self._rng.uniform(50, 500)),
                    quantize_down(volume / 2, self._step),
                )
            )
        return bars
