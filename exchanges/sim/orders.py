"""What every simulated venue says the same way: the exchange's order filters, the order description used in
rejection messages, the status report and fill of an order, and the quantity of an order sized at its fill."""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import TradeId
from trading_bot.errors import OrderRejected

__all__ = ["check_market_filters", "describe_order", "quantity_for_amount", "simulated_fill", "status_report"]


def describe_order(market: Market, params: OrderParams, quantity: Decimal) -> str:
    """Return ``"BTC/USDT limit buy 0.001 @ 60000"`` for rejection messages."""
    price = params.price if params.price is not None else params.trigger_price
    at = "market" if price is None else str(price)
    return f"{market.symbol} {params.order_type.value} {params.side.value} {quantity} @ {at}"


def check_market_filters(market: Market, params: OrderParams, quantity: Decimal, reference: Decimal | None) -> None:
    """Apply the exchange's filters like an exchange would (``Market.order_problem``).

    ``reference`` prices market orders for the notional check (``None``: skip it when no price is known).

    Raises:
        OrderRejected: naming the order and the filter it broke.
    """
    breach = market.order_problem(quantity, params.price, params.trigger_price, reference)
    if breach is not None:  # the description is built only for a rejection (it is not free: Decimal → str)
        raise OrderRejected(f"{describe_order(market, params, quantity)}: {breach.reason}")


def quantity_for_amount(
    market: Market, side: OrderSide, amount: Decimal, price: Decimal, fee: Decimal, cap: Decimal
) -> Decimal:
    """The quantity of a market order sized at its fill (``OrderParams.quote_quantity``), lot-step floored.

    A buy spends at most ``amount`` quote with the fee: ``amount / (price × (1 + fee))``; a sell receives
    ``amount / price`` quote worth, capped at ``cap`` (the base it locked). On a swap (``market.contract``)
    both sides are a notional with the fee inside, as the buy, uncapped (margin, not base, backs a
    short). The one rule of every simulated mode.
    """
    if side is OrderSide.BUY or market.contract:
        return market.quantity_for_quote(amount, price, fee)
    return min(market.round_amount(amount / price), cap)


def status_report(order: Order, ts_ms: int) -> OrderStatusReport:
    """Return the exchange-style status report of a simulated order at ``ts_ms``."""
    return OrderStatusReport(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        status=order.status,
        ts_ms=ts_ms,
        exchange_order_id=order.exchange_order_id,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        price=order.price,
        filled_quantity=order.filled_quantity,
        average_price=order.average_price,
        reason=order.reason,
    )


def simulated_fill(
    order: Order,
    *,
    trade_id: TradeId,
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
    fee_currency: str,
    ts_ms: int,
    liquidity: LiquiditySide,
) -> Fill:
    """Return the fill of ``quantity`` of a simulated order at ``price`` (fee in ``fee_currency``)."""
    return Fill(
        trade_id=trade_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=quantity,
        price=price,
        fee=fee,
        fee_currency=fee_currency,
        ts_ms=ts_ms,
        liquidity=liquidity,
        exchange_order_id=order.exchange_order_id,
    )
