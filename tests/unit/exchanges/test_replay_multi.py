"""A paper replay of several symbols (exchanges.replay_multi.MultiReplayFeed under exchanges.paper.PaperExchange).

Rules guarded: ``PaperExchange.stream_markets`` merges the symbols' events exactly in event time (ties in
``symbols`` order, then each feed's own order) with the one simulated clock at each event's time when it is
matched and yielded; each symbol's events are its single-symbol stream; scripted orders fill per symbol as
in a single-symbol replay; the account is one; a bad line mid-file still raises its ``DataError``.
"""

from __future__ import annotations

import functools
import gzip
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.bar_venue import BarVenue
from exchanges.base import OrderUpdate
from exchanges.config import ExchangeConfig
from exchanges.config import PaperConfig
from exchanges.factories import replay_paper_exchange
from exchanges.paper import PaperExchange
from exchanges.replay import ReplayFeed
from exchanges.replay_multi import MultiReplayFeed
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import OrderRejected

D = Decimal
SAMPLE = Path(__file__).resolve().parents[3] / "trading_bot" / "sample_data"
USDT = Symbol("BTC/USDT")
USDC = Symbol("BTC/USDC")
BAR_FILES = {
    USDT: SAMPLE / "binanceus_BTCUSDT_1m_2023-03-10_13.csv.gz",
    USDC: SAMPLE / "binanceus_BTCUSDC_1m_2023-03-10_13.csv.gz",
}
START_MS = 1_678_406_400_000  # 2023-03-10T00:00Z, the first bar
END_MS = START_MS + 86_400_000  # one day: 1,440 bars, 5,760 quotes per symbol
_CENT = D("0.01")


@functools.cache
def quotes_file(symbol: Symbol) -> Path:
    """The first day of ``symbol``'s bundled 1m bars as quotes: at each bar's open, nearer extreme, farther
    extreme and close (0, 20, 40, 60 s), bid and ask one cent either side. Real prices in the tick feed's format
    (bar files replay through the bar simulator, not this feed)."""
    out = Path(tempfile.mkdtemp(prefix="replay_multi_")) / f"binanceus_{symbol.replace('/', '')}_quotes.csv"
    rows = ["timestamp,bid_price,bid_size,ask_price,ask_size"]
    with gzip.open(BAR_FILES[symbol], "rt", encoding="utf-8") as src:
        next(src)
        for line in src:
            ts_text, o, h, low, c = line.split(",")[:5]
            ts, bar = int(ts_text), [D(o), D(h), D(low), D(c)]
            if ts > END_MS:
                break
            high_first = bar[1] - bar[0] < bar[0] - bar[2] or (bar[1] - bar[0] == bar[0] - bar[2] and bar[3] < bar[0])
            path = [bar[0], *((bar[1], bar[2]) if high_first else (bar[2], bar[1])), bar[3]]
            rows += [f"{ts + k * 20_000},{p - _CENT},1,{p + _CENT},1" for k, p in enumerate(path)]
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out
BALANCES = {"USDT": D(10_000_000), "USDC": D(10_000_000), "BTC": D(1_000)}


def feed(symbol: Symbol, clock: SimulatedClock, path: Path | None = None) -> ReplayFeed:
    return ReplayFeed([path or quotes_file(symbol)], symbol, clock, end_ms=END_MS)


def paper(symbols: list[Symbol], balances: dict[str, Decimal]) -> PaperExchange:
    clock = SimulatedClock()
    feeds = [feed(s, clock) for s in symbols]
    source = feeds[0] if len(feeds) == 1 else MultiReplayFeed(feeds)
    return PaperExchange(PaperConfig(balances=balances), clock, source)


async def script(ex: PaperExchange, md: MarketData, n: int, notes: list[str]) -> None:
    """The orders sent on event ``n`` of one symbol: market, resting limits both sides, a stop, a cancel."""
    symbol = md.symbol
    m = ex.market(symbol)
    quote = m.quote
    orders: list[OrderParams] = []
    if n % 500 == 3:
        orders.append(OrderParams(side=OrderSide.BUY, quantity=D("0.01"), order_type=OrderType.MARKET))
    if n % 500 == 250:
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.01"), order_type=OrderType.MARKET))
    if n % 300 == 17:
        orders.append(OrderParams(side=OrderSide.BUY, quantity=D("0.02"), price=m.round_price(md.bid * D("0.999"))))
    if n % 300 == 40:
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.02"), price=m.round_price(md.ask * D("1.001"))))
    if n % 700 == 90:
        trigger = m.round_price(md.bid * D("0.998"))
        orders.append(OrderParams(side=OrderSide.SELL, quantity=D("0.01"), order_type=OrderType.STOP_MARKET,
                                  trigger_price=trigger))  # fmt: skip
    for k, params in enumerate(orders):
        assert params.quantity is not None
        try:
            await ex.place_order(symbol, params, params.quantity, ClientOrderId(f"{quote}-{n}-{k}"))
        except OrderRejected as exc:
            notes.append(f"rejected {quote}-{n}-{k}: {type(exc).__name__}")
    if n % 300 == 167:
        try:
            await ex.cancel_order(symbol, ClientOrderId(f"{quote}-{n - 150}-0"))
            notes.append(f"canceled {quote}-{n - 150}-0")
        except OrderNotFound:
            notes.append(f"cancel missed {quote}-{n - 150}-0")


class Run:
    """One replay with the script on every event; records events, the clock at each, updates and notes."""

    def __init__(self, symbols: list[Symbol], balances: dict[str, Decimal] | None = None) -> None:
        if balances is None:
            quote = symbols[0].split("/")[1]
            balances = BALANCES if len(symbols) > 1 else {quote: BALANCES[quote], "BTC": BALANCES["BTC"]}
        self.ex = paper(symbols, balances)
        self.symbols = symbols
        self.updates: list[OrderUpdate] = []
        self.ex.attach(self.updates.append)
        self.events: list[MarketData] = []
        self.clock_at: list[int] = []
        self.notes: dict[Symbol, list[str]] = {}

    async def run(self) -> Run:
        await self.ex.connect()
        count: dict[Symbol, int] = {}
        async for md in self.ex.stream_markets(self.symbols):
            self.events.append(md)
            self.clock_at.append(self.ex.clock.now_ms())
            n = count.get(md.symbol, 0)
            count[md.symbol] = n + 1
            await script(self.ex, md, n, self.notes.setdefault(md.symbol, []))
        return self

    def fills(self, symbol: Symbol) -> list[tuple[object, ...]]:
        return [(f.client_order_id, f.side, f.quantity, f.price, f.fee, f.ts_ms, f.liquidity)
                for f in self.updates if isinstance(f, Fill) and f.symbol == symbol]  # fmt: skip

    def reports(self, symbol: Symbol) -> list[tuple[object, ...]]:
        return [(r.client_order_id, r.status, r.ts_ms)
                for r in self.updates if isinstance(r, OrderStatusReport) and r.symbol == symbol]  # fmt: skip


@pytest.mark.asyncio
async def test_two_symbol_replay_is_in_event_time_on_the_one_clock_and_each_symbol_is_its_single_stream() -> None:
    two = await Run([USDT, USDC]).run()
    stamps = [md.ts_ms for md in two.events]
    assert stamps == sorted(stamps)
    assert two.clock_at == stamps  # the clock stands at each event's time when it is yielded
    # equal times: symbols order, then the feed's own (bar 0's close quote and bar 1's open quote share a time)
    assert [md.symbol for md in two.events[:10]] == [USDT, USDC] * 3 + [USDT, USDT, USDC, USDC]
    for symbol in (USDT, USDC):
        alone = await Run([symbol]).run()
        assert [md for md in two.events if md.symbol == symbol] == alone.events


@pytest.mark.asyncio
async def test_scripted_orders_fill_per_symbol_as_in_a_single_symbol_replay() -> None:
    two = await Run([USDT, USDC]).run()
    for symbol in (USDT, USDC):
        alone = await Run([symbol]).run()
        assert len(alone.fills(symbol)) > 20
        assert two.fills(symbol) == alone.fills(symbol)
        assert two.reports(symbol) == alone.reports(symbol)
        assert two.notes[symbol] == alone.notes[symbol]


@pytest.mark.asyncio
async def test_one_account_a_buy_on_one_symbol_spends_the_quote_another_symbol_needs(tmp_path: Path) -> None:
    """BTC/USDT and ETH/USDT replayed together share USDT; BTC/USDC's USDC stays its own."""
    eth = Symbol("ETH/USDT")
    eth_file = tmp_path / "test_ETHUSDT_quotes.csv"
    eth_file.write_text("timestamp,bid_price,bid_size,ask_price,ask_size\n"
                        f"{START_MS},1500.00,1,1500.10,1\n{START_MS + 60_000},1501.00,1,1501.10,1\n")  # fmt: skip
    clock = SimulatedClock()
    source = MultiReplayFeed([feed(USDT, clock), ReplayFeed([eth_file], eth, clock), feed(USDC, clock)])
    ex = PaperExchange(PaperConfig(balances={"USDT": D(1_000), "USDC": D(1_000)}, taker_fee=D(0), maker_fee=D(0)),
                       clock, source)  # fmt: skip
    await ex.connect()
    stream = ex.stream_markets([USDT, eth, USDC])
    await anext(stream)
    buy = OrderParams(side=OrderSide.BUY, quantity=D("0.04"), price=D(19_000))  # rests: the ask is ~20,360
    await ex.place_order(USDT, buy, D("0.04"), ClientOrderId("btc"))  # locks 760 USDT
    with pytest.raises(InsufficientFunds, match="needs 280"):
        await ex.place_order(eth, OrderParams(side=OrderSide.BUY, price=D(1_400)), D("0.2"), ClientOrderId("eth"))
    await ex.place_order(USDC, buy, D("0.04"), ClientOrderId("usdc"))
    balances = await ex.fetch_balance()
    assert balances["USDT"].free == D(240)
    assert balances["USDC"].free == D(240)


@pytest.mark.asyncio
async def test_a_bad_line_mid_file_raises_data_error_naming_file_and_line(tmp_path: Path) -> None:
    lines = quotes_file(USDC).read_text(encoding="utf-8").splitlines()
    lines[101] = lines[101].replace(",", ",x", 1)  # line 102 of the file: a price that is not a number
    broken = tmp_path / "binanceus_BTCUSDC_1m_broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    clock = SimulatedClock()
    ex = PaperExchange(PaperConfig(balances=BALANCES), clock,
                       MultiReplayFeed([feed(USDT, clock), feed(USDC, clock, broken)]))  # fmt: skip
    await ex.connect()
    seen: list[MarketData] = []

    async def drain() -> None:
        async for md in ex.stream_markets([USDT, USDC]):
            seen.append(md)

    with pytest.raises(DataError, match=rf"{broken.name}:102: not a valid number"):
        await drain()
    assert len(seen) >= 200  # the merge ran up to the bad line: the 100 quotes of each symbol before it


@pytest.mark.asyncio
async def test_feeds_of_one_symbol_twice_or_an_unknown_symbol_are_config_errors() -> None:
    clock = SimulatedClock()
    with pytest.raises(ConfigError, match="BTC/USDT has two feeds"):
        MultiReplayFeed([feed(USDT, clock), feed(USDT, clock)])
    source = MultiReplayFeed([feed(USDT, clock), feed(USDC, clock)])
    with pytest.raises(ConfigError, match=r"not BTC/USD \(did you mean"):
        source.feed(Symbol("BTC/USD"))


@pytest.mark.asyncio
async def test_the_replay_factory_builds_one_bar_venue_over_several_symbols_bar_files() -> None:
    """replay_paper_exchange: bar files replay through the bar simulator (the backtest's), several symbols on one
    account, their closes merged in event time; a file naming another symbol is refused."""
    config = ExchangeConfig(name="binance", paper=PaperConfig(balances=BALANCES))
    one = replay_paper_exchange(config, SimulatedClock(), {USDT: [BAR_FILES[USDT]]})
    assert isinstance(one, BarVenue)
    clock = SimulatedClock()
    two = replay_paper_exchange(config, clock, {USDT: [BAR_FILES[USDT]], USDC: [BAR_FILES[USDC]]})
    assert isinstance(two, BarVenue)
    await two.connect()
    assert {USDT, USDC} == set(await two.load_markets())
    stream = two.stream_markets([USDT, USDC])
    first = [await anext(stream) for _ in range(3)]
    assert [md.symbol for md in first] == [USDT, USDC, USDT]
    assert first[0].ts_ms == first[1].ts_ms < first[2].ts_ms
    assert all(md.bar is not None for md in first)
    assert clock.now_ms() == first[2].ts_ms
    with pytest.raises(ConfigError, match="BTC/USDC"):
        replay_paper_exchange(config, SimulatedClock(), {USDT: [BAR_FILES[USDC]]})
