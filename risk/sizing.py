"""Position sizers: choose the quantity of an order the strategy left open (``quantity is None``).

Modes (``SizingConfig.mode``):

- ``fixed_quantity``: ``value`` base units.
- ``fixed_notional``: ``value`` quote currency ÷ the reference price.
- ``fraction_of_equity``: ``equity × value`` ÷ the reference price.
- ``volatility_target``: the quantity whose loss on an adverse move of ``atr_multiple`` ATRs is
  ``value`` of equity: ``equity × value ÷ (atr_multiple × ATR)`` (ATR in price units, on
  ``atr_timeframe`` bars the runtime builds for the instrument; no ATR yet: no order).
- ``kelly``: the Kelly fraction ``f* = W − (1 − W) / R`` of equity (``W`` = ``win_rate``, ``R`` =
  ``payoff_ratio``), times ``value`` (0.5 = half Kelly), ÷ the reference price; ``f* ≤ 0`` (no edge):
  no order.

``volatility_target`` and ``kelly`` are capped: the notional never exceeds ``max_fraction`` of equity.

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

__all__ = ["SIZING_RULE", "kelly_fraction", "size_order", "volatility_target_quantity"]

SIZING_RULE = "sizing"
"""The rule name of a denial because the sizer found no valid quantity."""


def kelly_fraction(win_rate: Decimal, payoff_ratio: Decimal, scale: Decimal, cap: Decimal) -> Decimal:
    """Return the fraction of equity to bet: ``scale × (W − (1 − W) / R)``, at most ``cap``, at least 0."""
    full = win_rate - (1 - win_rate) / payoff_ratio
    return max(ZERO, min(full * scale, cap))


def volatility_target_quantity(
    equity: Decimal, risk_fraction: Decimal, atr: Decimal, atr_multiple: Decimal, price: Decimal, cap: Decimal
) -> Decimal:
    """Return base units losing ``risk_fraction`` of ``equity`` on ``atr_multiple`` ATRs, notional ≤ ``cap`` × equity.

    ``atr`` and ``price`` are in quote currency per base unit; the result is not rounded. ``atr <= 0``: 0.
    """
    if atr <= 0 or price <= 0:
        return ZERO
    raw = equity * risk_fraction / (atr_multiple * atr)
    return min(raw, equity * cap / price)


def size_order(params: OrderParams, ctx: RiskContext, config: SizingConfig) -> Decimal | None:
    """Return the order quantity in base units, on the lot step, or ``None`` when there is none.

    Args:
        params: the intent; its ``quantity`` is ignored (the caller sizes only when it is ``None``).
        ctx: market, market data, position, balances, equity (quote currency) and ATR at sizing time.
        config: the sizing mode and its figures (see the module docstring).
    """
    market = ctx.market
    mode = config.mode
    if mode == "fixed_quantity":
        raw = config.value
    else:
        price = reference_price(params, ctx.market_data)
        if price is None or price <= 0:
            return None
        if mode == "volatility_target":
            if ctx.atr is None:
                return None
            raw = volatility_target_quantity(ctx.equity, config.value, ctx.atr, config.atr_multiple, price,
                                             config.max_fraction)  # fmt: skip
        elif mode == "kelly":
            assert config.win_rate is not None
            assert config.payoff_ratio is not None
            raw = ctx.equity * kelly_fraction(config.win_rate, config.payoff_ratio, config.value,
                                              config.max_fraction) / price  # fmt: skip
        else:
            budget = config.value if mode == "fixed_notional" else ctx.equity * config.value
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
