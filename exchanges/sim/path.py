"""The one intrabar path: how a bar becomes prices an order can fill at (every mode that walks bars).

A bar ``(open, high, low, close)`` is walked **open → the extreme nearer to the open → the farther
extreme → close**; on a tie, a bar that closed down visits the high first, any other bar the low first.
Its four points are at ``ts``, ``ts + i/3``, ``ts + 2i/3`` and ``ts + i`` (``ts`` = open time,
``i`` = interval, epoch ms). Leg 0 is the open itself; leg ``k`` (1–3) is the stretch from point ``k-1``
to point ``k``, every price between them visited.

Where an order fills on that path (``reach``; prices in quote currency):

* a market order at the open, taker;
* a stop at the open when the bar opens through its trigger, else at the trigger on the first leg
  that reaches it, taker (the caller adds slippage);
* a limit at the open when the bar opens through its price (taker, at the open), else at its own
  price on the first leg that reaches it (maker; a touch is enough). IOC/FOK limits only at the open.
"""

from __future__ import annotations

from decimal import Decimal

from trading_bot.domain import Bar
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import TimeInForce

__all__ = ["BarPath", "bar_path", "reach", "reach_level"]

BarPath = tuple[Decimal, Decimal, Decimal, Decimal]
"""The four prices of a bar's path: open, nearer extreme, farther extreme, close."""

_BUY = OrderSide.BUY
_MARKET = OrderType.MARKET
_STOP = OrderType.STOP_MARKET
_TAKER = LiquiditySide.TAKER
_MAKER = LiquiditySide.MAKER


def bar_path(bar: Bar, bar_ms: int) -> tuple[BarPath, tuple[int, int, int, int]]:
    """Return the path's four prices and their times (epoch ms) for ``bar`` of interval ``bar_ms``."""
    o, h, low, c = bar.open, bar.high, bar.low, bar.close
    high_first = h - o < o - low or (h - o == o - low and c < o)
    ts = bar.ts_ms
    times = (ts, ts + bar_ms // 3, ts + 2 * bar_ms // 3, ts + bar_ms)
    return ((o, h, low, c) if high_first else (o, low, h, c)), times


def reach(order: Order, path: BarPath) -> tuple[int, Decimal, LiquiditySide] | None:
    """Return ``(leg, price, liquidity)`` where ``order`` fills on ``path`` (leg 0 = the open), or ``None``.

    Stop and market prices are returned before slippage.
    """
    o = path[0]
    buy = order.side is _BUY
    kind = order.order_type
    if kind is _MARKET:
        return 0, o, _TAKER
    if kind is _STOP:
        trigger = order.trigger_price
        assert trigger is not None
        if (o >= trigger) if buy else (o <= trigger):
            return 0, o, _TAKER
        for leg in (1, 2, 3):
            if (path[leg] >= trigger) if buy else (path[leg] <= trigger):
                return leg, trigger, _TAKER
        return None
    price = order.price
    assert price is not None
    if (o <= price) if buy else (o >= price):
        return 0, o, _TAKER
    if order.time_in_force is not TimeInForce.GTC:
        return None
    for leg in (1, 2, 3):
        if (path[leg] <= price) if buy else (path[leg] >= price):
            return leg, price, _MAKER
    return None


def reach_level(path: BarPath, level: Decimal, *, falling: bool, from_leg: int = 0) -> tuple[int, Decimal] | None:
    """Return ``(leg, price)`` where the path first goes to ``level`` or beyond, from leg ``from_leg`` on.

    ``falling``: reached at or below ``level`` (a long's liquidation), else at or above (a short's). At leg 0
    (the open already beyond it) the price is the open, on a later leg the level itself; ``None`` if never.
    """
    if from_leg == 0 and ((path[0] <= level) if falling else (path[0] >= level)):
        return 0, path[0]
    for leg in range(max(1, from_leg), 4):
        if (path[leg] <= level) if falling else (path[leg] >= level):
            return leg, level
    return None
