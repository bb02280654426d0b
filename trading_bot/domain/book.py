"""An L2 order book: ``L2Book`` (the mutable builder a reader applies updates to) and ``BookView`` (its frozen
top levels, carried by ``MarketData.book``).

Prices are in quote currency, sizes in base currency (``Decimal`` both). A level is ``(price, size)`` with
``size > 0``; a size of 0 in an update removes the level. Sides are named from the resting order's point of
view, as ``OrderSide`` does: a resting BUY joins the **bids**, a resting SELL the **asks**; a taker BUY takes
the asks, a taker SELL the bids.

``L2Book`` keeps per side a ``dict`` price → level and a sorted ``list`` of prices (``bisect``): an update of an
existing level is one dict store, a new or removed level one binary search plus a list insert/delete (a
``memmove`` of at most a few thousand pointers). ``view(depth)`` copies the top ``depth`` levels per side.
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain.enums import OrderSide

__all__ = ["BookView", "L2Book", "Level"]

Level = tuple[Decimal, Decimal]
"""One price level: ``(price, size)``, quote currency per base unit and base units."""

_ZERO = Decimal(0)
_BID, _ASK = 0, 1
_SIDE_INDEX: dict[str, int] = {"bid": _BID, "buy": _BID, "ask": _ASK, "sell": _ASK}
"""``OrderSide`` is a ``StrEnum`` (``"buy"`` / ``"sell"``), so it indexes this map too."""


@dataclass(frozen=True, slots=True)
class BookView:
    """The top levels of an order book at one instant (immutable; best level first on each side).

    Attributes:
        bids: ``(price, size)`` levels by descending price, sizes > 0.
        asks: ``(price, size)`` levels by ascending price, sizes > 0.
    """

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def size_at(self, side: OrderSide, price: Decimal) -> Decimal:
        """Return the size shown at ``price`` on the side a resting order of ``side`` joins (BUY: the bids).

        Returns 0 when the level is absent from the view (not shown, or beyond its depth).
        """
        if side is OrderSide.BUY:
            for level_price, size in self.bids:
                if level_price <= price:
                    return size if level_price == price else _ZERO
        else:
            for level_price, size in self.asks:
                if level_price >= price:
                    return size if level_price == price else _ZERO
        return _ZERO

    def walk(self, side: OrderSide, quantity: Decimal) -> tuple[Level, ...]:
        """Return the ``(price, quantity)`` slices a taker order of ``side`` for ``quantity`` base would fill.

        A BUY takes the asks, a SELL the bids, best price first, until ``quantity`` is used up. When the view
        holds less than ``quantity``, every level is returned and the rest is the caller's to decide (the sum
        of the slices is then below ``quantity``). A ``quantity`` of 0 fills nothing.

        Raises:
            ValueError: ``quantity`` is negative.
        """
        if quantity < 0:
            raise ValueError(f"walk: quantity {quantity} must be >= 0")
        slices: list[Level] = []
        left = quantity
        for price, size in self.asks if side is OrderSide.BUY else self.bids:
            if left <= 0:
                break
            take = size if size < left else left
            slices.append((price, take))
            left -= take
        return tuple(slices)

    def available(self, side: OrderSide) -> Decimal:
        """Return the base quantity a taker order of ``side`` could fill in this view (the opposite side's sum)."""
        levels = self.asks if side is OrderSide.BUY else self.bids
        return sum((size for _, size in levels), _ZERO)


class L2Book:
    """A mutable price-level book: apply level updates, read the best levels, take ``BookView`` snapshots.

    Not thread-safe; one reader owns it. Crossed states (best bid above best ask) are stored as given: the
    reader decides whether to publish them.
    """

    __slots__ = ("_levels", "_prices")

    def __init__(self) -> None:
        self._levels: tuple[dict[Decimal, Level], dict[Decimal, Level]] = ({}, {})  # price -> (price, size)
        self._prices: tuple[list[Decimal], list[Decimal]] = ([], [])  # both ascending

    def apply(self, side: OrderSide | str, price: Decimal, quantity: Decimal) -> None:
        """Set the size of one level: ``quantity`` base at ``price`` (0 removes the level).

        Args:
            side: ``"bid"`` / ``OrderSide.BUY`` (``"buy"``) or ``"ask"`` / ``OrderSide.SELL`` (``"sell"``).
            price: the level's price, quote currency.
            quantity: the level's new total size, base currency; 0 removes it (absent levels are ignored).

        Raises:
            ValueError: an unknown side or a negative quantity (readers check their data before this).
        """
        self.update(((side, price, quantity),))

    def update(self, levels: Iterable[tuple[OrderSide | str, Decimal, Decimal]]) -> None:
        """Apply ``(side, price, quantity)`` updates in order, as ``apply`` does one (a message's levels at once).

        Raises:
            ValueError: an unknown side or a negative quantity; the updates before it are applied.
        """
        side_index = _SIDE_INDEX
        all_levels, all_prices = self._levels, self._prices
        zero = _ZERO
        for side, price, quantity in levels:
            index = side_index.get(side)
            if index is None or quantity < zero:
                raise _invalid(side, price, quantity)
            book = all_levels[index]
            if quantity:
                if price not in book:
                    insort(all_prices[index], price)
                book[price] = (price, quantity)
            elif book.pop(price, None) is not None:
                prices = all_prices[index]
                del prices[bisect_left(prices, price)]

    def clear(self) -> None:
        """Remove every level of both sides (before a new snapshot)."""
        for book in self._levels:
            book.clear()
        for prices in self._prices:
            prices.clear()

    def best_bid(self) -> Level | None:
        """Return the highest bid ``(price, size)``, or ``None`` when there are no bids."""
        prices = self._prices[_BID]
        return self._levels[_BID][prices[-1]] if prices else None

    def best_ask(self) -> Level | None:
        """Return the lowest ask ``(price, size)``, or ``None`` when there are no asks."""
        prices = self._prices[_ASK]
        return self._levels[_ASK][prices[0]] if prices else None

    def levels(self) -> tuple[int, int]:
        """Return how many bid and ask levels the book holds."""
        return len(self._prices[_BID]), len(self._prices[_ASK])

    def view(self, depth: int) -> BookView:
        """Return the top ``depth`` levels of each side (fewer when the side has fewer).

        Raises:
            ValueError: ``depth`` is below 1.
        """
        if depth < 1:
            raise ValueError(f"book depth must be >= 1, got {depth}")
        bids, asks = self._levels
        bid_prices, ask_prices = self._prices
        return BookView(
            bids=tuple(map(bids.__getitem__, bid_prices[: -depth - 1 : -1])),
            asks=tuple(map(asks.__getitem__, ask_prices[:depth])),
        )


def _invalid(side: OrderSide | str, price: Decimal, quantity: Decimal) -> ValueError:
    if _SIDE_INDEX.get(side) is None:
        return ValueError(f"book side must be bid or ask (or an OrderSide), got {side!r}")
    return ValueError(f"book quantity {quantity} at {price} must be >= 0")
