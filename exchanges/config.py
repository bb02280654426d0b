"""Settings of the exchange side: which exchange, credentials, ccxt options, and the paper simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr

from trading_bot.domain.bounds import BalanceAmount
from trading_bot.domain.bounds import BasisPoints
from trading_bot.domain.bounds import FeeRate
from trading_bot.domain.bounds import FundingRateValue
from trading_bot.domain.bounds import LatencyMs
from trading_bot.domain.bounds import Leverage
from trading_bot.domain.bounds import TimeoutSeconds

__all__ = ["ExchangeConfig", "PaperConfig"]


class PaperConfig(BaseModel):
    """The simulated account used by ``--paper`` and by replays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    balances: dict[str, BalanceAmount] = Field(
        default_factory=lambda: {"USDT": Decimal(10000)},
        description="starting balances of the simulated account, by currency",
    )
    maker_fee: FeeRate | None = Field(
        default=None, description="maker fee rate (0.001 = 0.1 %); default: the market's own fee"
    )
    taker_fee: FeeRate | None = Field(
        default=None, description="taker fee rate (0.001 = 0.1 %); default: the market's own fee"
    )
    slippage_bps: BasisPoints = Field(
        default=Decimal(0), description="extra price paid by market orders, in basis points of the touch"
    )
    queue_position: bool = Field(
        default=True,
        description="resting limit orders wait for the size shown ahead of them at their price to trade first",
    )
    latency_ms: LatencyMs = Field(
        default=0,
        description="milliseconds from sending an order to its arrival at the simulated venue (quote and trade data)",
    )
    partial_fills: bool = Field(
        default=True,
        description="a trade at a resting order's price fills at most the trade's size (off: the whole remainder)",
    )
    funding_rate: FundingRateValue | None = Field(
        default=None,
        description="swap: constant funding rate per funding interval (0.0001 = 0.01 %) when no funding data is given",
    )
    liquidation_fee: FeeRate = Field(
        default=Decimal("0.0125"),
        description="swap: fee rate charged on the notional of a liquidated position (Binance: up to 1.25 %)",
    )


class ExchangeConfig(BaseModel):
    """Which exchange to trade on and how to reach it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="binance", description="ccxt exchange id (binance, kraken, ...) or 'paper'")
    api_key: SecretStr | None = Field(
        default=None, description="API key; set TRADING_BOT__EXCHANGE__API_KEY, never in the file"
    )
    secret: SecretStr | None = Field(
        default=None, description="API secret; set TRADING_BOT__EXCHANGE__SECRET, never in the file"
    )
    password: SecretStr | None = Field(
        default=None, description="API passphrase for exchanges that need one (TRADING_BOT__EXCHANGE__PASSWORD)"
    )
    testnet: bool = Field(default=False, description="use the exchange's sandbox (ccxt set_sandbox_mode)")
    market_type: Literal["spot", "swap"] = Field(default="spot", description="spot or perpetual swap markets")
    leverage: Leverage = Field(
        default=1, description="swap: leverage set on every traded symbol at connect (1..125; the venue's cap applies)"
    )
    margin_mode: Literal["isolated", "cross"] = Field(
        default="cross", description="swap: margin mode set on every traded symbol at connect"
    )
    ccxt_options: dict[str, Any] = Field(
        default_factory=dict,
        description="deep-merged into ccxt's constructor config (urls, proxies, options); see CCXT_BINANCE.md",
    )
    request_timeout_s: TimeoutSeconds = Field(default=10.0, description="timeout of one REST request, seconds")
    paper: PaperConfig = Field(default_factory=PaperConfig, description="the simulated account (--paper)")

    def has_credentials(self) -> bool:
        """Return True when both an API key and a secret are set."""
        return self.api_key is not None and self.secret is not None
