"""Money and quantities: exact ``Decimal`` values.

``Price`` and ``Quantity`` are ``NewType``s over ``Decimal`` rather than wrapper classes: the replay and
backtest hot paths handle hundreds of thousands of them a second, and a wrapper would cost a Python
object and a method call per arithmetic step. Their invariants (positive, on the market's grid) are
checked where they are created: in the adapters (``to_decimal`` + ``Market.round_*``) and in the risk
gate. ``Money`` carries its currency and is used for balances, fees and PnL reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN
from decimal import ROUND_HALF_EVEN
from decimal import ROUND_UP
from decimal import Decimal
from decimal import InvalidOperation
from typing import NewType

__all__ = [
    "ZERO",
    "Money",
    "Price",
    "Quantity",
    "decimal_text",
    "round_to_increment",
    "to_decimal",
]

Price = NewType("Price", Decimal)
"""A price in quote currency per unit of base currency."""
Quantity = NewType("Quantity", Decimal)
"""An amount of base currency (contracts on derivatives)."""

ZERO = Decimal(0)


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Convert a number or numeric string to a finite ``Decimal``, exactly.

    Floats go through ``str`` (``Decimal(str(0.1)) == Decimal("0.1")``), the one conversion used at every
    boundary (ccxt answers, CSV files, JSON).

    Raises:
        ValueError: naming ``field`` when the value is missing, not a number, NaN or infinite.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a number, got {value!r}")
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{field}: expected a number, got {value!r}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise ValueError(f"{field}: expected a number, got {value!r}")
    if not result.is_finite():
        raise ValueError(f"{field}: expected a finite number, got {value!r}")
    return result


def decimal_text(value: Decimal) -> str:
    """Return ``value`` as plain text: no exponent, no trailing zeros, ``"0"`` for zero (``-0`` too).

    ``Decimal("1E+1")`` → ``"10"``, ``Decimal("0.0100")`` → ``"0.01"``. The one text form of an exact figure in
    messages, reports, the journal and the trade fingerprint; a wire format with fixed places (Binance's
    eight decimals) is built where that wire is spoken. ``normalize`` rounds to the context precision (28 digits).
    """
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


_ROUNDING = {"down": ROUND_DOWN, "up": ROUND_UP, "nearest": ROUND_HALF_EVEN}


def round_to_increment(value: Decimal, increment: Decimal, mode: str = "nearest") -> Decimal:
    """Round ``value`` to a multiple of ``increment`` (``mode``: ``down``, ``up`` or ``nearest``).

    The result carries the increment's exponent, so ``round_to_increment(Decimal("1.23456"),
    Decimal("0.01"))`` is ``Decimal("1.23")``.
    """
    if increment <= 0:
        raise ValueError("increment must be > 0")
    steps = (value / increment).quantize(Decimal(1), rounding=_ROUNDING[mode])
    return (steps * increment).quantize(increment)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency. ``+``/``-`` keep the type (same currency only)."""

    amount: Decimal
    currency: str

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _check(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
