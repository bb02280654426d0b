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

==================== ========= =============================================================================
rule                 transient why
==================== ========= =============================================================================
trading_state        yes       the state changes: a stall halt lifts when the exchange answers, the operator
                               resumes (a take-profit reduces the position, so REDUCING lets it through; so
                               does a swap's reduce-only order against the position, which cannot flip it)
reduce_only          no        a reduce-only order with no position on the other side would open one (the
                               venue refuses it); always on
daily_loss           yes       the next UTC day begins at 00:00 UTC (``risk.daily``); exits always pass
market_limits        no        tick, lot step, min/max amount and min notional are the order's own figures
max_leverage         no        swaps: the instrument's leverage against ``max_leverage`` and the market's cap
                               and bracket cap for the resulting notional (``risk.margin``); exits pass; on
                               with ``max_leverage`` or ``market_limits_enabled``
max_order_notional   no        the order's price × quantity against a fixed limit
max_position         no        only an order that would grow |position| is refused: our books disagree
max_open_orders      yes       open orders fill or are cancelled (per instrument and over all instruments)
exposure             yes       marks and the other instruments' positions move (``risk.portfolio``); exits pass
price_band           yes       the mid moves back towards the price
order_rate           yes       the 60 s window slides
stale_data           yes       fresh market data arrives
liquidation_distance yes       swaps: the mark moves; the resulting position's estimated liquidation price
                               within ``min_liquidation_distance_pct`` of it (``risk.margin``); exits pass
balance              yes       the balances are our last view, refreshed after every fill (an exchange
                               ``InsufficientFunds`` answer, which is authoritative, is permanent); on swaps
                               a margin rule: the opening part's notional / leverage + taker fee against
                               the free settle currency; the reducing part needs none
==================== ========= =============================================================================

Reference price: a limit order is valued at its limit price, a stop order at its trigger price, a
market order at the mid of the latest market data (the balance and liquidation-distance rules use the
touch instead: the ask for a market buy, the bid for a market sell).

Shorts: on spot a sell needs the base currency (the balance rule), so the bot cannot go short; on swaps a
sell from flat opens a short like a buy opens a long, and needs margin only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal

from risk.base import RiskContext
from risk.base import RiskRule
from risk.base import fill_price
from risk.base import reduces
from risk.base import reference_price
from risk.config import RiskConfig
from risk.daily import DailyLossRule
from risk.margin import LiquidationDistanceRule
from risk.margin import MaxLeverageRule
from risk.margin import margin_problem
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
    "LiquidationDistanceRule",
    "MarketLimitsRule",
    "MaxLeverageRule",
    "MaxOpenOrdersRule",
    "MaxOrderNotionalRule",
    "MaxPositionRule",
    "OrderRateRule",
    "PriceBandRule",
    "ReduceOnlyRule",
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

    A reducing order is on the side opposite the position and no larger than it (it may not flip). On a
    swap a ``reduce_only`` order on the side opposite the position passes too, whatever its size: the
    venue never lets it open (it fills at most the position).
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
        held = ctx.position.quantity
        if reduces(held, params.side, quantity):
            return None
        if params.reduce_only:
            if _opens(held, params.side):
                return f"trading is reducing: {_reduce_only_opens(params, quantity, held)}"
            if not ctx.spot:
                return None  # against the position: the venue fills it at most up to the position
        return (
            f"trading is reducing: a {params.side.value} of {decimal_text(quantity)} does not reduce the position "
            f"of {decimal_text(held)} without flipping it"
        )


class ReduceOnlyRule(RiskRule):
    """A ``reduce_only`` order needs a position on the other side to reduce: from flat, or on the side of
    the position, it would open (or add), which the venue refuses. Always on.
    """

    __slots__ = ()
    name = "reduce_only"

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when a reduce-only order has nothing to reduce."""
        held = ctx.position.quantity
        if params.reduce_only and _opens(held, params.side):
            return _reduce_only_opens(params, quantity, held)
        return None


def _opens(held: Decimal, side: OrderSide) -> bool:
    """True when no part of an order of ``side`` reduces the position ``held`` (flat, or the same side)."""
    return held == 0 or (held > 0) == (side is OrderSide.BUY)


def _reduce_only_opens(params: OrderParams, quantity: Decimal, held: Decimal) -> str:
    wanted = "short" if params.side is OrderSide.BUY else "long"
    return (
        f"a reduce-only {params.side.value} of {decimal_text(quantity)} would open a position: there is no "
        f"{wanted} position to reduce (position {decimal_text(held)})"
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
    a sell needs ``quantity`` free base. Swap (a margin rule, ``risk.margin.margin_problem``): the order's
    opening part needs ``opening × price / leverage + quantity × price × taker fee`` of free settle currency
    (the venue's available balance); an order that only reduces the position passes. Shorts need no base.
    """

    __slots__ = ()
    name = "balance"
    transient = True

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> str | None:
        """Return the reason when the free balance does not cover the order."""
        if not ctx.spot:
            return margin_problem(params, quantity, ctx)
        market = ctx.market
        if params.side is OrderSide.SELL:
            free_base = _free(ctx.balances, market.base)
            if quantity > free_base:
                return (
                    f"sell of {decimal_text(quantity)} {market.base} needs more than the free "
                    f"{decimal_text(free_base)} {market.base}"
                )
            return None
        price = fill_price(params, ctx.market_data)
        if price is None:
            return "a market order cannot be valued without market data"
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
    ReduceOnlyRule.name,
    DailyLossRule.name,
    MarketLimitsRule.name,
    MaxLeverageRule.name,
    MaxOrderNotionalRule.name,
    MaxPositionRule.name,
    MaxOpenOrdersRule.name,
    ExposureRule.name,
    PriceBandRule.name,
    OrderRateRule.name,
    StaleDataRule.name,
    LiquidationDistanceRule.name,
    BalanceRule.name,
)
"""Every per-order rule, in the order they are checked."""


def build_rules(config: RiskConfig, state_rule: TradingStateRule) -> tuple[RiskRule, ...]:
    """Return the enabled rules in check order; switched-off rules are left out entirely.

    Args:
        config: the risk settings.
        state_rule: the kill-switch rule; always first and never switched off (nor is ``reduce_only``).
    """
    return (state_rule, ReduceOnlyRule(), *_gate_rules(config), *_size_rules(config), *_market_rules(config))


def _gate_rules(config: RiskConfig) -> list[RiskRule]:
    rules: list[RiskRule] = []
    if config.max_daily_loss_pct is not None:
        rules.append(DailyLossRule(config.max_daily_loss_pct))
    if config.market_limits_enabled:
        rules.append(MarketLimitsRule())
    if config.max_leverage is not None or config.market_limits_enabled:
        rules.append(MaxLeverageRule(None if config.max_leverage is None else Decimal(config.max_leverage)))
    return rules


def _size_rules(config: RiskConfig) -> list[RiskRule]:
    rules: list[RiskRule] = []
    if config.max_order_notional is not None:
        rules.append(MaxOrderNotionalRule(config.max_order_notional))
    if config.max_position_quantity is not None or config.max_position_notional is not None:
        rules.append(MaxPositionRule(config.max_position_quantity, config.max_position_notional))
    if config.max_open_orders is not None or config.max_open_orders_total is not None:
        rules.append(MaxOpenOrdersRule(config.max_open_orders, config.max_open_orders_total))
    if config.max_gross_exposure is not None or config.max_net_exposure is not None:
        rules.append(ExposureRule(config.max_gross_exposure, config.max_net_exposure))
    return rules


def _market_rules(config: RiskConfig) -> list[RiskRule]:
    rules: list[RiskRule] = []
    if config.price_band_pct is not None:
        rules.append(PriceBandRule(config.price_band_pct))
    if config.max_orders_per_minute is not None:
        rules.append(OrderRateRule(config.max_orders_per_minute))
    if config.max_data_age_s is not None:
        rules.append(StaleDataRule(config.max_data_age_s))
    if config.min_liquidation_distance_pct is not None:
        rules.append(LiquidationDistanceRule(config.min_liquidation_distance_pct))
    if config.balance_check_enabled:
        rules.append(BalanceRule())
    return rules
