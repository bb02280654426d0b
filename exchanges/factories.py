"""The simulated exchange kinds of the ``EXCHANGES`` registry: ``paper`` and ``replay``.

* ``replay`` — the paper account over recorded market-data files, on the simulated clock; market
  metadata from the bundled snapshot of ``exchange.name`` (``binance`` when that name is ``paper``);
* ``paper`` — the paper account over the live public market data of the ccxt venue ``exchange.name``.

Every factory takes one ``ExchangeRequest``; the ccxt venues themselves are in ``exchanges.ccxt.factory``.
"""

from __future__ import annotations

from exchanges import EXCHANGES
from exchanges.base import BaseExchangeClient
from exchanges.markets import SIMULATED
from exchanges.markets import load_market_snapshot
from exchanges.paper import PaperExchange
from exchanges.replay import ReplayFeed
from exchanges.request import ExchangeRequest
from trading_bot.domain import SimulatedClock
from trading_bot.errors import ConfigError

__all__ = ["paper_exchange", "replay_exchange"]


@EXCHANGES.register("replay")
def replay_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the paper account over ``request.replay`` files (needs a ``SimulatedClock`` and a symbol).

    Raises:
        ConfigError: no files or no symbol given; no market snapshot bundled for the exchange; unreadable files.
    """
    if not request.replay or request.symbol is None:
        raise ConfigError("exchange 'replay' needs recorded market data: add --replay FILE and --symbol")
    if not isinstance(request.clock, SimulatedClock):
        raise TypeError("a replay runs on a SimulatedClock")
    markets = load_market_snapshot(request.config.name)
    feed = ReplayFeed(list(request.replay), request.symbol, request.clock, speed=request.speed)
    feed.validate()
    return PaperExchange(request.config.paper, request.clock, feed, markets=markets)


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
