"""The exchange client for every exchange ccxt knows; with ``ccxt_errors`` the only code that touches ccxt.

``CcxtExchange`` speaks ccxt.pro (WebSocket) where the exchange has it and falls back to ccxt's REST
client and polling where it has not. ccxt is imported lazily (in ``connect``/``ccxt_exchange_ids``), so
importing this module stays cheap. Numbers cross the boundary once: ccxt floats/strings become
``Decimal(str(x))`` here, and our Decimals are rounded with ccxt's ``*_to_precision`` before sending.
Market data too is checked once, here: a quote, trade or bar that is malformed or impossible by
``trading_bot.domain.checks`` is logged as ``market_data_rejected``, dropped (it never reaches the
strategy) and counted per kind, with an alert past a threshold (``exchanges/ccxt/rejections.py``).
Account answers are checked here too (``trading_bot.domain.account_checks``): an order report, fill,
balance or market whose values are impossible (a negative quantity or price, an implausible time, a
negative balance) is refused as ``BadExchangeResponse`` (one record of a list is logged and skipped), and
an order answer without the exchange's order id is refused, so a placement answered that way is looked up.

Exactly-once: an order request that times out is never re-sent; the order is looked up by client id
(bounded back-off) and the answer decides: found → its report; cleanly not found after the exchange's
receive window → REJECTED "not received by the exchange"; lookups failing → ``OrderOutcomeUnknown``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from typing import TypeVar

from exchanges.base import BaseExchangeClient
from exchanges.ccxt.errors import ErrorContext
from exchanges.ccxt.errors import map_ccxt_errors
from exchanges.ccxt.errors import retry_transient
from exchanges.ccxt.market_queue import MarketDataQueue
from exchanges.ccxt.rejections import MarketDataRejections
from exchanges.config import ExchangeConfig
from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import TradeId
from trading_bot.domain import TradeTick
from trading_bot.domain import to_decimal
from trading_bot.domain.account_checks import balance_problem
from trading_bot.domain.account_checks import fill_problem
from trading_bot.domain.account_checks import market_rules_problem
from trading_bot.domain.account_checks import order_report_problem
from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import trade_problem
from trading_bot.errors import AuthenticationError
from trading_bot.errors import BadExchangeResponse
from trading_bot.errors import ConfigError
from trading_bot.errors import ExchangeError
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderOutcomeUnknown
from trading_bot.errors import RateLimited
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger
from trading_bot.registry import did_you_mean

__all__ = ["CcxtExchange", "ccxt_exchange_ids", "create_ccxt_exchange"]

_log = get_logger(__name__)
T = TypeVar("T")

LOOKUP_DELAYS_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
"""Waits before each lookup of an order whose request outcome is unknown (bounded: 7.7 s in all)."""
RECONNECT_CAP_S = 30.0
CROSS_CHECK_INTERVAL_S = 30.0
POLL_INTERVAL_S = 1.0
_FALLBACK_INCREMENT = Decimal("1e-8")
_ID_CACHE_SIZE = 10_000

_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {
    "limit": OrderType.LIMIT,
    "limit_maker": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "stop_market": OrderType.STOP_MARKET,
    "stop_loss": OrderType.STOP_MARKET,
    "stop": OrderType.STOP_MARKET,
}


def ccxt_exchange_ids() -> list[str]:
    """Return every exchange id ccxt knows (imports ccxt)."""
    import ccxt

    return list(ccxt.exchanges)


def create_ccxt_exchange(config: ExchangeConfig, clock: Clock, **kwargs: Any) -> CcxtExchange:
    """Build the client for ``config.name`` (the EXCHANGES registry fallback for any ccxt id)."""
    return CcxtExchange(config, clock, **kwargs)


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _dec(value: Any, field: str) -> Decimal:
    try:
        return to_decimal(value, field)
    except ValueError as e:
        raise BadExchangeResponse(str(e)) from None


def _opt_dec(value: Any, field: str) -> Decimal | None:
    return None if value is None else _dec(value, field)


def _backoff(attempt: int, base: float = 0.5, cap: float = RECONNECT_CAP_S) -> float:
    return random.uniform(0, min(cap, base * 2 ** max(attempt - 1, 0))) + base / 2


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
        lookup_delays_s: waits before each lookup of an order whose request outcome is unknown.
        rejections: market data dropped at this boundary (malformed, or impossible by
            ``trading_bot.domain.checks``): counts per kind, an alert past a threshold (``rejections.py``).
    """

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
        self._clock = clock
        self._public_only = public_only
        self._ex: Any = None
        self._ws = False
        self._markets: dict[Symbol, Market] = {}
        self._markets_lock = asyncio.Lock()
        self._client_ids: OrderedDict[str, ClientOrderId] = OrderedDict()
        self._symbols: set[Symbol] = set()
        self._open_seen: dict[str, tuple[Symbol, ClientOrderId]] = {}
        self._fills_since_ms: dict[Symbol, int] = {}
        self._resync = asyncio.Event()
        self._quotes: dict[Symbol, MarketData] = {}
        self._stream_started_ms: int | None = None
        self._closed = False
        self.last_market_data_ms: int | None = None
        self.rate_limited_until_ms = 0
        self.auth_failures = 0
        self.poll_interval_s = poll_interval_s
        self.lookup_delays_s = LOOKUP_DELAYS_S
        self.rejections = MarketDataRejections(clock)

    # -- lifecycle -------------------------------------------------------------------------------------

    def _client_config(self) -> dict[str, Any]:
        cfg = self._config
        options: dict[str, Any] = {"defaultType": cfg.market_type}
        if cfg.name == "binance" and cfg.market_type == "spot":
            options |= {
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            }
        merged = _deep_merge(
            {"enableRateLimit": True, "timeout": int(cfg.request_timeout_s * 1000), "options": options},
            cfg.ccxt_options,
        )
        if self._public_only:
            for key in ("apiKey", "secret", "password"):
                merged.pop(key, None)
        else:
            for key, secret in (("apiKey", cfg.api_key), ("secret", cfg.secret), ("password", cfg.password)):
                if secret is not None:
                    merged[key] = secret.get_secret_value()
        return merged

    def _build_client(self) -> Any:
        import ccxt
        import ccxt.async_support
        import ccxt.pro

        ex_id = self._config.name
        if ex_id not in ccxt.exchanges:
            raise ConfigError(f"unknown exchange {ex_id!r}{did_you_mean(ex_id, ccxt.exchanges)}")
        if not self._public_only and not self._config.has_credentials():
            raise ConfigError(
                f"exchange {ex_id!r} needs API keys: set TRADING_BOT__EXCHANGE__API_KEY and "
                "TRADING_BOT__EXCHANGE__SECRET (or use --paper)"
            )
        cls = getattr(ccxt.pro, ex_id, None) if ex_id in ccxt.pro.exchanges else None
        self._ws = cls is not None
        client = (cls or getattr(ccxt.async_support, ex_id))(self._client_config())
        if self._ws and not client.has.get("ws", True):
            self._ws = False
        if self._config.testnet:
            if "urls" in self._config.ccxt_options:
                _log.warning("exchange_testnet_ignored", exchange=ex_id, reason="ccxt_options overrides urls")
            else:
                with map_ccxt_errors("set_sandbox_mode"):
                    client.set_sandbox_mode(True)
        return client

    async def connect(self) -> None:
        """Build the ccxt client and load the markets."""
        if self._ex is None:
            self._ex = self._build_client()
            self._closed = False
            _log.info("exchange_connecting", exchange=self.name, websocket=self._ws, public_only=self._public_only)
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

    @property
    def _client(self) -> Any:
        if self._ex is None:
            raise ExchangeError(f"{self.name}: not connected (call connect() first)")
        return self._ex

    async def _call(self, ctx: ErrorContext, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await one ccxt call with its errors translated; record rate limits and auth failures."""
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

    def _ctx(self, action: str, symbol: str | None = None, **kw: Any) -> ErrorContext:
        return ErrorContext(action=action, symbol=symbol, exchange=self._ex, **kw)

    # -- markets ---------------------------------------------------------------------------------------

    @retry_transient()
    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets, loading them on first use."""
        async with self._markets_lock:
            if not self._markets:
                raw = await self._call(self._ctx("load_markets"), self._client.load_markets)
                markets: dict[Symbol, Market] = {}
                for symbol, m in raw.items():
                    try:
                        markets[Symbol(symbol)] = self._to_market(m)
                    except (BadExchangeResponse, KeyError, TypeError) as e:
                        _log.warning("market_skipped", symbol=symbol, error=str(e))
                self._markets = markets
                _log.info("markets_loaded", exchange=self.name, count=len(markets))
        return self._markets

    def _increment(self, value: Any, field: str) -> Decimal:
        from ccxt.base.decimal_to_precision import DECIMAL_PLACES
        from ccxt.base.decimal_to_precision import TICK_SIZE

        if value is None:
            return _FALLBACK_INCREMENT
        mode = self._client.precisionMode
        if mode == TICK_SIZE:
            return _dec(value, field)
        if mode == DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(value))
        return _FALLBACK_INCREMENT  # SIGNIFICANT_DIGITS: no fixed step; ccxt's *_to_precision rounds

    def _to_market(self, m: Mapping[str, Any]) -> Market:
        precision = m.get("precision") or {}
        limits = m.get("limits") or {}
        amount_limits = limits.get("amount") or {}
        cost_limits = limits.get("cost") or {}
        maker, taker = m.get("maker"), m.get("taker")
        market = Market(
            symbol=Symbol(m["symbol"]),
            base=str(m["base"]),
            quote=str(m["quote"]),
            price_increment=self._increment(precision.get("price"), "precision.price"),
            amount_increment=self._increment(precision.get("amount"), "precision.amount"),
            min_amount=_opt_dec(amount_limits.get("min"), "limits.amount.min") or ZERO,
            min_notional=_opt_dec(cost_limits.get("min"), "limits.cost.min") or ZERO,
            max_amount=_opt_dec(amount_limits.get("max"), "limits.amount.max"),
            maker_fee=_dec(maker, "maker") if maker is not None else Decimal("0.001"),
            taker_fee=_dec(taker, "taker") if taker is not None else Decimal("0.001"),
            contract=bool(m.get("contract")),
        )
        problem = market_rules_problem(
            market.price_increment, market.amount_increment, market.min_amount, market.min_notional, market.max_amount
        )
        if problem is not None:
            raise BadExchangeResponse(f"market {market.symbol}: {problem}")
        return market

    def market(self, symbol: Symbol) -> Market:
        """Return one loaded market; raise ``ConfigError`` naming the closest known symbol."""
        try:
            return self._markets[symbol]
        except KeyError:
            raise ConfigError(
                f"unknown market {symbol!r} on {self.name}{did_you_mean(symbol, self._markets)}"
            ) from None

    # -- conversions -----------------------------------------------------------------------------------

    def _remember(self, exchange_id: Any, client_id: Any) -> None:
        if exchange_id is None or not client_id:
            return
        key = str(exchange_id)
        self._client_ids[key] = ClientOrderId(str(client_id))
        self._client_ids.move_to_end(key)
        while len(self._client_ids) > _ID_CACHE_SIZE:
            self._client_ids.popitem(last=False)

    def _to_report(self, o: Mapping[str, Any], fallback_symbol: Symbol | None = None) -> OrderStatusReport:
        status = _STATUS.get(str(o.get("status") or "open").lower())
        if status is None:
            raise BadExchangeResponse(f"order {o.get('id')}: unknown status {o.get('status')!r}")
        filled = _opt_dec(o.get("filled"), "filled") or ZERO
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        exchange_id = o.get("id")
        client_id = o.get("clientOrderId") or self._client_ids.get(str(exchange_id), "")
        side = o.get("side")
        ts = int(o.get("lastUpdateTimestamp") or o.get("timestamp") or self._clock.now_ms())
        quantity = _opt_dec(o.get("amount"), "amount") or None  # 0: not known (as for price and average)
        price = _opt_dec(o.get("price"), "price") or None
        average = _opt_dec(o.get("average"), "average") or None
        problem = order_report_problem(ts, quantity, price, filled, average)
        if problem is not None:
            raise BadExchangeResponse(f"order {exchange_id}: {problem}")
        self._remember(exchange_id, client_id)
        return OrderStatusReport(
            client_order_id=ClientOrderId(str(client_id)),
            symbol=Symbol(o.get("symbol") or fallback_symbol or ""),
            status=status,
            ts_ms=ts,
            exchange_order_id=ExchangeOrderId(str(exchange_id)) if exchange_id is not None else None,
            side=OrderSide(side) if side in ("buy", "sell") else None,
            order_type=_TYPES.get(str(o.get("type") or "").lower()),
            quantity=quantity,
            price=price,
            filled_quantity=filled,
            average_price=average,
        )

    async def _client_id_for(self, t: Mapping[str, Any], symbol: Symbol) -> ClientOrderId | None:
        order_id = t.get("order")
        if order_id is None:
            return None
        known = self._client_ids.get(str(order_id))
        if known:
            return known
        info = t.get("info") or {}
        raw = info.get("c") or info.get("clientOrderId") if isinstance(info, Mapping) else None
        if raw:
            self._remember(order_id, raw)
            return ClientOrderId(str(raw))
        try:  # a fill of an order we have not seen in this session: ask the exchange whose it is
            o = await self._call(self._ctx("fetch_order", symbol), self._client.fetch_order, str(order_id), symbol)
        except (OrderNotFound, TransientExchangeError, BadExchangeResponse) as e:
            _log.warning("fill_order_unknown", symbol=symbol, exchange_order_id=order_id, error=str(e))
            return None
        self._remember(order_id, o.get("clientOrderId"))
        return self._client_ids.get(str(order_id))

    async def _to_fill(self, t: Mapping[str, Any], fallback_symbol: Symbol) -> Fill | None:
        symbol = Symbol(t.get("symbol") or fallback_symbol)
        client_id = await self._client_id_for(t, symbol)
        if client_id is None:
            _log.info("fill_without_client_id", symbol=symbol, trade_id=t.get("id"), exchange_order_id=t.get("order"))
            return None
        if t.get("id") is None or t.get("side") not in ("buy", "sell"):
            raise BadExchangeResponse(f"trade in {symbol}: missing id or side: id={t.get('id')!r}")
        fee, fee_currency = ZERO, ""
        fees = [f for f in ([t.get("fee")] if t.get("fee") else (t.get("fees") or [])) if f]
        for f in fees:
            if f.get("cost") is not None:
                fee += _dec(f["cost"], "fee.cost")
                fee_currency = str(f.get("currency") or fee_currency)
        liquidity = LiquiditySide.MAKER if t.get("takerOrMaker") == "maker" else LiquiditySide.TAKER
        order_id = t.get("order")
        ts = int(t.get("timestamp") or self._clock.now_ms())
        quantity, price = _dec(t.get("amount"), "trade.amount"), _dec(t.get("price"), "trade.price")
        problem = fill_problem(ts, price, quantity)
        if problem is not None:
            raise BadExchangeResponse(f"trade {t['id']} in {symbol}: {problem}")
        self._fills_since_ms[symbol] = max(self._fills_since_ms.get(symbol, 0), ts)
        return Fill(
            trade_id=TradeId(str(t["id"])),
            client_order_id=client_id,
            symbol=symbol,
            side=OrderSide(t["side"]),
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency=fee_currency,
            ts_ms=ts,
            liquidity=liquidity,
            exchange_order_id=ExchangeOrderId(str(order_id)) if order_id is not None else None,
        )

    async def _emit_trades(self, trades: Any, symbol: Symbol) -> list[Fill]:
        fills: list[Fill] = []
        for t in trades or ():
            try:
                fill = await self._to_fill(t, symbol)
            except BadExchangeResponse as e:
                _log.error("bad_fill", symbol=symbol, error=str(e))
                continue
            if fill is not None:
                fills.append(fill)
                self.emit(fill)
        return fills

    def _quote(self, symbol: Symbol, t: Mapping[str, Any] | None, source: str) -> MarketData | None:
        """Return a quote that passes ``quote_problem``, or reject it (``market_data_rejected``) and return None."""
        try:
            if t is None:
                raise BadExchangeResponse("no data")
            md = MarketData(
                symbol=symbol,
                ts_ms=int(t.get("timestamp") or self._clock.now_ms()),
                bid=_dec(t.get("bid"), "bid"),
                ask=_dec(t.get("ask"), "ask"),
                bid_size=_opt_dec(t.get("bidVolume"), "bidVolume") or ZERO,
                ask_size=_opt_dec(t.get("askVolume"), "askVolume") or ZERO,
                last=_opt_dec(t.get("last"), "last"),
            )
            problem = quote_problem(md.ts_ms, md.bid, md.bid_size, md.ask, md.ask_size)
            if problem is not None:
                raise BadExchangeResponse(problem)
            return md
        except (BadExchangeResponse, TypeError, ValueError, AttributeError) as e:
            self.rejections.reject("quote", symbol, source, str(e))
            return None

    # -- market data -----------------------------------------------------------------------------------

    @retry_transient()
    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the best bid and ask from REST (ticker, or the order book when the ticker lacks them).

        Raises:
            BadExchangeResponse: the answer is malformed or an impossible quote (``market_data_rejected``).
        """
        try:
            t = await self._rest_quote(symbol)
        except BadExchangeResponse as e:
            self.rejections.reject("quote", symbol, "rest", str(e))
            raise
        md = self._quote(symbol, t, "rest")
        if md is None:
            raise BadExchangeResponse(f"fetch_bbo {symbol}: unusable quote from {self.name}")
        return md

    async def _rest_quote(self, symbol: Symbol) -> Mapping[str, Any] | None:
        ex = self._client
        t: Any = await self._call(self._ctx("fetch_ticker", symbol), ex.fetch_ticker, symbol)
        if not isinstance(t, Mapping) or t.get("bid") is None or t.get("ask") is None:
            book = await self._call(self._ctx("fetch_order_book", symbol), ex.fetch_order_book, symbol, 5)
            try:
                (bid, bid_size, *_), (ask, ask_size, *_) = book["bids"][0], book["asks"][0]
            except (KeyError, IndexError, TypeError, ValueError):
                t = None
            else:
                t = {
                    "bid": bid,
                    "ask": ask,
                    "bidVolume": bid_size,
                    "askVolume": ask_size,
                    "timestamp": book.get("timestamp"),
                }
        return t if isinstance(t, Mapping) else None

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield quotes and public trades of ``symbol`` until the consumer stops iterating.

        WebSocket (bookTicker + trades) when the exchange has it, else REST polling every
        ``poll_interval_s``. A consumer that falls behind gets the newest book, not a backlog of quotes
        (``MarketDataQueue``). The feeding loops live in a TaskGroup owned by this generator; they never
        raise into it (a permanent error is queued and raised here), so closing the generator cancels
        them cleanly.
        """
        await self.load_markets()
        self.market(symbol)
        self._symbols.add(symbol)
        queue = MarketDataQueue()
        ex = self._client
        async with asyncio.TaskGroup() as tg:
            if self._ws and ex.has.get("watchBidsAsks"):
                loops = [self._ws_loop(symbol, queue, "quotes")]
                if ex.has.get("watchTrades"):
                    loops.append(self._ws_loop(symbol, queue, "trades"))
            else:
                loops = [self._poll_loop(symbol, queue)]
            tasks = [tg.create_task(loop, name=f"market-data-{symbol}") for loop in loops]
            failure: ExchangeError | None = None
            try:
                while True:
                    try:
                        md = await queue.get()
                    except ExchangeError as e:
                        failure = e
                        break
                    yield md
            except GeneratorExit:
                pass  # the consumer closed the stream: stop the loops, leave the TaskGroup cleanly
            finally:
                for task in tasks:
                    task.cancel()
        if failure is not None:
            raise failure

    def _publish(self, queue: MarketDataQueue, md: MarketData) -> None:
        self.last_market_data_ms = self._clock.now_ms()
        if md.trade is None:
            self._quotes[md.symbol] = md
            queue.put_quote(md)  # a slow consumer gets the newest book, not a growing backlog
        else:
            queue.put_trade(md)

    async def _ws_loop(self, symbol: Symbol, queue: MarketDataQueue, kind: str) -> None:
        ex = self._client
        attempt = 0
        while True:
            try:
                if kind == "quotes":
                    tickers = await self._call(self._ctx("watch_bids_asks", symbol), ex.watch_bids_asks, [symbol])
                    md = self._quote(symbol, (tickers or {}).get(symbol), "ws")
                    if md is not None:
                        self._publish(queue, md)
                else:
                    trades = await self._call(self._ctx("watch_trades", symbol), ex.watch_trades, symbol)
                    for t in trades or ():
                        md = self._trade_event(symbol, t)
                        if md is not None:
                            self._publish(queue, md)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except (TransientExchangeError, BadExchangeResponse) as e:
                attempt += 1
                delay = _backoff(attempt)
                _log.warning(
                    "market_stream_reconnect",
                    symbol=symbol,
                    stream=kind,
                    attempt=attempt,
                    delay_s=round(delay, 2),
                    error=str(e),
                )
                await asyncio.sleep(delay)
            except ExchangeError as e:
                _log.error("market_stream_failed", symbol=symbol, stream=kind, error=str(e))
                queue.fail(e)
                return

    def _trade_event(self, symbol: Symbol, t: Mapping[str, Any]) -> MarketData | None:
        quote = self._quotes.get(symbol)
        try:
            side = t.get("side")
            if side not in ("buy", "sell"):
                raise BadExchangeResponse(f"trade side {side!r}")
            tick = TradeTick(
                ts_ms=int(t.get("timestamp") or self._clock.now_ms()),
                symbol=symbol,
                price=_dec(t.get("price"), "price"),
                quantity=_dec(t.get("amount"), "amount"),
                side=OrderSide(side),
                trade_id=str(t.get("id") or ""),
            )
            problem = trade_problem(tick.ts_ms, tick.price, tick.quantity)
            if problem is not None:
                raise BadExchangeResponse(problem)
        except (BadExchangeResponse, TypeError, ValueError, AttributeError) as e:
            self.rejections.reject("trade", symbol, "ws_trade", str(e))
            return None
        if quote is None:
            return None  # a trade before the first quote: no book to attach it to
        return MarketData(
            symbol=symbol,
            ts_ms=tick.ts_ms,
            bid=quote.bid,
            ask=quote.ask,
            bid_size=quote.bid_size,
            ask_size=quote.ask_size,
            last=tick.price,
            trade=tick,
        )

    async def _poll_loop(self, symbol: Symbol, queue: MarketDataQueue) -> None:
        attempt = 0
        while True:
            try:
                self._publish(queue, await self.fetch_bbo(symbol))
                attempt = 0
                await asyncio.sleep(self.poll_interval_s)
            except asyncio.CancelledError:
                raise
            except BadExchangeResponse:  # already counted as market_data_rejected; the next poll may be fine
                await asyncio.sleep(self.poll_interval_s)
            except TransientExchangeError as e:
                attempt += 1
                delay = _backoff(attempt)
                _log.warning(
                    "market_stream_reconnect",
                    symbol=symbol,
                    stream="poll",
                    attempt=attempt,
                    delay_s=round(delay, 2),
                    error=str(e),
                )
                await asyncio.sleep(delay)
            except ExchangeError as e:
                queue.fail(e)
                return

    @retry_transient()
    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return bars of ``timeframe`` (``1m``, ``1h``...) from ``since_ms``, open time ascending."""
        rows = await self._call(
            self._ctx("fetch_ohlcv", symbol), self._client.fetch_ohlcv, symbol, timeframe, since_ms, limit
        )
        bars = []
        for row in rows or ():
            try:
                ts, o, h, low, c, v = row[:6]
                bar = Bar(
                    ts_ms=int(ts),
                    open=_dec(o, "open"),
                    high=_dec(h, "high"),
                    low=_dec(low, "low"),
                    close=_dec(c, "close"),
                    volume=_opt_dec(v, "volume") or ZERO,
                )
                problem = bar_problem(bar.ts_ms, bar.open, bar.high, bar.low, bar.close, bar.volume)
                if problem is not None:
                    raise BadExchangeResponse(problem)
                bars.append(bar)
            except (BadExchangeResponse, TypeError, ValueError) as e:
                self.rejections.reject("bar", symbol, "ohlcv", str(e))
        return sorted(bars, key=lambda b: b.ts_ms)

    # -- orders ----------------------------------------------------------------------------------------

    def _order_args(
        self, market: Market, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId, ctx: ErrorContext
    ) -> tuple[str, float, float | None, dict[str, Any]]:
        ex, symbol = self._client, market.symbol
        extra: dict[str, Any] = {"clientOrderId": client_order_id}
        with map_ccxt_errors(ctx):  # rounding: a sub-step amount is refused here, before anything is sent
            amount = float(ex.amount_to_precision(symbol, str(quantity)))
            price = None
            if params.order_type is OrderType.LIMIT and params.price is not None:
                price = float(ex.price_to_precision(symbol, str(params.price)))
            if params.order_type is OrderType.STOP_MARKET and params.trigger_price is not None:
                extra["triggerPrice"] = float(ex.price_to_precision(symbol, str(params.trigger_price)))
        order_type = "limit" if params.order_type is OrderType.LIMIT else "market"
        if params.post_only:
            extra["postOnly"] = True  # binance spot: LIMIT_MAKER
        elif params.time_in_force is not TimeInForce.GTC and params.order_type is OrderType.LIMIT:
            extra["timeInForce"] = params.time_in_force.value.upper()
        if params.reduce_only and market.contract:
            extra["reduceOnly"] = True
        return order_type, amount, price, extra

    def _ack_report(self, raw: Mapping[str, Any], symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        if not isinstance(raw, Mapping):
            raise BadExchangeResponse(f"{symbol} (id {client_order_id}): order answer is {type(raw).__name__}")
        if raw.get("id") is None:  # an empty or unreadable body: ccxt leaves every field unset
            raise BadExchangeResponse(f"{symbol} (id {client_order_id}): order answer without the exchange's order id")
        report = self._to_report(raw, symbol)
        self._remember(raw.get("id"), client_order_id)  # a cancel answer may carry the cancel's own id
        if report.client_order_id != client_order_id:
            report = _replace_client_id(report, client_order_id)
        self._track(report)
        return report

    def _track(self, report: OrderStatusReport) -> None:
        key = report.exchange_order_id
        if key is None:
            return
        if report.status.is_open:
            self._open_seen[key] = (report.symbol, report.client_order_id)
        else:
            self._open_seen.pop(key, None)

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Send one order with our client id; on an unknown outcome, look it up instead of re-sending.

        Raises:
            OrderOutcomeUnknown: the request may have reached the exchange and the lookups failed too.
            OrderRejected: the exchange refused it (``InsufficientFunds``, ``PostOnlyWouldCross``).
            RateLimited: the exchange refused it for rate (nothing was placed).
        """
        await self.load_markets()
        market = self.market(symbol)
        self._symbols.add(symbol)
        ctx = self._ctx(
            "place_order",
            symbol,
            side=params.side.value,
            amount=quantity,
            price=params.price,
            client_order_id=client_order_id,
            order_request=True,
        )
        order_type, amount, price, extra = self._order_args(market, params, quantity, client_order_id, ctx)
        sent_at = time.monotonic()
        try:
            raw = await self._call(
                ctx, self._client.create_order, symbol, order_type, params.side.value, amount, price, extra
            )
        except OrderOutcomeUnknown as e:
            report = await self._resolve_outcome(ctx, sent_at, e)
            if report is not None:
                return report
            _log.warning("order_not_received", symbol=symbol, client_order_id=client_order_id)
            return OrderStatusReport(
                client_order_id=client_order_id,
                symbol=symbol,
                status=OrderStatus.REJECTED,
                ts_ms=self._clock.now_ms(),
                side=params.side,
                order_type=params.order_type,
                quantity=quantity,
                price=params.price,
                reason="not received by the exchange",
                transient=True,  # it never reached the exchange: the same order may be sent again
            )
        report = self._ack_report(raw, symbol, client_order_id)
        trades = [
            {
                "order": raw.get("id"),
                "side": params.side.value,
                "symbol": symbol,
                "timestamp": raw.get("timestamp"),
                **{k: v for k, v in t.items() if v is not None},
            }
            for t in raw.get("trades") or ()
            if isinstance(t, Mapping)
        ]
        await self._emit_trades(trades, symbol)
        _log.info(
            "order_placed",
            symbol=symbol,
            client_order_id=client_order_id,
            status=report.status.value,
            exchange_order_id=report.exchange_order_id,
        )
        return report

    def _receive_window_s(self) -> float:
        window = (self._client.options or {}).get("recvWindow")
        try:
            return min(float(window) / 1000, 60.0) if window is not None else 0.0
        except (TypeError, ValueError):
            return 0.0

    async def _lookup(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        ctx = self._ctx("fetch_order", symbol, client_order_id=client_order_id)
        try:
            raw = await self._call(ctx, self._client.fetch_order, None, symbol, {"clientOrderId": client_order_id})
        except OrderNotFound:
            return None
        report = self._ack_report(raw, symbol, client_order_id)
        return report

    async def _resolve_outcome(
        self, ctx: ErrorContext, sent_at: float, error: OrderOutcomeUnknown
    ) -> OrderStatusReport | None:
        """Log the unknown outcome of ``ctx.action``, then look the order up by client id with bounded back-off.

        Returns its report when found; ``None`` when the exchange cleanly said "not found" after its receive
        window (``recvWindow``) had passed since the request was signed, so it can no longer accept it.

        Raises:
            OrderOutcomeUnknown: the last lookup failed, so nothing can be concluded.
        """
        symbol, coid = Symbol(ctx.symbol or ""), ClientOrderId(ctx.client_order_id or "")
        _log.warning(
            "order_outcome_unknown", action=ctx.action, symbol=symbol, client_order_id=coid, error=str(error)
        )
        window = self._receive_window_s()
        delays = [*self.lookup_delays_s]
        clean_miss = False
        while delays:
            await asyncio.sleep(delays.pop(0))
            try:
                report = await self._lookup(symbol, coid)
            except asyncio.CancelledError:
                raise
            except ExchangeError as e:
                clean_miss = False
                _log.warning(
                    "order_lookup_failed", action=ctx.action, symbol=symbol, client_order_id=coid, error=str(e)
                )
                continue
            if report is not None:
                _log.info(
                    "order_outcome_resolved",
                    action=ctx.action,
                    symbol=symbol,
                    client_order_id=coid,
                    status=report.status.value,
                    exchange_order_id=report.exchange_order_id,
                )
                return report
            clean_miss = True
            remaining = window - (time.monotonic() - sent_at)
            if remaining <= 0:
                break
            if not delays:  # one last look once the exchange can no longer accept the request
                delays.append(remaining + 0.1)
        if not clean_miss:
            raise OrderOutcomeUnknown(f"{ctx.describe()}: outcome unknown, lookups failed; reconcile later")
        return None

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one order by client id; on an unknown outcome, look it up.

        Raises:
            OrderNotFound: the exchange does not know the order.
            OrderOutcomeUnknown: the request timed out and the lookups failed too.
        """
        await self.load_markets()
        ctx = self._ctx("cancel_order", symbol, client_order_id=client_order_id, order_request=True)
        exchange_id = next((k for k, v in reversed(self._client_ids.items()) if v == client_order_id), None)
        sent_at = time.monotonic()
        try:
            raw = await self._call(
                ctx, self._client.cancel_order, exchange_id, symbol, {"clientOrderId": client_order_id}
            )
        except OrderOutcomeUnknown as e:
            report = await self._resolve_outcome(ctx, sent_at, e)
            if report is None:
                raise OrderNotFound(f"{ctx.describe()}: the exchange does not know the order") from e
            return report
        report = self._ack_report(raw, symbol, client_order_id)
        _log.info("order_cancel_answered", symbol=symbol, client_order_id=client_order_id, status=report.status.value)
        return report

    @retry_transient()
    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the exchange does not know it."""
        await self.load_markets()
        return await self._lookup(symbol, client_order_id)

    @retry_transient()
    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return every open order of the account in ``symbol`` (ours and foreign)."""
        await self.load_markets()
        self._symbols.add(symbol)
        raw = await self._call(self._ctx("fetch_open_orders", symbol), self._client.fetch_open_orders, symbol)
        reports = []
        for o in raw or ():
            try:
                report = self._to_report(o, symbol)
            except BadExchangeResponse as e:
                _log.error("bad_order_report", symbol=symbol, error=str(e))
                continue
            self._track(report)
            reports.append(report)
        return reports

    @retry_transient()
    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the account's fills in ``symbol`` since ``since_ms`` (inclusive), oldest first (paginated)."""
        await self.load_markets()
        self._symbols.add(symbol)
        page, fills, since = 1000, dict[str, Fill](), since_ms
        for _ in range(100):
            batch = await self._call(
                self._ctx("fetch_my_trades", symbol), self._client.fetch_my_trades, symbol, since, page
            )
            new = [t for t in batch or () if str(t.get("id")) not in fills]
            for t in new:
                try:
                    fill = await self._to_fill(t, symbol)
                except BadExchangeResponse as e:
                    _log.error("bad_fill", symbol=symbol, error=str(e))
                    continue
                if fill is not None:
                    fills[fill.trade_id] = fill
            stamps = [int(t["timestamp"]) for t in batch or () if t.get("timestamp") is not None]
            if len(batch or ()) < page or not new or not stamps:
                break
            since = max(stamps)
        return sorted(fills.values(), key=lambda f: (f.ts_ms, f.trade_id))

    @retry_transient()
    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the account's balances by currency (``free`` and ``locked`` = ccxt's ``used``)."""
        raw = await self._call(self._ctx("fetch_balance"), self._client.fetch_balance)
        free, used = raw.get("free") or {}, raw.get("used") or {}
        balances = {}
        for currency in sorted(set(free) | set(used)):
            balance = Balance(
                currency=str(currency),
                free=_opt_dec(free.get(currency), f"{currency}.free") or ZERO,
                locked=_opt_dec(used.get(currency), f"{currency}.used") or ZERO,
            )
            problem = balance_problem(balance.currency, balance.free, balance.locked)
            if problem is not None:
                raise BadExchangeResponse(f"fetch_balance: {problem}")
            balances[balance.currency] = balance
        return balances

    # -- user stream -----------------------------------------------------------------------------------

    def track_symbol(self, symbol: Symbol) -> None:
        """Include ``symbol`` in the periodic REST cross-check (symbols traded or streamed are included)."""
        self._symbols.add(symbol)

    async def run_user_stream(self) -> None:
        """Keep order reports and fills flowing to the sink: WS (orders + my trades) plus a REST cross-check.

        The cross-check (open orders, orders that left the book, trades since the last fill seen) runs every
        ``CROSS_CHECK_INTERVAL_S`` and right after a reconnect; without WebSocket it is the only path and runs
        every ``2 * poll_interval_s``. Raises ``AuthenticationError`` when the keys are refused.
        """
        if self._public_only:
            _log.info("user_stream_disabled", exchange=self.name, reason="public_only")
            return
        await self.load_markets()
        ex = self._client
        self._stream_started_ms = self._clock.now_ms()
        ws = bool(self._ws and ex.has.get("watchOrders") and ex.has.get("watchMyTrades"))
        _log.info("user_stream_started", exchange=self.name, websocket=ws)
        try:
            async with asyncio.TaskGroup() as tg:
                if ws:
                    tg.create_task(self._user_ws_loop("orders"), name="user-orders")
                    tg.create_task(self._user_ws_loop("trades"), name="user-trades")
                tg.create_task(
                    self._cross_check_loop(CROSS_CHECK_INTERVAL_S if ws else self.poll_interval_s * 2),
                    name="user-cross-check",
                )
        except BaseExceptionGroup as group:
            raise _first_error(group) from group

    async def _user_ws_loop(self, kind: str) -> None:
        ex = self._client
        attempt = 0
        while True:
            try:
                if kind == "orders":
                    for o in await self._call(self._ctx("watch_orders"), ex.watch_orders) or ():
                        try:
                            report = self._to_report(o)
                        except BadExchangeResponse as e:
                            _log.error("bad_order_report", error=str(e))
                            continue
                        self._track(report)
                        self.emit(report)
                else:
                    trades = await self._call(self._ctx("watch_my_trades"), ex.watch_my_trades)
                    for t in trades or ():
                        await self._emit_trades([t], Symbol(str(t.get("symbol") or "")))
                if attempt:
                    _log.info("user_stream_reconnected", stream=kind)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except (TransientExchangeError, BadExchangeResponse) as e:
                attempt += 1
                delay = _backoff(attempt)
                _log.warning(
                    "user_stream_reconnect", stream=kind, attempt=attempt, delay_s=round(delay, 2), error=str(e)
                )
                await asyncio.sleep(delay)
                self._resync.set()

    async def _cross_check_loop(self, interval: float) -> None:
        follow_up = True
        while True:
            woke = False
            try:
                async with asyncio.timeout(1.0 if follow_up else interval):
                    await self._resync.wait()
                woke = True
            except TimeoutError:
                pass
            self._resync.clear()
            follow_up = woke  # after a reconnect, look again shortly: the new subscription may lag
            try:
                await self._cross_check()
            except asyncio.CancelledError:
                raise
            except (TransientExchangeError, BadExchangeResponse, OrderNotFound) as e:
                _log.warning("user_cross_check_failed", error=str(e))

    async def _cross_check(self) -> None:
        for symbol in sorted(self._symbols):
            reports = await self.fetch_open_orders(symbol)
            open_ids = {r.exchange_order_id for r in reports}
            for report in reports:
                self.emit(report)
            vanished = [(k, c) for k, (s, c) in list(self._open_seen.items()) if s == symbol and k not in open_ids]
            for key, client_id in vanished:
                found = await self.fetch_order(symbol, client_id) if client_id else None
                if found is None:
                    self._open_seen.pop(key, None)
                    _log.warning("order_vanished", symbol=symbol, client_order_id=client_id, exchange_order_id=key)
                else:
                    self.emit(found)
            since = self._fills_since_ms.get(symbol, self._stream_started_ms)
            for fill in await self.fetch_my_trades(symbol, since):
                self.emit(fill)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Return the error the supervisor should see: an auth failure first, else the first ordinary error."""
    flat: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            flat.append(exc)
    auth = [e for e in flat if isinstance(e, AuthenticationError)]
    ordinary = [e for e in flat if isinstance(e, Exception)]
    return (auth or ordinary or flat or [group])[0]


def _replace_client_id(report: OrderStatusReport, client_order_id: ClientOrderId) -> OrderStatusReport:
    from dataclasses import replace

    return replace(report, client_order_id=client_order_id)
