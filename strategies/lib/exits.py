"""Exits a strategy attaches to an entry: stop-loss, take-profit, trailing stop and time stop (a triple barrier).

An ``ExitPlan`` is declared with the entry (``BarStrategy.enter(..., exits=plan)``, or the ``--stop-loss``,
``--take-profit``, ``--trailing-stop`` and ``--time-stop`` params of every bar strategy). ``ExitWatch``
holds it from the intent to the end of the position:

1. **pending**: the entry is sent; nothing is watched while an order tagged with the entry's tag is open.
2. **armed**: once that order is over and the strategy holds a position, the barriers are priced from the
   position's average entry price ``E`` (base units and quote prices as the position's):

   - long, watched on the best bid ``b``: stop-loss ``b ≤ E × (1 − stop_loss)``; take-profit
     ``b ≥ E × (1 + take_profit)``; trailing ``b ≤ H × (1 − trailing_stop)``, ``H`` the highest bid since
     arming; time ``now ≥ armed + time_stop``;
   - short mirrors it on the best ask (``≥ E × (1 + stop_loss)``, ``≤ E × (1 − take_profit)``, the lowest
     ask since arming).

   The first barrier hit, checked in that order (stop-loss first: the conservative reading of an event
   that crosses two), closes the whole position with a reduce-only market order tagged with the barrier's
   name (``sl``, ``tp``, ``trail``, ``time``). Nothing fires while any order of the strategy is open (the
   close in flight, or another), and a book without both sides (bid or ask 0) fires no price barrier. A
   close that was refused is asked for again while the barrier holds, at most once per second (``REFIRE_MS``).
   On a contract market the stop-loss rests on the venue as a reduce-only stop order instead
   (``strategies.lib.venue_stop``); while it is held there, ``check(stop_on_venue=True)`` leaves it out.
3. **over**: the position is flat again (the barrier's close, the strategy's own exit, a manual close) or the
   entry ended with nothing filled: the plan is dropped.

Every event is checked, so live and paper runs watch each quote or trade; a backtest on bar data sees one
event per bar (its close), so a barrier fires on the close of the bar that crossed it and fills at the next
bar's open. The plan, the entry price, the high (or low) and the arming time are in the strategy's snapshot:
``changed`` asks the supervisor to journal it at once: before the entry goes out, and within a heartbeat
of arming or of a new high (low). So a restart, a kill -9 included, watches the same barriers; a plan
journaled before it armed arms from the restored position at the first event (a high reached after the
last save is forgotten: the trailing stop then trails from the restart's price).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import structlog

from trading_bot.domain import MarketData
from trading_bot.domain.timeframe import timeframe_ms

__all__ = ["STOP_BELOW", "TAKE_PROFIT_MAX", "ExitPlan", "ExitWatch"]

_log = structlog.get_logger(__name__)

BARRIERS = ("sl", "trail", "tp", "time")
"""The barriers' names (their close's ``client_tag``), in the order they are checked."""

REFIRE_MS = 1_000
"""A close that was refused (by the risk rules or the venue) while its barrier stays hit is asked for again
at most once per this many milliseconds of the clock (not on every quote)."""


STOP_BELOW = Decimal(1)
"""A stop-loss or trailing stop is a fraction above 0 and below this (a whole price lost)."""
TAKE_PROFIT_MAX = Decimal(10)
"""A take-profit is a fraction above 0 and at most this (+1,000 %). ``BarParams`` declares the same bounds."""


def _fraction(name: str, value: Decimal | None, *, below_one: bool) -> None:
    if value is None:
        return
    if not value.is_finite() or value <= 0 or (below_one and value >= STOP_BELOW) or value > TAKE_PROFIT_MAX:
        bound = f"below {STOP_BELOW}" if below_one else f"at most {TAKE_PROFIT_MAX}"
        raise ValueError(f"{name}: expected a fraction above 0 and {bound} (0.02 = 2 %), got {value}")


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """The barriers of one entry; ``None`` turns one off. Fractions of the entry price: 0.02 = 2 %.

    Attributes:
        stop_loss: close when the price moved this far against the entry (0 < x < 1).
        take_profit: close when it moved this far in favour (0 < x ≤ 10).
        trailing_stop: close when it fell back this far from the best price since the entry (0 < x < 1).
        time_stop_ms: close this many milliseconds after the entry filled (> 0).
    """

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_stop: Decimal | None = None
    time_stop_ms: int | None = None

    def __post_init__(self) -> None:
        _fraction("stop_loss", self.stop_loss, below_one=True)
        _fraction("take_profit", self.take_profit, below_one=False)
        _fraction("trailing_stop", self.trailing_stop, below_one=True)
        if self.time_stop_ms is not None and self.time_stop_ms <= 0:
            raise ValueError(f"time_stop_ms: expected a positive number of milliseconds, got {self.time_stop_ms}")

    @classmethod
    def of(
        cls,
        *,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        trailing_stop: Decimal | None = None,
        time_stop: str | None = None,
    ) -> ExitPlan:
        """Build a plan with the time stop given as a duration text (``"90m"``, ``"4h"``, ``"2d"``)."""
        return cls(stop_loss=stop_loss, take_profit=take_profit, trailing_stop=trailing_stop,
                   time_stop_ms=None if time_stop is None else timeframe_ms(time_stop))  # fmt: skip

    @property
    def empty(self) -> bool:
        """True when every barrier is off."""
        return (
            self.stop_loss is None
            and self.take_profit is None
            and self.trailing_stop is None
            and (self.time_stop_ms is None)
        )

    def to_json(self) -> dict[str, Any]:
        """Return the plan as JSON data (Decimals as text)."""
        return {
            "stop_loss": _text(self.stop_loss),
            "take_profit": _text(self.take_profit),
            "trailing_stop": _text(self.trailing_stop),
            "time_stop_ms": self.time_stop_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitPlan:
        """Rebuild a plan from ``to_json`` output."""
        time_ms = data.get("time_stop_ms")
        return cls(stop_loss=_decimal(data.get("stop_loss")), take_profit=_decimal(data.get("take_profit")),
                   trailing_stop=_decimal(data.get("trailing_stop")),
                   time_stop_ms=None if time_ms is None else int(time_ms))  # fmt: skip


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(slots=True)
class ExitWatch:
    """The exit plan of a strategy's position, from the entry's intent to the flat position (module docstring).

    Call ``attach`` with the entry, ``check`` on every market event; journal ``to_json`` when ``changed``.
    """

    plan: ExitPlan | None = None
    entry_tag: str = ""
    entry_price: Decimal | None = None  # set when armed: the position's average entry price
    long: bool = True
    extreme: Decimal = Decimal(0)  # the highest bid (long) or lowest ask (short) since arming
    armed_ms: int = 0
    changed: bool = False
    fired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BARRIERS, 0))  # positions closed, per barrier
    _firing: str | None = None  # the barrier already counted for this position (its close may be retried)
    _fired_ms: int = 0  # when its close was last asked for

    def attach(self, plan: ExitPlan, entry_tag: str) -> None:
        """Watch ``plan`` for the entry tagged ``entry_tag`` (replacing any earlier plan)."""
        if plan.empty:
            self.clear()
            return
        self.plan, self.entry_tag, self.entry_price, self.changed = plan, entry_tag, None, True

    def clear(self) -> None:
        """Stop watching (the position is over)."""
        if self.plan is not None:
            self.plan, self.entry_price, self.changed = None, None, True

    def check(
        self,
        quantity: Decimal,
        average_price: Decimal,
        busy: bool,
        md: MarketData,
        now_ms: int,
        stop_on_venue: bool = False,
    ) -> str | None:
        """Return the barrier ``md`` hit (``"sl"``, ``"trail"``, ``"tp"``, ``"time"``), else ``None``.

        Args:
            quantity: the strategy's position, base units (signed: negative is short).
            average_price: its average entry price, quote per base.
            busy: an order of the strategy is open (nothing is armed or fired meanwhile); a stop order
                resting on the venue for this plan does not count.
            md: the market event (its best bid and ask are watched).
            now_ms: the clock, ms since the epoch (the time stop).
            stop_on_venue: the venue holds a stop order at ``stop_level()`` for the whole position
                (``strategies.lib.venue_stop``), so the stop-loss is not watched here.
        """
        plan = self.plan
        if plan is None or busy:
            return None
        if self.entry_price is None:  # pending: arm once the entry is over, drop it if nothing filled
            if quantity == 0:
                self.clear()
                return None
            self._arm(quantity, average_price, md, now_ms)
        elif quantity == 0 or (quantity > 0) != self.long:  # closed (or flipped) by something else
            self.clear()
            return None
        barrier = self._price_barrier(plan, md, stop_on_venue) if md.bid > 0 and md.ask > 0 else None
        if barrier is not None:
            return self._fire(barrier, now_ms)
        if plan.time_stop_ms is not None and now_ms >= self.armed_ms + plan.time_stop_ms:
            return self._fire("time", now_ms)
        return None

    def stop_level(self) -> Decimal | None:
        """Return the armed stop-loss price, quote per base: ``E × (1 − stop_loss)`` long, ``E × (1 + stop_loss)``
        short; ``None`` while pending, or when the plan has no stop-loss."""
        plan, entry = self.plan, self.entry_price
        if plan is None or plan.stop_loss is None or entry is None:
            return None
        return entry * (1 - plan.stop_loss) if self.long else entry * (1 + plan.stop_loss)

    def _price_barrier(self, plan: ExitPlan, md: MarketData, stop_on_venue: bool) -> str | None:
        """Return the price barrier hit: long on the bid, short on the ask (``sign`` mirrors every level)."""
        entry = self.entry_price
        assert entry is not None
        sign = 1 if self.long else -1
        price = md.bid if self.long else md.ask
        if (price - self.extreme) * sign > 0:  # a new high (long) or low (short) since arming
            self.extreme, self.changed = price, True
        stop = None if stop_on_venue else self.stop_level()
        if stop is not None and (price - stop) * sign <= 0:
            return "sl"
        if plan.trailing_stop is not None and (price - self.extreme * (1 - sign * plan.trailing_stop)) * sign <= 0:
            return "trail"
        if plan.take_profit is not None and (price - entry * (1 + sign * plan.take_profit)) * sign >= 0:
            return "tp"
        return None

    def _arm(self, quantity: Decimal, average_price: Decimal, md: MarketData, now_ms: int) -> None:
        self.long = quantity > 0
        self.entry_price = average_price
        self.extreme = (md.bid if self.long else md.ask) or average_price
        self.armed_ms, self.changed, self._firing = now_ms, True, None
        _log.info("exit_armed", entry_tag=self.entry_tag, entry_price=str(average_price), side="long" if self.long
                  else "short", **{k: v for k, v in self.plan_json().items() if v is not None})  # fmt: skip

    def _fire(self, barrier: str, now_ms: int) -> str | None:
        if self._firing == barrier:  # its close was refused (risk, venue) and the barrier is still hit
            if now_ms - self._fired_ms < REFIRE_MS:
                return None  # not on every quote: a refused close is asked again once per REFIRE_MS
            self._fired_ms = now_ms
            return barrier  # counted and logged once
        self._firing, self._fired_ms = barrier, now_ms
        self.fired[barrier] += 1
        _log.info("exit_fired", barrier=barrier, entry_tag=self.entry_tag, entry_price=str(self.entry_price),
                  extreme=str(self.extreme))  # fmt: skip
        return barrier

    def plan_json(self) -> dict[str, Any]:
        """Return the plan's JSON data (empty when none)."""
        return {} if self.plan is None else self.plan.to_json()

    def to_json(self) -> dict[str, Any]:
        """Return what survives a restart (``{}`` when nothing is watched)."""
        if self.plan is None:
            return {}
        return {
            "plan": self.plan.to_json(),
            "entry_tag": self.entry_tag,
            "entry_price": _text(self.entry_price),
            "long": self.long,
            "extreme": str(self.extreme),
            "armed_ms": self.armed_ms,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Watch again what ``to_json`` returned before a restart (an unreadable one is logged and dropped)."""
        if not data:
            return
        try:
            self.plan = ExitPlan.from_json(data["plan"])
            self.entry_tag = str(data.get("entry_tag", ""))
            self.entry_price = _decimal(data.get("entry_price"))
            long = data.get("long", True)
            self.extreme = Decimal(str(data.get("extreme", "0")))
            self.armed_ms = int(data.get("armed_ms", 0))
            if not isinstance(long, bool):
                raise ValueError(f"long: not true or false ({long!r})")
            self.long = long
            entry = self.entry_price
            if entry is not None and not (entry.is_finite() and entry > 0 and self.extreme.is_finite()):
                raise ValueError(f"entry_price {entry}, extreme {self.extreme}: not a positive finite price")
            if self.extreme < 0 or self.armed_ms < 0:
                raise ValueError(f"extreme {self.extreme}, armed_ms {self.armed_ms}: negative")
            if self.plan.empty:
                raise ValueError("no barrier")
        except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self.plan, self.entry_price = None, None
            _log.error("exit_restore_failed", error=str(exc), alert=True)
            return
        _log.info("exit_restored", entry_tag=self.entry_tag, entry_price=str(self.entry_price), **self.plan.to_json())
