"""Finite, documented ranges for every numeric setting: annotated pydantic types shared by all layers.

The config sections (``trading_bot.config``, ``exchanges.config``, ``risk.config``), the strategies'
``Params`` models and the CLI flags all declare their numbers with these types, so one value has one
range wherever it is set (file, ``TRADING_BOT__*`` variable, flag). Every type refuses NaN and
infinities and has both a lower and an upper bound: nothing that passes validation can overflow a
timer (``asyncio.sleep(1e308)``), spin a loop (``heartbeat_s=1e-300``) or break ``Decimal`` arithmetic
(``1e400``). ``describe_range`` renders a field's range for ``list-strategies`` and error messages.

This module imports pydantic, so the package ``trading_bot.domain`` does not import it: the domain
model stays plain dataclasses and ``runbot.py --help`` never loads pydantic. Like the rest of the
domain it imports nothing else of the project, so ``strategies``, ``exchanges`` and ``risk`` may use it.
"""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Annotated
from typing import Any

import annotated_types
from pydantic import Field
from pydantic.fields import FieldInfo

__all__ = [
    "DAY_S",
    "MAX_COUNT",
    "MAX_MONEY",
    "MAX_PERIODS_PER_YEAR",
    "MAX_QUANTITY",
    "MAX_SPEED",
    "MIN_PERIOD_S",
    "YEAR_S",
    "BalanceAmount",
    "BaseAmount",
    "BasisPoints",
    "Count",
    "DurationSeconds",
    "FeeRate",
    "Fraction",
    "FundingRateValue",
    "HeartbeatSeconds",
    "IntervalSeconds",
    "LatencyMs",
    "Leverage",
    "LossPercent",
    "PeriodsPerYear",
    "PriceLevel",
    "QuoteAmount",
    "SpeedFactor",
    "TimeoutSeconds",
    "WindowSeconds",
    "describe_range",
    "field_bounds",
]

MIN_PERIOD_S = 0.01
"""Shortest timer, interval or timeout, seconds: anything shorter is a typo that would spin a loop."""
DAY_S = 86_400.0
"""Longest timeout or polling interval, seconds (1 day)."""
YEAR_S = 31_536_000.0
"""Longest duration or window, seconds (365 days)."""
MAX_MONEY = Decimal("1e15")
"""Largest amount of money (notional, balance, price), in its currency."""
MAX_QUANTITY = Decimal("1e12")
"""Largest quantity, base currency units."""
MAX_COUNT = 1_000_000
"""Largest count (orders, failures, bars in a window)."""
MAX_SPEED = 1e6
"""Largest replay speed factor (a million times real time)."""
MAX_PERIODS_PER_YEAR = 31_536_000_000.0
"""Most periods per year: one per millisecond of a 365-day year."""


HeartbeatSeconds = Annotated[float, Field(ge=MIN_PERIOD_S, le=60, allow_inf_nan=False)]
"""Seconds between supervisor wake-ups: 0.01 to 60."""
TimeoutSeconds = Annotated[float, Field(ge=MIN_PERIOD_S, le=DAY_S, allow_inf_nan=False)]
"""A timeout, seconds: 0.01 s to 1 day."""
IntervalSeconds = Annotated[float, Field(ge=MIN_PERIOD_S, le=DAY_S, allow_inf_nan=False)]
"""A polling or re-check period, seconds: 0.01 s to 1 day."""
DurationSeconds = Annotated[float, Field(ge=MIN_PERIOD_S, le=YEAR_S, allow_inf_nan=False)]
"""A duration that must be positive (data age, stall), seconds: 0.01 s to 365 days."""
WindowSeconds = Annotated[float, Field(ge=0, le=YEAR_S, allow_inf_nan=False)]
"""A window or cooldown that may be zero, seconds: 0 to 365 days."""
QuoteAmount = Annotated[Decimal, Field(gt=0, le=MAX_MONEY, allow_inf_nan=False)]
"""A positive amount of quote currency (notional, cash): above 0, at most 1e15."""
BalanceAmount = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
"""A balance of any currency: 0 to 1e15."""
BaseAmount = Annotated[Decimal, Field(gt=0, le=MAX_QUANTITY, allow_inf_nan=False)]
"""A positive quantity, base currency units: above 0, at most 1e12."""
PriceLevel = Annotated[Decimal, Field(gt=0, le=MAX_MONEY, allow_inf_nan=False)]
"""A price, quote currency per base unit: above 0, at most 1e15."""
FeeRate = Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)]
"""A fee rate (0.001 = 0.1 %): at least 0, below 1."""
BasisPoints = Annotated[Decimal, Field(ge=0, le=10_000, allow_inf_nan=False)]
"""Basis points of a price (1 bp = 0.01 %): 0 to 10000."""
LatencyMs = Annotated[int, Field(ge=0, le=60_000)]
"""A simulated order latency, milliseconds: 0 to one minute."""
FundingRateValue = Annotated[Decimal, Field(ge=Decimal("-0.03"), le=Decimal("0.03"), allow_inf_nan=False)]
"""A perpetual swap's funding rate per funding interval (0.0001 = 0.01 %; + longs pay): -3 % to 3 %."""
Leverage = Annotated[int, Field(ge=1, le=125)]
"""Leverage of a perpetual-swap position: 1x to 125x (Binance USDⓈ-M's highest bracket)."""
Fraction = Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False)]
"""A fraction (0.2 = 20 %): above 0, at most 1."""
LossPercent = Annotated[Decimal, Field(gt=0, lt=100, allow_inf_nan=False)]
"""A loss in percent of equity (15 = -15 %): above 0, below 100."""
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
"""A count: 1 to 1,000,000."""
PeriodsPerYear = Annotated[float, Field(gt=0, le=MAX_PERIODS_PER_YEAR, allow_inf_nan=False)]
"""Periods per year that annualise backtest metrics (252 for weekday daily bars); at most one per millisecond."""
SpeedFactor = Annotated[float, Field(gt=0, le=MAX_SPEED, allow_inf_nan=False)]
"""A replay speed factor (1 = real time): above 0, at most 1e6."""

_LOWER = {annotated_types.Gt: False, annotated_types.Ge: True}
_UPPER = {annotated_types.Lt: False, annotated_types.Le: True}

Bound = tuple[Any, bool]
"""A bound and whether it is inclusive."""


def _constraints(annotation: Any) -> list[Any]:
    """Return the annotated-types constraints inside ``annotation`` (``X``, ``Annotated[X, ...]``, ``X | None``)."""
    found: list[Any] = []
    for meta in getattr(annotation, "__metadata__", ()):
        found.extend(meta.metadata if isinstance(meta, FieldInfo) else [meta])
    for arg in typing.get_args(annotation):
        if getattr(arg, "__metadata__", None) is not None:
            found.extend(_constraints(arg))
    return found


def field_bounds(info: FieldInfo) -> tuple[Bound | None, Bound | None]:
    """Return the ``(lower, upper)`` bounds of a pydantic field, each ``(value, inclusive)`` or ``None``.

    The tightest bound wins when both the annotated type and the field declare one.
    """
    lower: Bound | None = None
    upper: Bound | None = None
    for item in [*info.metadata, *_constraints(info.annotation)]:
        for kind, inclusive in _LOWER.items():
            if isinstance(item, kind):
                value = getattr(item, kind.__name__.lower())
                if lower is None or value > lower[0] or (value == lower[0] and not inclusive):
                    lower = (value, inclusive)
        for kind, inclusive in _UPPER.items():
            if isinstance(item, kind):
                value = getattr(item, kind.__name__.lower())
                if upper is None or value < upper[0] or (value == upper[0] and not inclusive):
                    upper = (value, inclusive)
    return lower, upper


def _number(value: Any) -> str:
    if isinstance(value, float | Decimal) and value == int(value):
        value = int(value)
    if isinstance(value, int) and abs(value) >= 10**9 and str(value).rstrip("0") in ("1", "-1"):
        return f"{'-' if value < 0 else ''}1e{len(str(abs(value))) - 1}"
    return str(value)


def describe_range(info: FieldInfo) -> str | None:
    """Return a field's range in interval notation (``[0.01, 60]``, ``(0, 1e15]``), or None if unbounded."""
    lower, upper = field_bounds(info)
    if lower is None and upper is None:
        return None
    left = "(-inf" if lower is None else ("[" if lower[1] else "(") + _number(lower[0])
    right = "inf)" if upper is None else _number(upper[0]) + ("]" if upper[1] else ")")
    return f"{left}, {right}"
