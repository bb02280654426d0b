"""Timeframes (``1m``, ``4h``, ``1d``...) in milliseconds: the one parser for bar data, bar feeds and strategies."""

from __future__ import annotations

import re

__all__ = ["timeframe_ms"]

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIMEFRAME = re.compile(r"^(\d+)([smhdw])$")


def timeframe_ms(text: str) -> int:
    """Return a timeframe such as ``1m``, ``4h``, ``1d`` in milliseconds (> 0).

    Raises:
        ValueError: the text is not ``<number><s|m|h|d|w>`` with a number above 0.
    """
    match = _TIMEFRAME.match(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(f"expected a number and a unit (s, m, h, d, w) such as 1m or 4h, got {text!r}")
    return int(match.group(1)) * _UNITS_MS[match.group(2)]
