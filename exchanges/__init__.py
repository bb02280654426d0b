"""Exchange clients, chosen by name through the ``EXCHANGES`` registry.

``paper`` is the simulator; every other name is an exchange id ccxt knows (``binance``, ``kraken``...),
served by the ccxt adapter, which is imported only when such a name is used.
"""

from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from exchanges.base import UpdateSink
from trading_bot.registry import Registry

__all__ = ["EXCHANGES", "BaseExchangeClient", "OrderUpdate", "UpdateSink"]

EXCHANGES: Registry[BaseExchangeClient] = Registry(
    "exchange", "trading_bot.exchanges", builtin_modules=("exchanges.paper",)
)
