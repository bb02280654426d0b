"""sma_cross: go long when the fast simple moving average crosses above the slow one, exit when it
crosses back below (or go short, with ``long_only = false`` on derivatives).

The averages are the SDK's ``SMA`` (``strategies.lib``: ``Decimal`` closes summed exactly, so equal averages
are equal floats) and a cross is ``CrossTracker``'s: a change of side of ``fast − slow``; bars where the two
averages are equal do not change the side (a tie is not a cross), so a touch followed by a return is no
trade. An order is pending while the strategy has an open order (``ctx.open_orders``): a cross seen
meanwhile waits for it to end.

Prices: on bar data the bar's close; on quote/trade data the mid price, sampled into bars of
``bar_seconds`` of clock time (the last mid of each bucket is its close). A signal is decided on a
bar's close and sent at once as a market order, so on bar data it fills at the next bar's open.

Sizing: ``quantity`` (fixed, base units), or ``fraction`` of equity (1.0 = all in; fees included; the
quantity is rounded down to the market's lot step), or neither — then the configured position sizer of
the RiskManager decides. A ``fraction`` entry from flat is a market order with ``quote_quantity`` =
equity × fraction (quote currency): the venue sizes it at the price it fills at (see ``OrderParams``).
Long/short on a swap, a cross reverses the position in one market order: the position plus the entry,
estimated at the ask from the equity left after the closing fee; it carries ``quote_quantity`` too, so a
simulated venue sizes the new side at the fill from the equity after the close (a live swap venue,
without quote-amount orders, fills the estimate).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from typing import ClassVar

from pydantic import Field
from pydantic import model_validator

from strategies import STRATEGIES
from strategies.base import BaseStrategy
from strategies.base import StrategyParams
from strategies.lib.cross import CrossTracker
from strategies.lib.indicators import SMA
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import StrategyResult
from trading_bot.domain.bounds import YEAR_S
from trading_bot.domain.bounds import BaseAmount
from trading_bot.domain.bounds import Count
from trading_bot.domain.bounds import Fraction

__all__ = ["SmaCrossParams", "SmaCrossStrategy"]


class SmaCrossParams(StrategyParams):
    """Parameters of ``sma_cross``."""

    search_constraints: ClassVar[tuple[str, ...]] = ("fast < slow",)
    """Relations between parameters that ``runbot.py optimize`` keeps (the model validator refuses the rest)."""

    fast: Count = Field(
        default=10, description="fast SMA window, in bars", json_schema_extra={"search": {"low": 2, "high": 100}}
    )
    slow: Count = Field(
        default=20,
        ge=2,
        description="slow SMA window, in bars",
        json_schema_extra={"search": {"low": 5, "high": 400, "step": 5}},
    )
    quantity: BaseAmount | None = Field(default=None, description="fixed order size, base units")
    fraction: Fraction | None = Field(default=None, description="fraction of equity invested on entry (1.0 = all in)")
    bar_seconds: int = Field(
        default=60,
        ge=1,
        le=int(YEAR_S),
        description="bar length in seconds used to sample quote/trade data (bar data ignores it)",
    )
    long_only: bool = Field(default=True, description="exit to flat on a down-cross instead of going short")

    @model_validator(mode="after")
    def _windows_and_size(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        if self.quantity is not None and self.fraction is not None:
            raise ValueError("give either quantity or fraction, not both")
        return self


@STRATEGIES.register("sma_cross")
class SmaCrossStrategy(BaseStrategy[SmaCrossParams]):
    """Fast/slow simple-moving-average crossover."""

    name = "sma_cross"
    Params = SmaCrossParams

    def __init__(self, params: SmaCrossParams) -> None:
        super().__init__(params)
        self._fast = SMA(params.fast)
        self._slow = SMA(params.slow)
        self._cross = CrossTracker()  # the side of fast − slow, a tie holding the last side
        self._signal: OrderSide | None = None
        self._bucket = -1
        self._bucket_close: Decimal | None = None
        self._bar_ms = params.bar_seconds * 1000
        self._last_seen: MarketData | None = None
        self._seq = 0
        self.signals = 0

    # -- price sampling -----------------------------------------------------------------------
    def should_execute(self, market_data: MarketData) -> bool:
        """Return True when a cross waits to be acted on and no order of the strategy is open.

        The supervisor may ask again about the same event (a pass after an order event); an event is
        sampled once.
        """
        if market_data is self._last_seen:
            return self._signal is not None and not self.ctx.open_orders()
        self._last_seen = market_data
        bar = market_data.bar
        if bar is not None:
            self._close_bar(bar.close)
        elif market_data.trade is None:
            bucket = market_data.ts_ms // self._bar_ms
            if bucket != self._bucket:
                if self._bucket_close is not None:
                    self._close_bar(self._bucket_close)
                self._bucket = bucket
            self._bucket_close = (market_data.bid + market_data.ask) / 2
        return self._signal is not None and not self.ctx.open_orders()

    def _close_bar(self, close: Decimal) -> None:
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if fast is None or slow is None:
            return
        crossed = self._cross.update(fast, slow)
        if crossed:
            self._signal = OrderSide.BUY if crossed > 0 else OrderSide.SELL
            self.signals += 1

    # -- decisions ----------------------------------------------------------------------------
    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Turn a pending cross into a market order sized per the parameters."""
        side, self._signal = self._signal, None
        if side is None:
            return StrategyResult.nothing()
        position = self.ctx.tradable_quantity()  # what one order can close (no dust)
        if side is OrderSide.BUY:
            quantity = -position if position < 0 else self._entry_quantity(market_data)
            if position < 0 and not self.params.long_only:
                quantity = -position + (self._entry_quantity(market_data, -position) or Decimal(0))
        else:
            if position > 0:
                quantity = position
                if not self.params.long_only:
                    quantity += self._entry_quantity(market_data, position) or Decimal(0)
            elif self.params.long_only:
                return StrategyResult.nothing()
            else:
                quantity = self._entry_quantity(market_data)
        if quantity is not None and quantity <= 0:
            return StrategyResult.nothing()
        self._seq += 1
        tag = f"{side.value}:{self._seq}"
        order = OrderParams(side=side, quantity=quantity, order_type=OrderType.MARKET, client_tag=tag,
                            quote_quantity=self._entry_amount(side, position))  # fmt: skip
        return StrategyResult.place(order, message=f"sma cross {side.value}")

    def _entry_quantity(self, market_data: MarketData, closing: Decimal = Decimal(0)) -> Decimal | None:
        """The size of an entry at the ask (base units): ``quantity``, or ``fraction`` of the equity left
        after closing ``closing`` base units first (their fee), with the fee; ``None``: the sizer decides."""
        params = self.params
        if params.quantity is not None:
            return params.quantity
        if params.fraction is None:
            return None  # the RiskManager's sizer decides
        market = self.ctx.market
        price = market_data.ask
        if price <= 0:
            return None
        budget = (self.ctx.equity - closing * price * market.taker_fee) * params.fraction
        quantity = market.quantity_for_quote(budget, price)
        return quantity if quantity > 0 else None

    def _entry_amount(self, side: OrderSide, position: Decimal) -> Decimal | None:
        """The quote amount of a ``fraction`` entry (equity × fraction, quote currency), else ``None``.

        From flat; and on a swap also the reversal of a position (long/short): there the simulated venue
        closes the whole position at the fill and sizes the opening part with the amount plus the closed
        position's PnL from the mark to the fill, less its fee (``exchanges.sim.core``), i.e. with the
        equity left after the close. Given as ``OrderParams.quote_quantity``, the venue sizes the entry at
        its fill price (on bars the next open), so a gap leaves no idle cash and never overspends;
        ``quantity`` stays the estimate at the ask that risk checks use, and is what a venue without
        quote-amount orders (every live swap venue) receives.
        """
        fraction = self.params.fraction
        if fraction is None or (side is OrderSide.SELL and self.params.long_only):
            return None
        if position != 0 and not (self.ctx.market.contract and (position > 0) != (side is OrderSide.BUY)):
            return None
        amount = self.ctx.equity * fraction
        return amount if amount > 0 else None

    def snapshot(self) -> dict[str, Any]:
        """Return the state a restart needs to go on as if it had not stopped (JSON-safe; Decimals as strings).

        The price windows (so a restart does not wait ``slow`` bars again), the side of the last
        comparison (so the first bar after a restart can be a cross), a cross not yet acted on, the
        quote-sampling bucket (epoch ms // bar length) and its last mid, the tag of the open order awaiting
        its outcome (for the record: a restart reads the open orders from reconciliation), the tag sequence
        and the number of crosses seen.
        """
        pending = self.ctx.open_orders()
        return {
            "version": 2,
            "fast": [str(p) for p in self._fast.window],
            "slow": [str(p) for p in self._slow.window],
            "above": self._cross.above,
            "signal": None if self._signal is None else self._signal.value,
            "bucket": self._bucket,
            "bucket_close": None if self._bucket_close is None else str(self._bucket_close),
            "pending": pending[0].client_tag if pending else None,
            "seq": self._seq,
            "signals": self.signals,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore a ``snapshot`` (version 1: the windows only; version 2: everything it holds).

        Called after ``initialize``, once reconciliation has rebuilt the open orders: what is pending is
        what they show open (a market order that finished while the bot was down is not). Windows longer
        than the current parameters keep their newest prices.
        """
        if not state:
            return
        self._fast, self._slow = SMA(self.params.fast), SMA(self.params.slow)
        for price in state.get("fast", []):
            self._fast.update(Decimal(str(price)))
        for price in state.get("slow", []):
            self._slow.update(Decimal(str(price)))
        above = state.get("above")
        self._cross.above = bool(above) if above is not None else self._side_of_windows()
        signal = state.get("signal")
        self._signal = None if signal is None else OrderSide(signal)
        self._bucket = int(state.get("bucket", -1))
        close = state.get("bucket_close")
        self._bucket_close = None if close is None else Decimal(str(close))
        self._seq = int(state.get("seq", 0))
        self.signals = int(state.get("signals", 0))

    def _side_of_windows(self) -> bool | None:
        """Return whether fast > slow on full windows, ``None`` on a tie or before ``slow`` bars."""
        fast, slow = self._fast.value, self._slow.value
        return None if fast is None or slow is None or fast == slow else fast > slow

    def summary(self) -> dict[str, Any]:
        """Return the number of crosses seen."""
        return {"signals": self.signals}
