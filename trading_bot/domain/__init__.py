"""The domain model: value types, ids, enums, market data, orders, events, results and clocks.

This package imports nothing else of the project.
"""

from trading_bot.domain.book import BookView
from trading_bot.domain.book import L2Book
from trading_bot.domain.clock import Clock
from trading_bot.domain.clock import LiveClock
from trading_bot.domain.clock import SimulatedClock
from trading_bot.domain.derivatives import FundingPayment
from trading_bot.domain.derivatives import Liquidation
from trading_bot.domain.derivatives import MarginMode
from trading_bot.domain.derivatives import PerpPosition
from trading_bot.domain.derivatives import PositionReport
from trading_bot.domain.derivatives import closing_release
from trading_bot.domain.derivatives import liquidation_price
from trading_bot.domain.derivatives import opening_quantity
from trading_bot.domain.enums import LiquiditySide
from trading_bot.domain.enums import OrderSide
from trading_bot.domain.enums import OrderStatus
from trading_bot.domain.enums import OrderType
from trading_bot.domain.enums import PositionSide
from trading_bot.domain.enums import StrategyAction
from trading_bot.domain.enums import TimeInForce
from trading_bot.domain.enums import TradingState
from trading_bot.domain.events import OrderAccepted
from trading_bot.domain.events import OrderCanceled
from trading_bot.domain.events import OrderDenied
from trading_bot.domain.events import OrderEvent
from trading_bot.domain.events import OrderExpired
from trading_bot.domain.events import OrderFilled
from trading_bot.domain.events import OrderPartiallyFilled
from trading_bot.domain.events import OrderRejected
from trading_bot.domain.events import OrderSubmitted
from trading_bot.domain.ids import ClientOrderId
from trading_bot.domain.ids import ExchangeOrderId
from trading_bot.domain.ids import StrategyId
from trading_bot.domain.ids import Symbol
from trading_bot.domain.ids import TradeId
from trading_bot.domain.ids import make_client_order_id
from trading_bot.domain.instrument import InstrumentId
from trading_bot.domain.market import Balance
from trading_bot.domain.market import Bar
from trading_bot.domain.market import FilterBreach
from trading_bot.domain.market import MarginTier
from trading_bot.domain.market import Market
from trading_bot.domain.market import MarketData
from trading_bot.domain.market import MarketFilter
from trading_bot.domain.market import TradeTick
from trading_bot.domain.orders import Fill
from trading_bot.domain.orders import InvalidOrderTransition
from trading_bot.domain.orders import Order
from trading_bot.domain.orders import OrderParams
from trading_bot.domain.orders import OrderStatusReport
from trading_bot.domain.position import Position
from trading_bot.domain.strategy import StateRequest
from trading_bot.domain.strategy import StrategyResult
from trading_bot.domain.values import ZERO
from trading_bot.domain.values import Money
from trading_bot.domain.values import Price
from trading_bot.domain.values import Quantity
from trading_bot.domain.values import decimal_text
from trading_bot.domain.values import round_to_increment
from trading_bot.domain.values import to_decimal

__all__ = [
    "ZERO",
    "Balance",
    "Bar",
    "BookView",
    "ClientOrderId",
    "Clock",
    "ExchangeOrderId",
    "Fill",
    "FilterBreach",
    "FundingPayment",
    "InstrumentId",
    "InvalidOrderTransition",
    "L2Book",
    "Liquidation",
    "LiquiditySide",
    "LiveClock",
    "MarginMode",
    "MarginTier",
    "Market",
    "MarketData",
    "MarketFilter",
    "Money",
    "Order",
    "OrderAccepted",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderParams",
    "OrderPartiallyFilled",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderStatusReport",
    "OrderSubmitted",
    "OrderType",
    "PerpPosition",
    "Position",
    "PositionReport",
    "PositionSide",
    "Price",
    "Quantity",
    "SimulatedClock",
    "StateRequest",
    "StrategyAction",
    "StrategyId",
    "StrategyResult",
    "Symbol",
    "TimeInForce",
    "TradeId",
    "TradeTick",
    "TradingState",
    "closing_release",
    "decimal_text",
    "liquidation_price",
    "make_client_order_id",
    "opening_quantity",
    "round_to_increment",
    "to_decimal",
]
