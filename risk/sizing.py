"""Position sizers: choose the quantity of an order the strategy left open (``quantity is None``).

Modes (``SizingConfig.mode``):

- ``fixed_quantity``: ``value`` base units.
- ``fixed_notional``: ``value`` quote currency ÷ the reference price.
- ``fraction_of_equity``: ``equity × value`` ÷ the reference price.

The reference price is the limit price (limit orders), the trigger price (stop orders) or the mid
(market orders). On spot a sell is capped at what the bot can sell: the smaller of its own long
position and the free base balance (the bot never sells coins its fills did not buy). The result is
rounded **down** to the lot step; ``None`` means "no order" (the supervisor denies it with rule
``"sizing"``): the price is unknown, or the result is zero or below the market's minimum amount.
"""

from __future__ import annotations

from decimal import Decimal

from risk.config import SizingConfig
from risk.rules import RiskContext
from risk.rules import reference_price
from trading_bot.domain import ZERO
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide

__all__ = ["SIZING_RULE", "size_order"]

SIZING_RULE = "sizing"
"""The rule name of a denial because the sizer found no valid quantity."""


def size_order(params: OrderParams, ctx: RiskContext, config: SizingConfig) -> Decimal | None:
    """Return the order quantity in base units, on the lot step, or ``None`` when there is none.

    Args:
        params: the intent; its ``quantity`` is ignored (the caller sizes only when it is ``None``).
        ctx: market, market data, position, balances and equity (quote currency) at sizing time.
        config: the sizing mode and its value (base units, quote currency, or a fraction of equity).
    """
    market = ctx.market
    if config.mode == "fixed_quantity":
        raw = config.value
    else:
        price = reference_price(params, ctx.market_data)
        if price is None or price <= 0:
            return None
        budget = config.value if config.mode == "fixed_notional" else ctx.equity * config.value
        raw = budget / price
    if ctx.spot and params.side is OrderSide.SELL:
        balance = ctx.balances.get(market.base)
        free_base = ZERO if balance is None else balance.free
        raw = min(raw, max(ctx.position.quantity, ZERO), free_base)
    if raw <= 0:
        return None
    quantity = market.round_amount(raw) if market.amount_increment > 0 else raw
    if quantity <= 0 or quantity < market.min_amount:
        return None
    return quantity
