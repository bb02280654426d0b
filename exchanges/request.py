"""What the runtime hands the ``EXCHANGES`` registry to build one exchange client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from exchanges.config import ExchangeConfig
from trading_bot.domain import Clock
from trading_bot.domain import Market
from trading_bot.domain import Symbol

__all__ = ["ExchangeRequest"]


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """The one argument of every exchange factory: ``EXCHANGES.create(name, request)``.

    Args:
        config: the venue's settings (``exchange`` section): its name, credentials, ccxt options, paper account.
        clock: the run's clock; a ``SimulatedClock`` for recorded data.
        symbol: the traded market (the ``replay`` kind reads it from its files); the first of ``symbols``.
        symbols: every market the bot trades on this venue (empty: just ``symbol``).
        replay: recorded market-data files, for the ``replay`` kind (all of ``symbol``).
        replay_files: the ``replay`` kind's files by symbol, for several symbols (overrides ``replay``).
        speed: replay speed (1 = real time, ``None`` = as fast as possible).
        markets: the ``replay`` kind's market rules that replace or add to the bundled snapshot's.
    """

    config: ExchangeConfig
    clock: Clock
    symbol: Symbol | None = None
    symbols: tuple[Symbol, ...] = ()
    replay: tuple[Path, ...] = ()
    replay_files: Mapping[Symbol, tuple[Path, ...]] | None = None
    speed: float | None = None
    markets: Mapping[Symbol, Market] = field(default_factory=dict)
