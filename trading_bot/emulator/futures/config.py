"""Configuration of the emulator's USDⓈ-M futures venue (``EmulatorConfig.futures``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from exchanges.sim.funding import MAX_FUNDING_RATE
from trading_bot.domain import MarginMode

__all__ = ["FuturesConfig"]


def _balances() -> dict[str, Decimal]:
    return {"USDT": Decimal(10000)}


def _prices() -> dict[str, Decimal]:
    return {"BTC/USDT:USDT": Decimal(60000), "XRP/USDT:USDT": Decimal("0.5")}


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesConfig:
    """The futures side of the emulator: markets from the bundled ``binance_swap.json`` snapshot.

    Attributes:
        symbols: Unified swap symbols served (``BTC/USDT:USDT``); each must be in the snapshot.
        balances: Starting wallet balances per asset (the settle currency's is the collateral), in that asset.
        start_prices: Starting mark price per symbol (quote per base); the book starts one tick around it.
        leverage: Leverage of every symbol until ``POST /fapi/v1/leverage`` changes it (Binance's default is 20).
        margin_mode: Margin mode of every symbol until ``POST /fapi/v1/marginType`` changes it.
        funding_rate: Funding rate per interval of every symbol at start (0.0001 = 0.01 %; > 0: longs pay).
        funding_interval_ms: Milliseconds between funding settlements; ``None`` = each market's (8 h).
            Tests shorten it; settlements fall on the multiples of the interval since the epoch.
        liquidation_fee: Fee rate on a liquidated notional (0.0125 = 1.25 %).
        hedge_mode: Start in hedge (dual-side) position mode; the emulator reports it but trades one-way only.
    """

    symbols: tuple[str, ...] = ("BTC/USDT:USDT",)
    balances: Mapping[str, Decimal] = field(default_factory=_balances)
    start_prices: Mapping[str, Decimal] = field(default_factory=_prices)
    leverage: int = 20
    margin_mode: MarginMode = MarginMode.CROSS
    funding_rate: Decimal = Decimal("0.0001")
    funding_interval_ms: int | None = None
    liquidation_fee: Decimal = Decimal("0.0125")
    hedge_mode: bool = False

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("futures.symbols: give at least one swap symbol, e.g. BTC/USDT:USDT")
        if not 1 <= self.leverage <= 125:
            raise ValueError(f"futures.leverage: expected 1 to 125, got {self.leverage!r}")
        if not self.funding_rate.is_finite() or abs(self.funding_rate) > MAX_FUNDING_RATE:
            raise ValueError(
                f"futures.funding_rate: expected a rate within ±{MAX_FUNDING_RATE}, got {self.funding_rate}"
            )
        if self.funding_interval_ms is not None and not 10 <= self.funding_interval_ms <= 86_400_000:
            raise ValueError(
                f"futures.funding_interval_ms: expected 10 to 86400000 ms, got {self.funding_interval_ms!r}"
            )
        if not self.liquidation_fee.is_finite() or not Decimal(0) <= self.liquidation_fee < 1:
            raise ValueError(f"futures.liquidation_fee: expected a rate in [0, 1), got {self.liquidation_fee}")
        for symbol, price in self.start_prices.items():
            if not price.is_finite() or price <= 0:
                raise ValueError(f"futures.start_prices[{symbol}]: expected a price above 0, got {price}")
