"""The bar simulator of several markets (exchanges.bar_venue.BarVenue) over the bundled BTC/USDT and BTC/USDC bars.

Rules guarded: the merged stream is in event time (ties in ``symbols`` order) and carries each market's own
stream unchanged; a scripted order sequence fills on each market exactly as on a single-market
``BarExchange`` run of the same file; the account is one (a buy on one market spends the quote another
market's order needs); the portfolio equity curve values quote currencies at par.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.backtest import BarExchange
from exchanges.bar_venue import BarData
from exchanges.bar_venue import BarVenue
from exchanges.base import BaseExchangeClient
from exchanges.recorded import load_bars
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain.fingerprint import trade_fingerprint
from trading_bot.errors import ConfigError
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected

D = Decimal
SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
USDT = Symbol("BTC/USDT")
USDC = Symbol("BTC/USDC")
FILES = {
    USDT: SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz",
    USDC: SAMPLE / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz",
}
BAR_MS = 60_000
FEE = D("0.001")
BALANCES = {"USDT": D(10_000_000), "USDC": D(10_000_000), "BTC": D(1_000)}
_BARS: dict[Symbol, list[Bar]] = {}


def bars(symbol: Symbol) -> list[Bar]:
    if symbol not in _BARS:
        _BARS[symbol] = load_bars([FILES[symbol]]).bars
    return _BARS[symbol]


def market(symbol: Symbol) -> Market:
    base, quote = symbol.split("/")
    return Market(symbol=symbol, base=base, quote=quote, price_increment=D("0.01"), amount_increment=D("0.00001"))


def single(symbol: Symbol, balances: dict[str, Decimal] | None = None) -> BarExchange:
    quote = market(symbol).quote
    return BarExchange(
        market=market(symbol), bars=bars(symbol), bar_ms=BAR_MS, clock=SimulatedClock(),
        balances=balances or {quote: BALANCES[quote], "BTC": BALANCES["BTC"]}, fee=FEE, slippage_bps=D(3),
    )  # fmt: skip


def venue(symbols: list[Symbol], balances: dict[str, Decimal] | None = None) -> BarVenue:
    data = [BarData(market=market(s), bars=bars(s), bar_ms=BAR_MS) for s in symbols]
    return BarVenue(data=data, clock=SimulatedClock(), balances=balances or BALANCES, fee=FEE, slippage_bps=D(3))


async def script(ex: BaseExchangeClient, md: MarketData, n: int, log: list[str]) -> None:
    """The orders a strategy sends on bar ``n`` of one market: every order type, a cancel, an IOC."""
    symbol = md.symbol
    m = market(symbol)
    close = md.last or md.ask
    tag = f"{m.quote}-{n}"
    orders: list[OrderParams] = []
    if n % 97 == 5:
        orders.append(OrderParams(side=OrderSide.BUY, quantity=D("0.01"), order_type=OrderType.MARKET))
    if n % 97 == 40:
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.01"), order_type=OrderType.MARKET))
    if n % 61 == 7:
        orders.append(OrderParams(side=OrderSide.BUY, quantity=D("0.02"), price=m.round_price(close * D("0.998"))))
    if n % 61 == 8:
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.02"), price=m.round_price(close * D("1.002"))))
    if n % 83 == 11:
        trigger = m.round_price(close * D("0.997"))
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.01"), order_type=OrderType.STOP_MARKET,
                                  trigger_price=trigger))  # fmt: skip
    if n % 45 == 20:
        orders.append(OrderParams(side=OrderSide.BUY, quantity=D("0.01"), price=m.round_price(close * D("0.9995")),
                                  time_in_force=TimeInForce.IOC))  # fmt: skip
    for k, params in enumerate(orders):
        assert params.quantity is not None
        try:
            await ex.place_order(symbol, params, params.quantity, ClientOrderId(f"{tag}-{k}"))
        except OrderRejected as exc:
            log.append(f"rejected {tag}-{k}: {type(exc).__name__}")
    if n % 61 == 30:
        try:
            await ex.cancel_order(symbol, ClientOrderId(f"{m.quote}-{n - 23}-0"))
            log.append(f"canceled {m.quote}-{n - 23}-0")
        except OrderNotFound:
            log.append(f"cancel missed {m.quote}-{n - 23}-0")


class Recorder:
    """Runs a stream with the script on every bar and records, per symbol, events, updates and notes."""

    def __init__(self, ex: BaseExchangeClient) -> None:
        self.ex = ex
        self.updates: list[Fill | OrderStatusReport] = []
        ex.attach(self.updates.append)
        self.events: list[MarketData] = []
        self.notes: dict[Symbol, list[str]] = {}

    def run(self, *symbols: Symbol) -> Recorder:
        """Stream ``symbols``: ``stream_markets`` of a venue, ``stream_market_data`` of a single-market run."""
        stream: AsyncIterator[MarketData]
        if isinstance(self.ex, BarVenue):
            stream = self.ex.stream_markets(list(symbols))
        else:
            (symbol,) = symbols
            stream = self.ex.stream_market_data(symbol)

        async def go() -> None:
            count: dict[Symbol, int] = {}
            async for md in stream:
                self.events.append(md)
                n = count.get(md.symbol, 0)
                count[md.symbol] = n + 1
                await script(self.ex, md, n, self.notes.setdefault(md.symbol, []))

        asyncio.run(go())
        return self

    def fills(self, symbol: Symbol) -> list[tuple[object, ...]]:
        return [(f.client_order_id, f.side, f.quantity, f.price, f.fee, f.ts_ms, f.liquidity)
                for f in self.updates if isinstance(f, Fill) and f.symbol == symbol]  # fmt: skip

    def reports(self, symbol: Symbol) -> list[tuple[object, ...]]:
        return [(r.client_order_id, r.status, r.ts_ms)
                for r in self.updates if isinstance(r, OrderStatusReport) and r.symbol == symbol]  # fmt: skip


def test_two_market_stream_is_in_event_time_and_each_market_is_its_single_stream() -> None:
    two = Recorder(venue([USDT, USDC])).run(USDT, USDC)
    stamps = [md.ts_ms for md in two.events]
    assert stamps == sorted(stamps)
    assert [md.symbol for md in two.events[:4]] == [USDT, USDC, USDT, USDC]  # equal close times: symbols order
    for symbol in (USDT, USDC):
        alone = Recorder(single(symbol)).run(symbol)
        assert [md for md in two.events if md.symbol == symbol] == alone.events


def test_scripted_orders_fill_on_each_market_exactly_as_a_single_market_run() -> None:
    """Every fill (price, quantity, fee, time, liquidity) and expiry equals the one-market BarExchange run's."""
    ex = venue([USDT, USDC])
    two = Recorder(ex).run(USDT, USDC)
    for symbol in (USDT, USDC):
        alone_ex = single(symbol)
        alone = Recorder(alone_ex).run(symbol)
        assert len(alone.fills(symbol)) > 100  # the script trades every order type
        assert two.fills(symbol) == alone.fills(symbol)
        assert two.reports(symbol) == alone.reports(symbol)
        assert two.notes[symbol] == alone.notes[symbol]
        assert trade_fingerprint(ex.market_sim(symbol).fills) == trade_fingerprint(alone_ex.fills)
        assert ex.market_sim(symbol).equity_curve(lambda t, v: (t, v)) == alone_ex.equity_curve(lambda t, v: (t, v))
    assert len(ex.fills) == len(two.fills(USDT)) + len(two.fills(USDC))


def test_portfolio_equity_counts_quote_currencies_at_par_and_each_base_at_its_market_close() -> None:
    """Portfolio = BTC/USDT run's equity + BTC/USDC run's equity − the one starting BTC counted twice (at USDC)."""
    ex = venue([USDT, USDC])
    Recorder(ex).run(USDT, USDC)
    runs = {}
    for symbol in (USDT, USDC):
        alone = single(symbol)
        Recorder(alone).run(symbol)
        runs[symbol] = dict(alone.equity_curve(lambda t, v: (t, v)))
    usdc_close = {b.ts_ms + BAR_MS: b.close for b in bars(USDC)}
    curve = ex.equity_curve(lambda t, v: (t, v))
    assert len(curve) == len(bars(USDT))  # one point per close time, not one per market
    for ts, value in curve:
        assert value == runs[USDT][ts] + runs[USDC][ts] - BALANCES["BTC"] * usdc_close[ts]


def test_one_account_a_buy_on_one_market_spends_the_quote_another_market_needs(tmp_path: Path) -> None:
    """BTC/USDT and ETH/USDT share USDT: a locked BTC buy leaves too little for ETH; BTC/USDC's USDC is untouched."""
    eth = Symbol("ETH/USDT")
    eth_file = tmp_path / "test_ETHUSDT_1m.csv"
    eth_file.write_text(
        "timestamp,open,high,low,close,volume\n"
        + "".join(f"{b.ts_ms},1500,1510,1490,1500,1\n" for b in bars(USDT)[:10]),
        encoding="utf-8",
    )
    data = [BarData(market=market(s), bars=(bars(s) if s != eth else load_bars([eth_file]).bars)[:10], bar_ms=BAR_MS)
            for s in (USDT, eth, USDC)]  # fmt: skip
    ex = BarVenue(data=data, clock=SimulatedClock(), balances={"USDT": D(1_000), "USDC": D(1_000)}, fee=D(0))
    outcome: list[str] = []

    async def go() -> None:
        async for md in ex.stream_markets([USDT, eth, USDC]):
            if md.symbol == USDT and md.bar is not None and md.bar.ts_ms == bars(USDT)[0].ts_ms:
                buy = OrderParams(side=OrderSide.BUY, quantity=D("0.04"), price=D(20_000))
                await ex.place_order(USDT, buy, D("0.04"), ClientOrderId("btc"))  # locks 800 USDT
                try:
                    eth_buy = OrderParams(side=OrderSide.BUY, quantity=D("0.2"), price=D(1_400))
                    await ex.place_order(eth, eth_buy, D("0.2"), ClientOrderId("eth"))  # needs 280 USDT
                except InsufficientFunds as exc:
                    outcome.append(str(exc))
                usdc_buy = OrderParams(side=OrderSide.BUY, quantity=D("0.04"), price=D(20_000))
                await ex.place_order(USDC, usdc_buy, D("0.04"), ClientOrderId("usdc"))  # its own 1000 USDC
                break

    asyncio.run(go())
    assert len(outcome) == 1
    assert "needs 280" in outcome[0]
    assert "free 200" in outcome[0]
    balances = asyncio.run(ex.fetch_balance())
    assert balances["USDT"].free == D(200)
    assert balances["USDT"].locked == D(800)
    assert balances["USDC"].free == D(200)


def test_a_client_id_open_on_one_market_is_refused_on_another() -> None:
    ex = venue([USDT, USDC])
    params = OrderParams(side=OrderSide.BUY, quantity=D("0.01"), price=D(10_000))

    async def go() -> None:
        await ex.place_order(USDT, params, D("0.01"), ClientOrderId("same"))
        with pytest.raises(OrderRejected, match="duplicate client order id"):
            await ex.place_order(USDC, params, D("0.01"), ClientOrderId("same"))

    asyncio.run(go())


def test_one_market_venue_fills_as_the_single_market_bar_exchange() -> None:
    ex = venue([USDT], balances={"USDT": BALANCES["USDT"], "BTC": BALANCES["BTC"]})
    one = Recorder(ex).run(USDT)
    alone_ex = single(USDT)
    alone = Recorder(alone_ex).run(USDT)
    assert one.fills(USDT) == alone.fills(USDT)
    assert one.reports(USDT) == alone.reports(USDT)
    assert ex.equity_curve(lambda t, v: (t, v)) == alone_ex.equity_curve(lambda t, v: (t, v))


def test_unknown_or_repeated_symbols_are_one_line_config_errors() -> None:
    ex = venue([USDT, USDC])
    with pytest.raises(ConfigError, match=r"not BTC/USD \(did you mean"):
        ex.market(Symbol("BTC/USD"))
    with pytest.raises(ConfigError, match="given twice"):
        venue([USDT, USDT])

    async def go() -> None:
        async for _ in ex.stream_markets([USDT, USDT]):
            pass

    with pytest.raises(ConfigError, match="names a symbol twice"):
        asyncio.run(go())


def test_mid_bar_orders_wait_for_the_next_bar_and_a_cancel_before_the_fill_time_wins() -> None:
    """Markets of different intervals: an order sent while the other market's bar is under way never fills on
    that bar; a fill decided at the bar's open but cancelled before its path time does not happen."""
    fast, slow = Symbol("ETH/USDT"), Symbol("BTC/USDT")
    minute = 60_000

    def flat(i: int, ms: int, o: str, h: str, low: str, c: str) -> Bar:
        return Bar(ts_ms=i * ms, open=D(o), high=D(h), low=D(low), close=D(c))

    fast_bars = [flat(i, minute, "10", "10", "10", "10") for i in range(9)]
    # slow bars (3 min): the low (path point 2, at open + 2 min) reaches 90 on each bar
    slow_bars = [flat(i, 3 * minute, "100", "101", "90", "100") for i in range(3)]
    ex = BarVenue(
        data=[BarData(market(fast), fast_bars, minute), BarData(market(slow), slow_bars, 3 * minute)],
        clock=SimulatedClock(), balances={"USDT": D(10_000)}, fee=D(0),
    )  # fmt: skip
    fills: list[Fill] = []
    ex.attach(lambda u: fills.append(u) if isinstance(u, Fill) else None)
    limit = OrderParams(side=OrderSide.BUY, quantity=D(1), price=D(95))

    async def go() -> None:
        async for md in ex.stream_markets([fast, slow]):
            if md.symbol == fast and md.ts_ms == minute:  # slow bar 0 [0, 3 min) is under way
                await ex.place_order(slow, limit, D(1), ClientOrderId("mid-bar"))
            if md.symbol == slow and md.ts_ms == 3 * minute:  # slow bar 1 opens next: its low at 5 min
                await ex.place_order(slow, limit, D(1), ClientOrderId("cancelled"))
            if md.symbol == fast and md.ts_ms == 4 * minute:  # after bar 1 opened, before its low
                await ex.cancel_order(slow, ClientOrderId("cancelled"))

    asyncio.run(go())
    # "mid-bar" skips bar 0 (low at 2 min) and fills on bar 1's low at 3 + 2 = 5 min; "cancelled" never fills
    assert [(f.client_order_id, f.price, f.ts_ms) for f in fills] == [("mid-bar", D(95), 5 * minute)]
