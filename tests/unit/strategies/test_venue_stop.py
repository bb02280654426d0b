"""The venue-side stop-loss (``strategies.lib.venue_stop``): the rules of its module docstring."""

from __future__ import annotations

from decimal import Decimal

from strategies.lib.venue_stop import StopWanted
from strategies.lib.venue_stop import VenueStop
from strategies.lib.venue_stop import stop_orders
from strategies.lib.venue_stop import wanted_stop
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import StrategyAction
from trading_bot.domain import Symbol

D = Decimal
SWAP = Market(symbol=Symbol("X/USDT:USDT"), base="X", quote="USDT", price_increment=D("0.1"),
              amount_increment=D("0.001"), maker_fee=D(0), taker_fee=D(0), contract=True, settle="USDT")  # fmt: skip
SPOT = Market(symbol=Symbol("X/USDT"), base="X", quote="USDT", price_increment=D("0.1"), amount_increment=D("0.001"),
              maker_fee=D(0), taker_fee=D(0))  # fmt: skip


def resting(wanted: StopWanted, coid: str = "s-1", status: OrderStatus = OrderStatus.ACCEPTED) -> Order:
    order = Order.from_params(wanted.params(), ClientOrderId(coid), SWAP.symbol, wanted.quantity, 0)
    order.status = status
    return order


def test_the_stop_is_rounded_toward_the_market_so_it_fires_no_later_than_the_bot_side_rule() -> None:
    long = wanted_stop(SWAP, D("0.016"), D("59400.06"))
    short = wanted_stop(SWAP, D("-0.016"), D("60599.94"))

    assert long == StopWanted(OrderSide.SELL, D("0.016"), D("59400.1"))  # a sell stop: up
    assert short == StopWanted(OrderSide.BUY, D("0.016"), D("60599.9"))  # a buy stop: down


def test_spot_markets_flat_positions_and_plans_without_a_stop_loss_want_no_venue_stop() -> None:
    assert wanted_stop(SPOT, D(1), D(100)) is None
    assert wanted_stop(SWAP, D(0), D(100)) is None
    assert wanted_stop(SWAP, D(1), None) is None


def test_the_wanted_stop_is_placed_once_reduce_only_tagged_sl_and_then_held() -> None:
    wanted = StopWanted(OrderSide.SELL, D("0.016"), D("59400.1"))
    stop = VenueStop()

    placed = stop.update(wanted, [], busy=False)
    assert placed is not None
    (params,) = placed.orders
    assert (params.reduce_only, params.client_tag, params.trigger_price) == (True, "sl", D("59400.1"))
    order = resting(wanted)
    assert stop.holds(wanted, [order])
    assert stop.update(wanted, [order], busy=False) is None  # held: nothing to send


def test_nothing_is_placed_while_another_order_of_the_strategy_is_open() -> None:
    wanted = StopWanted(OrderSide.SELL, D(1), D(99))

    assert VenueStop().update(wanted, [], busy=True) is None


def test_a_refused_stop_is_not_sent_again_and_the_bot_watches_the_stop_loss() -> None:
    wanted = StopWanted(OrderSide.SELL, D(1), D(99))
    stop = VenueStop()
    assert stop.update(wanted, [], busy=False) is not None

    assert stop.update(wanted, [], busy=False) is None  # sent, not open now: refused (a fill moves the position)
    assert stop.update(wanted, [], busy=False) is None
    assert not stop.holds(wanted, [])  # so ExitWatch checks the stop-loss itself
    bigger = StopWanted(OrderSide.SELL, D(2), D("98.5"))  # the position grew: a new stop is tried once
    assert stop.update(bigger, [], busy=False) is not None


def test_a_stop_that_is_not_the_wanted_one_is_cancelled_first_and_only_once() -> None:
    old = StopWanted(OrderSide.SELL, D(1), D(99))
    new = StopWanted(OrderSide.SELL, D(2), D("98.5"))
    stop = VenueStop()

    cancel = stop.update(new, [resting(old)], busy=False)
    assert cancel is not None
    assert (cancel.action, cancel.cancel, cancel.orders) == (StrategyAction.CANCEL_ORDER, ("s-1",), ())
    assert stop.update(new, [resting(old, status=OrderStatus.PENDING_CANCEL)], busy=False) is None  # on its way


def test_when_the_plan_is_over_the_open_stop_is_cancelled() -> None:
    old = StopWanted(OrderSide.SELL, D(1), D(99))
    stop = VenueStop(live=True)

    cancel = stop.update(None, [resting(old)], busy=False)
    assert cancel is not None
    assert cancel.cancel == ("s-1",)
    assert stop.update(None, [], busy=False) is None
    assert not stop.live  # no more open-order scans on each event


def test_only_open_stop_orders_tagged_sl_are_the_venue_stop() -> None:
    wanted = StopWanted(OrderSide.SELL, D(1), D(99))
    other = resting(wanted)
    other.client_tag = "hedge"

    assert stop_orders([resting(wanted), other]) == [resting(wanted)]
