"""Every fill, latency and queue knob of the simulator, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchanges.sim.funding import FundingRate
from exchanges.sim.funding import FundingSchedule
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.errors import ConfigError

__all__ = ["FillModel", "PerpSettings", "refuse_book_knobs_on_bars"]

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class FillModel:
    """How the matching core fills orders (``exchanges.sim.core``); the same knobs for every mode.

    Attributes:
        maker_fee: fee rate of fills that rest first (0.001 = 0.1 %), charged in quote currency.
        taker_fee: fee rate of fills that take liquidity.
        slippage_bps: basis points of the touch that market and stop fills pay against us (rounded to the
            tick away from us). Not applied when an L2 book is given: market orders walk its depth instead.
        latency_ms: milliseconds between sending an order and its arrival at the simulated venue; it arrives
            at the first market event at or after that time and is matched against that event's book. Bars:
            orders always arrive at the next bar's open, and a latency other than 0 is refused.
        queue_position: a resting limit first waits for the size shown ahead of it at its price (quotes,
            trades and books only).
        partial_fills: a trade at a resting order's price fills at most the trade's quantity (after the
            queue ahead); off, it fills the order's whole remainder.
        quote_amount_includes_fee: a market order sized by a quote amount (``OrderParams.quote_quantity``)
            spends at most that amount fee included (off: its notional is at most the amount and the fee
            comes on top, as Binance's ``quoteOrderQty``).
        fee_decimals: fees are rounded up to this many decimal places, as a venue charges them (Binance:
            8); ``None`` keeps them exact.
        buy_fee_in_base: a spot buy pays its fee in the base currency it receives (``quantity × rate``, so it
            receives ``quantity − fee``), as Binance spot does without BNB fee payment; off (every mode's
            default), every fee is in quote currency. Contract markets always pay in the settle currency.
    """

    maker_fee: Decimal
    taker_fee: Decimal
    slippage_bps: Decimal = Decimal(0)
    latency_ms: int = 0
    queue_position: bool = True
    partial_fills: bool = True
    quote_amount_includes_fee: bool = True
    fee_decimals: int | None = None
    buy_fee_in_base: bool = False

    def __post_init__(self) -> None:
        for name in ("maker_fee", "taker_fee"):
            rate = getattr(self, name)
            if not rate.is_finite() or not Decimal(0) <= rate < 1:
                raise ConfigError(f"{name}: a fee rate (0.001 = 0.1 %) in [0, 1), got {rate}")
        if not self.slippage_bps.is_finite() or self.slippage_bps < 0:
            raise ConfigError(f"slippage_bps: must be a finite number >= 0, got {self.slippage_bps}")
        if self.fee_decimals is not None and not 0 <= self.fee_decimals <= 18:
            raise ConfigError(f"fee_decimals: must be 0..18 decimal places, got {self.fee_decimals}")
        if self.latency_ms < 0:
            raise ConfigError(f"latency_ms: must be >= 0 milliseconds, got {self.latency_ms}")

    @property
    def fee_quantum(self) -> Decimal | None:
        """Return the smallest fee step (``Decimal('1e-8')`` for 8 decimals), ``None`` when fees stay exact."""
        return None if self.fee_decimals is None else Decimal(1).scaleb(-self.fee_decimals)

    @property
    def slippage(self) -> Decimal:
        """Return the slippage as a fraction of the price (10 bps = 0.001)."""
        return self.slippage_bps / _BPS


@dataclass(frozen=True, slots=True, kw_only=True)
class PerpSettings:
    """The perpetual-swap side of a simulated account (``exchanges.sim.margin.MarginAccount``).

    Attributes:
        leverage: leverage of every symbol (1..125; a market's ``max_leverage`` caps it).
        margin_mode: cross or isolated.
        liquidation_fee: fee rate on a liquidated notional (0.0125 = 1.25 %).
        funding: recorded funding times and rates (``exchanges.recorded_funding``), ascending.
        funding_rate: a constant rate per funding interval instead, at the market's funding times;
            neither: no funding is settled.
    """

    leverage: int = 1
    margin_mode: MarginMode = MarginMode.CROSS
    liquidation_fee: Decimal = Decimal("0.0125")
    funding: tuple[FundingRate, ...] = ()
    funding_rate: Decimal | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.leverage <= 125:
            raise ConfigError(f"--leverage: must be 1..125, got {self.leverage}")
        if not self.liquidation_fee.is_finite() or not Decimal(0) <= self.liquidation_fee < 1:
            raise ConfigError(f"liquidation_fee: a rate in [0, 1), got {self.liquidation_fee}")
        if self.funding and self.funding_rate is not None:
            raise ConfigError("--funding-rate: a funding file is given too; use one or the other")

    def schedule(self, market: Market, start_ms: int) -> FundingSchedule | None:
        """Return the funding schedule of ``market`` from ``start_ms`` (epoch ms), ``None`` without funding."""
        if self.funding:
            return FundingSchedule([f for f in self.funding if f.ts_ms >= start_ms])
        if self.funding_rate is not None:
            interval = market.funding_interval_ms or 28_800_000
            return FundingSchedule(rate=self.funding_rate, interval_ms=interval, start_ms=start_ms)
        return None


def refuse_book_knobs_on_bars(*, latency_ms: int, queue_position: bool | None) -> None:
    """Refuse the knobs bar data cannot honour: a latency (orders arrive at the next open) and queue position.

    Raises:
        ConfigError: one line naming the setting and the fix.
    """
    if latency_ms:
        raise ConfigError(
            f"exchange.paper.latency_ms / --latency-ms {latency_ms}: on bars an order arrives at the next bar's "
            "open; a latency applies to quote and trade data: remove it or set 0"
        )
    if queue_position:
        raise ConfigError("exchange.paper.queue_position: bar data has no order book to queue in; remove it")
