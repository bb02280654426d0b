"""What every risk rule shares: the ``RiskContext`` a check reads, the ``RiskRule`` base and helpers.

``PortfolioTotals`` carries the figures across all of the bot's instruments (gross and net exposure,
open orders) so the portfolio rules (``risk.portfolio``) are right once a bot trades several; with one
instrument the supervisor fills them from its one position, and a context without them falls back to
the order's own instrument (``portfolio_totals``).
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Position
from trading_bot.domain import TradingState

__all__ = [
    "PortfolioTotals",
    "RiskContext",
    "RiskRule",
    "fill_price",
    "portfolio_totals",
    "reduces",
    "reference_price",
    "signed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioTotals:
    """The bot's book across all its instruments at one moment, each position valued at its mark.

    Attributes:
        gross_exposure: ``Σ |position × mark|`` over instruments, quote currency (≥ 0).
        net_exposure: ``Σ position × mark`` (long +, short −), quote currency.
        open_orders: the bot's own open orders on every instrument, not counting the new one.
    """

    gross_exposure: Decimal
    net_exposure: Decimal
    open_orders: int

    @classmethod
    def of(cls, positions: Iterable[tuple[Decimal, Decimal]], open_orders: int) -> PortfolioTotals:
        """Return the totals of ``(signed quantity in base units, mark in quote per base)`` pairs.

        All marks must be in the same quote currency (the portfolio's); converting between quotes is
        the caller's job.
        """
        gross = net = ZERO
        for quantity, mark in positions:
            value = quantity * mark
            gross += abs(value)
            net += value
        return cls(gross_exposure=gross, net_exposure=net, open_orders=open_orders)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    """Everything a check needs, built by the supervisor for each check.

    Attributes:
        market: precision, limits and fees of the order's market.
        market_data: the latest market event of that market, or ``None`` before the first one.
        now_ms: the injected clock's time, epoch milliseconds UTC.
        position: the bot's own position in that market (signed base currency).
        open_order_count: the bot's own open orders in that market, not counting the new one.
        balances: account balances by currency (free and locked amounts).
        equity: account equity, quote currency.
        spot: True on spot (a sell needs base currency), False on derivatives (swap).
        leverage: swaps: the leverage the venue holds the instrument at (1 on spot); the initial margin of an
            order's opening part is its notional / leverage.
        margin_mode: swaps: cross (the wallet backs the position) or isolated (its own margin); the
            liquidation estimates use it.
        portfolio: totals over all of the bot's instruments; ``None`` means the order's instrument is the
            only one (``portfolio_totals`` derives them from ``position`` and the mid).
        venue_state: the trading state of the order's venue alone (a venue that failed is HALTED while
            the others trade); the ``trading_state`` rule applies the stricter of it and the bot's state.
        atr: the instrument's average true range (price units) on ``sizing.atr_timeframe`` bars, for the
            ``volatility_target`` sizer; ``None`` in other modes and until enough bars closed.
    """

    market: Market
    market_data: MarketData | None
    now_ms: int
    position: Position
    open_order_count: int
    balances: Mapping[str, Balance]
    equity: Decimal
    spot: bool = True
    leverage: Decimal = Decimal(1)
    margin_mode: MarginMode = MarginMode.CROSS
    portfolio: PortfolioTotals | None = None
    venue_state: TradingState = TradingState.ACTIVE
    atr: Decimal | None = None


def reference_price(params: OrderParams, market_data: MarketData | None) -> Decimal | None:
    """Return the price an order is valued at (quote currency), or ``None`` when it cannot be priced.

    Limit orders use their limit price, stop orders their trigger price, market orders the mid.
    """
    if params.order_type is OrderType.LIMIT:
        return params.price
    if params.order_type is OrderType.STOP_MARKET:
        return params.trigger_price
    return None if market_data is None else market_data.mid


def fill_price(params: OrderParams, market_data: MarketData | None) -> Decimal | None:
    """Return the price an order is expected to fill at (quote currency), or ``None`` without market data.

    A market order pays the touch (the ask for a buy, the bid for a sell); the others their reference price.
    """
    if params.order_type is OrderType.MARKET:
        return None if market_data is None else market_data.touch(params.side)
    return reference_price(params, market_data)


def reduces(position_qty: Decimal, side: OrderSide, quantity: Decimal) -> bool:
    """Return True when the order lowers |position| without flipping it (an exit, not an open)."""
    if position_qty > 0:
        return side is OrderSide.SELL and quantity <= position_qty
    if position_qty < 0:
        return side is OrderSide.BUY and quantity <= -position_qty
    return False


def signed(side: OrderSide, quantity: Decimal) -> Decimal:
    """Return ``quantity`` with the sign of its effect on the position (buy +, sell −)."""
    return quantity if side is OrderSide.BUY else -quantity


def portfolio_totals(ctx: RiskContext) -> PortfolioTotals | None:
    """Return ``ctx.portfolio``, or the totals of the order's instrument alone when it has none.

    The single instrument is valued at the mid; ``None`` when it holds a position but has no market data
    to value it with.
    """
    if ctx.portfolio is not None:
        return ctx.portfolio
    quantity = ctx.position.quantity
    if quantity == 0:
        return PortfolioTotals(gross_exposure=ZERO, net_exposure=ZERO, open_orders=ctx.open_order_count)
    if ctx.market_data is None:
        return None
    return PortfolioTotals.of(((quantity, ctx.market_data.mid),), ctx.open_order_count)


class RiskRule(ABC):
    """One pre-trade rule. ``name`` appears in every ``Rejected`` it causes."""

    __slots__ = ()
    name: ClassVar[str]
    transient: ClassVar[bool] = False
    """True when a denial may clear by itself (time, market, state): the same order may pass later."""

    @abstractmethod
    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return ``None`` when the order passes, else the reason it does not (with the figures).

        Args:
            params: the order intent.
            quantity: the final order quantity, base currency (after sizing).
            ctx: the state of market, position, orders and balances at check time.
        """
