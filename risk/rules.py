"""The per-order risk rules, each a small class with a ``name`` and one ``check``.

The shared pieces (``RiskContext``, ``RiskRule``, ``reference_price``) live in ``risk.base``; the
portfolio rules in ``risk.portfolio`` and the daily loss limit in ``risk.daily``. A rule's
``check(params, quantity, ctx)`` returns ``None`` when the order passes and a human reason
(naming the figures) when it does not. Rules never raise for a breach and allocate nothing on the
passing path; the ``RiskManager`` runs them in ``build_rules`` order and the first reason wins.

Each rule says whether its denials are **transient** (``transient``, carried on ``OrderDenied``): True
when the same order may pass later without any change to it, because the rule depends on time, the
market or state that changes by itself. A strategy may retry a transient denial (the grid does, with
back-off, for the take-profits that hedge real fills); a permanent one will refuse the same order again.

=================== ========= ==============================================================================
rule                transient why
=================== ========= ==============================================================================
trading_state       yes       the state changes: a stall halt lifts when the exchange answers, the operator
                              resumes (a take-profit reduces the position, so REDUCING lets it through)
daily_loss          yes       the next UTC day begins at 00:00 UTC (``risk.daily``); exits always pass
market_limits       no        tick, lot step, min/max amount and min notional are the order's own figures
max_order_notional  no        the order's price × quantity against a fixed limit
max_position        no        only an order that would grow |position| is refused: our books disagree
max_open_orders     yes       open orders fill or are cancelled (per instrument and over all instruments)
exposure            yes       marks and the other instruments' positions move (``risk.portfolio``); exits pass
price_band          yes       the mid moves back towards the price
order_rate          yes       the 60 s window slides
stale_data          yes       fresh market data arrives
balance             yes       the balances are our last view, refreshed after every fill (an exchange
                              ``InsufficientFunds`` answer, which is authoritative, is permanent)
=================== ========= ==============================================================================

Reference price: a limit order is valued at its limit price, a stop order at its trigger price, a
market order at the mid of the latest market data (the balance rule uses the touch instead: the ask
for a market buy, the bid for a market sell).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal

from risk.base import RiskContext
from risk.base import RiskRule
from risk.base import reduces
from risk.base import reference_price
from risk.config import RiskConfig
from risk.daily import DailyLossRule
from risk.portfolio import ExposureRule
from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import TradingState
from trading_bot.domain import decimal_text

__all__ = [
    "RULE_NAMES",
    "BalanceRule",
    "MarketLimitsRule",
    "MaxOpenOrdersRule",
    "MaxOrderNotionalRule",
    "MaxPositionRule",
    "OrderRateRule",
    "PriceBandRule",
    "RiskContext",
    "RiskRule",
    "StaleDataRule",
    "TradingStateRule",
    "build_rules",
    "reference_price",
]

_HUNDRED = Decimal(100)
_WINDOW_MS = 60_000


class TradingStateRule(RiskRule):
    """The kill switch: ACTIVE passes all, REDUCING only position-reducing orders, HALTED none.

    A reducing order is on the side opposite the position and no larger than it (it may not flip).
    """

    __slots__ = ("state",)
    name = "trading_state"
    transient = True

    def __init__(self, state: TradingState = TradingState.ACTIVE) -> None:
        self.state = state

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the trading state (the bot's, or its venue's when stricter) forbids the order."""
        state = self.state
        venue = ctx.venue_state
        if venue is not TradingState.ACTIVE and venue.restriction > state.restriction:
            state = venue
            if state is TradingState.HALTED:
                return f"trading on {ctx.market.symbol}'s venue is halted (the venue failed): no orders are sent"
        if state is TradingState.ACTIVE:
            return None
        if state is TradingState.HALTED:
            return "trading is halted: no orders are sent"
        if reduces(ctx.position.quantity, params.side, quantity):
            return None
        return (
            f"trading is reducing: a {params.side.value} of {decimal_text(quantity)} does not reduce the position "
            f"of {decimal_text(ctx.position.quantity)} without flipping it"
        )


class MarketLimitsRule(RiskRule):
    """The market's own filters (``Market.order_problem``): tick grid, lot step, min/max amount, min notional.

    A market order is valued at the reference price (the mid); one that cannot be valued is refused.
    """

    __slots__ = ()
    name = "market_limits"

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the order breaks the market's precision or limits."""
        reference = reference_price(params, ctx.market_data)
        breach = ctx.market.order_problem(quantity, params.price, params.trigger_price, reference)
        if breach is not None:
            return breach.reason
        if reference is None:
            return "a market order cannot be valued without market data"
        return None


class MaxOrderNotionalRule(RiskRule):
    """One order's ``reference price × quantity`` may not exceed ``limit`` (quote currency).

    A ``reduce_only`` order that really reduces the position (a protective close) is exempt.
    """

    __slots__ = ("limit",)
    name = "max_order_notional"

    def __init__(self, limit: Decimal) -> None:
        self.limit = limit

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the order's notional exceeds the limit."""
        if params.reduce_only and reduces(ctx.position.quantity, params.side, quantity):
            return None
        price = reference_price(params, ctx.market_data)
        if price is None:
            return "a market order cannot be valued without market data"
        notional = price * quantity
        if notional > self.limit:
            return f"order notional {notional:,.2f} {ctx.market.quote} exceeds the limit {self.limit:,.2f}"
        return None


class MaxPositionRule(RiskRule):
    """|position after the order fills| may not exceed a base quantity and/or a quote notional.

    An order that does not increase |position| always passes (a flip past zero to a larger
    |position| is an increase and is checked). The notional uses the reference price.
    """

    __slots__ = ("max_notional", "max_quantity")
    name = "max_position"

    def __init__(self, max_quantity: Decimal | None, max_notional: Decimal | None) -> None:
        self.max_quantity = max_quantity
        self.max_notional = max_notional

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the position after the fill would be too large."""
        before = ctx.position.quantity
        after = before + quantity if params.side is OrderSide.BUY else before - quantity
        size = abs(after)
        if size <= abs(before):
            return None
        if self.max_quantity is not None and size > self.max_quantity:
            return (
                f"position after the fill {decimal_text(after)} {ctx.market.base} exceeds the limit "
                f"{decimal_text(self.max_quantity)} {ctx.market.base}"
            )
        if self.max_notional is not None:
            price = reference_price(params, ctx.market_data)
            if price is None:
                return "a market order cannot be valued without market data"
            notional = size * price
            if notional > self.max_notional:
                return (
                    f"position notional after the fill {notional:,.2f} {ctx.market.quote} exceeds the limit "
                    f"{self.max_notional:,.2f}"
                )
        return None


class MaxOpenOrdersRule(RiskRule):
    """The bot's own open orders, counting the new one, may not exceed ``limit`` on the order's instrument
    nor ``total_limit`` over all its instruments (``ctx.portfolio.open_orders``; with no portfolio totals
    the instrument's count is the total). Either limit may be ``None`` (off).
    """

    __slots__ = ("limit", "total_limit")
    name = "max_open_orders"
    transient = True

    def __init__(self, limit: int | None, total_limit: int | None = None) -> None:
        self.limit = limit
        self.total_limit = total_limit

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when one more open order would exceed either limit."""
        limit = self.limit
        if limit is not None and ctx.open_order_count + 1 > limit:
            return f"{ctx.open_order_count} orders are open; one more exceeds the limit of {limit}"
        total_limit = self.total_limit
        if total_limit is not None:
            total = ctx.open_order_count if ctx.portfolio is None else ctx.portfolio.open_orders
            if total + 1 > total_limit:
                return (
                    f"{total} orders are open over all instruments; one more exceeds the total limit of {total_limit}"
                )
        return None


class PriceBandRule(RiskRule):
    """Fat-finger guard: a limit price with ``|price − mid| / mid`` above the band is rejected.

    Both sides and both directions count: a buy far above mid (would sweep the book) and a buy far
    below it (a mistyped passive price) are refused alike. Market and stop orders pass; a limit order
    without market data to compare with is rejected.
    """

    __slots__ = ("band", "band_pct")
    name = "price_band"
    transient = True

    def __init__(self, band_pct: Decimal) -> None:
        self.band_pct = band_pct
        self.band = band_pct / _HUNDRED

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the limit price is too far from mid."""
        if params.order_type is not OrderType.LIMIT or params.price is None:
            return None
        md = ctx.market_data
        if md is None:
            return f"limit price {decimal_text(params.price)} cannot be compared with mid: no market data"
        mid = md.mid
        if mid <= 0:
            return f"limit price {decimal_text(params.price)} cannot be compared with a mid of {decimal_text(mid)}"
        distance = abs(params.price - mid) / mid
        if distance > self.band:
            return (
                f"limit price {decimal_text(params.price)} is {distance * _HUNDRED:.2f} % "
                f"from mid {decimal_text(mid)}; "
                f"band {decimal_text(self.band_pct)} %"
            )
        return None


class OrderRateRule(RiskRule):
    """At most ``limit`` approved orders in any sliding 60 s window of clock time (``ctx.now_ms``).

    The manager calls ``record`` for every approval; rejected orders do not count. A ``reduce_only``
    order that really reduces the position (a protective close) is never held back, but still counts.
    """

    __slots__ = ("_times", "limit")
    name = "order_rate"
    transient = True

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._times: deque[int] = deque()

    def _expire(self, now_ms: int) -> None:
        times = self._times
        cutoff = now_ms - _WINDOW_MS
        while times and times[0] <= cutoff:
            times.popleft()

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when another order would exceed the per-minute limit."""
        self._expire(ctx.now_ms)
        if len(self._times) >= self.limit and not (
            params.reduce_only and reduces(ctx.position.quantity, params.side, quantity)
        ):
            return f"{len(self._times)} orders approved in the last 60 s; limit {self.limit} per minute"
        return None

    def record(self, now_ms: int) -> None:
        """Count one approved order at ``now_ms`` (epoch milliseconds)."""
        self._times.append(now_ms)


class StaleDataRule(RiskRule):
    """The latest market event may be at most ``max_age_s`` seconds older than ``ctx.now_ms``."""

    __slots__ = ("max_age_ms", "max_age_s")
    name = "stale_data"
    transient = True

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.max_age_ms = round(max_age_s * 1000)

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when there is no market data or it is too old."""
        md = ctx.market_data
        if md is None:
            return "no market data has been received"
        age_ms = ctx.now_ms - md.ts_ms
        if age_ms > self.max_age_ms:
            return f"market data is {age_ms / 1000:.1f} s old; limit {self.max_age_s:g} s"
        return None


class BalanceRule(RiskRule):
    """The account must hold the funds the order needs, with the taker fee.

    Spot: a buy needs ``price × quantity × (1 + taker fee)`` free quote (market buys priced at the ask);
    a sell needs ``quantity`` free base. Swap: the base check is skipped; an order that does not reduce
    the position needs its notional with fee as free quote (leverage 1, deliberately conservative); a
    reducing order passes.
    """

    __slots__ = ()
    name = "balance"
    transient = True

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the free balance does not cover the order."""
        market = ctx.market
        if ctx.spot and params.side is OrderSide.SELL:
            free_base = _free(ctx.balances, market.base)
            if quantity > free_base:
                return (
                    f"sell of {decimal_text(quantity)} {market.base} needs more than the free "
                    f"{decimal_text(free_base)} {market.base}"
                )
            return None
        if not ctx.spot and reduces(ctx.position.quantity, params.side, quantity):
            return None
        if params.order_type is OrderType.MARKET:
            md = ctx.market_data
            if md is None:
                return "a market order cannot be valued without market data"
            price = md.touch(params.side)
        else:
            ref = reference_price(params, ctx.market_data)
            if ref is None:  # pragma: no cover - limit and stop orders always carry a price
                return "the order has no price"
            price = ref
        needed = price * quantity * (1 + market.taker_fee)
        free_quote = _free(ctx.balances, market.quote)
        if needed > free_quote:
            return (
                f"{params.side.value} needs {needed:,.2f} {market.quote} with fees; "
                f"free {free_quote:,.2f} {market.quote}"
            )
        return None


def _free(balances: Mapping[str, Balance], currency: str) -> Decimal:
    balance = balances.get(currency)
    return ZERO if balance is None else balance.free


RULE_NAMES: tuple[str, ...] = (
    TradingStateRule.name,
    DailyLossRule.name,
    MarketLimitsRule.name,
    MaxOrderNotionalRule.name,
    MaxPositionRule.name,
    MaxOpenOrdersRule.name,
    ExposureRule.name,
    PriceBandRule.name,
    OrderRateRule.name,
    StaleDataRule.name,
    BalanceRule.name,
)
"""Every per-order rule, in the order they are checked."""


def build_rules(config: RiskConfig, state_rule: TradingStateRule) -> tuple[RiskRule, ...]:
    """Return the enabled rules in check order; switched-off rules are left out entirely.

    Args:
        config: the risk settings.
        state_rule: the kill-switch rule; always first and never switched off.
    """
    rules: list[RiskRule] = [state_rule]
    if config.max_daily_loss_pct is not None:
        rules.append(DailyLossRule(config.max_daily_loss_pct))
    if config.market_limits_enabled:
        rules.append(MarketLimitsRule())
    if config.max_order_notional is not None:
        rules.append(MaxOrderNotionalRule(config.max_order_notional))
    if config.max_position_quantity is not None or config.max_position_notional is not None:
        rules.append(MaxPositionRule(config.max_position_quantity, config.max_position_notional))
    if config.max_open_orders is not None or config.max_open_orders_total is not None:
        rules.append(MaxOpenOrdersRule(config.max_open_orders, config.max_open_orders_total))
    if config.max_gross_exposure is not None or config.max_net_exposure is not None:
        rules.append(ExposureRule(config.max_gross_exposure, config.max_net_exposure))
    if config.price_band_pct is not None:
        rules.append(PriceBandRule(config.price_band_pct))
    if config.max_orders_per_minute is not None:
        rules.append(OrderRateRule(config.max_orders_per_minute))
    if config.max_data_age_s is not None:
        rules.append(StaleDataRule(config.max_data_age_s))
    if config.balance_check_enabled:
        rules.append(BalanceRule())
    return tuple(rules)
