"""The paper exchange: market data from a source (live or recorded), fills from the matching core.

``PaperExchange`` is a full ``BaseExchangeClient``: orders, cancels, balances and trade history live in
a simulated account, matched by the one matching core (``exchanges.sim``). Market data comes from any
``MarketDataSource``: the replay feed (``exchanges.replay.ReplayFeed``) or, later, a live public-data
client. Every event streamed is matched against the resting orders *before* it is yielded, so the fills
an event causes reach the sink before the strategy sees that event. Fees default to the market's own
maker/taker rates unless ``PaperConfig`` sets them; ``PaperConfig`` also holds the latency, queue and
partial-fill knobs (``exchanges.sim.model.FillModel``).

**Perpetual swaps** (a contract market): the account is a ``MarginAccount`` (leverage, margin mode,
liquidation fee and funding from ``PerpSettings``). Before each event of a swap is matched, its mark is
set — the event's ``mark_price`` when the data has one, else the trade price, else the mid — and the
funding times at or before the event settle at that mark (``FundingPayment`` to the sink). After the
match, an account below maintenance margin is liquidated at the mark: the symbol's open orders expire,
then a ``Liquidation`` goes to the sink. ``fetch_positions`` reports the simulated account's positions
and ``fetch_funding_payments`` the payments it settled (as a venue's position and income endpoints do)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol
from typing import runtime_checkable

from exchanges.base import BaseExchangeClient
from exchanges.config import PaperConfig
from exchanges.sim import FillModel
from exchanges.sim import MarginAccount
from exchanges.sim import MatchingCore
from exchanges.sim.funding import FundingSchedule
from exchanges.sim.model import PerpSettings
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import PositionReport
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import OrderRejected
from trading_bot.log import get_logger
from trading_bot.registry import did_you_mean

__all__ = ["HistorySource", "MarketDataSource", "MergingMarketDataSource", "PaperExchange"]

log = get_logger(__name__)


class MarketDataSource(Protocol):
    """Where the paper exchange gets its markets and market data from."""

    async def connect(self) -> None:
        """Open connections (a live exchange's public API); recorded data has nothing to open."""
        ...

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets the source knows (precision, limits, fees)."""
        ...

    def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield market events of ``symbol`` until cancelled or the data ends."""
        ...

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the current best bid and ask of ``symbol``."""
        ...

    async def close(self) -> None:
        """Release connections or files."""
        ...


@runtime_checkable
class MergingMarketDataSource(MarketDataSource, Protocol):
    """A source that merges several symbols' events itself (recorded data: exactly, in event time)."""

    def stream_markets(self, symbols: Sequence[Symbol]) -> AsyncIterator[MarketData]:
        """Yield the market events of ``symbols`` as one stream, each event naming its symbol."""
        ...


@runtime_checkable
class HistorySource(Protocol):
    """A source with bar history (the live venue's public API under ``--paper``); recorded data has none."""

    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return bars, open time ascending (``NotImplementedError`` when the source keeps none)."""
        ...


class PaperExchange(BaseExchangeClient):
    """Simulated account over real (live or recorded) market data.

    Args:
        config: starting balances, fee overrides, slippage and queue modelling.
        clock: stamps orders and fills (the replay's simulated clock, or the live clock).
        source: market data and market metadata.
        markets: market metadata to use instead of ``source.load_markets()``.
        perp: swap markets' leverage, margin mode, liquidation fee and funding (default 1x cross, funding
            from ``config.funding_rate`` when set, else none).
    """

    name = "paper"

    def __init__(
        self,
        config: PaperConfig,
        clock: Clock,
        source: MarketDataSource,
        markets: Mapping[Symbol, Market] | None = None,
        perp: PerpSettings | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.source = source
        self._markets: dict[Symbol, Market] | None = None if markets is None else dict(markets)
        self.perp = perp or PerpSettings(funding_rate=config.funding_rate, liquidation_fee=config.liquidation_fee)
        self._account = MarginAccount(config.balances, leverage=1, margin_mode=self.perp.margin_mode,
                                      liquidation_fee=self.perp.liquidation_fee)  # fmt: skip
        self._engines: dict[Symbol, MatchingCore] = {}
        self._funding: dict[Symbol, FundingSchedule | None] = {}
        self._funding_paid: dict[str, list[FundingPayment]] = {}
        self._closed = False

    # ----------------------------------------------------------------- lifecycle and markets

    async def connect(self) -> None:
        """Connect the market-data source and load the markets."""
        await self.source.connect()
        await self.load_markets()
        log.info(
            "paper_exchange_connected",
            markets=len(self._markets or {}),
            balances={c: str(v) for c, v in self.config.balances.items()},
        )

    async def close(self) -> None:
        """Close the market-data source; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.source.close()

    async def load_markets(self) -> Mapping[Symbol, Market]:
        """Return the markets (from the constructor, else the source; loaded once)."""
        if self._markets is None:
            self._markets = dict(await self.source.load_markets())
        return self._markets

    def market(self, symbol: Symbol) -> Market:
        """Return one loaded market; raise ``ConfigError`` naming close symbols if unknown."""
        markets = self._markets or {}
        market = markets.get(symbol)
        if market is None:
            known = ", ".join(sorted(markets)) or "none loaded"
            raise ConfigError(f"unknown market {symbol!r}{did_you_mean(symbol, markets)}; known: {known}")
        return market

    def engine(self, symbol: Symbol) -> MatchingCore:
        """Return the matching core of ``symbol`` (created on first use, sharing the one account)."""
        engine = self._engines.get(symbol)
        if engine is None:
            market = self.market(symbol)
            cfg = self.config
            model = FillModel(
                maker_fee=market.maker_fee if cfg.maker_fee is None else cfg.maker_fee,
                taker_fee=market.taker_fee if cfg.taker_fee is None else cfg.taker_fee,
                slippage_bps=cfg.slippage_bps,
                latency_ms=cfg.latency_ms,
                queue_position=cfg.queue_position,
                partial_fills=cfg.partial_fills,
            )
            engine = MatchingCore(market, self.clock, model, self._account, self.emit)
            self._engines[symbol] = engine
            if market.contract:
                try:
                    self._account.set_leverage(symbol, self.perp.leverage)
                except OrderRejected as exc:
                    raise ConfigError(f"exchange.leverage {self.perp.leverage}: {exc}") from None
        return engine

    def perp_terms(self, symbol: Symbol) -> tuple[int, MarginMode]:
        """Return the configured leverage and margin mode (``PerpSettings``; every swap alike)."""
        return self.perp.leverage, self.perp.margin_mode

    async def configure_perp(self, symbol: Symbol, leverage: int, margin_mode: MarginMode) -> None:
        """Set the simulated account's leverage and margin mode of ``symbol`` (as a venue would).

        Raises:
            ConfigError: a leverage above the market's cap, or a margin mode change with a position open.
        """
        self.engine(symbol)
        try:
            self._account.set_leverage(symbol, leverage)
            self._account.set_margin_mode(symbol, margin_mode)
        except OrderRejected as exc:
            raise ConfigError(f"exchange.leverage/margin_mode: {exc}") from None

    async def fetch_positions(self, symbols: Sequence[Symbol]) -> list[PositionReport]:
        """Return the simulated account's non-flat swap positions in ``symbols`` (signed base units)."""
        account = self._account
        reports = []
        for symbol, position in sorted(account.positions().items()):
            if symbol not in symbols:
                continue
            mark = account.mark(symbol)
            reports.append(
                PositionReport(
                    symbol=symbol,
                    quantity=position.quantity,
                    entry_price=position.entry_price,
                    ts_ms=self.clock.now_ms(),
                    mark_price=mark,
                    unrealized_pnl=account.unrealized_pnl(symbol),
                    leverage=Decimal(account.leverage(symbol)),
                    margin_mode=account.margin_mode(symbol),
                    liquidation_price=account.liquidation_price(self.market(Symbol(symbol))),
                )
            )
        return reports

    async def fetch_funding_payments(self, symbol: Symbol, since_ms: int | None = None) -> list[FundingPayment]:
        """Return the funding payments the simulated account settled on ``symbol`` at or after ``since_ms``."""
        paid = self._funding_paid.get(symbol, [])
        return [p for p in paid if since_ms is None or p.ts_ms >= since_ms]

    def _swap_event(self, symbol: Symbol, md: MarketData) -> None:
        """A swap's event, before it is matched: mark, then the funding due by its time (module docstring)."""
        account = self._account
        mark = md.mark_price or (md.trade.price if md.trade is not None else md.mid)
        account.set_mark(symbol, mark)
        if symbol not in self._funding:
            self._funding[symbol] = self.perp.schedule(self.market(symbol), md.ts_ms)
        schedule = self._funding[symbol]
        if schedule is None:
            return
        next_ms = schedule.peek()
        if next_ms is None or next_ms > md.ts_ms:
            return
        market = self.market(symbol)
        for funding in schedule.due(md.ts_ms):
            payment = account.apply_funding(market, funding.rate, funding.ts_ms, f"funding-{funding.ts_ms}")
            if payment is not None:
                log.info("paper_funding", symbol=symbol, amount=str(payment.amount), rate=str(funding.rate))
                self._funding_paid.setdefault(symbol, []).append(payment)
                self.emit(payment)

    def _liquidate(self) -> None:
        """Liquidate what is below maintenance margin at the marks: orders expire first, then the event."""
        for liquidation in self._account.check_liquidations(self.clock.now_ms()):
            self._engines[Symbol(liquidation.symbol)].expire_all("position liquidated")
            log.warning("paper_liquidation", symbol=liquidation.symbol, quantity=str(liquidation.quantity),
                        price=str(liquidation.price), fee=str(liquidation.fee))  # fmt: skip
            self.emit(liquidation)

    def _matcher(self, symbol: Symbol) -> Callable[[MarketData], None]:
        """Return what each event of ``symbol`` goes through: the core, and around it a swap's account steps."""
        engine = self.engine(symbol)
        if not engine.market.contract:
            return engine.on_market_data
        on_market_data = engine.on_market_data
        account = self._account

        def swap(md: MarketData) -> None:
            self._swap_event(symbol, md)
            on_market_data(md)
            if account.positions():
                self._liquidate()

        return swap

    # ----------------------------------------------------------------- market data

    async def fetch_bbo(self, symbol: Symbol) -> MarketData:
        """Return the latest event matched for ``symbol``, else ask the source."""
        engine = self.engine(symbol)
        md = engine.last_market_data
        if md is None:
            md = await self.source.fetch_bbo(symbol)
            engine.set_quote(md)
        return md

    async def fetch_ohlcv(
        self, symbol: Symbol, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Return the source's bar history (``--paper`` on live data: the venue's), so strategies warm up.

        Raises:
            NotImplementedError: the source keeps no history (a replay: its own first bars warm up).
        """
        source = self.source
        if isinstance(source, HistorySource):
            return await source.fetch_ohlcv(symbol, timeframe, since_ms, limit)
        return await super().fetch_ohlcv(symbol, timeframe, since_ms, limit)

    async def stream_market_data(self, symbol: Symbol) -> AsyncIterator[MarketData]:
        """Yield the source's events, each matched against the resting orders before it is yielded."""
        on_market_data = self._matcher(symbol)
        async for md in self.source.stream_market_data(symbol):
            on_market_data(md)
            yield md

    def stream_markets(self, symbols: Sequence[Symbol]) -> AsyncIterator[MarketData]:
        """Yield several symbols' events as one stream, each matched in its symbol's engine before it is yielded.

        One symbol is ``stream_market_data(symbol)``. A source that merges itself (``MergingMarketDataSource``,
        e.g. ``exchanges.replay_multi.MultiReplayFeed``: exactly in event time on the simulated clock) is
        used as it merges; any other source is merged as its events arrive (the base class's default).
        """
        if len(symbols) == 1:
            return self.stream_market_data(symbols[0])
        if isinstance(self.source, MergingMarketDataSource):
            return self._stream_merged(self.source, symbols)
        return super().stream_markets(symbols)

    async def _stream_merged(
        self, source: MergingMarketDataSource, symbols: Sequence[Symbol]
    ) -> AsyncIterator[MarketData]:
        matchers = {s: self._matcher(s) for s in symbols}
        async for md in source.stream_markets(symbols):
            matchers[md.symbol](md)
            yield md

    async def run_user_stream(self) -> None:
        """Return at once: the simulator delivers every update inline."""

    # ----------------------------------------------------------------- orders

    async def place_order(
        self, symbol: Symbol, params: OrderParams, quantity: Decimal, client_order_id: ClientOrderId
    ) -> OrderStatusReport:
        """Submit one order to the simulator; fills it causes reach the sink before this returns.

        Raises:
            OrderRejected: a filter failed or the client id is in use (``InsufficientFunds``,
                ``PostOnlyWouldCross`` for those causes).
        """
        engine = self.engine(symbol)
        for other in self._engines.values():
            if other is not engine and any(o.client_order_id == client_order_id for o in other.open_orders()):
                raise OrderRejected(
                    f"{symbol} {params.side.value} {quantity}: duplicate client order id {client_order_id}"
                )
        if engine.last_market_data is None:
            await self.fetch_bbo(symbol)
        report = engine.submit(params, quantity, client_order_id)
        if log.enabled(logging.INFO):  # the fields cost more than the filtered-out call
            log.info(
                "paper_order_placed",
                symbol=symbol,
                client_order_id=client_order_id,
                side=params.side.value,
                order_type=params.order_type.value,
                quantity=str(quantity),
                price=str(params.price),
                status=report.status.value,
            )
        return report

    async def cancel_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport:
        """Cancel one open order by client id.

        Raises:
            OrderNotFound: the order is unknown or already closed.
        """
        report = self.engine(symbol).cancel(client_order_id)
        log.info("paper_order_canceled", symbol=symbol, client_order_id=client_order_id)
        return report

    async def fetch_order(self, symbol: Symbol, client_order_id: ClientOrderId) -> OrderStatusReport | None:
        """Look one order up by client id; ``None`` when the simulator never saw it."""
        return self.engine(symbol).order(client_order_id)

    async def fetch_open_orders(self, symbol: Symbol) -> list[OrderStatusReport]:
        """Return the account's open orders in ``symbol``."""
        return self.engine(symbol).open_orders()

    async def fetch_my_trades(self, symbol: Symbol, since_ms: int | None = None) -> list[Fill]:
        """Return the account's fills in ``symbol`` since ``since_ms`` (inclusive, epoch ms), oldest first."""
        return self.engine(symbol).fills_since(since_ms)

    async def fetch_balance(self) -> dict[str, Balance]:
        """Return the simulated account's balances by currency."""
        return self._account.balances()
