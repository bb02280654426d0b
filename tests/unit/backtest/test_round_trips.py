"""Round trips rebuilt from fills: FIFO, long and short, partial closes, flips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.backtest.helpers import make_fill
from trading_bot.backtest.metrics import fee_in_quote
from trading_bot.backtest.metrics import reconstruct_round_trips
from trading_bot.domain import OrderSide


def test_long_round_trip_pnl_is_net_of_entry_and_exit_fees() -> None:
    fills = [make_fill("buy", "1", "100", ts_ms=1, fee="0.1"), make_fill("sell", "1", "110", ts_ms=2, fee="0.11")]

    (trip,) = reconstruct_round_trips(fills)

    assert trip.side is OrderSide.BUY
    assert (trip.entry_ts, trip.exit_ts) == (1, 2)
    assert trip.fees == Decimal("0.21")
    assert trip.pnl == Decimal("9.79")
    assert trip.return_pct == pytest.approx(9.79)  # of a 100 entry notional


def test_short_round_trip_profits_when_price_falls() -> None:
    fills = [make_fill("sell", "1", "100", ts_ms=1, fee="0.1"), make_fill("buy", "1", "90", ts_ms=2, fee="0.09")]

    (trip,) = reconstruct_round_trips(fills)

    assert trip.side is OrderSide.SELL
    assert (trip.entry_price, trip.exit_price) == (Decimal(100), Decimal(90))
    assert trip.pnl == Decimal("9.81")  # 10 - 0.19


def test_partial_closes_stay_in_one_round_trip_until_flat() -> None:
    fills = [
        make_fill("buy", "2", "100", ts_ms=1),
        make_fill("sell", "1", "110", ts_ms=2),
        make_fill("sell", "1", "120", ts_ms=3),
    ]

    (trip,) = reconstruct_round_trips(fills)

    assert trip.quantity == Decimal(2)
    assert trip.exit_price == Decimal(115)  # volume-weighted
    assert trip.pnl == Decimal(30)
    assert trip.return_pct == pytest.approx(15.0)
    assert (trip.entry_ts, trip.exit_ts) == (1, 3)


def test_position_open_at_the_end_is_not_a_round_trip() -> None:
    fills = [make_fill("buy", "2", "100", ts_ms=1), make_fill("sell", "1", "110", ts_ms=2)]

    assert reconstruct_round_trips(fills) == []


def test_adding_after_a_partial_close_matches_lots_first_in_first_out() -> None:
    fills = [
        make_fill("buy", "2", "100", ts_ms=1),
        make_fill("sell", "1", "110", ts_ms=2),  # closes 1 of the 100 lot: +10
        make_fill("buy", "1", "120", ts_ms=3),
        make_fill("sell", "2", "130", ts_ms=4),  # closes 1 @100 (+30) then 1 @120 (+10)
    ]

    (trip,) = reconstruct_round_trips(fills)

    assert trip.quantity == Decimal(3)
    assert trip.entry_price == Decimal(320) / 3
    assert trip.exit_price == Decimal(370) / 3
    assert trip.pnl == Decimal(50)


def test_fill_crossing_zero_ends_one_round_trip_and_opens_the_opposite_one() -> None:
    fills = [
        make_fill("buy", "1", "100", ts_ms=1),
        make_fill("sell", "3", "110", ts_ms=2, fee="0.3"),  # fee shared 1:2
        make_fill("buy", "2", "100", ts_ms=3),
    ]

    long_trip, short_trip = reconstruct_round_trips(fills)

    assert long_trip.side is OrderSide.BUY
    assert long_trip.pnl == Decimal("9.9")
    assert short_trip.side is OrderSide.SELL
    assert short_trip.quantity == Decimal(2)
    assert short_trip.entry_ts == 2
    assert short_trip.pnl == Decimal("19.8")


def test_symbols_are_paired_independently() -> None:
    fills = [
        make_fill("buy", "1", "100", ts_ms=1, symbol="BTC/USDT"),
        make_fill("sell", "1", "10", ts_ms=2, symbol="ETH/USDT"),
        make_fill("sell", "1", "105", ts_ms=3, symbol="BTC/USDT"),
        make_fill("buy", "1", "8", ts_ms=4, symbol="ETH/USDT"),
    ]

    trips = reconstruct_round_trips(fills)

    assert [(t.symbol, t.pnl) for t in trips] == [("BTC/USDT", Decimal(5)), ("ETH/USDT", Decimal(2))]


def test_fee_in_base_currency_is_converted_at_fill_price() -> None:
    fill = make_fill("buy", "1", "100", ts_ms=1, fee="0.001", fee_currency="BTC")

    assert fee_in_quote(fill) == Decimal("0.1")


def test_non_positive_fill_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="quantity must be > 0"):
        reconstruct_round_trips([make_fill("buy", "0", "100", ts_ms=1)])
