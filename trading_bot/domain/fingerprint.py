"""A fingerprint of a run's trades, to tell whether two runs (or two engines) traded the same.

The fingerprint is the SHA-256 hex digest of a canonical text: a version line (``trades-v1``) and then
one line per fill, ``<ts_ms>|<side>|<quantity>|<price>|<fee>``, with each Decimal normalised to plain
positional notation without trailing zeros (``Decimal("1.0")``, ``Decimal("1.00")`` and
``Decimal("1E+0")`` all read ``1``). Lines are sorted by time, and fills at the same millisecond by
their text, so engines that report simultaneous fills in a different order agree.

Trade ids, client order ids, exchange order ids, symbols, fee currencies and liquidity sides are left
out on purpose: they differ between engines (or between runs) that made the same trades.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from trading_bot.domain.orders import Fill
from trading_bot.domain.values import decimal_text

__all__ = ["FINGERPRINT_VERSION", "canonical_fill_text", "trade_fingerprint"]

FINGERPRINT_VERSION = "trades-v1"
"""First line of the hashed text; change it whenever the canonical form changes."""


def canonical_fill_text(fill: Fill) -> str:
    """Return the canonical line of one fill (no newline), as hashed by ``trade_fingerprint``."""
    return "|".join(
        (
            str(fill.ts_ms),
            fill.side.value,
            decimal_text(fill.quantity),
            decimal_text(fill.price),
            decimal_text(fill.fee),
        )
    )


def trade_fingerprint(fills: Iterable[Fill]) -> str:
    """Return the SHA-256 hex digest (64 lowercase characters) of the fills' canonical text.

    Args:
        fills: the run's fills; their order only matters through their timestamps.

    Returns:
        The digest; identical trades give identical digests whatever their ids.
    """
    lines = sorted((fill.ts_ms, canonical_fill_text(fill)) for fill in fills)
    text = "\n".join([FINGERPRINT_VERSION, *(line for _, line in lines)]) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
