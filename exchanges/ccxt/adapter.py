"""The exchange client for every exchange ccxt knows: the contract of ``BaseExchangeClient``, over its parts.

``CcxtExchange`` speaks ccxt.pro (WebSocket) where the exchange has it and falls back to ccxt's REST
client and polling where it has not. It holds no logic of its own; each call goes to the part whose job
it is:

======================  ==================================================================================
``client.py``           building the ccxt client; ``CcxtSession``: connect/close, markets, every call made
``parse.py``            ccxt dicts → domain values, each checked once (impossible → ``BadExchangeResponse``)
``market_data.py``      quotes and trades streamed or polled, REST quotes and bars; bad records rejected
``orders.py``           place, cancel, look up; an unknown outcome decided by lookups, never a re-send
``user_stream.py``      order reports and fills over WebSocket plus the REST cross-check
``perp.py``             swaps: hedge mode refused, margin mode and leverage set, tiers, positions, funding
``known.py``            what the session learnt about orders (client ids, open orders, newest fills)
``retry.py``            the one back-off: streams' reconnects and the bounded retry of read-only calls
======================  ==================================================================================

ccxt is imported lazily (in ``connect``/``ccxt_exchange_ids``), so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from exchanges.base import BaseExchangeClient
from exchanges.ccxt.client import CcxtSession
from exchanges.ccxt.client import ccxt_exchange_ids
from exchanges.ccxt.known import KnownOrders
from exchanges.ccxt.market_data import POLL_INTERVAL_S
from exchanges.ccxt.market_data import MarketStreams
from exchanges.ccxt.orders import LOOKUP_DELAYS_S
from exchanges.ccxt.orders import OrderDesk
from exchanges.ccxt.perp import PerpDesk
from exchanges.ccxt.rejections import MarketDataRejections
from exchanges.ccxt.retry import RECONNECT_CAP_S
from exchanges.ccxt.user_stream import CROSS_CHECK_INTERVAL_S
from exchanges.ccxt.user_stream import UserStream
from exchanges.config import ExchangeConfig
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import Symbol
from trading_bot.domain.derivatives import FundingPayment
from trading_bot.domain.derivatives import MarginMode
from trading_bot.domain.derivatives import PositionReport

__all__ = [
    "CROSS_CHECK_INTERVAL_S",
    "LOOKUP_DELAYS_S",
    "POLL_INTERVAL_S",
    "RECONNECT_CAP_S",
    "CcxtExchange",
    "ccxt_exchange_ids",
    "create_ccxt_exchange",
]


def create_ccxt_exchange(config: ExchangeConfig, clock: Clock, **kwargs: Any) -> CcxtExchange:
    """Build the client for ``config.name`` (the EXCHANGES registry fallback for any ccxt id)."""
    return CcxtExchange(config, clock, **kwargs)


class CcxtExchange(BaseExchangeClient):
    """One account on any ccxt exchange (Binance spot first-class).

    Args:
        config: exchange id, credentials, ccxt options, timeout.
        clock: stamps events the exchange left without a time.
        public_only: market data only (paper mode); no keys are sent and there is no user stream.
        poll_interval_s: REST polling period where there is no WebSocket (``ccxt_options={"has": {"ws":
            False}}`` forces polling), seconds.

    Attributes:
        last_market_data_ms: clock time of the last market event accepted (a staleness signal).
        rate_limited_until_ms: clock time until which the exchange asked us to slow down (0: never).
        auth_failures: authentication failures seen so far (the supervisor halts after N).
        lookup_delays_s: waits before each lookup of an order whose request outcome is unknown, seconds.
        poll_interval_s: REST polling period, seconds.
        rejections: market data dropped at this boundary (malformed, or impossible by
            ``trading_bot.domain.checks``): counts per kind, an alert past a threshold (``rejections.py``).
    """

    pushes_funding = False  # funding is read from the venue's income history (``funding_poll``)

    def __init__(
        self,
        config: ExchangeConfig,
        clock: Clock,
        *,
        public_only: bool = False,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        super().__init__()
        self.name = config.name
        self._config = config
        self.rejections = MarketDataRejections(clock)
        self._session = CcxtSession(config, clock, public_only=public_only)
        self._known = KnownOrders()
        self._market_data = MarketStreams(self._session, clock, self.rejections, self.track_symbol, poll_interval_s)
        self._orders = OrderDesk(self._session, self._known, clock, self.emit)
        self._user_stream = UserStream(self._session, self._orders, self._known, clock, self.emit)
        self._perp = PerpDesk(self._session, config)

    # -- state read by the runtime and the tests --------------------------------------------------------

    @property
    def last_market_data_ms(self) -> int | None:
        """Return the clock time of the last market event accepted (epoch ms), ``None`` before the first."""
        return self._market_data.last_market_data_ms

    @property
    def rate_limited_until_ms(self) -> int:
        """Return the clock time until which the exchange asked us to slow down (epoch ms; 0: never)."""
        return self._session.rate_limited_until_ms

    @property
    def auth_failures(self) -> int:
        """Return how many authentication failures were seen so far."""
        return self._session.auth_failures

    @property
    def lookup_delays_s(self) -> tuple[float, ...]:
        """Return the waits before each lookup of an order whose request outcome is unknown, seconds."""
        return self._orders.lookup_delays_s

    @lookup_delays_s.setter
    def lookup_delays_s(self, delays: tuple[float, ...]) -> None:
        self._orders.lookup_delays_s = delays

    @property
    def poll_interval_s(self) -> float:
        """Return the REST polling period where there is no WebSocket, seconds."""
        return self._market_data.poll_interval_s

    @poll_interval_s.setter
    def poll_interval_s(self, seconds: float) -> None:
        self._market_data.poll_interval_s = seconds

    @property
    def _markets(self) -> Mapping[Symbol, Market]:
        """The loaded markets (empty before ``load_markets``); tests read it to see what was loaded."""
        return self._session.markets

    @property
    def _fills_since_ms(self) -> Mapping[Symbol, int]:
        """The time of the newest fill seen per symbol (epoch ms); tests read where the next query starts."""
        return self._known.fills_since_ms

    # -- lifecycle and markets ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Build the ccxt client and load the markets."""
        await self._session.connect()

    async def close(self) -> None:
        """Close the ccxt client (WebSockets and HTTP session); safe to call twice."""
        await self._session.close()

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets, loading them on first use (transient failures retried)."""
        return await self._session.load_markets()

    def market(self, symbol: Symbol) -> Market:
        """Return one loaded market; raise ``ConfigError`` naming the closest known symbol."""
        return self._session.market(symbol)

    # -- market data -------------------------------------------------------------------------------------

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the best bid and ask from REST (ticker, or the order book when the ticker lacks them).

        Raises:
            BadExchangeResponse: the answer is malformed or an impossible quote (``market_data_rejected``).
        """
        return await self._market_data.fetch_bbo(symbol)

    def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield quotes and public trades of ``symbol`` until the consumer stops iterating.

        WebSocket (bookTicker + trades) when the exchange has it, else REST polling every
        ``poll_interval_s``; a consumer that falls behind gets the newest book (``market_data.py``).
        """
        return self._market_data.stream(symbol)

    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return bars of ``timeframe`` (``1m``, ``1h``...) from ``since_ms`` (epoch ms), open time ascending."""
        return await self._market_data.fetch_ohlcv(symbol, timeframe, since_ms, limit)

    # -- orders and account ------------------------------------------------------------------------------

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Send one order with our client id; on an unknown outcome, look it up instead of re-sending.

        Raises:
            OrderOutcomeUnknown: the request may have reached the exchange and the lookups failed too.
            OrderRejected: the exchange refused it (``InsufficientFunds``, ``PostOnlyWouldCross``).
            RateLimited: the exchange refused it for rate (nothing was placed).
        """
        return await self._orders.place_order(symbol, params, quantity, client_order_id)

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one order by client id; on an unknown outcome, look it up.

        Raises:
            OrderNotFound: the exchange does not know the order.
            OrderOutcomeUnknown: the request timed out and the lookups failed too.
        """
        return await self._orders.cancel_order(symbol, client_order_id)

    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the exchange does not know it."""
        return await self._orders.fetch_order(symbol, client_order_id)

    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return every open order of the account in ``symbol`` (ours and foreign)."""
        return await self._orders.fetch_open_orders(symbol)

    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the account's fills in ``symbol`` since ``since_ms`` (epoch ms, inclusive), oldest first."""
        return await self._orders.fetch_my_trades(symbol, since_ms)

    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the account's balances by currency (``free`` and ``locked`` = ccxt's ``used``)."""
        return await self._orders.fetch_balance()

    # -- user stream -------------------------------------------------------------------------------------

    def track_symbol(self, symbol: Symbol) -> None:
        """Include ``symbol`` in the periodic REST cross-check (symbols traded or streamed are included)."""
        self._known.symbols.add(symbol)

    async def run_user_stream(self) -> None:
        """Keep order reports and fills flowing to the sink: WS (orders + my trades) plus a REST cross-check.

        The cross-check runs every ``CROSS_CHECK_INTERVAL_S`` and right after a reconnect; without WebSocket
        it is the only path and runs every ``2 * poll_interval_s``. Raises ``AuthenticationError`` when the
        keys are refused.
        """
        await self._user_stream.run(self.poll_interval_s)

    # -- perpetual swaps ---------------------------------------------------------------------------------

    def perp_terms(self, symbol: Symbol) -> tuple[int, MarginMode]:
        """Return the configured leverage and margin mode of ``symbol`` (``exchange.leverage``/``margin_mode``)."""
        return self._perp.terms(symbol)

    async def configure_perp(self, symbol: Symbol, leverage: int, margin_mode: MarginMode) -> None:
        """Refuse hedge mode, then set ``symbol``'s margin mode and leverage ("already so" is success).

        Raises:
            ConfigError: hedge (dual-side) position mode, or the venue refuses or cannot set the values.
        """
        await self._perp.configure(symbol, leverage, margin_mode)

    async def fetch_positions(self, symbols: Sequence[Symbol]) -> list[PositionReport]:
        """Return the venue's one-way positions in the swap ``symbols`` (flat ones omitted)."""
        return await self._perp.fetch_positions(symbols)

    async def fetch_funding_payments(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingPayment]:
        """Return ``symbol``'s funding payments at or after ``since_ms`` (epoch ms), oldest first, by venue id."""
        return await self._perp.fetch_funding_payments(symbol, since_ms)
