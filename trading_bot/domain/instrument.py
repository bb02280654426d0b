"""Instruments: a market on one venue, written ``venue:symbol`` (``spot:BTC/USDT``, ``usdm:BTC/USDT:USDT``).

A *venue* is one exchange account the bot is configured for (a ccxt exchange id plus its own keys and
options, see the ``venues`` config section); the same symbol on two venues is two instruments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trading_bot.domain.ids import Symbol

__all__ = ["VENUE_NAME_PATTERN", "InstrumentId", "split_venue", "venue_name"]

VENUE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""A venue name: lower-case letters, digits and ``_``, starting with a letter, at most 32 characters
(lower-case because environment variable names are matched without case)."""


def venue_name(exchange_id: str) -> str:
    """Return the venue name of the one-venue shorthand for exchange ``exchange_id``: its id made a venue name.

    Lower-cased, other characters than ``[a-z0-9_]`` become ``_``, a leading non-letter gets an ``x``, at most
    32 characters (``binance`` stays ``binance``; a plug-in's ``My-Venue`` is ``my_venue``).
    """
    name = re.sub(r"[^a-z0-9_]", "_", exchange_id.lower())
    return (name if name[:1].isalpha() and name[:1].isascii() else f"x{name}")[:32]


def split_venue(text: str) -> tuple[str | None, str]:
    """Split ``venue:symbol`` into ``(venue, symbol)``; a bare symbol gives ``(None, symbol)``.

    The venue is what precedes the first ``:`` when it holds no ``/``: ``BTC/USDT:USDT`` (a perpetual's
    settle currency) is a bare symbol, ``usdm:BTC/USDT:USDT`` names the venue ``usdm``.
    """
    head, sep, rest = text.partition(":")
    if sep and "/" not in head and rest:
        return head, rest
    return None, text


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """A symbol on a venue; its text form is ``venue:symbol``.

    Attributes:
        venue: the venue's name (``VENUE_NAME_PATTERN``).
        symbol: the unified ccxt symbol on that venue.
    """

    venue: str
    symbol: Symbol

    def __post_init__(self) -> None:
        if not VENUE_NAME_PATTERN.fullmatch(self.venue):
            raise ValueError(
                f"venue name {self.venue!r}: use lower-case letters, digits and _ (starting with a letter, "
                "at most 32 characters)"
            )
        if not self.symbol or split_venue(self.symbol)[0] is not None:
            raise ValueError(f"symbol {self.symbol!r}: expected a market symbol such as BTC/USDT")

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        """Return the instrument written ``venue:symbol``.

        Raises:
            ValueError: no venue prefix, or a malformed venue name or symbol (one line).
        """
        venue, symbol = split_venue(text)
        if venue is None:
            raise ValueError(f"{text!r}: expected venue:symbol, e.g. spot:BTC/USDT")
        return cls(venue, Symbol(symbol))
