"""Crossing helpers, with the tie rule: **a tie is not a cross**.

``crossed_above(prev_a, prev_b, a, b)`` is True when ``a`` was strictly below ``b`` on the previous bar
and is strictly above it now; equal values on either bar are no cross. A touch followed by a return
(below, equal, below) is therefore no trade, but so is below → equal → above seen two bars at a time:
use ``CrossTracker`` for that: it remembers the last side that was not a tie (as backtrader's
``CrossOver`` and ``sma_cross`` do), so below → equal → above is one cross, on the bar where ``a`` goes
above.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["CrossTracker", "crossed_above", "crossed_below"]

Number = float | Decimal | int


def crossed_above(prev_a: Number, prev_b: Number, a: Number, b: Number) -> bool:
    """Return True when ``a`` went from strictly below ``b`` to strictly above it (a tie is not a cross)."""
    return prev_a < prev_b and a > b


def crossed_below(prev_a: Number, prev_b: Number, a: Number, b: Number) -> bool:
    """Return True when ``a`` went from strictly above ``b`` to strictly below it (a tie is not a cross)."""
    return prev_a > prev_b and a < b


class CrossTracker:
    """The side of ``a`` against ``b`` across bars, ties holding the last side.

    ``update(a, b)`` returns +1 when ``a`` crossed above ``b`` on this bar, −1 when it crossed below, and 0
    otherwise (the first comparison, a tie, or no change of side).
    """

    def __init__(self) -> None:
        self.above: bool | None = None

    def update(self, a: Number, b: Number) -> int:
        """Compare this bar's values; return +1 (crossed above), −1 (crossed below) or 0."""
        if a == b:
            return 0
        above = a > b
        previous, self.above = self.above, above
        if previous is None or previous == above:
            return 0
        return 1 if above else -1
