"""Instruments in the runtime: the Book's account value, the strategy context's views, the specs' rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from risk.config import RiskConfig
from risk.manager import RiskManager
from strategies.leg_pair import LegPairStrategy
from strategies.sma_cross import SmaCrossStrategy
from trading_bot.domain import Balance
from trading_bot.domain import InstrumentId
from trading_bot.domain import Market
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError
from trading_bot.runtime.book import Book
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.supervisor import TradingBot
from trading_bot.runtime.unit import StrategySpec

D = Decimal


def _market(symbol: str) -> Market:
    base, quote = symbol.split("/")
    return Market(symbol=Symbol(symbol), base=base, quote=quote, price_increment=D("0.01"), amount_increment=D("0.001"))


def _portfolio(symbol: str, balances: dict[str, str], mark: str | None) -> Portfolio:
    portfolio = Portfolio(_market(symbol))
    portfolio.set_balances({c: Balance(currency=c, free=D(v), locked=D(0)) for c, v in balances.items()})
    if mark is not None:
        portfolio.update_mark(D(mark))
    return portfolio


def test_book_of_one_instrument_is_that_portfolio_s_equity() -> None:
    portfolio = _portfolio("BTC/USDT", {"BTC": "2", "USDT": "1000"}, "100")
    book = Book([("spot", portfolio)])
    assert book.equity() == portfolio.equity() == D("1200")
    assert book.starting_equity == portfolio.starting_equity


def test_book_counts_a_shared_base_once_and_each_quote_at_par() -> None:
    """BTC/USDT and BTC/USDC on one venue: the venue's one BTC balance is counted once (at the first mark)."""
    balances = {"BTC": "2", "USDT": "1000", "USDC": "500"}
    usdt = _portfolio("BTC/USDT", balances, "100")
    usdc = _portfolio("BTC/USDC", balances, "99")
    book = Book([("spot", usdt), ("spot", usdc)])
    assert book.equity() == D("2") * D("100") + D("1000") + D("500")


def test_book_adds_the_venues_and_waits_for_every_mark_before_fixing_its_start() -> None:
    first = _portfolio("BTC/USDT", {"BTC": "1", "USDT": "10"}, "100")
    second = _portfolio("BTC/USDT", {"BTC": "0", "USDT": "50"}, None)
    book = Book([("spot", first), ("alt", second)])
    assert not book.valued
    assert book.starting_equity is None
    second.update_mark(D("101"))
    assert book.valued
    assert book.starting_equity == D("160") == book.equity()


def test_book_totals_are_the_positions_at_their_marks() -> None:
    long, short = _portfolio("BTC/USDT", {}, "100"), _portfolio("ETH/USDT", {}, "10")
    long.position.quantity, short.position.quantity = D("2"), D("-5")
    totals = Book([("a", long), ("b", short)]).totals(open_orders=3)
    assert totals is not None
    assert (totals.gross_exposure, totals.net_exposure, totals.open_orders) == (D("250"), D("150"), 3)


def _view(instrument: str, book: Book | None = None) -> BotStrategyContext:
    inst = InstrumentId.parse(instrument)
    portfolio = _portfolio(inst.symbol, {"USDT": "1" if inst.venue == "spot" else "2"}, "100")
    return BotStrategyContext(
        market=portfolio.market, clock=SimulatedClock(), tracker=OrderTracker("t-"), portfolio=portfolio,
        risk=RiskManager(RiskConfig()), instrument=inst, book=book,
    )  # fmt: skip


def test_context_of_a_single_instrument_strategy_is_its_own_only_view() -> None:
    ctx = _view("spot:BTC/USDT")
    assert ctx.instruments == (InstrumentId("spot", Symbol("BTC/USDT")),)
    assert ctx.view("spot:BTC/USDT") is ctx
    with pytest.raises(KeyError, match="not an instrument of this strategy"):
        ctx.view("alt:BTC/USDT")


def test_context_of_a_two_leg_strategy_views_each_leg_and_each_venue_s_balances() -> None:
    primary, other = _view("spot:BTC/USDT"), _view("alt:ETH/USDT")
    primary.link([primary, other])
    assert [str(i) for i in primary.instruments] == ["spot:BTC/USDT", "alt:ETH/USDT"]
    assert primary.view(InstrumentId.parse("alt:ETH/USDT")) is other
    assert primary.symbol == "BTC/USDT"  # the single-instrument properties keep meaning "my primary"
    assert primary.balances()["USDT"].free == D("1")
    assert primary.balances("alt")["USDT"].free == D("2")
    with pytest.raises(KeyError, match="venue 'nowhere'"):
        primary.balances("nowhere")


def test_a_strategy_spec_needs_instruments_each_named_once() -> None:
    strategy = SmaCrossStrategy(SmaCrossStrategy.Params())
    with pytest.raises(ConfigError, match="no instrument"):
        StrategySpec(strategy, ())
    btc = InstrumentId("spot", Symbol("BTC/USDT"))
    with pytest.raises(ConfigError, match="named twice"):
        StrategySpec(strategy, (btc, btc))


def test_an_instrument_belongs_to_one_strategy_and_to_a_configured_venue() -> None:
    from exchanges.paper import PaperExchange

    btc = InstrumentId("spot", Symbol("BTC/USDT"))
    a, b = (SmaCrossStrategy(SmaCrossStrategy.Params()) for _ in range(2))
    kwargs: dict[str, object] = {"bot_id": "t", "risk": RiskManager(RiskConfig()), "clock": SimulatedClock()}
    venue = {"spot": object.__new__(PaperExchange)}
    with pytest.raises(ConfigError, match="traded by two strategies"):
        TradingBot(venues=venue, strategies=[StrategySpec(a, (btc,)), StrategySpec(b, (btc,))], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no venue 'alt'"):
        TradingBot(venues=venue, strategies=[StrategySpec(a, (InstrumentId("alt", Symbol("BTC/USDT")),))], **kwargs)  # type: ignore[arg-type]


def test_leg_pair_declares_its_two_legs_and_refuses_one_leg_twice() -> None:
    params = LegPairStrategy.Params(first="spot:BTC/USDT", second="alt:BTC/USDT", quantity=D("0.001"))
    assert list(LegPairStrategy(params).instruments()) == ["spot:BTC/USDT", "alt:BTC/USDT"]
    with pytest.raises(ValueError, match="same instrument"):
        LegPairStrategy.Params(first="spot:BTC/USDT", second="spot:BTC/USDT", quantity=D("0.001"))


@pytest.mark.parametrize(
    ("exchange_id", "venue"), [("binance", "binance"), ("My-Venue", "my_venue"), ("1broker", "x1broker")]
)
def test_the_one_venue_shorthand_names_its_venue_after_the_exchange_as_a_valid_venue_name(
    exchange_id: str, venue: str
) -> None:
    from trading_bot.domain.instrument import venue_name

    assert venue_name(exchange_id) == venue
    InstrumentId(venue_name(exchange_id), Symbol("BTC/USDT"))  # a valid instrument
