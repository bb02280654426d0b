"""A strategy instance in a running bot, with every call into its hooks wrapped in one place.

A single-instrument strategy (grid, sma_cross, anything written against the one-instrument API) runs as
one ``StrategyUnit`` per ``--symbol``; a strategy that declares its instruments (``instruments()``) runs
as one unit over all of them. Each unit has its own pass state (a pass pending, a wait, the last event)
and its own strategy-state snapshot in the journal, keyed by (strategy, primary instrument).

Hook policy (``call``): an exception from a hook stops that strategy — ``strategy_failed`` is logged,
the supervisor halts trading and the run exits 1 — except a ``ConfigError`` from the market-facing
hooks (``should_execute``, ``execute_strategy``, ``initialize``: e.g. a quantity below the market minimum,
found at the first price), which stops the run with exit 2. ``snapshot`` failures are logged and the
last saved state is kept; ``summary`` failures show as an ``error`` entry of the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

from strategies.base import BaseStrategy
from trading_bot.domain import InstrumentId
from trading_bot.errors import ConfigError
from trading_bot.log import get_logger
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.slot import InstrumentSlot

__all__ = ["StrategySpec", "StrategyUnit"]

_log = get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A strategy instance and the instruments it trades (the primary first)."""

    strategy: BaseStrategy[Any]
    instruments: tuple[InstrumentId, ...]

    def __post_init__(self) -> None:
        if not self.instruments:
            raise ConfigError(f"strategy {self.strategy.name!r}: no instrument to trade")
        if len(set(self.instruments)) != len(self.instruments):
            raise ConfigError(f"strategy {self.strategy.name!r}: an instrument is named twice")


@dataclass(slots=True, eq=False)
class StrategyUnit:
    """One strategy instance, its instruments' slots (set at start) and its pass state.

    Attributes:
        strategy: the instance.
        instruments: its instruments, the primary first.
        qualified: the bot runs several units, so logs name this one with its primary instrument
            (``label``: ``grid@binance:BTC/USDT``). The snapshot is always journaled under (strategy name,
            primary instrument).
        on_crash: told when a hook raised (the supervisor halts and records exit 1).
    """

    strategy: BaseStrategy[Any]
    instruments: tuple[InstrumentId, ...]
    qualified: bool
    on_crash: Callable[[StrategyUnit, str, Exception], None]
    slots: list[InstrumentSlot] = field(default_factory=list)
    failed: bool = False
    started: bool = False
    pending_pass: bool = False
    in_pass: bool = False
    wait_until_ms: int = 0
    last_event_ms: int = 0
    last_slot: InstrumentSlot | None = None
    """The slot of its latest market event (the heartbeat re-checks with that slot's data)."""
    saved_state: dict[str, Any] | None = None
    multi: bool = field(init=False)
    """True for a strategy over several instruments (its context tracks the event's instrument)."""

    def __post_init__(self) -> None:
        self.multi = len(self.instruments) > 1

    @property
    def name(self) -> str:
        """The strategy's registered name."""
        return self.strategy.name

    @property
    def label(self) -> str:
        """The strategy's name, with its instrument when the bot runs several units (for logs)."""
        return f"{self.name}@{self.instruments[0]}" if self.qualified else self.name

    @property
    def context(self) -> BotStrategyContext:
        """The strategy's context: its primary instrument's view, linked to the others."""
        return self.slots[0].view

    def slot_for(self, instrument: InstrumentId | None) -> InstrumentSlot | None:
        """Return the slot of ``instrument`` (``None``: the primary), or ``None`` when it is not the unit's."""
        if instrument is None:
            return self.slots[0]
        for slot in self.slots:
            if slot.instrument == instrument:
                return slot
        return None

    def call(self, hook: str, fn: Callable[..., T], *args: Any, config_errors: bool = False) -> T | None:
        """Call one hook; on an exception stop the strategy and return ``None`` (see the module docstring).

        ``config_errors`` lets a ``ConfigError`` through (exit 2) instead of treating it as a crash.
        """
        try:
            return fn(*args)
        except ConfigError as exc:
            if config_errors:
                raise
            self.crash(hook, exc)
        except Exception as exc:
            self.crash(hook, exc)
        return None

    def crash(self, hook: str, exc: Exception) -> None:
        """Record that a hook raised and tell the supervisor (once per unit is enough to halt)."""
        _log.error("strategy_failed", strategy=self.label, hook=hook, error=repr(exc), exc_info=exc)
        self.failed = True
        self.on_crash(self, hook, exc)
