"""Bars held column-wise: ``BarColumns`` is a ``Sequence[Bar]`` of integer columns, each ``Bar`` built when read.

A loaded bar used to be one frozen ``Bar`` (80 bytes) plus its 32-byte ``int`` time, and its five
``Decimal``s shared through a memo: ≈ 120 bytes a bar, 120 MB at 1M bars. Here a bar is six 8-byte
slots of ``array('q')`` columns (time, open, high, low, close, volume): 48 bytes a bar.

A number is stored **packed**: ``coefficient × 16 + places`` for the ``Decimal`` ``coefficient ×
10^-places`` (``places`` 0–15). That is the ``Decimal``'s own coefficient and exponent, not a scale
shared by the file: ``1.10`` and ``1.1`` stay two numbers, so each read gives back exactly the
``Decimal(text)`` of the file, exponent included (``str`` of prices, fees and PnL derived from them,
reports and trade fingerprints are unchanged). A column takes a plain ``list`` of ``Decimal``s instead
as soon as one of its values does not pack (more than 15 places, a positive exponent such as ``1E+3``,
a negative sign, a coefficient of 2^59 or more); the other columns stay packed.

Reading a bar decodes through one memo per store (``packed → Decimal``, up to ``memo_max`` entries,
seeded with the loader's own ``Decimal``s), so repeated prices share one object, as the loader's
text memo did. Indexing with an ``int`` builds one ``Bar``; a slice is a view on the same columns
(no copy); iteration builds the bars one at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import fields
from decimal import Context
from decimal import Decimal
from typing import overload

from trading_bot.domain import Bar

__all__ = ["BarColumns", "ColumnsBuilder", "Stored", "Values", "decode", "pack", "pack_text", "times_and_closes"]

_PLACES = 16
"""Packed numbers carry their decimal places in ``packed % 16``: 0–15 places."""
_MAX_PACKED = 1 << 63
_EXACT = Context(prec=40)
"""Decoding context: wider than any packed coefficient (< 2^59, 18 digits), so never rounds."""
_SCALES = [Decimal(1).scaleb(-k, _EXACT) for k in range(_PLACES)]
_FIELDS = ("ts_ms", "open", "high", "low", "close", "volume")
if tuple(f.name for f in fields(Bar)) != _FIELDS or hasattr(Bar, "__post_init__"):  # pragma: no cover
    raise ImportError("exchanges.bar_columns builds Bar from its slots: update it for Bar's new fields")
_NEW = object.__new__
_SET_TS, _SET_OPEN, _SET_HIGH, _SET_LOW, _SET_CLOSE, _SET_VOLUME = (getattr(Bar, f).__set__ for f in _FIELDS)
"""``Bar`` is frozen: its ``__init__`` sets each field through ``object.__setattr__`` (≈ 3 µs a bar on
the bench machine). Reading a bar sets the slots directly (≈ 1 µs), the same six fields, nothing else."""


def pack_text(text: str, value: Decimal) -> int | None:
    """Return ``value`` (which is ``Decimal(text)``) packed, reading a plain ``123.45`` from its text (faster)."""
    head, _, tail = text.partition(".")
    digits = head + tail
    if digits.isascii() and digits.isdigit() and len(digits) <= 18 and len(tail) < _PLACES:
        packed = int(digits) * _PLACES + len(tail)
        return packed if packed < _MAX_PACKED else None
    return pack(value)


def pack(value: Decimal) -> int | None:
    """Return ``value`` packed (see the module docstring), or ``None`` when it does not pack."""
    sign, digits, exponent = value.as_tuple()
    if sign or not isinstance(exponent, int) or not -_PLACES < exponent <= 0 or len(digits) > 18:
        return None
    packed = int(value.scaleb(-exponent, _EXACT)) * _PLACES - exponent
    return packed if packed < _MAX_PACKED else None


def decode(packed: int) -> Decimal:
    """Return the ``Decimal`` that ``pack`` packed as ``packed`` (same coefficient and exponent)."""
    return _EXACT.multiply(Decimal(packed >> 4), _SCALES[packed & 15])


class _Decoded(dict[int, Decimal]):
    """``memo[packed]`` is the ``Decimal`` packed there; up to ``limit`` of them are kept."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, packed: int) -> Decimal:
        value = decode(packed)
        if len(self) < self.limit:
            self[packed] = value
        return value


class _Plain(dict[Decimal, Decimal]):
    """The decoder of a ``list`` column: ``plain[d]`` is ``d`` (always empty)."""

    __slots__ = ()

    def __missing__(self, value: Decimal) -> Decimal:
        return value


_PLAIN = _Plain()
Stored = int | Decimal
"""One stored number: packed, or the ``Decimal`` itself in a ``list`` column."""
Values = tuple[Stored, Stored, Stored, Stored, Stored]
"""A bar's stored open, high, low, close, volume."""


class ColumnsBuilder:
    """Collects rows for a ``BarColumns``: times must come ascending (the loader checks them first)."""

    __slots__ = ("columns", "memo", "packed", "ts")

    def __init__(self, memo_max: int) -> None:
        self.ts = array("q")
        self.columns: list[array[int] | list[Decimal]] = [array("q") for _ in range(5)]
        self.memo = _Decoded(memo_max)
        self.packed = True
        """Every column is still an ``array``."""

    def __len__(self) -> int:
        return len(self.ts)

    def append(self, ts_ms: int, values: Values) -> None:
        """Add one bar: ``values`` are open, high, low, close, volume, each packed or a ``Decimal``."""
        if self.packed:
            o, h, lo, c, v = self.columns
            try:
                o.append(values[0])  # type: ignore[arg-type]
                h.append(values[1])  # type: ignore[arg-type]
                lo.append(values[2])  # type: ignore[arg-type]
                c.append(values[3])  # type: ignore[arg-type]
                v.append(values[4])  # type: ignore[arg-type]
            except TypeError:  # a Decimal that does not pack: undo this row's appends, then take the slow way
                for column in self.columns:
                    del column[len(self.ts) :]
            else:
                self.ts.append(ts_ms)
                return
        for k, value in enumerate(values):
            column = self.columns[k]
            if isinstance(column, list):
                column.append(value if isinstance(value, Decimal) else self.memo[value])
            elif isinstance(value, Decimal):
                self.columns[k] = [*(self.memo[p] for p in column), value]
                self.packed = False
            else:
                column.append(value)
        self.ts.append(ts_ms)

    def raw(self, index: int) -> Values:
        """The stored values of bar ``index`` (packed or ``Decimal``), for merging stores."""
        o, h, lo, c, v = self.columns
        return o[index], h[index], lo[index], c[index], v[index]

    def share(self, packed: int, value: Decimal) -> None:
        """Decode ``packed`` as this very ``value`` object (the loader's), while the memo has room."""
        if len(self.memo) < self.memo.limit:
            self.memo.setdefault(packed, value)

    def build(self) -> BarColumns:
        """Return the store (the builder must not be used afterwards)."""
        return BarColumns(self.ts, self.columns, self.memo, range(len(self.ts)))


class BarColumns(Sequence[Bar]):
    """Bars of one or more files, open time strictly ascending, held as columns (see the module docstring).

    Behaves as a read-only ``Sequence[Bar]``: ``len``, ``bars[i]`` (a new ``Bar``, equal to the loaded one),
    ``bars[a:b]`` (a ``BarColumns`` view sharing the columns), iteration, ``reversed``, ``in``, ``index``.
    """

    __slots__ = ("_columns", "_decoders", "_rows", "_ts")

    def __init__(
        self, ts: array[int], columns: list[array[int] | list[Decimal]], memo: _Decoded, rows: range
    ) -> None:  # fmt: skip
        self._ts = ts
        self._columns = columns
        self._decoders: list[dict[int, Decimal] | dict[Decimal, Decimal]] = [
            _PLAIN if isinstance(c, list) else memo for c in columns
        ]
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Bar: ...

    @overload
    def __getitem__(self, index: slice) -> BarColumns: ...

    def __getitem__(self, index: int | slice) -> Bar | BarColumns:
        if isinstance(index, slice):
            view = BarColumns.__new__(BarColumns)
            view._ts, view._columns, view._decoders = self._ts, self._columns, self._decoders
            view._rows = self._rows[index]
            return view
        return self._bar(self._rows[index])

    def _bar(self, i: int) -> Bar:
        (o, h, lo, c, v), (do, dh, dl, dc, dv) = self._columns, self._decoders
        bar: Bar = _NEW(Bar)
        _SET_TS(bar, self._ts[i])
        _SET_OPEN(bar, do[o[i]])  # type: ignore[index]
        _SET_HIGH(bar, dh[h[i]])  # type: ignore[index]
        _SET_LOW(bar, dl[lo[i]])  # type: ignore[index]
        _SET_CLOSE(bar, dc[c[i]])  # type: ignore[index]
        _SET_VOLUME(bar, dv[v[i]])  # type: ignore[index]
        return bar

    def __iter__(self) -> Iterator[Bar]:
        ts = self._ts
        (o, h, lo, c, v), (do, dh, dl, dc, dv) = self._columns, self._decoders
        new, bar_cls = _NEW, Bar
        set_ts, set_o, set_h, set_l, set_c, set_v = _SET_TS, _SET_OPEN, _SET_HIGH, _SET_LOW, _SET_CLOSE, _SET_VOLUME
        for i in self._rows:
            bar = new(bar_cls)
            set_ts(bar, ts[i])
            set_o(bar, do[o[i]])  # type: ignore[index]
            set_h(bar, dh[h[i]])  # type: ignore[index]
            set_l(bar, dl[lo[i]])  # type: ignore[index]
            set_c(bar, dc[c[i]])  # type: ignore[index]
            set_v(bar, dv[v[i]])  # type: ignore[index]
            yield bar

    def __reversed__(self) -> Iterator[Bar]:
        return iter(self[::-1])

    def column_arrays(self) -> tuple[array[int], list[array[int] | list[Decimal]], range]:
        """Return the stored columns as they are (times; open, high, low, close, volume) and this view's rows.

        For a reader that converts whole columns at once (``strategies.lib.batch``); not to be modified.
        """
        return self._ts, self._columns, self._rows

    def times_and_closes(self, stop: int) -> Iterator[tuple[int, Decimal]]:
        """Yield (open time ms, close) of the first ``stop`` bars without building a ``Bar`` each."""
        ts, closes, decode = self._ts, self._columns[3], self._decoders[3]
        for i in self._rows[:stop]:
            yield ts[i], decode[closes[i]]  # type: ignore[index]

    def __repr__(self) -> str:
        return f"BarColumns({len(self):,} bars)"


def times_and_closes(bars: Sequence[Bar], stop: int) -> Iterator[tuple[int, Decimal]]:
    """Yield (open time ms, close) of the first ``stop`` of ``bars``: from the columns when they are columns."""
    if isinstance(bars, BarColumns):
        return bars.times_and_closes(stop)
    return ((b.ts_ms, b.close) for b in bars[:stop])
