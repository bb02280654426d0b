"""Orders: the ``OrderManager`` (the one path from an intent to a venue) and the ``OrderTracker``
(the record of every order the bot owns, fills applied once per trade id)."""

from trading_bot.runtime.orders.manager import OrderJournal
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.manager import SequenceSource
from trading_bot.runtime.orders.manager import TimeSeededSequence
from trading_bot.runtime.orders.tracker import OrderTracker

__all__ = ["OrderJournal", "OrderManager", "OrderTracker", "SequenceSource", "TimeSeededSequence"]
