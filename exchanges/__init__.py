"""Exchange clients, built by name through the ``EXCHANGES`` registry: ``EXCHANGES.create(name, request)``.

Every factory takes one ``exchanges.request.ExchangeRequest``. ``paper`` and ``replay`` are the simulator
over live or recorded data (``exchanges.factories``); every other built-in name is an exchange id ccxt
knows (``binance``, ``kraken``...), a family served by the ccxt adapter (``exchanges.ccxt.factory``),
whose names are read from ccxt only when such a name is looked up. Plug-ins register under the
entry-point group ``trading_bot.exchanges`` with the same one-argument factory.
"""

from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from exchanges.base import UpdateSink
from trading_bot.registry import Registry

__all__ = ["EXCHANGES", "BaseExchangeClient", "OrderUpdate", "UpdateSink"]

EXCHANGES: Registry[BaseExchangeClient] = Registry(
    "exchange", "trading_bot.exchanges", builtin_modules=("exchanges.factories", "exchanges.ccxt.factory")
)
