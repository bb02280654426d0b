"""Building the ccxt client of one account, and the session every other part of the adapter calls through.

``build_client`` picks ccxt.pro (WebSocket) where the exchange has it, else ccxt's REST client; ccxt is
imported there (and in ``ccxt_exchange_ids``), never at import time, so importing this module stays
cheap. ``CcxtSession`` owns that client for the adapter's lifetime: ``connect``/``close``, the markets
(loaded once), and ``call``, the one way a ccxt call is made: its errors translated by
``map_ccxt_errors``, rate limits and authentication failures recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

from exchanges.ccxt.errors import ErrorContext
from exchanges.ccxt.errors import map_ccxt_errors
from exchanges.ccxt.parse import to_market
from exchanges.ccxt.retry import retry_transient
from exchanges.config import ExchangeConfig
from trading_bot.domain import Clock
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ConfigError
from trading_bot.errors import ExchangeError
from trading_bot.errors import RateLimited
from trading_bot.log import get_logger
from trading_bot.registry import did_you_mean

__all__ = ["CcxtSession", "build_client", "ccxt_exchange_ids", "client_options"]

_log = get_logger(__name__)
T = TypeVar("T")


def ccxt_exchange_ids() -> list[str]:
    """Return every exchange id ccxt knows (imports ccxt)."""
    import ccxt

    return list(ccxt.exchanges)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def client_options(config: ExchangeConfig, public_only: bool) -> dict[str, Any]:
    """Return the ccxt constructor options: our defaults, deep-merged with ``config.ccxt_options``, plus keys.

    Defaults: rate limiting on, ``timeout`` = ``request_timeout_s`` in ms, ``defaultType`` = the market
    type (binance spot also skips its margin and currency endpoints). ``public_only`` removes every
    credential, even one written in ``ccxt_options``; otherwise the configured credentials win.
    """
    options: dict[str, Any] = {"defaultType": config.market_type}
    if config.name == "binance" and config.market_type == "spot":
        options |= {
            "fetchMarkets": {"types": ["spot"]},
            "fetchMargins": False,
            "fetchCurrencies": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        }
    merged = _deep_merge(
        {"enableRateLimit": True, "timeout": int(config.request_timeout_s * 1000), "options": options},
        config.ccxt_options,
    )
    if public_only:
        for key in ("apiKey", "secret", "password"):
            merged.pop(key, None)
    else:
        for key, secret in (("apiKey", config.api_key), ("secret", config.secret), ("password", config.password)):
            if secret is not None:
                merged[key] = secret.get_secret_value()
    return merged


def build_client(config: ExchangeConfig, public_only: bool) -> tuple[Any, bool]:
    """Return the ccxt client of ``config.name`` and whether it streams over WebSocket (imports ccxt).

    ``testnet`` switches ccxt's sandbox on, unless ``ccxt_options`` sets ``urls`` itself (then a warning).

    Raises:
        ConfigError: ccxt does not know the exchange (with "did you mean"), or keys are needed and missing.
    """
    import ccxt
    import ccxt.async_support
    import ccxt.pro

    ex_id = config.name
    if ex_id not in ccxt.exchanges:
        raise ConfigError(f"unknown exchange {ex_id!r}{did_you_mean(ex_id, ccxt.exchanges)}")
    if not public_only and not config.has_credentials():
        raise ConfigError(
            f"exchange {ex_id!r} needs API keys: set TRADING_BOT__EXCHANGE__API_KEY and "
            "TRADING_BOT__EXCHANGE__SECRET (or use --paper)"
        )
    cls = getattr(ccxt.pro, ex_id, None) if ex_id in ccxt.pro.exchanges else None
    ws = cls is not None
    client = (cls or getattr(ccxt.async_support, ex_id))(client_options(config, public_only))
    if ws and not client.has.get("ws", True):
        ws = False
    if config.testnet:
        if "urls" in config.ccxt_options:
            _log.warning("exchange_testnet_ignored", exchange=ex_id, reason="ccxt_options overrides urls")
        else:
            with map_ccxt_errors("set_sandbox_mode"):
                client.set_sandbox_mode(True)
    return client, ws


class CcxtSession:
    """The ccxt client of one account for the adapter's lifetime, and the one way to call it.

    Args:
        config: exchange id, credentials, ccxt options, timeout.
        clock: times rate limits (epoch ms).
        public_only: market data only; no keys are sent.

    Attributes:
        name: the exchange id.
        ws: whether the client streams over WebSocket (known after ``connect``).
        markets: the loaded markets by symbol (empty until ``load_markets``).
        rate_limited_until_ms: clock time until which the exchange asked us to slow down (0: never).
        auth_failures: authentication failures seen so far.
    """

    def __init__(self, config: ExchangeConfig, clock: Clock, *, public_only: bool = False) -> None:
        self.name = config.name
        self.config = config
        self.public_only = public_only
        self._clock = clock
        self._ex: Any = None
        self._closed = False
        self._markets_lock = asyncio.Lock()
        self.ws = False
        self.markets: dict[Symbol, Market] = {}
        self.rate_limited_until_ms = 0
        self.auth_failures = 0

    async def connect(self) -> None:
        """Build the ccxt client (once) and load the markets."""
        if self._ex is None:
            self._ex, self.ws = build_client(self.config, self.public_only)
            self._closed = False
            _log.info("exchange_connecting", exchange=self.name, websocket=self.ws, public_only=self.public_only)
        await self.load_markets()

    async def close(self) -> None:
        """Close the ccxt client (WebSockets and HTTP session); safe to call twice."""
        if self._ex is None or self._closed:
            return
        self._closed = True
        ex, self._ex = self._ex, None
        try:
            await ex.close()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # closing is best effort; the process is going away
            _log.warning("exchange_close_failed", exchange=self.name, error=repr(e))
        _log.info("exchange_closed", exchange=self.name)

    def now_ms(self) -> int:
        """Return the injected clock's time, epoch ms (stamps answers that carry no time)."""
        return self._clock.now_ms()

    @property
    def client(self) -> Any:
        """Return the ccxt client; raise ``ExchangeError`` before ``connect``."""
        if self._ex is None:
            raise ExchangeError(f"{self.name}: not connected (call connect() first)")
        return self._ex

    def ctx(self, action: str, symbol: str | None = None, **kw: Any) -> ErrorContext:
        """Return the error context of one call (names the action, symbol, order; reads Retry-After)."""
        return ErrorContext(action=action, symbol=symbol, exchange=self._ex, **kw)

    async def call(self, ctx: ErrorContext, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await one ccxt call with its errors translated; record rate limits and auth failures.

        A ``RateLimited`` moves ``rate_limited_until_ms`` to now + its Retry-After (1 s when absent).
        """
        try:
            async with map_ccxt_errors(ctx):
                return await fn(*args)
        except RateLimited as e:
            wait_ms = int((e.retry_after if e.retry_after is not None else 1.0) * 1000)
            self.rate_limited_until_ms = max(self.rate_limited_until_ms, self._clock.now_ms() + wait_ms)
            _log.warning("exchange_rate_limited", action=ctx.action, retry_after_s=e.retry_after)
            raise
        except AuthenticationError:
            self.auth_failures += 1
            _log.error("exchange_auth_failed", action=ctx.action, failures=self.auth_failures)
            raise

    @retry_transient()
    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets, loading them on first use (a market ccxt cannot describe is logged and skipped)."""
        async with self._markets_lock:
            if not self.markets:
                client = self.client
                raw = await self.call(self.ctx("load_markets"), client.load_markets)
                markets: dict[Symbol, Market] = {}
                for symbol, m in raw.items():
                    try:
                        markets[Symbol(symbol)] = to_market(m, client.precisionMode)
                    except (BadExchangeResponse, KeyError, TypeError) as e:
                        _log.warning("market_skipped", symbol=symbol, error=str(e))
                self.markets = markets
                _log.info("markets_loaded", exchange=self.name, count=len(markets))
        return self.markets

    def market(self, symbol: Symbol) -> Market:
        """Return one loaded market; raise ``ConfigError`` naming the closest known symbol."""
        try:
            return self.markets[symbol]
        except KeyError:
            raise ConfigError(f"unknown market {symbol!r} on {self.name}{did_you_mean(symbol, self.markets)}") from None
