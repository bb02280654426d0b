"""leg_pair: one resting bid on each of two instruments, and a take-profit on each leg's fills.

A small multi-instrument strategy (two legs, usually on two venues) that exercises the whole
instrument × venue path: it declares its instruments from its params, reads each leg through
``ctx.view(leg)``, and sends every order with ``OrderParams.instrument``. It is the strategy of the
two-venue tests (placing, filling, kill -9 and restart on both venues); it is no arbitrage.

On every pass, for each leg with market data:

* **bid**: without an open ``bid`` order and while the leg's position is below ``max_position``, a
  post-only buy of ``quantity`` at ``offset_bps`` under the mid (rounded down to the tick); a bid more
  than ``3 × offset_bps`` from where it would be placed now is cancelled (and re-placed on a later pass);
* **take-profit**: the leg's position not covered by its open ``tp`` orders is offered in one sell at
  ``take_profit_bps`` over the position's average entry (rounded up to the tick).

A leg whose order was denied or rejected gets no new order until its next market event (no retry storm
while a venue backs off or refuses).

Everything it needs after a restart is on the exchange and in the journal (the position from the bot's
fills, the open orders by tag), so it keeps no snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import Field
from pydantic import model_validator

from strategies import STRATEGIES
from strategies.base import BaseStrategy
from strategies.base import InstrumentView
from strategies.base import StrategyParams
from trading_bot.domain import ZERO
from trading_bot.domain import ClientOrderId
from trading_bot.domain import InstrumentId
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain.bounds import BaseAmount

__all__ = ["LegPairParams", "LegPairStrategy"]

_BPS = Decimal(10_000)


class LegPairParams(StrategyParams):
    """Parameters of ``leg_pair``: the two legs as ``venue:symbol`` (or bare symbols on a single venue)."""

    first: str = Field(description="the first leg, e.g. spot:BTC/USDT (the primary instrument)")
    second: str = Field(description="the second leg, e.g. alt:BTC/USDT")
    quantity: BaseAmount = Field(description="size of each bid, base units")
    max_position: BaseAmount | None = Field(
        default=None, description="no bid while a leg holds this much (default 5 × quantity)"
    )
    offset_bps: Decimal = Field(
        default=Decimal(10), gt=0, le=5_000, allow_inf_nan=False, description="bid distance under the mid, bps"
    )
    take_profit_bps: Decimal = Field(
        default=Decimal(10), gt=0, le=5_000, allow_inf_nan=False, description="take-profit over the average entry, bps"
    )

    @model_validator(mode="after")
    def _two_legs(self) -> LegPairParams:
        if self.first == self.second:
            raise ValueError(f"first and second name the same instrument ({self.first})")
        return self


@STRATEGIES.register("leg_pair")
class LegPairStrategy(BaseStrategy[LegPairParams]):
    """A bid and a take-profit on each of two instruments."""

    name = "leg_pair"
    Params = LegPairParams

    def instruments(self) -> Sequence[str]:
        """The two legs, the first being the primary."""
        return (self.params.first, self.params.second)

    def __init__(self, params: LegPairParams) -> None:
        super().__init__(params)
        self._paused: dict[InstrumentId, int] = {}  # leg → ts of its market data when an order was refused

    def on_order_update(self, event: OrderEvent) -> None:
        """Pause a leg whose order was denied or rejected until its next market event."""
        if not isinstance(event, OrderDenied | OrderRejected):
            return
        for instrument in self.ctx.instruments:
            leg = self.ctx.view(instrument)
            if leg.order(event.client_order_id) is not None:
                md = leg.last_market_data
                self._paused[instrument] = md.ts_ms if md is not None else 0

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Quote and take profit on every leg (see the module docstring)."""
        orders: list[OrderParams] = []
        cancel: list[ClientOrderId] = []
        for instrument in self.ctx.instruments:
            self._leg(instrument, self.ctx.view(instrument), orders, cancel)
        if not orders and not cancel:
            return StrategyResult.nothing()
        action = StrategyAction.PLACE_ORDER if orders else StrategyAction.NONE
        return StrategyResult(action=action, orders=tuple(orders), cancel=tuple(cancel))

    def _leg(
        self, instrument: InstrumentId, leg: InstrumentView, orders: list[OrderParams], cancel: list[ClientOrderId]
    ) -> None:
        md = leg.last_market_data
        if md is None or md.ts_ms <= self._paused.get(instrument, -1):
            return
        self._paused.pop(instrument, None)
        p, market = self.params, leg.market
        open_orders = leg.open_orders()
        bids = [o for o in open_orders if o.client_tag == "bid"]
        target = market.round_price(md.mid * (1 - p.offset_bps / _BPS), "down")
        limit = p.max_position if p.max_position is not None else p.quantity * 5
        for bid in bids:
            if bid.price is not None and abs(bid.price - target) > md.mid * 3 * p.offset_bps / _BPS:
                cancel.append(bid.client_order_id)
        if not bids and leg.position.quantity < limit and target > 0:
            orders.append(
                OrderParams(
                    side=OrderSide.BUY,
                    quantity=p.quantity,
                    price=target,
                    post_only=True,
                    client_tag="bid",
                    instrument=instrument,
                )
            )
        offered = sum((o.leaves_quantity for o in open_orders if o.client_tag == "tp"), ZERO)
        uncovered = market.round_amount(leg.position.quantity - offered)
        if uncovered > 0 and uncovered >= market.min_amount and leg.position.average_price > 0:
            price = market.round_price(leg.position.average_price * (1 + p.take_profit_bps / _BPS), "up")
            orders.append(
                OrderParams(
                    side=OrderSide.SELL, quantity=uncovered, price=price, client_tag="tp", instrument=instrument
                )
            )
