"""The exchange contract: async methods returning domain types, never raw exchange dicts.

Implementations: ``ccxt`` (any exchange ccxt knows; ``ccxt_adapter.py`` is the only ccxt importer) and
``paper`` (a market-data source plus the simulated matching engine). Errors are raised as the
``trading_bot.errors.ExchangeError`` tree.

Order updates are pushed, not pulled: the supervisor gives the client a sink with ``attach`` before
``connect``; the client calls it with every ``OrderStatusReport`` and ``Fill`` it learns of, from any
source (user stream, REST answers, polling, the simulator). The tracker de-duplicates, so delivering the
same fill twice is harmless. ``run_user_stream`` is the long-lived coroutine (owned by the supervisor's
TaskGroup) that keeps those updates coming; simulators deliver inline and return at once.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal

from exchanges.merge import merge_by_arrival
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Liquidation
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import PositionReport
from trading_bot.domain import Symbol

__all__ = ["AccountUpdate", "BaseExchangeClient", "OrderUpdate", "UpdateSink"]

OrderUpdate = OrderStatusReport | Fill
AccountUpdate = FundingPayment | Liquidation
"""Perpetual-swap account events the venue or simulator pushes beside order updates."""
UpdateSink = Callable[[OrderUpdate | AccountUpdate], None]


class BaseExchangeClient(ABC):
    """One exchange account (or its simulation)."""

    name: str = ""
    pushes_funding: bool = True
    """True when the client emits each funding payment of a swap through the sink as it is settled (the
    simulators); False when the runtime must ask for them (``fetch_funding_payments``: a live venue, whose
    income history is the record)."""

    def __init__(self) -> None:
        self._sink: UpdateSink | None = None

    def attach(self, sink: UpdateSink) -> None:
        """Set the callable that receives every order status report and fill (call before connect)."""
        self._sink = sink

    def emit(self, update: OrderUpdate | AccountUpdate) -> None:
        """Deliver one update to the attached sink (dropped when nothing is attached)."""
        if self._sink is not None:
            self._sink(update)

    @abstractmethod
    async def connect(self) -> None:
        """Open connections and load markets."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; safe to call twice."""

    @abstractmethod
    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets (loaded once, then cached)."""

    @abstractmethod
    def market(self, symbol: Symbol) -> Market:
        """Return one loaded market; raise ``ConfigError`` naming close symbols if unknown."""

    @abstractmethod
    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the current best bid and ask."""

    @abstractmethod
    def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield market events (quotes, trades) until cancelled or, for a replay, the data ends."""

    def stream_markets(self, symbols: Sequence[Symbol]) -> AsyncIterator[MarketData]:
        """Yield the market events of several symbols as one stream (the supervisor's market loop).

        Default: one ``stream_market_data`` per symbol, merged as the events arrive (live data). A
        simulator that owns a simulated clock overrides it with an exact merge in event time (equal
        times in the order of ``symbols``). One symbol is exactly ``stream_market_data(symbol)``.
        """
        if len(symbols) == 1:
            return self.stream_market_data(symbols[0])
        return merge_by_arrival([self.stream_market_data(s) for s in symbols])

    @abstractmethod
    async def run_user_stream(self) -> None:
        """Keep order updates flowing to the sink until cancelled (simulators return at once)."""

    @abstractmethod
    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Send one order with our client id and return the exchange's acknowledgement.

        Raises:
            OrderOutcomeUnknown: the request may have reached the exchange (timeout / lost connection).
            OrderRejected: the exchange refused it (``InsufficientFunds``, ``PostOnlyWouldCross``).
        """

    @abstractmethod
    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one order by client id and return its resulting state.

        Raises:
            OrderNotFound: the exchange does not know it (already gone).
        """

    @abstractmethod
    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the exchange does not know it."""

    @abstractmethod
    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return every open order of the account in ``symbol`` (ours and foreign)."""

    @abstractmethod
    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the account's fills in ``symbol`` since ``since_ms`` (inclusive), oldest first."""

    @abstractmethod
    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the account's balances by currency."""

    def bars_ahead(self, symbol: Symbol) -> tuple[Sequence[Bar], int] | None:
        """Return every bar the market stream of ``symbol`` will deliver, and their interval in ms, when known
        before the run (a backtest, or a paper replay, over recorded bars); ``None`` otherwise (live,
        paper on live data, quotes and trades).

        Only a precomputation reads it (``strategies.lib.declared``); the strategy sees each bar at its close.
        """
        return None

    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return bars (open time ascending); clients without history raise ``NotImplementedError``."""
        raise NotImplementedError(f"{self.name} has no OHLCV history")

    # ----------------------------------------------------------------- perpetual swaps (linear, one-way)

    def perp_terms(self, symbol: Symbol) -> tuple[int, MarginMode]:
        """Return the leverage and margin mode this client trades ``symbol`` at (a swap; spot: ``(1, cross)``).

        Clients built from a config return the config's (``ExchangeConfig.leverage``/``margin_mode``), set on
        the venue by ``configure_perp``; the simulators return their account's.
        """
        return 1, MarginMode.CROSS

    async def configure_perp(self, symbol: Symbol, leverage: int, margin_mode: MarginMode) -> None:
        """Set ``symbol``'s leverage and margin mode on the account (idempotent: already so is success).

        Raises:
            ConfigError: the account is in hedge (dual-side) position mode, or the venue refuses the values.
        """
        raise NotImplementedError(f"{self.name} does not trade perpetual swaps")

    async def fetch_positions(self, symbols: Sequence[Symbol]) -> list[PositionReport]:
        """Return the venue's one-way positions in ``symbols`` (flat ones may be omitted); spot: none."""
        return []

    async def fetch_funding_payments(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingPayment]:
        """Return the funding payments of ``symbol`` at or after ``since_ms`` (epoch ms), oldest first; spot: none.

        Each payment's ``id`` is the venue's own (income ``tranId``), stable across calls.
        """
        return []
