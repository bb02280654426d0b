"""The strategy contract (seed 003's hooks) and the read-only context strategies see.

A strategy is a pure decision object: it receives market data and order events, and returns intents
(``StrategyResult``). It never holds an exchange client, never awaits I/O and never reads the wall
clock; timers are deadlines on ``ctx.clock``. Hooks are synchronous so a replay at ``--speed max`` costs
no coroutine per event. The supervisor wraps every hook call: an exception stops this strategy only.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any
from typing import ClassVar
from typing import Generic
from typing import Protocol
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict

from strategies.lib.declared import DeclaredIndicators
from strategies.lib.declared import IndicatorT
from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import InstrumentId
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import Position
from trading_bot.domain import PositionSide
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.domain import round_to_increment

__all__ = ["BaseStrategy", "ContextHelpers", "InstrumentView", "StrategyContext", "StrategyParams"]


class StrategyParams(BaseModel):
    """Base of every strategy's ``Params`` model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=StrategyParams)


class InstrumentView(Protocol):
    """The read-only view of one instrument: its market, the strategy's position, data and orders there."""

    @property
    def instrument(self) -> InstrumentId:
        """The instrument (``venue:symbol``)."""
        ...

    @property
    def symbol(self) -> Symbol:
        """Its market symbol on its venue."""
        ...

    @property
    def market(self) -> Market:
        """Precision, limits and fees of that market."""
        ...

    @property
    def position(self) -> Position:
        """The strategy's position there, from its own fills (do not mutate)."""
        ...

    @property
    def last_market_data(self) -> MarketData | None:
        """The latest market event of this instrument, if any."""
        ...

    def open_orders(self) -> Sequence[Order]:
        """The strategy's own orders there that may still rest or fill (do not mutate)."""
        ...

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        """One of the strategy's own orders there by client id, open or recently closed."""
        ...

    def tagged_order(self, client_tag: str) -> Order | None:
        """The strategy's own order there carrying ``client_tag``: an open one, else the latest closed one.

        Scans every tracked order: meant for a restart, to match what the strategy had queued with what
        reconciliation found (the client id of an order sent just before a stop is not in the snapshot).
        """
        ...


@lru_cache(maxsize=1024)
def _tradable(quantity: Decimal, step: Decimal, min_amount: Decimal) -> Decimal:
    """``ContextHelpers.tradable_quantity`` of a non-zero position on a market with a lot step (memoised: it is
    asked on every market event, and a position changes only with a fill)."""
    size = round_to_increment(abs(quantity), step, "down")
    if size < min_amount:
        return ZERO
    if size == abs(quantity):
        return quantity  # on the step already: the position's own digits
    return size if quantity > 0 else -size


class ContextHelpers:
    """The conveniences every context offers on top of ``InstrumentView`` (one copy of their rules).

    ``instrument`` (``None``: this view's instrument) picks another of the strategy's instruments.
    A concrete context provides ``position``, ``open_orders()`` and ``view()``; the intent of
    ``close_position`` names the view's instrument when ``_intent_instrument`` does.
    """

    @property
    def market(self) -> Market:
        """The instrument's market (provided by the concrete context)."""
        raise NotImplementedError

    @property
    def position(self) -> Position:
        """The strategy's position (provided by the concrete context)."""
        raise NotImplementedError

    def open_orders(self) -> Sequence[Order]:
        """The strategy's own open orders (provided by the concrete context)."""
        raise NotImplementedError

    def view(self, instrument: InstrumentId | str) -> Any:
        """Another instrument's view (provided by the concrete context)."""
        raise NotImplementedError

    def _intent_instrument(self) -> InstrumentId | None:
        return None

    def _helped(self, instrument: InstrumentId | str | None) -> ContextHelpers:
        return self if instrument is None else self.view(instrument)

    def orders_tagged(self, tag: str, instrument: InstrumentId | str | None = None) -> list[Order]:
        """Return the strategy's open orders carrying ``client_tag == tag``, oldest first."""
        return [o for o in self._helped(instrument).open_orders() if o.client_tag == tag]

    def tradable_quantity(self, instrument: InstrumentId | str | None = None) -> Decimal:
        """Return the position one order can close, signed base units: rounded toward zero to the lot step,
        and 0 when that is below the market's minimum amount.

        The rest is **dust**: what a fee charged in the base currency leaves (Binance spot charges a buy's
        fee in the asset received), which no order can sell. Every helper below counts positions this way.
        """
        view = self._helped(instrument)
        quantity = view.position.quantity
        if quantity == 0:
            return quantity
        step = view.market.amount_increment
        return _tradable(quantity, step, view.market.min_amount) if step > 0 else quantity

    def is_flat(self, instrument: InstrumentId | str | None = None) -> bool:
        """Return True when the strategy holds no tradable position there (``tradable_quantity`` is 0)."""
        return self.tradable_quantity(instrument) == 0

    def position_side(self, instrument: InstrumentId | str | None = None) -> PositionSide:
        """Return LONG (tradable quantity > 0), SHORT (< 0) or FLAT."""
        quantity = self.tradable_quantity(instrument)
        return PositionSide.LONG if quantity > 0 else PositionSide.SHORT if quantity < 0 else PositionSide.FLAT

    def position_size(self, instrument: InstrumentId | str | None = None) -> Decimal:
        """Return the absolute tradable position, base units (0 when flat)."""
        return abs(self.tradable_quantity(instrument))

    def close_position(self, instrument: InstrumentId | str | None = None, *, tag: str = "close") -> OrderParams | None:
        """Return the intent that closes the position: a reduce-only market order of its tradable size
        (``tradable_quantity``); ``None`` if flat.

        Return it in a ``StrategyResult.place(...)``; it goes through the sizer-free risk path like any
        order (reduce-only passes the REDUCING state).
        """
        view = self._helped(instrument)
        quantity = self.tradable_quantity(instrument)
        if quantity == 0:
            return None
        side = OrderSide.SELL if quantity > 0 else OrderSide.BUY
        return OrderParams(side=side, quantity=abs(quantity), order_type=OrderType.MARKET, reduce_only=True,
                           client_tag=tag, instrument=view._intent_instrument())  # fmt: skip


class StrategyContext(InstrumentView, Protocol):
    """What a strategy may look at. Read-only: every change goes through a ``StrategyResult``.

    The single-instrument properties (``symbol``, ``market``, ``position``, ``last_market_data``, the
    order lookups) are those of the strategy's **primary** instrument: the one it runs on, or the first
    that a multi-instrument strategy declares. ``view(i)`` gives the same view of any of its instruments.
    """

    @property
    def instruments(self) -> Sequence[InstrumentId]:
        """Every instrument of this strategy, the primary first (one for a single-instrument strategy)."""
        ...

    @property
    def event_instrument(self) -> InstrumentId:
        """The instrument of the market event being handled (the primary before the first event)."""
        ...

    def view(self, instrument: InstrumentId | str) -> InstrumentView:
        """The view of one of this strategy's instruments (``InstrumentId`` or its ``venue:symbol`` text).

        Raises:
            KeyError: not one of ``instruments``.
        """
        ...

    @property
    def clock(self) -> Clock:
        """The injected clock (live or simulated)."""
        ...

    @property
    def trading_state(self) -> TradingState:
        """The RiskManager's current state (ACTIVE / REDUCING / HALTED)."""
        ...

    @property
    def equity(self) -> Decimal:
        """The bot's account value: quote currencies at par plus base currencies at their mid (see ``Book``)."""
        ...

    def balances(self, venue: str | None = None) -> Mapping[str, Balance]:
        """The balances of ``venue`` (default: the primary instrument's) as last reported by the exchange."""
        ...

    def orders_tagged(self, tag: str, instrument: InstrumentId | str | None = None) -> list[Order]:
        """The strategy's open orders carrying ``client_tag == tag``, oldest first (``ContextHelpers``)."""
        ...

    def tradable_quantity(self, instrument: InstrumentId | str | None = None) -> Decimal:
        """The position one order can close, signed base units (``ContextHelpers``: dust left out)."""
        ...

    def is_flat(self, instrument: InstrumentId | str | None = None) -> bool:
        """True when the strategy holds no tradable position there."""
        ...

    def position_side(self, instrument: InstrumentId | str | None = None) -> PositionSide:
        """LONG, SHORT or FLAT."""
        ...

    def position_size(self, instrument: InstrumentId | str | None = None) -> Decimal:
        """The absolute position, base units."""
        ...

    def close_position(self, instrument: InstrumentId | str | None = None, *, tag: str = "close") -> OrderParams | None:
        """A reduce-only market order of the position's size, or ``None`` when flat."""
        ...


class BaseStrategy(ABC, Generic[P]):
    """Base class of strategies.

    Subclasses set ``name`` and ``Params`` and implement ``execute_strategy``; the other hooks have safe
    defaults. Register with ``@STRATEGIES.register("name")``.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    needs_spread: ClassVar[bool] = False
    """True for a strategy that prices inside the bid/ask spread and so cannot trade without one: a
    backtest on bar data (bid = ask = close) refuses it with a one-line error instead of a silent run
    with no order (``trading_bot.backtest.engine``)."""
    timeframes: tuple[str, ...] = ()
    """The bar timeframes ``on_bar`` receives (``"1m"``, ``"5m"``, ``"1h"``...; ``<number><s|m|h|d|w>``).
    Empty (the default): no bars are built and ``on_bar`` is never called (no cost per event). A class
    attribute, or an instance attribute set in ``__init__`` from the params."""
    warmup_bars: int = 0
    """Closed bars per timeframe handed to ``on_bar`` at start from the venue's history
    (``fetch_ohlcv``), before the first market event; 0: none (see ``trading_bot.runtime.bars``)."""

    def __init__(self, params: P) -> None:
        self.params: P = params
        self._ctx: StrategyContext | None = None
        self.indicators = DeclaredIndicators()
        """The indicators declared with ``indicator``: fed by the bot before each ``on_bar``."""

    def indicator(self, indicator: IndicatorT, timeframe: str | None = None) -> IndicatorT:
        """Declare ``indicator`` (``strategies.lib``); return it. Call in ``__init__``.

        The bot feeds it every closed bar of ``timeframe`` (default: the first of ``timeframes``) just
        before ``on_bar`` (warm-up history included), so ``on_bar`` reads its ``value``, ``None`` until it
        is ready. In a backtest it may be computed over the whole series at once; the values are the same
        (``strategies.lib.declared``). One instance per symbol: a multi-instrument strategy feeds its own.
        """
        return self.indicators.add(indicator, timeframe)

    @classmethod
    def required_parameters(cls) -> list[str]:
        """Return the names of parameters without a default (seed 003's ``get_required_parameters``)."""
        return [name for name, f in cls.Params.model_fields.items() if f.is_required()]

    def instruments(self) -> Sequence[str]:
        """Return the instruments this strategy trades, from its params (``venue:symbol`` or bare symbols).

        Empty (the default): a single-instrument strategy, run as one instance per ``--symbol``, each with
        its own state. A multi-instrument strategy returns its legs here, the primary first; the bot then
        runs one instance over all of them and ``--symbol`` is not used.
        """
        return ()

    @property
    def ctx(self) -> StrategyContext:
        """The context given to ``initialize``."""
        if self._ctx is None:
            raise RuntimeError(f"strategy {self.name!r} used before initialize()")
        return self._ctx

    def initialize(self, ctx: StrategyContext) -> None:
        """Keep the read-only context; called once before the first market event."""
        self._ctx = ctx

    def should_execute(self, market_data: MarketData) -> bool:
        """Return True when ``execute_strategy`` should run for this event (default: always)."""
        return True

    @abstractmethod
    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        """Decide what to do on this market event."""

    def on_bar(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """React to a closed bar of one of ``timeframes`` (``bar.ts_ms`` is its open time).

        Called in the same supervisor pass as the market event that closed the bar, before
        ``should_execute``; a result is handled as ``execute_strategy``'s is. During warm-up (history at
        start) results are discarded. Default: nothing.
        """
        return None

    def bar_closed(self, bar: Bar, timeframe: str) -> StrategyResult | None:
        """Feed the declared indicators ``bar``, then return ``on_bar``'s result: what the bot calls per bar.

        Strategies override ``on_bar``, not this.
        """
        indicators = self.indicators
        if indicators.declared:
            indicators.feed(bar, timeframe, self.timeframes[0] if self.timeframes else timeframe)
        return self.on_bar(bar, timeframe)

    def on_order_update(self, event: OrderEvent) -> None:
        """React to an event of one of the strategy's own orders (default: ignore)."""

    def shutdown(self) -> None:
        """Release resources; called once when the bot stops (open orders are handled by the supervisor)."""

    def snapshot(self) -> dict[str, Any]:
        """Return the state that must survive a restart, as JSON-serialisable data (default: none)."""
        return {}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore a ``snapshot`` taken before a restart (called after ``initialize``)."""

    def state_changed(self) -> bool:
        """Return True when state that must survive a crash changed since the last ``snapshot`` (default: False).

        The supervisor asks after every pass and on every heartbeat; on True it journals the snapshot at once
        (before the orders of a pass's result go out), instead of at the next periodic save (every 10 s). An
        exit plan attached to an entry is journaled so before the entry is sent.
        """
        return False

    def stop_reason(self) -> str | None:
        """Return why the strategy wants the bot to stop (e.g. a stop price was hit), else ``None``.

        The supervisor checks it after every pass and stops the bot in order, exit code 0; resting orders
        are then cancelled or kept per ``bot.on_shutdown``.
        """
        return None

    def summary(self) -> dict[str, Any]:
        """Return strategy-specific figures for the end-of-run summary (default: none)."""
        return {}
