"""The grid's parameters (GRID.md "Parameters") and the checks of ``quantity`` against the market."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from strategies.base import StrategyParams
from trading_bot.domain import Market
from trading_bot.domain import OrderSide
from trading_bot.domain.bounds import BaseAmount
from trading_bot.domain.bounds import IntervalSeconds
from trading_bot.domain.bounds import PriceLevel
from trading_bot.domain.bounds import TimeoutSeconds
from trading_bot.domain.bounds import WindowSeconds
from trading_bot.errors import ConfigError

__all__ = ["GridParams", "check_notional", "check_quantity"]


class GridParams(StrategyParams):
    """Parameters of ``grid`` (GRID.md "Parameters"); the symbol comes from the bot config / ``--ticker``."""

    quantity: BaseAmount = Field(description="size of every open order, base units (e.g. BTC)")
    take_profit: Decimal = Field(
        default=Decimal("0.02"),
        gt=0,
        lt=100,
        description="take-profit distance in PERCENT: 0.02 means 0.02 %",
        json_schema_extra={"search": {"low": 0.005, "high": 1.0, "log": True}},
    )
    direction: Literal["buy", "sell"] = Field(
        default="buy", description="buy = long grid (open buys, take-profit sells); sell = the mirror"
    )
    max_orders: int = Field(
        default=40,
        ge=1,
        le=10_000,
        description="cap on resting take-profit orders (count)",
        json_schema_extra={"search": {"low": 1, "high": 100}},
    )
    wait_time: WindowSeconds = Field(
        default=450.0,
        description="base cooldown between opens, seconds",
        json_schema_extra={"search": {"low": 5.0, "high": 3600.0, "log": True}},
    )
    grid_step: Decimal = Field(
        default=Decimal(-100),
        ge=-100,
        le=100,
        description="minimum gap between a new take-profit and the nearest resting one, percent; -100 = off",
    )
    stop_price: PriceLevel | None = Field(
        default=None, description="buy: stop and exit when best ask >= it (sell: best bid <= it); quote"
    )
    pause_price: PriceLevel | None = Field(
        default=None, description="buy: no new opens while best ask >= it (sell: best bid <= it); quote"
    )
    boost: bool = Field(default=False, description="close each fill at once with a market order, no take-profit")
    fill_timeout: TimeoutSeconds = Field(default=10.0, description="wait for the open order to fill, seconds")
    recheck_interval: IntervalSeconds = Field(
        default=5.0, description="after fill_timeout, re-check the unfilled open order every N seconds"
    )
    post_only_retries: int = Field(
        default=15,
        ge=0,
        le=1000,
        description="quick re-tries of a post-only order refused for crossing, per attempt"
        " (take-profits then go on every recheck_interval)",
    )
    exit_retry_max: IntervalSeconds = Field(
        default=60.0,
        description="longest wait between retries of a take-profit refused for a transient cause (429, 5xx,"
        " rate or stale-data denial), seconds; the wait starts at recheck_interval and doubles",
    )
    position_check_interval: IntervalSeconds = Field(
        default=60.0, description="position guard period, seconds (two bad reads in a row halt opens)"
    )

    @property
    def side(self) -> OrderSide:
        """Return the side of the open orders."""
        return OrderSide(self.direction)


def check_quantity(quantity: Decimal, market: Market) -> None:
    """Check ``quantity`` (base units) against the market's lot step and minimum/maximum amounts.

    Raises:
        ConfigError: off the lot step, below the minimum amount or above the maximum (the message gives
            the value to use).
    """
    qty = quantity
    if market.round_amount(qty) != qty:
        raise ConfigError(
            f"grid.quantity {qty} {market.base} is not a multiple of the lot step {market.amount_increment};"
            f" use {market.round_amount(qty)}"
        )
    if qty < market.min_amount:
        raise ConfigError(
            f"grid.quantity {qty} {market.base} is below the market minimum amount {market.min_amount};"
            f" use at least {market.min_amount}"
        )
    if market.max_amount is not None and qty > market.max_amount:
        raise ConfigError(f"grid.quantity {qty} {market.base} is above the market maximum {market.max_amount}")


def check_notional(quantity: Decimal, market: Market, price: Decimal) -> None:
    """Check ``quantity × price`` (price in quote units, > 0) against the market's minimum notional.

    Raises:
        ConfigError: below the minimum notional (the message gives the smallest quantity that is not).
    """
    rounded = market.round_price(price)
    if rounded <= 0:
        raise ConfigError(
            f"the market price {price} is below half the tick {market.price_increment} of {market.symbol}: the data "
            "does not fit this market's rules (is it another market's data?)"
        )
    price = rounded
    if quantity * price >= market.min_notional:
        return
    need = max(market.min_amount, market.round_amount(market.min_notional / price))
    while need * price < market.min_notional:
        need += market.amount_increment
    raise ConfigError(
        f"grid.quantity {quantity} {market.base} is below the market minimum notional {market.min_notional}"
        f" {market.quote} at price {price:,}; use at least {need}"
    )
