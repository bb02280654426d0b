"""Rules of the L2 book model (``trading_bot.domain.book``): level updates, views, ``size_at`` and ``walk``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading_bot.domain import BookView
from trading_bot.domain import L2Book
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import Symbol

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
# Real levels: the top of the Binance USD-M BTCUSDT snapshot of 2023-04-04 23:58:20.590Z (trimmed to 3 a side).
VIEW = BookView(
    bids=((D("28145.1"), D("3.818")), (D("28145.0"), D("0.413")), (D("28144.7"), D("0.002"))),
    asks=((D("28145.2"), D("6.833")), (D("28145.3"), D("0.009")), (D("28145.4"), D("0.008"))),
)


def test_size_at_reads_the_side_a_resting_order_joins() -> None:
    assert VIEW.size_at(BUY, D("28145.0")) == D("0.413")  # a resting buy joins the bids
    assert VIEW.size_at(SELL, D("28145.3")) == D("0.009")  # a resting sell joins the asks
    assert VIEW.size_at(BUY, D("28145.00")) == D("0.413")  # the same price in another exponent


@pytest.mark.parametrize(
    ("side", "price"),
    [
        (BUY, D("28144.9")),  # a gap between two bid levels
        (BUY, D("28100")),  # below the view's deepest bid
        (BUY, D("28145.2")),  # an ask price: not on the bid side
        (SELL, D("28145.35")),
        (SELL, D("28200")),
        (SELL, D("28145.1")),
    ],
)
def test_size_at_an_absent_level_is_zero(side: OrderSide, price: Decimal) -> None:
    assert VIEW.size_at(side, price) == 0


def test_walk_of_a_buy_takes_the_asks_best_first_until_the_quantity_is_used() -> None:
    assert VIEW.walk(BUY, D("6.84")) == ((D("28145.2"), D("6.833")), (D("28145.3"), D("0.007")))


def test_walk_of_a_sell_takes_the_bids_and_stops_inside_the_first_level() -> None:
    assert VIEW.walk(SELL, D("1")) == ((D("28145.1"), D("1")),)


def test_walk_that_uses_a_level_exactly_does_not_touch_the_next() -> None:
    assert VIEW.walk(SELL, D("3.818")) == ((D("28145.1"), D("3.818")),)


def test_walk_beyond_the_depth_returns_every_level_and_leaves_the_rest_to_the_caller() -> None:
    slices = VIEW.walk(BUY, D("100"))

    assert slices == VIEW.asks
    assert sum(q for _, q in slices) == VIEW.available(BUY) == D("6.85") < 100


def test_walk_of_zero_fills_nothing_and_a_negative_quantity_is_refused() -> None:
    assert VIEW.walk(BUY, D(0)) == ()
    with pytest.raises(ValueError, match="quantity -1"):
        VIEW.walk(BUY, D(-1))


def test_available_is_what_a_taker_of_each_side_could_fill() -> None:
    assert VIEW.available(SELL) == D("4.233")
    assert BookView(bids=(), asks=()).available(BUY) == 0


def test_book_keeps_levels_sorted_best_first_and_quantity_zero_removes_one() -> None:
    book = L2Book()
    for price, size in (("100.5", "1"), ("99", "2"), ("100", "3")):
        book.apply("bid", D(price), D(size))
    for price, size in (("101", "4"), ("102.5", "5"), ("101.5", "6")):
        book.apply(SELL, D(price), D(size))

    book.apply(BUY, D("100.5"), D(0))
    book.apply("ask", D("101.5"), D("7"))  # an update replaces the size

    assert book.best_bid() == (D(100), D(3))
    assert book.best_ask() == (D(101), D(4))
    assert book.view(10) == BookView(
        bids=((D(100), D(3)), (D(99), D(2))),
        asks=((D(101), D(4)), (D("101.5"), D(7)), (D("102.5"), D(5))),
    )
    assert book.levels() == (2, 3)


def test_view_is_the_top_depth_levels_and_stays_as_it_was_when_the_book_moves() -> None:
    book = L2Book()
    book.update([("bid", D(p), D(1)) for p in range(90, 100)] + [("ask", D(p), D(1)) for p in range(100, 110)])

    view = book.view(3)
    book.apply("bid", D(99), D(0))

    assert [p for p, _ in view.bids] == [99, 98, 97]
    assert [p for p, _ in view.asks] == [100, 101, 102]
    assert book.best_bid() == (D(98), D(1))


def test_removing_an_absent_level_does_nothing_and_clear_empties_both_sides() -> None:
    book = L2Book()
    book.apply("bid", D(1), D(0))
    book.apply("ask", D(2), D(1))

    book.clear()

    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.view(5) == BookView(bids=(), asks=())


@pytest.mark.parametrize(
    ("side", "quantity", "reason"),
    [("middle", D(1), "side must be bid or ask"), ("bid", D(-1), "quantity -1 at 5 must be >= 0")],
)
def test_apply_refuses_an_unknown_side_or_a_negative_quantity(side: str, quantity: Decimal, reason: str) -> None:
    book = L2Book()
    with pytest.raises(ValueError, match=reason):
        book.apply(side, D(5), quantity)
    with pytest.raises(ValueError, match=reason):
        book.update([(side, D(5), quantity)])


def test_view_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        L2Book().view(0)


def test_market_data_carries_no_book_unless_given_one() -> None:
    md = MarketData(symbol=Symbol("BTC/USDT"), ts_ms=1, bid=D(1), ask=D(2))

    assert md.book is None
    assert MarketData(symbol=md.symbol, ts_ms=1, bid=D(1), ask=D(2), book=VIEW).book is VIEW
