"""The emulator's USDⓈ-M futures venue: markets, account, funding schedule, streams and routes, in one object.

``BinanceEmulator`` builds one when ``EmulatorConfig.futures`` is set and mounts its routes beside spot's
(``/fapi/...``, ``/fstream/...``, ``/_control/futures/...``). Moving the mark (``set_mark``) moves the book
one tick either side of it, matches resting and stop orders against the new touch and checks
liquidations; funding settles on the schedule (every ``funding_interval_ms``, at the multiples of the
interval since the epoch) or on demand (``settle_funding``), at each market's current rate on its mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from aiohttp import web

from trading_bot.emulator.events import depth_event
from trading_bot.emulator.events import mini_ticker_event
from trading_bot.emulator.events import ticker_event
from trading_bot.emulator.faults import FaultState
from trading_bot.emulator.futures.config import FuturesConfig
from trading_bot.emulator.futures.engine import FuturesEngine
from trading_bot.emulator.futures.market import FundingPrint
from trading_bot.emulator.futures.market import PerpMarket
from trading_bot.emulator.futures.market import load_perp_markets
from trading_bot.emulator.futures.market import num
from trading_bot.emulator.futures.rest import FuturesRest
from trading_bot.emulator.futures.streams import FuturesStreams
from trading_bot.emulator.futures.streams import book_ticker_event
from trading_bot.emulator.futures.streams import mark_price_event
from trading_bot.emulator.futures.streams import trade_events
from trading_bot.emulator.klines import BarStore
from trading_bot.emulator.market import PublicTrade
from trading_bot.emulator.price import RandomWalk
from trading_bot.log import get_logger

__all__ = ["FuturesVenue"]

_log = get_logger(__name__)
_DEFAULT_INTERVAL_MS = 28_800_000


class FuturesVenue:
    """One USDⓈ-M account and its markets, served beside the spot emulator.

    Args:
        config: Markets, balances, leverage, margin mode, funding.
        now_ms: The server clock (faults' skew included), epoch ms.
        api_key: Accepted API key (the spot one).
        api_secret: Its HMAC secret.
        faults: The server's fault state (latency, 5xx, 429 and skew apply to ``/fapi`` in the middleware;
            accept-then-timeout to order POSTs here).
        stopping: Set when the server stops.
    """

    def __init__(
        self,
        config: FuturesConfig,
        now_ms: Callable[[], int],
        api_key: str,
        api_secret: str,
        faults: FaultState,
        stopping: asyncio.Event,
    ) -> None:
        self.config = config
        self.now_ms = now_ms
        now = now_ms()
        interval = config.funding_interval_ms or _DEFAULT_INTERVAL_MS
        self.markets = load_perp_markets(config.symbols, dict(config.start_prices), config.funding_rate,
                                         _next_time(now, interval))  # fmt: skip
        for m in self.markets.values():
            m.next_funding_ms = _next_time(now, self.interval_ms(m))
        self.bars = {i: BarStore(60_000, live=True) for i in self.markets}
        self.streams = FuturesStreams()
        self.engine = FuturesEngine(self.markets, config, now_ms, self)
        self.rest = FuturesRest(self.markets, self.bars, self.engine, self.streams, now_ms, api_key, api_secret,
                                faults, stopping)  # fmt: skip
        for m in self.markets.values():
            self._publish_book(m)

    def interval_ms(self, market: PerpMarket) -> int:
        """Return the funding interval of ``market`` in ms (the config's knob, else the market's 8 h)."""
        return self.config.funding_interval_ms or market.rules.funding_interval_ms or _DEFAULT_INTERVAL_MS

    def routes(self) -> list[web.RouteDef]:
        """Return the REST and WebSocket routes (the control routes are ``futures.control``'s)."""
        return [*self.rest.routes(), web.get("/fstream/{tail:.*}", self.streams.handle)]

    def market(self, symbol: str) -> PerpMarket:
        """Return the market of a unified (``BTC/USDT:USDT``) or Binance (``BTCUSDT``) symbol.

        Raises:
            KeyError: an unknown symbol, naming the served ones.
        """
        key = symbol.split(":", 1)[0].replace("/", "").upper()
        if key not in self.markets:
            raise KeyError(f"unknown futures symbol {symbol!r}; served: {sorted(self.markets)}")
        return self.markets[key]

    # -- the funding schedule --------------------------------------------------------------------------

    async def run_funding(self) -> None:
        """Settle every market's funding at its scheduled times until cancelled."""
        while True:
            due = min(m.next_funding_ms for m in self.markets.values())
            await asyncio.sleep(max(0.0, (due - self.now_ms()) / 1000))
            now = self.now_ms()
            for m in self.markets.values():
                while m.next_funding_ms <= now:
                    self._settle(m, m.next_funding_ms)
                    m.next_funding_ms += self.interval_ms(m)

    async def run_mark_stream(self) -> None:
        """Push ``markPriceUpdate`` every second (``@markPrice@1s``) and every 3 s (``@markPrice``) until cancelled.

        Binance streams the mark on that cadence whether or not it moved; a mark change also pushes at once.
        """
        tick = 0
        while True:
            await asyncio.sleep(1.0)
            tick += 1
            for m in self.markets.values():
                key = m.market_id.lower()
                if self.streams.wants(f"{key}@markprice@1s"):
                    self.streams.publish(f"{key}@markprice@1s", mark_price_event(m, self.now_ms()))
                if tick % 3 == 0 and self.streams.wants(f"{key}@markprice"):
                    self.streams.publish(f"{key}@markprice", mark_price_event(m, self.now_ms()))

    async def run_walk(self, seed: int, interval_s: float) -> None:
        """Move every mark one seeded random-walk step each ``interval_s`` seconds, with a print half the time.

        The book follows the mark (one tick either side); a print is at the touch on the walk's taker side.
        """
        walks = {i: RandomWalk(seed + 1_000 + n, m.rules.price_increment, m.rules.amount_increment)
                 for n, (i, m) in enumerate(self.markets.items())}  # fmt: skip
        while True:
            await asyncio.sleep(interval_s)
            for market_id, m in self.markets.items():
                quote, trade = walks[market_id].next(m.mark, self.now_ms())
                self.set_mark(m.rules.symbol, quote.ask)
                if trade is not None:
                    price = m.state.ask if trade.taker_buy else m.state.bid
                    self.trade(m.rules.symbol, price, trade.qty, "buy" if trade.taker_buy else "sell")

    def settle_funding(self, symbol: str | None = None) -> list[dict[str, object]]:
        """Settle funding now (one market, or all) at the current rate; return the income rows paid."""
        markets = list(self.markets.values()) if symbol is None else [self.market(symbol)]
        now = self.now_ms()
        rows = [self._settle(m, now) for m in markets]
        return [r for r in rows if r is not None]

    def _settle(self, market: PerpMarket, ts_ms: int) -> dict[str, object] | None:
        market.history.append(FundingPrint(ts_ms, market.funding_rate, market.mark))
        row = self.engine.settle_funding(market, market.funding_rate, ts_ms)
        self.engine.check_liquidations()
        return None if row is None else row.rest()

    # -- control ---------------------------------------------------------------------------------------

    def set_mark(self, symbol: str, mark: Decimal, *, move_book: bool = True) -> list[str]:
        """Set the mark of ``symbol``; with ``move_book`` put the book one tick either side and match it.

        Returns the market ids liquidated at the new mark.

        Raises:
            KeyError: unknown symbol. ValueError: a mark not above 0.
        """
        market = self.market(symbol)
        if not mark.is_finite() or mark <= 0:
            raise ValueError(f"bad mark price {mark} for {symbol}: expected a price above 0")
        if move_book:
            bid, ask = market.book_around(mark)
            market.state.set_quote(bid, ask, market.state.bid_qty, market.state.ask_qty)
            self.bars[market.market_id].record(self.now_ms(), mark, Decimal(0), False)
            self.engine.match_quote(market)
            self._publish_book(market)
        liquidated = self.engine.set_mark(market, mark)
        self._publish_mark(market)
        return liquidated

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, bid_qty: Decimal, ask_qty: Decimal) -> None:
        """Move the external best bid/ask of ``symbol`` (the mark is unchanged) and match crossed orders.

        Raises:
            KeyError: unknown symbol. ValueError: a crossed or non-positive quote.
        """
        market = self.market(symbol)
        market.state.set_quote(bid, ask, bid_qty, ask_qty)
        self.engine.match_quote(market)
        self._publish_book(market)

    def trade(self, symbol: str, price: Decimal, qty: Decimal, taker_side: str) -> None:
        """Print a public trade and fill resting orders at or through its price.

        Raises:
            KeyError: unknown symbol. ValueError: a bad side, price or quantity.
        """
        market = self.market(symbol)
        side = taker_side.lower()
        if side not in ("buy", "sell") or price <= 0 or qty <= 0:
            raise ValueError(f"bad trade: side={taker_side!r} price={price} qty={qty}")
        printed = market.state.print_trade(price, qty, buyer_maker=side == "sell", time_ms=self.now_ms())
        self.public_trade(market, printed)
        self.engine.match_trade(market, price, qty, taker_buy=side == "buy")

    def set_funding_rate(self, symbol: str, rate: Decimal) -> None:
        """Set the rate the next settlements of ``symbol`` use (fraction per interval; > 0: longs pay)."""
        market = self.market(symbol)
        market.funding_rate = rate
        self._publish_mark(market)

    def set_hedge_mode(self, hedge: bool) -> dict[str, object]:
        """Set the position mode as ``POST /fapi/v1/positionSide/dual`` does (same refusals)."""
        if hedge is not self.engine.hedge_mode:
            self.engine.set_position_mode(hedge)
        return {"dualSidePosition": self.engine.hedge_mode}

    def positions(self) -> list[dict[str, object]]:
        """Return every market's position as the margin account holds it (control view, strings)."""
        account = self.engine.account
        out: list[dict[str, object]] = []
        for m in self.markets.values():
            p = account.position(m.rules.symbol)
            liquidation = account.liquidation_price(m.rules)
            out.append({"symbol": m.rules.symbol, "id": m.market_id, "quantity": num(p.quantity),
                        "entry_price": num(p.entry_price), "mark": num(m.mark),
                        "unrealized_pnl": num(account.unrealized_pnl(m.rules.symbol)),
                        "realized_pnl": num(p.realized_pnl), "leverage": account.leverage(m.rules.symbol),
                        "margin_mode": account.margin_mode(m.rules.symbol).value,
                        "liquidation_price": None if liquidation is None else num(liquidation),
                        "funding_rate": num(m.funding_rate), "next_funding_ms": m.next_funding_ms})  # fmt: skip
        return out

    def state(self) -> dict[str, object]:
        """Return the positions, the wallet per asset and the position mode (control view)."""
        account = self.engine.account
        assets = sorted({m.rules.settle_currency for m in self.markets.values()})
        return {"positions": self.positions(), "hedge_mode": self.engine.hedge_mode,
                "wallet": {a: num(account.wallet_balance(a)) for a in assets},
                "available": {a: num(max(Decimal(0), account.free(a))) for a in assets}}  # fmt: skip

    def set_balance(self, asset: str, wallet: Decimal) -> None:
        """Set the wallet balance of ``asset`` (a deposit or withdrawal)."""
        self.engine.set_balance(asset, wallet)

    # -- the engine's listener -------------------------------------------------------------------------

    def user_event(self, event: dict[str, object]) -> None:
        """Forward a user-stream event to the listen-key sockets."""
        self.streams.publish_user(event)

    def book_changed(self, market: PerpMarket) -> None:
        """Publish the visible book of ``market``."""
        self._publish_book(market)

    def public_trade(self, market: PerpMarket, trade: PublicTrade) -> None:
        """Publish a print (trade, aggTrade) and fold it into the candles."""
        now = self.now_ms()
        key = market.market_id.lower()
        trade_event, agg_event = trade_events(market, trade, now)
        self.streams.publish(f"{key}@trade", trade_event)
        self.streams.publish(f"{key}@aggtrade", agg_event)
        self.bars[market.market_id].record(now, trade.price, trade.qty, taker_buy=not trade.buyer_maker)
        self._publish_tickers(market)

    def _publish_book(self, market: PerpMarket) -> None:
        change = market.state.refresh(*self.engine.own_levels(market.market_id))
        if change is None:
            return
        now = self.now_ms()
        key = market.market_id.lower()
        event = {**depth_event(market.state, change, now), "T": now, "pu": change.first_id - 1}
        self.streams.publish(f"{key}@depth", event)
        if change.top_changed:
            self.streams.publish(f"{key}@bookticker", book_ticker_event(market, now))
            self._publish_tickers(market)

    def _publish_tickers(self, market: PerpMarket) -> None:
        now = self.now_ms()
        key = market.market_id.lower()
        if self.streams.wants(f"{key}@ticker"):
            self.streams.publish(f"{key}@ticker", ticker_event(market.state, now))
        if self.streams.wants(f"{key}@miniticker"):
            self.streams.publish(f"{key}@miniticker", mini_ticker_event(market.state, now))

    def _publish_mark(self, market: PerpMarket) -> None:
        event = mark_price_event(market, self.now_ms())
        key = market.market_id.lower()
        self.streams.publish(f"{key}@markprice", event)
        self.streams.publish(f"{key}@markprice@1s", event)


def _next_time(now_ms: int, interval_ms: int) -> int:
    """Return the first multiple of ``interval_ms`` after ``now_ms`` (epoch ms)."""
    return (now_ms // interval_ms + 1) * interval_ms
