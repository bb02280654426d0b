"""Every exchange id ccxt knows, as one family of the ``EXCHANGES`` registry (live trading).

The family's names are read from ccxt (which imports it) only when a name that is not registered
singly is looked up, so ``--help`` and replays never import ccxt.
"""

from __future__ import annotations

from exchanges import EXCHANGES
from exchanges.base import BaseExchangeClient
from exchanges.ccxt.adapter import ccxt_exchange_ids
from exchanges.ccxt.adapter import create_ccxt_exchange
from exchanges.request import ExchangeRequest
from trading_bot.errors import ConfigError

__all__ = ["live_ccxt_exchange"]


def live_ccxt_exchange(request: ExchangeRequest) -> BaseExchangeClient:
    """Build the live client of the ccxt venue ``exchange.name`` (needs API keys).

    Raises:
        ConfigError: no API key or secret is set.
    """
    if not request.config.has_credentials():
        raise ConfigError(
            "live trading needs API keys: set TRADING_BOT__EXCHANGE__API_KEY and TRADING_BOT__EXCHANGE__SECRET "
            "(with venues: TRADING_BOT__VENUES__<NAME>__API_KEY and __SECRET), or run with --paper"
        )
    return create_ccxt_exchange(request.config, request.clock)


EXCHANGES.register_family(ccxt_exchange_ids, live_ccxt_exchange)
