"""Settings of the risk gate: per-order rules, the position sizer and account protection.

Every per-order rule can be switched off by setting its limit to ``null`` (``None``) or its
``enabled`` flag to ``false``. The defaults are conservative but permissive enough for the grid
strategy on a small account; tighten them for real money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import model_validator

from trading_bot.domain.bounds import BaseAmount
from trading_bot.domain.bounds import Count
from trading_bot.domain.bounds import DurationSeconds
from trading_bot.domain.bounds import Fraction
from trading_bot.domain.bounds import Leverage
from trading_bot.domain.bounds import LossPercent
from trading_bot.domain.bounds import QuoteAmount
from trading_bot.domain.bounds import WindowSeconds

__all__ = ["ProtectionConfig", "RiskConfig", "SizingConfig", "SizingMode"]

SizingMode = Literal["fixed_quantity", "fixed_notional", "fraction_of_equity", "volatility_target", "kelly"]
"""How the sizer picks a quantity the strategy left open."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SizingConfig(BaseModel):
    """The position sizer used when a strategy leaves ``OrderParams.quantity`` open."""

    model_config = _FROZEN

    mode: SizingMode = Field(
        default="fixed_notional",
        description=(
            "fixed_quantity: value is base-currency units; fixed_notional: value is quote currency per "
            "order; fraction_of_equity: value is a fraction (0.01 = 1 %) of account equity per order; "
            "volatility_target: value is the fraction of equity lost on an adverse move of atr_multiple ATRs; "
            "kelly: value is the fraction of the Kelly bet placed (0.5 = half Kelly); both capped at max_fraction"
        ),
    )
    value: QuoteAmount = Field(
        default=Decimal("20"),
        description="the sizing figure, in the unit the mode names (base units, quote currency, or a fraction)",
    )

    max_fraction: Fraction = Field(
        default=Decimal("0.25"),
        description="volatility_target and kelly: the cap on one order's notional, as a fraction of equity",
    )
    atr_period: Count = Field(default=14, le=1_000, description="volatility_target: ATR length, in bars")
    atr_timeframe: str = Field(
        default="1h", pattern=r"^\d+[smhdw]$", description="volatility_target: the bars the ATR is computed on"
    )
    atr_multiple: Decimal = Field(
        default=Decimal("2"), gt=0, le=100, description="volatility_target: the adverse move risked, in ATRs"
    )
    win_rate: Decimal | None = Field(
        default=None, gt=0, lt=1, description="kelly: the probability that a trade wins (0.55 = 55 %)"
    )
    payoff_ratio: Decimal | None = Field(
        default=None, gt=0, le=100, description="kelly: the average win divided by the average loss"
    )

    @model_validator(mode="after")
    def _fraction_at_most_one(self) -> SizingConfig:
        if self.mode in ("fraction_of_equity", "volatility_target", "kelly") and self.value > 1:
            unit = "a fraction of equity" if self.mode != "kelly" else "a fraction of the Kelly bet"
            raise ValueError(f"sizing.value is {unit} (0.01 = 1 %) in mode {self.mode}; {self.value} is above 1")
        return self

    @model_validator(mode="after")
    def _kelly_inputs(self) -> SizingConfig:
        if self.mode == "kelly" and (self.win_rate is None or self.payoff_ratio is None):
            raise ValueError("sizing mode kelly needs win_rate and payoff_ratio")
        return self


class ProtectionConfig(BaseModel):
    """Account protection (GRID.md): emergency loss, account loss with failures, stall."""

    model_config = _FROZEN

    emergency_enabled: bool = Field(
        default=True, description="act on the emergency loss limit (cancel, flatten, halt, exit non-zero)"
    )
    emergency_loss_pct: LossPercent = Field(
        default=Decimal("15"),
        description="percent below starting equity at which the emergency stop fires (15 = -15 %)",
    )
    account_loss_enabled: bool = Field(
        default=True, description="act on the account loss limit combined with consecutive order failures"
    )
    account_loss_pct: LossPercent = Field(
        default=Decimal("10"),
        description="percent below starting equity that, with the failure streak, closes the worst positions",
    )
    max_consecutive_failures: Count = Field(
        default=15, description="consecutive order failures (count) needed with the account loss"
    )
    failure_window_s: WindowSeconds = Field(
        default=600.0, description="seconds the failure streak must span, first to last failure"
    )
    close_worst_fraction: Fraction = Field(
        default=Decimal("0.2"),
        description="fraction (0.2 = 20 %) of losing positions to close, worst first; at least one",
    )
    stall_enabled: bool = Field(
        default=True, description="halt when the exchange has not answered successfully for stall_timeout_s"
    )
    stall_timeout_s: DurationSeconds = Field(
        default=600.0, description="seconds without a successful exchange interaction before halting"
    )

    @model_validator(mode="after")
    def _account_loss_below_emergency(self) -> ProtectionConfig:
        if self.account_loss_pct >= self.emergency_loss_pct:
            raise ValueError(
                f"protection.account_loss_pct ({self.account_loss_pct} %) must be below "
                f"emergency_loss_pct ({self.emergency_loss_pct} %)"
            )
        return self


class RiskConfig(BaseModel):
    """Per-order risk rules, the sizer and account protection; ``null`` switches a limit off."""

    model_config = _FROZEN

    market_limits_enabled: bool = Field(
        default=True,
        description="check tick grid, lot step, min/max amount and min notional from the market's rules",
    )
    max_order_notional: QuoteAmount | None = Field(
        default=Decimal("1000"), description="largest price × quantity of one order, quote currency"
    )
    max_position_quantity: BaseAmount | None = Field(
        default=None, description="largest |position| after the order fills, base currency units"
    )
    max_position_notional: QuoteAmount | None = Field(
        default=Decimal("5000"),
        description="largest |position| × price after the order fills, quote currency",
    )
    max_open_orders: Count | None = Field(
        default=50, description="largest number of the bot's own open orders on one instrument, counting the new one"
    )
    max_open_orders_total: Count | None = Field(
        default=None,
        description="largest number of the bot's own open orders over all instruments, counting the new one",
    )
    max_gross_exposure: QuoteAmount | None = Field(
        default=None,
        description="largest Σ |position × mark| over all instruments after the fill, quote currency; exits pass",
    )
    max_net_exposure: QuoteAmount | None = Field(
        default=None,
        description="largest |Σ position × mark| over all instruments after the fill, quote currency; exits pass",
    )
    max_daily_loss_pct: LossPercent | None = Field(
        default=None,
        description=(
            "percent below the equity at the UTC day's start (00:00 UTC, bot clock) at which new opens are refused "
            "until the next day; exits pass (5 = -5 %)"
        ),
    )
    price_band_pct: Decimal | None = Field(
        default=Decimal("5"),
        gt=0,
        le=100,
        allow_inf_nan=False,
        description="largest |limit price − mid| / mid, percent (5 = 5 %); either side of mid",
    )
    max_orders_per_minute: Count | None = Field(
        default=60, description="largest number of approved orders in any sliding 60 s window"
    )
    max_data_age_s: DurationSeconds | None = Field(
        default=30.0, description="oldest acceptable market data, seconds before now"
    )
    balance_check_enabled: bool = Field(
        default=True,
        description=(
            "spot: check free quote (buys, incl. taker fee) and free base (sells); swaps: check the initial "
            "margin of the order's opening part (opening notional / leverage + taker fee) against free collateral"
        ),
    )
    max_leverage: Leverage | None = Field(
        default=None,
        description=(
            "swaps: highest leverage (1 to 125) an order that opens or adds exposure may trade at; the market's "
            "own cap and its margin bracket's cap for the resulting notional always apply (with market limits)"
        ),
    )
    min_liquidation_distance_pct: Decimal | None = Field(
        default=None,
        gt=0,
        lt=100,
        allow_inf_nan=False,
        description=(
            "swaps: refuse an order that opens or adds exposure when the resulting position's estimated "
            "liquidation price is within this percent of the mark (10 = 10 %)"
        ),
    )
    reduce_at_liquidation_distance_pct: Decimal | None = Field(
        default=None,
        gt=0,
        lt=100,
        allow_inf_nan=False,
        description=(
            "swaps, account protection: go REDUCING when the mark comes within this percent of a position's "
            "estimated liquidation price (5 = 5 %); at most min_liquidation_distance_pct"
        ),
    )
    sizing: SizingConfig = Field(
        default_factory=SizingConfig, description="sizer for orders whose quantity the strategy left open"
    )
    protection: ProtectionConfig = Field(default_factory=ProtectionConfig, description="account protection thresholds")

    @model_validator(mode="after")
    def _reduce_within_open_distance(self) -> RiskConfig:
        opening, reducing = self.min_liquidation_distance_pct, self.reduce_at_liquidation_distance_pct
        if opening is not None and reducing is not None and reducing > opening:
            raise ValueError(
                f"risk.reduce_at_liquidation_distance_pct ({reducing} %) must be at most "
                f"min_liquidation_distance_pct ({opening} %): an order could open a position that is reduced at once"
            )
        return self
