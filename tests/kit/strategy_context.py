"""``FakeStrategyContext``: a hand-driven ``StrategyContext`` for strategy unit tests.

It stands in for the supervisor's context *and* for the order tracker behind it: a test feeds a quote,
calls the strategy, then plays the exchange by hand with the helpers below. Each helper changes the
fake's own ``Order`` records and position exactly as the tracker would, and returns the event the
supervisor would deliver; the test passes that event to ``strategy.on_order_update`` itself, so the
order of deliveries (for example a fill arriving after a cancel) is in the test's hands.

Typical use::

    clock = SimulatedClock(1_700_000_000_000)
    ctx = FakeStrategyContext(clock=clock)
    strategy.initialize(ctx)
    md = ctx.quote("100.00", "100.10")
    result = strategy.execute_strategy(md)
    for event in ctx.submit_all(result):         # OrderSubmitted per intent, in order
        strategy.on_order_update(event)
    strategy.on_order_update(ctx.fill(ctx.last_id))  # fill the last order completely at its price

Every public attribute (``market``, ``clock``, ``position``, ``trading_state``, ``equity``,
``last_market_data``, ``balance_map``, ``orders``) may be set directly by a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal

from strategies.base import ContextHelpers
from trading_bot.domain import Balance
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderFilled
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderPartiallyFilled
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import Position
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.domain import TradingState
from trading_bot.domain import make_client_order_id

__all__ = ["BTC_USDT", "FakeStrategyContext"]

BTC_USDT = Market(
    symbol=Symbol("BTC/USDT"),
    base="BTC",
    quote="USDT",
    price_increment=Decimal("0.01"),
    amount_increment=Decimal("0.00001"),
    min_amount=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
"""Binance-like BTC/USDT spot rules: tick 0.01 USDT, lot 0.00001 BTC, minimum notional 5 USDT."""


class FakeStrategyContext(ContextHelpers):
    """A ``StrategyContext`` whose state the test sets, plus helpers that play the exchange.

    Args:
        market: the traded market (default ``BTC_USDT``).
        clock: a ``SimulatedClock`` (default one starting at 2023-11-14, epoch ms 1_700_000_000_000).
        trading_state: the RiskManager state the strategy sees.
        bot_id: prefix of the client order ids the fake assigns (``<bot_id>-<n>``).
    """

    def __init__(
        self,
        *,
        market: Market = BTC_USDT,
        clock: SimulatedClock | None = None,
        trading_state: TradingState = TradingState.ACTIVE,
        bot_id: str = "test",
    ) -> None:
        self._market = market
        self.clock = clock if clock is not None else SimulatedClock(1_700_000_000_000)
        self._position = Position(symbol=market.symbol, quote_currency=market.quote)
        self.trading_state = trading_state
        self.equity = Decimal(0)
        self.last_market_data: MarketData | None = None
        self.balance_map: dict[str, Balance] = {}
        self.orders: dict[ClientOrderId, Order] = {}
        self.bot_id = bot_id
        self._sequence = 0
        self._trades = 0
        self.last_id: ClientOrderId | None = None
        """Client id of the order the last ``submit``/``deny`` created."""

    # -- the StrategyContext protocol ----------------------------------------------------------
    @property
    def symbol(self) -> Symbol:
        """The traded market's symbol."""
        return self.market.symbol

    @property
    def market(self) -> Market:
        """The traded market (settable by a test)."""
        return self._market

    @market.setter
    def market(self, value: Market) -> None:
        self._market = value

    @property
    def position(self) -> Position:
        """The strategy's position (settable by a test)."""
        return self._position

    @position.setter
    def position(self, value: Position) -> None:
        self._position = value

    def open_orders(self) -> Sequence[Order]:
        """Return the orders that may still rest or fill, oldest first."""
        return [order for order in self.orders.values() if order.is_open]

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """Return one order by client id (open or closed), or ``None``."""
        return self.orders.get(client_order_id)

    def tagged_order(self, client_tag: str) -> Order | None:
        """Return the open order with ``client_tag``, else the latest one that closed, or ``None``."""
        tagged = [order for order in self.orders.values() if order.client_tag == client_tag]
        candidates = [order for order in tagged if order.is_open] or tagged
        return candidates[-1] if candidates else None

    def balances(self) -> Mapping[str, Balance]:
        """Return ``balance_map``."""
        return self.balance_map

    # -- market data and time ------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the clock forward by ``seconds`` and return the new time (epoch ms)."""
        self.clock.advance_to(self.clock.now_ms() + int(seconds * 1000))
        return self.clock.now_ms()

    def quote(self, bid: Decimal | str, ask: Decimal | str, *, after: float = 0.0) -> MarketData:
        """Advance the clock by ``after`` seconds, then return (and remember) a top-of-book event.

        Args:
            bid: best bid, quote currency.
            ask: best ask, quote currency.
            after: seconds to advance the clock first.
        """
        now = self.advance(after)
        md = MarketData(symbol=self.market.symbol, ts_ms=now, bid=Decimal(bid), ask=Decimal(ask))
        self.last_market_data = md
        return md

    # -- playing the exchange ------------------------------------------------------------------
    def _next_id(self) -> ClientOrderId:
        self._sequence += 1
        coid = make_client_order_id(self.bot_id, self._sequence)
        self.last_id = coid
        return coid

    def add_order(self, order: Order) -> None:
        """Put an order in the tracker's view as is (e.g. one that rested across a restart)."""
        self.orders[order.client_order_id] = order

    def submit(self, params: OrderParams) -> OrderSubmitted:
        """Accept an intent: give it the next client id, mark it SUBMITTED, return ``OrderSubmitted``."""
        assert params.quantity is not None, "the fake has no sizer: give a quantity"
        now = self.clock.now_ms()
        order = Order.from_params(params, self._next_id(), self.market.symbol, params.quantity, now)
        order.transition(OrderStatus.SUBMITTED, now)
        self.orders[order.client_order_id] = order
        return OrderSubmitted(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=now,
            client_tag=order.client_tag,
            quantity=order.quantity,
            price=order.price,
        )

    def submit_all(self, result: StrategyResult) -> list[OrderSubmitted]:
        """``submit`` every intent of ``result``, in order (its cancels are left to the test)."""
        return [self.submit(params) for params in result.orders]

    def deny(
        self, params: OrderParams, *, rule: str = "test_rule", reason: str = "denied", transient: bool = False
    ) -> OrderDenied:
        """Refuse an intent as the RiskManager would: a DENIED order and its ``OrderDenied`` event.

        ``transient`` is the rule's classification (``risk.rules``: e.g. True for ``order_rate``).
        """
        now = self.clock.now_ms()
        order = Order.from_params(params, self._next_id(), self.market.symbol, params.quantity or Decimal(1), now)
        order.transition(OrderStatus.DENIED, now, reason)
        self.orders[order.client_order_id] = order
        return OrderDenied(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=now,
            client_tag=order.client_tag,
            rule=rule,
            reason=reason,
            transient=transient,
        )

    def reject(
        self, client_order_id: ClientOrderId, *, post_only: bool = True, transient: bool = False, reason: str = ""
    ) -> OrderRejected:
        """Refuse a submitted order as the exchange would (post-only-would-cross by default).

        ``transient`` plays the order manager's classification (a 429, "not received by the exchange");
        ``post_only`` is ignored then, as the tracker does.
        """
        order = self.orders[client_order_id]
        now = self.clock.now_ms()
        post_only = post_only and not transient
        reason = reason or ("post-only order would cross" if post_only else "rejected")
        order.transition(OrderStatus.REJECTED, now, reason)
        return OrderRejected(
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=now,
            client_tag=order.client_tag,
            reason=reason,
            post_only=post_only,
            transient=transient,
        )

    def fill(
        self, client_order_id: ClientOrderId, quantity: Decimal | str | None = None, price: Decimal | str | None = None,
        *, base_fee: Decimal | str | None = None,
    ) -> OrderPartiallyFilled | OrderFilled:  # fmt: skip
        """Execute (part of) an order and update the position, as the tracker would.

        Args:
            client_order_id: the order.
            quantity: base units to fill (default: all that is left).
            price: execution price (default: the order's limit price).
            base_fee: a fee the venue keeps in the base asset (Binance spot buys without BNB); default none.

        Returns:
            ``OrderFilled`` when the order is now completely filled and was live, else
            ``OrderPartiallyFilled`` (also for a late fill of an order already cancelled).
        """
        order = self.orders[client_order_id]
        qty = Decimal(quantity) if quantity is not None else order.quantity - order.filled_quantity
        px = Decimal(price) if price is not None else order.price
        assert px is not None, "give a price to fill a market order"
        self._trades += 1
        now = self.clock.now_ms()
        fill = Fill(
            trade_id=TradeId(f"t{self._trades}"),
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=qty,
            price=px,
            fee=Decimal(0) if base_fee is None else Decimal(base_fee),
            fee_currency=self.market.quote if base_fee is None else self.market.base,
            ts_ms=now,
            liquidity=LiquiditySide.MAKER,
        )
        was_terminal = order.status.is_terminal
        order.apply_fill(fill)
        self.position.apply(fill)
        if order.status is OrderStatus.FILLED and not was_terminal:
            assert order.average_price is not None
            return OrderFilled(
                client_order_id=client_order_id,
                symbol=order.symbol,
                side=order.side,
                ts_ms=now,
                client_tag=order.client_tag,
                fill=fill,
                filled_quantity=order.filled_quantity,
                average_price=order.average_price,
            )
        return OrderPartiallyFilled(
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=now,
            client_tag=order.client_tag,
            fill=fill,
            filled_quantity=order.filled_quantity,
            leaves_quantity=order.leaves_quantity,
        )

    def cancel(self, client_order_id: ClientOrderId, *, by_operator: bool = False) -> OrderCanceled:
        """Take an order off the book; the event carries what filled before the cancel (and whether the
        operator's cancel-all or flatten asked for it)."""
        order = self.orders[client_order_id]
        now = self.clock.now_ms()
        order.transition(OrderStatus.CANCELED, now)
        return OrderCanceled(
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            ts_ms=now,
            client_tag=order.client_tag,
            filled_quantity=order.filled_quantity,
            by_operator=by_operator,
        )
