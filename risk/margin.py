"""Swap (linear perpetual, one-way) risk: the margin an order needs, leverage caps, the liquidation distance.

Units: quantities in base units, prices in quote per base, money in the settle currency (USDT on Binance
USDⓈ-M). The formulas are the simulator's (``exchanges.sim.margin``), from one copy each in
``trading_bot.domain.derivatives``:

- **opening part** of an order (``opening_quantity``): what grows |position|; a buy against a short
  first closes it and only the rest opens a long. The reducing part needs no margin.
- **order margin** (``order_margin``) = opening quantity × price / leverage + taker fee × the whole
  quantity × price, checked against the free settle currency (the venue's available balance, Binance's
  ``availableBalance``) plus what a reversal's closing part frees first (``closing_release``: its margin
  and its PnL, as the simulator counts it). The balance rule (``risk.rules.BalanceRule``) applies it on
  swaps.
- **estimated liquidation price** (``estimate_liquidation_price``): Binance's one-way formula
  (``liquidation_price``) backed by the isolated margin ``|q| × entry / leverage`` (isolated; what the
  simulator moves out of the wallet as the position opens) or the settle currency's wallet balance
  (cross; ``Balance.total``, which the venues report without unrealized PnL). Limits: a cross estimate
  sees only this position (the other cross positions' PnL and maintenance are not subtracted), and the
  tier is taken at the entry notional, as the simulator does.
- **liquidation distance** (``liquidation_distance_pct``): how far the mark may move against the
  position before it is liquidated, percent of the mark (negative once past it).

The mark is the market data's mark price when it carries one, else the mid.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from risk.base import RiskContext
from risk.base import RiskRule
from risk.base import fill_price
from risk.base import reference_price
from risk.base import signed
from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import PerpPosition
from trading_bot.domain import closing_release
from trading_bot.domain import decimal_text
from trading_bot.domain import liquidation_price
from trading_bot.domain import opening_quantity

__all__ = [
    "LiquidationDistanceRule",
    "MaxLeverageRule",
    "estimate_liquidation_price",
    "liquidation_distance_pct",
    "margin_problem",
    "mark_of",
    "opening_part",
    "order_margin",
]

_HUNDRED = Decimal(100)


def mark_of(market_data: MarketData) -> Decimal:
    """Return the mark price of ``market_data`` (quote per base): its ``mark_price``, else the mid."""
    mark = market_data.mark_price
    return market_data.mid if mark is None else mark


def order_margin(opening: Decimal, quantity: Decimal, price: Decimal, leverage: Decimal, fee_rate: Decimal) -> Decimal:
    """Return the margin an order needs, settle currency: ``opening × price / leverage + quantity × price × fee``.

    Args:
        opening: the order's opening part (``opening_quantity``), base units.
        quantity: the whole order, base units (the fee is charged on all of it).
        price: the price it is expected to fill at, quote per base.
        leverage: the instrument's leverage (≥ 1).
        fee_rate: the taker fee rate (0.0005 = 0.05 %).
    """
    return opening * price / leverage + quantity * price * fee_rate


def opening_part(params: OrderParams, quantity: Decimal, ctx: RiskContext) -> Decimal:
    """Return the part of an order that would grow |position| (``opening_quantity``), base units.

    A reduce-only order opens nothing: the venue fills it at most up to the position (the ``reduce_only``
    rule refuses one with no position to reduce).
    """
    if params.reduce_only:
        return ZERO
    return opening_quantity(ctx.position.quantity, params.side, quantity)


def margin_problem(params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
    """Return why the free collateral does not cover a swap order's margin, or ``None`` (the balance rule's swap half).

    An order with no opening part (it only reduces the position) passes, as does a reduce-only order.
    """
    opening = opening_part(params, quantity, ctx)
    if opening == 0:
        return None
    price = fill_price(params, ctx.market_data)
    if price is None:
        return "a market order cannot be valued without market data"
    market = ctx.market
    needed = order_margin(opening, quantity, price, ctx.leverage, market.taker_fee)
    settle = market.settle_currency
    free = _available(ctx, settle) + _released(quantity - opening, price, ctx)
    if needed > free:
        return (
            f"{params.side.value} of {decimal_text(quantity)} opens {decimal_text(opening)} at "
            f"{decimal_text(ctx.leverage)}x: needs {needed:,.2f} {settle} margin with fees; free {free:,.2f} {settle}"
        )
    return None


def _available(ctx: RiskContext, settle: str) -> Decimal:
    """The collateral free for a new order now, settle currency.

    The balances are the last view (refreshed after each fill); a cross account's available balance moves
    with the mark since then (its unrealized PnL and its positions' margin at the mark). With no open order
    holding margin it is computed afresh: equity (wallet + unrealized PnL now) − the gross exposure at the
    mark / leverage. Otherwise, and on isolated margin (whose available balance the mark does not move),
    the last view's free balance.
    """
    free = _balance(ctx.balances, settle, total=False)
    md = ctx.market_data
    totals = ctx.portfolio
    open_orders = totals.open_orders if totals is not None else ctx.open_order_count
    if ctx.margin_mode is not MarginMode.CROSS or open_orders or md is None:
        return free
    gross = totals.gross_exposure if totals is not None else abs(ctx.position.quantity) * mark_of(md)
    return ctx.equity - gross / ctx.leverage


def _released(closing: Decimal, price: Decimal, ctx: RiskContext) -> Decimal:
    """What a reversal's closing part frees for its opening part (``closing_release``), settle currency.

    Cross: the closed part's margin at the mark plus its PnL from the mark; isolated: its margin at the entry
    plus its PnL from the entry (the fee of the closing part is in ``order_margin`` already).
    """
    position = ctx.position
    if closing <= 0 or position.quantity == 0:
        return ZERO
    if ctx.margin_mode is MarginMode.ISOLATED:
        basis = position.average_price
    else:
        basis = mark_of(ctx.market_data) if ctx.market_data is not None else position.average_price
    return closing_release(position.quantity, closing, price, basis, closing * basis / ctx.leverage)


def estimate_liquidation_price(
    quantity: Decimal,
    entry_price: Decimal,
    market: Market,
    *,
    leverage: Decimal,
    margin_mode: MarginMode,
    wallet_balance: Decimal,
) -> Decimal | None:
    """Return the estimated liquidation price of a position (quote per base), ``None`` when it has none.

    Args:
        quantity: the signed position, base units (+ long, − short).
        entry_price: its average entry price.
        market: the swap market (its margin tiers).
        leverage: the instrument's leverage.
        margin_mode: isolated: the position is backed by ``|quantity| × entry / leverage``; cross: by
            ``wallet_balance``.
        wallet_balance: the settle currency's wallet balance (cross), settle currency.

    Raises:
        ValueError: the market has no margin tiers.
    """
    isolated = margin_mode is MarginMode.ISOLATED
    backing = abs(quantity) * entry_price / leverage if isolated else wallet_balance
    return liquidation_price(quantity, entry_price, backing, market)


def liquidation_distance_pct(quantity: Decimal, liquidation: Decimal, mark: Decimal) -> Decimal:
    """Return how far the mark may move against a position before its liquidation price, percent of the mark.

    Long: ``(mark − LP) / mark × 100``; short: ``(LP − mark) / mark × 100``; negative when the mark is past it.
    """
    gap = mark - liquidation if quantity > 0 else liquidation - mark
    return gap / mark * _HUNDRED


class MaxLeverageRule(RiskRule):
    """Swaps: an order that opens or adds exposure (``opening_part``) may not trade at a leverage above
    ``limit``, above the market's ``max_leverage``, or above the cap of the margin bracket its resulting
    notional falls in (the venue refuses such orders). Reducing and reduce-only orders and spot pass.
    ``limit`` ``None`` checks the market's caps only.
    """

    __slots__ = ("limit",)
    name = "max_leverage"

    def __init__(self, limit: Decimal | None) -> None:
        self.limit = limit

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the instrument's leverage is too high for an opening order."""
        if ctx.spot:
            return None
        before = ctx.position.quantity
        if opening_part(params, quantity, ctx) == 0:
            return None
        leverage, market = ctx.leverage, ctx.market
        lev = decimal_text(leverage)
        if self.limit is not None and leverage > self.limit:
            return f"leverage {lev}x exceeds the limit of {decimal_text(self.limit)}x (risk.max_leverage)"
        cap = market.max_leverage
        if cap is not None and leverage > cap:
            return f"leverage {lev}x exceeds {market.symbol}'s maximum of {decimal_text(cap)}x"
        if not market.margin_tiers:
            return None
        price = reference_price(params, ctx.market_data)
        if price is None:
            return "a market order cannot be valued without market data"
        after = before + signed(params.side, quantity)
        notional = abs(after) * price
        tier = market.margin_tier(notional)
        if leverage > tier.max_leverage:
            return (
                f"leverage {lev}x exceeds the {decimal_text(tier.max_leverage)}x allowed for a position notional of "
                f"{notional:,.2f} {market.settle_currency} (bracket {tier.floor:,.0f} to {tier.cap:,.0f})"
            )
        return None


class LiquidationDistanceRule(RiskRule):
    """Swaps: an order that opens or adds exposure may not leave a position whose estimated liquidation
    price is within ``min_pct`` percent of the mark (``estimate_liquidation_price`` of the position after
    the fill, its wallet changed by the fill's realized PnL and taker fee). Reducing and reduce-only orders
    and spot pass.
    """

    __slots__ = ("min_pct",)
    name = "liquidation_distance"
    transient = True

    def __init__(self, min_pct: Decimal) -> None:
        self.min_pct = min_pct

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the resulting position would sit too close to its liquidation price."""
        if ctx.spot:
            return None
        position = ctx.position
        if opening_part(params, quantity, ctx) == 0:
            return None
        md, market = ctx.market_data, ctx.market
        price = fill_price(params, md)
        if md is None or price is None:
            return "the liquidation price cannot be estimated without market data"
        if not market.margin_tiers:
            return f"{market.symbol} has no margin tiers: the liquidation price cannot be estimated"
        before = PerpPosition(
            symbol=market.symbol, quantity=position.quantity, entry_price=position.average_price,
            leverage=ctx.leverage, margin_mode=ctx.margin_mode,
        )  # fmt: skip
        after = before.apply_fill(params.side, quantity, price, quantity * price * market.taker_fee)
        wallet = _balance(ctx.balances, market.settle_currency, total=True)
        wallet += after.realized_pnl - before.realized_pnl
        estimate = estimate_liquidation_price(
            after.quantity, after.entry_price, market, leverage=ctx.leverage, margin_mode=ctx.margin_mode,
            wallet_balance=wallet,
        )  # fmt: skip
        if estimate is None:
            return None
        mark = mark_of(md)
        distance = liquidation_distance_pct(after.quantity, estimate, mark)
        if distance < self.min_pct:
            kind = "long" if after.quantity > 0 else "short"
            size, lev = decimal_text(abs(after.quantity)), decimal_text(ctx.leverage)
            return (
                f"{params.side.value} of {decimal_text(quantity)} leaves a {kind} of {size} at {lev}x "
                f"with an estimated liquidation price of {estimate:,.2f}, "
                f"{distance:.2f} % from the mark {decimal_text(mark)}; minimum {decimal_text(self.min_pct)} %"
            )
        return None


def _balance(balances: Mapping[str, Balance], currency: str, *, total: bool) -> Decimal:
    balance = balances.get(currency)
    if balance is None:
        return ZERO
    return balance.total if total else balance.free
