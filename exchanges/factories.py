"""The simulated exchange kinds of the ``EXCHANGES`` registry: ``paper`` and ``replay``.

* ``replay`` — the paper account over recorded market-data files, on the simulated clock; market
  metadata from the bundled snapshot of ``exchange.name`` (``binance`` when that name is ``paper``);
* ``paper`` — the paper account over the live public market data of the ccxt venue ``exchange.name``.

Every factory takes one ``ExchangeRequest``; the ccxt venues themselves are in ``exchanges.ccxt.factory``.
``replay_paper_exchange`` builds the replay kind for several symbols at once (files grouped by symbol).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

from exchanges import EXCHANGES
from exchanges.base import BaseExchangeClient
from exchanges.config import ExchangeConfig
from exchanges.markets import SIMULATED
from exchanges.markets import load_market_snapshot
from exchanges.paper import PaperExchange
from exchanges.replay import ReplayFeed
from exchanges.replay_multi import MultiReplayFeed
from exchanges.request import ExchangeRequest
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError

__all__ = ["paper_exchange", "replay_exchange", "replay_paper_exchange"]


@EXCHANGES.register("replay")
def replay_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the paper account over ``request.replay`` files (needs a ``SimulatedClock`` and a symbol).

    Raises:
        ConfigError: no files or no symbol given; no market snapshot bundled for the exchange; unreadable files.
    """
    if not isinstance(request.clock, SimulatedClock):
        raise TypeError("a replay runs on a SimulatedClock")
    if request.replay_files:
        return replay_paper_exchange(request.config, request.clock, request.replay_files, request.speed)
    if not request.replay or request.symbol is None:
        raise ConfigError("exchange 'replay' needs recorded market data: add --replay FILE and --symbol")
    return replay_paper_exchange(request.config, request.clock, {request.symbol: request.replay}, request.speed)


def replay_paper_exchange(
    config: ExchangeConfig,
    clock: SimulatedClock,
    files: Mapping[Symbol, Sequence[Path]],
    speed: float | None = None,
) -> PaperExchange:
    """Build the paper account over recorded files of one or several symbols, their files checked now.

    One symbol is today's single ``ReplayFeed``; several get one feed each behind a ``MultiReplayFeed``, whose
    ``PaperExchange.stream_markets(symbols)`` merges them exactly in event time on ``clock``. Symbols are bare
    (``BTC/USDT``, no venue prefix); ``trading_bot.backtest.data.data_specs`` + ``files_by_symbol`` make ``files``.

    Args:
        config: the venue's settings: ``name`` picks the bundled market snapshot, ``paper`` the account.
        clock: the run's simulated clock, shared by every feed.
        files: each symbol's files (quotes, trades or bars, merged per symbol by ``ReplayFeed``).
        speed: replay speed (1 = real time, ``None`` = as fast as possible).

    Raises:
        ConfigError: no files; no market snapshot bundled for the exchange; a file's name contradicts its symbol.
        DataError: a file is missing or unreadable, or has an unknown header.
    """
    if not files or not all(files.values()):
        raise ConfigError("exchange 'replay' needs recorded market data: add --replay FILE and --symbol")
    markets = load_market_snapshot(config.name)
    feeds = [ReplayFeed(list(paths), symbol, clock, speed=speed) for symbol, paths in files.items()]
    source: ReplayFeed | MultiReplayFeed = feeds[0] if len(feeds) == 1 else MultiReplayFeed(feeds)
    source.validate()
    return PaperExchange(config.paper, clock, source, markets=markets)


@EXCHANGES.register("paper")
def paper_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the paper account over the live public market data of the ccxt venue ``exchange.name``.

    Raises:
        ConfigError: ``exchange.name`` is itself a simulator (there is no live data to read).
    """
    if request.config.name in SIMULATED:
        raise ConfigError(
            f"exchange {request.config.name!r} needs market data: add --replay FILE, or use --paper --exchange binance"
        )
    from exchanges.ccxt.adapter import create_ccxt_exchange

    source = create_ccxt_exchange(request.config, request.clock, public_only=True)
    return PaperExchange(request.config.paper, request.clock, source)
