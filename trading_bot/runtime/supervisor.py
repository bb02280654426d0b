"""TradingBot: the single asyncio supervisor.

(About 950 lines, a sixth of them this docstring, over the ~500 guide: the start, the long-lived tasks,
the strategy pipeline, the error policy and the bounded shutdown share the run's state and its one
deadline; what stands alone lives beside it — ``slot`` and ``unit`` (per instrument, per strategy
instance), ``session`` (building the slots), ``book`` (the account's value), ``account_guard``, ``daily``,
``settle`` and ``shutdown`` (the shutdown's steps), ``summary``, ``reconcile``, ``orders/``, ``journal/``.)

Instruments and venues: the bot trades one or more instruments (``venue:symbol``) on one or more venues
(exchange accounts, one client each). Every instrument belongs to one strategy unit: a single-instrument
strategy runs one unit per symbol, a multi-instrument one a unit over its legs (``unit``). Market data of
every instrument of a venue comes as one stream (``stream_markets``: exact event-time order on a simulated
clock, arrival order live); several venues are merged by arrival. Each venue has its own user stream and
is reconciled at start on its own; each order goes to its instrument's venue.

Perpetual swaps: a funding payment is applied to the portfolio and journaled once by its id; a liquidation
is journaled as the venue's fill. With a journal, each swap's position from the bot's fills is cross-checked
with its venue's report after reconciliation and every ``_POSITION_CHECK_MS`` on the heartbeat
(``position_check``: a mismatch sets REDUCING, never overwrites the position).

One ``asyncio.TaskGroup`` owns every long-lived task: the market-data loop, the user stream, the
heartbeat/reactor, the journal writer and the stop watcher. On every market event the loop does
(DESIGN.md §2): account check → ``should_execute`` → ``execute_strategy`` → sizer → RiskManager → order
manager → exchange. Order updates arrive through the exchange's sink, are applied to the tracker and
portfolio, and are shown to the strategy at once; a strategy pass follows so that, for example, a
take-profit goes out on the same event as the fill that caused it.

Error policy, by class:

* ``TransientExchangeError`` (incl. ``RateLimited``): logged, requests paused for the back-off, the bot
  goes on; an order whose outcome is unknown is looked up by client id on the next heartbeat.
* ``OrderRejected``: becomes an ``OrderRejected`` event for the strategy, logged with its reason
  (``order_rejected``: at warning; a post-only crossing, which the strategy retries, at info).
* any exception from a strategy hook (``StrategyError``): that strategy is stopped, trading is halted,
  ``strategy_failed`` is logged, the bot keeps managing its orders until stopped; exit code 1.
* ``AuthenticationError`` three times in a row, ``OperationalError``: halt, orderly shutdown, exit 1.
  With several venues the failure is the venue's (its keys refused three times in a row, its user
  stream failing for good): that venue alone is HALTED (``venue_halted``, an alert; no order goes there)
  and the other venues go on, the run ending with exit 1 — unless a multi-instrument strategy holds a
  leg there (its hedge is gone) or no venue is left: then the whole bot halts as above.
* ``EmergencyStop`` (an account-protection rule): cancel, flatten at market, halt, exit 1.

Start and stop (a stop request, SIGINT/SIGTERM/SIGHUP, or the end of a replay):

* The start (journal open, connect, reconcile, initial quote) is raced against the stop request: a stop
  during the start cancels it and goes straight to the shutdown, exit 0.
* The shutdown has ONE deadline, ``shutdown_timeout_s`` counted from the stop request: strategy
  ``shutdown()`` → open orders cancelled or kept per ``on_shutdown`` → fills cross-checked with the
  exchange (what the user stream did not deliver is applied and journaled) → swaps' funding asked once
  more (``funding_poll``) → balances → strategy state
  saved → journal closed (flush, run row) → exchanges closed → summary; each step covers every
  instrument and venue. Each step is guarded: a failure
  or a timeout is logged (``shutdown_step_failed`` / ``shutdown_step_timeout`` / ``shutdown_step_skipped``)
  and the next step runs. The network steps share the budget minus a slice reserved for the local ones,
  and saving the state, closing the journal and closing the exchange each get at least a small floor, so
  the shutdown ends at most ``shutdown_timeout_s`` + 2 s (the floors) after the stop request. Failing to
  save the state or to close the journal makes the exit code 1; an exchange that does not answer does not
  (the run was stopped as asked; what was left open is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from exchanges.base import AccountUpdate
from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from exchanges.merge import merge_by_arrival
from risk.daily import DAILY_LOSS_RULE
from risk.manager import RiskContext
from risk.manager import RiskManager
from strategies.base import BaseStrategy
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import InstrumentId
from trading_bot.domain import Liquidation
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderRejected
from trading_bot.domain import StateRequest
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.domain.instrument import venue_name
from trading_bot.errors import AuthenticationError
from trading_bot.errors import ConfigError
from trading_bot.errors import DataError
from trading_bot.errors import EmergencyStop
from trading_bot.errors import ExchangeError
from trading_bot.errors import OperationalError
from trading_bot.errors import StrategyError
from trading_bot.errors import TransientExchangeError
from trading_bot.log import get_logger
from trading_bot.runtime.account_guard import AccountGuard
from trading_bot.runtime.bars import warm_up
from trading_bot.runtime.book import Book
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.daily import DailyLossKeeper
from trading_bot.runtime.funding_poll import FundingPoller
from trading_bot.runtime.operator import OperatorDesk
from trading_bot.runtime.operator import execute_command
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.manager import SequenceSource
from trading_bot.runtime.orders.manager import TimeSeededSequence
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.session import build_slots
from trading_bot.runtime.settle import drain_fills
from trading_bot.runtime.settle import settle_orders
from trading_bot.runtime.shutdown import run_step
from trading_bot.runtime.shutdown import time_left
from trading_bot.runtime.slot import InstrumentSlot
from trading_bot.runtime.slot import Venue
from trading_bot.runtime.summary import RunFacts
from trading_bot.runtime.summary import build_summary
from trading_bot.runtime.unit import StrategySpec
from trading_bot.runtime.unit import StrategyUnit

if TYPE_CHECKING:  # the journal pulls in SQLAlchemy: imported only when a run has one
    from trading_bot.runtime.journal.link import JournalLink

__all__ = ["RunResult", "StrategySpec", "TradingBot"]

_log = get_logger(__name__)

_MAX_AUTH_FAILURES = 3
_MAX_PASSES_PER_EVENT = 4
_ACCOUNT_CHECK_MS = 1_000
_STATE_SAVE_MS = 10_000
_POSITION_CHECK_MS = 60_000  # between cross-checks of each swap's position with its venue (clock ms)
_YIELD_EVERY = 1024  # market events between the market loop's yields to the event loop (signals, stop watcher)
_LOCAL_RESERVE_S = 2.0  # of the shutdown budget, kept for saving the state and closing the journal (at most)
_VENUE_RESERVE_S = 1.0  # of the shutdown budget, kept for closing the exchanges (at most)
_STATE_FLOOR_S = 0.5  # saving the strategy state gets at least this long, even past the deadline
_JOURNAL_FLOOR_S = 1.0  # closing the journal gets at least this long, even past the deadline
_VENUE_FLOOR_S = 0.5  # closing the exchanges gets at least this long, even past the deadline
_DRAIN_MARGIN_MS = 60_000  # the fill cross-check starts this long before the run started (clock skew)
_DRAIN_LOOKBACK_MS = 600_000  # ... but looks back at most this far (the user stream's own REST check runs every 30 s)


class _StopRequested(Exception):
    """Raised inside the TaskGroup to unwind every task on a stop request."""


@dataclass(slots=True, kw_only=True)
class _Session:
    """What the start builds once connected, and every later phase uses: no half-built state."""

    slots: tuple[InstrumentSlot, ...]
    book: Book
    guard: AccountGuard


@dataclass(slots=True)
class RunResult:
    """How a run ended: exit code (0 ok, 1 failure), reason, and the summary figures."""

    exit_code: int
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)


class TradingBot:
    """Runs strategies on instruments of one or more exchange accounts.

    Either ``symbol`` + ``exchange`` + ``strategy`` (one strategy on one market: the venue is named after
    the client) or ``venues`` + ``strategies`` (every instrument's venue must be one of ``venues``, and no
    instrument may belong to two strategies).

    Args:
        bot_id: prefix of client order ids.
        risk: the RiskManager asked before every order.
        clock: live or simulated clock.
        symbol: the traded market (one-market form).
        exchange: the exchange client (live ccxt or a simulator) of that market.
        strategy: the strategy instance (already built with validated params).
        venues: exchange clients by venue name; each is the only path to its account.
        strategies: strategy instances and their instruments.
        sizing: sizer used when a strategy leaves the quantity open.
        on_shutdown: ``cancel`` or ``keep`` the bot's open orders when it stops.
        heartbeat_s: wall seconds between heartbeats (strategy re-check without market data, lookups of
            unknown outcomes, stall detection).
        shutdown_timeout_s: bound on the orderly shutdown, in seconds.
        journal: the run's journal link (write-ahead intents, updates, fills, strategy state), or
            ``None`` (replays); when set it also supplies the client-order-id sequence.
        sequence: client-order-id sequence source when there is no journal.
        notify: called with systemd-style status words (``READY=1``, ``WATCHDOG=1``...).
        after_connect: awaited once the session is built, before reconciliation (a test seam).
        on_order_event: called with every order event as it is published, before the strategy sees it
            (``trading_bot.backtest.warnings.WarningCollector``: the backtest's and the replay's warnings);
            it must not raise. Also settable as the ``on_order_event`` attribute before ``run``; more
            observers (the monitor's, the alerts') go in the ``order_observers`` list, called after it.
        services: long-lived side tasks started with the trading tasks once the bot has started, ahead of
            them, so a service's first step sees the first market event (the monitor server, the alert
            sender): each is called with the bot and awaited in the bot's
            TaskGroup; one that fails is logged (``service_failed``) and ends alone — it never stops
            trading — and all are cancelled when the bot stops.

    Attributes:
        operator: the queue of operator commands (``trading_bot.runtime.operator``), executed between
            strategy passes.
        order_observers: more callables like ``on_order_event``, each called with every order event after it
            (the alerts' fills and rejections); each must be cheap and must not raise.

    Raises:
        ConfigError: an instrument on a venue not in ``venues``, or owned by two strategies.
    """

    def __init__(
        self,
        *,
        bot_id: str,
        risk: RiskManager,
        clock: Clock,
        symbol: Symbol | None = None,
        exchange: BaseExchangeClient | None = None,
        strategy: BaseStrategy[Any] | None = None,
        venues: Mapping[str, BaseExchangeClient] | None = None,
        strategies: Sequence[StrategySpec] | None = None,
        sizing: Callable[[OrderParams, RiskContext], Decimal | None] | None = None,
        on_shutdown: Literal["cancel", "keep"] = "cancel",
        heartbeat_s: float = 1.0,
        shutdown_timeout_s: float = 15.0,
        journal: JournalLink | None = None,
        sequence: SequenceSource | None = None,
        notify: Callable[[str], None] | None = None,
        after_connect: Callable[[TradingBot], Awaitable[None]] | None = None,
        on_order_event: Callable[[OrderEvent], None] | None = None,
        services: Sequence[Callable[[TradingBot], Awaitable[None]]] = (),
    ) -> None:
        if venues is None or strategies is None:
            if symbol is None or exchange is None or strategy is None:
                raise TypeError("TradingBot needs symbol, exchange and strategy, or venues and strategies")
            name = venue_name(exchange.name or "default")
            venues = {name: exchange}
            strategies = [StrategySpec(strategy, (InstrumentId(name, symbol),))]
        self._venues = {name: Venue(name, client) for name, client in venues.items()}
        many = len(strategies) > 1
        self.units: tuple[StrategyUnit, ...] = tuple(
            StrategyUnit(spec.strategy, spec.instruments, many, self._crashed)
            for spec in strategies
        )
        owners: dict[InstrumentId, str] = {}
        for unit in self.units:
            for instrument in unit.instruments:
                if instrument.venue not in self._venues:
                    raise ConfigError(
                        f"{instrument}: no venue {instrument.venue!r}; venues: {', '.join(sorted(self._venues))}"
                    )
                if instrument in owners:
                    raise ConfigError(f"{instrument} is traded by two strategies ({owners[instrument]}, {unit.name})")
                owners[instrument] = unit.name
        self.instruments: tuple[InstrumentId, ...] = tuple(owners)
        self.trackers = {i: OrderTracker(f"{bot_id}-") for i in self.instruments}
        primary = self.units[0].instruments[0]
        self.bot_id = bot_id
        self.symbol = primary.symbol
        self.exchange = self._venues[primary.venue].client
        self.strategy = self.units[0].strategy
        self.tracker = self.trackers[primary]
        self.risk = risk
        self.clock = clock
        self.on_shutdown = on_shutdown
        self.heartbeat_s = heartbeat_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.journal = journal
        self.notify = notify or (lambda _msg: None)
        self._after_connect = after_connect
        self.on_order_event = on_order_event
        self.order_observers: list[Callable[[OrderEvent], None]] = []
        self._services = tuple(services)
        self._sizing = sizing
        self._sequence: SequenceSource = journal or sequence or TimeSeededSequence(int(time.time() * 1000))
        self._next_state_save_ms = 0
        self._stop = asyncio.Event()
        self._stop_requested_at: float | None = None  # time.monotonic() of the first stop request
        self._wake = asyncio.Event()
        self.operator = OperatorDesk(self._wake.set)
        self._journal_opening: asyncio.Task[None] | None = None
        self._market_yield = False  # True while the market loop yields mid-stream (the heartbeat defers)
        self._started_ms = 0
        self.stop_reason = ""
        self.exit_code = 0
        self.strategy_failed = False
        self.events = 0
        self._in_pass = False
        self._next_account_check_ms = 0
        self._next_position_check_ms = 0
        self._position_suspects: set[InstrumentId] = set()  # mismatched once: checked again before REDUCING
        self._funding_poller: FundingPoller | None = None  # swaps: asks the venues for funding while running
        protection = risk.config.protection
        self._protection_on = (
            protection.emergency_enabled or protection.account_loss_enabled or protection.stall_enabled
            or risk.config.reduce_at_liquidation_distance_pct is not None
        )
        self._daily: DailyLossKeeper | None = None  # set at start when max_daily_loss_pct is
        self._started_wall = 0.0
        self._session: _Session | None = None

    # -- what the start built (None before it connected) -------------------------------------------
    @property
    def slots(self) -> tuple[InstrumentSlot, ...]:
        """Every instrument's slot, once connected (empty before)."""
        return () if self._session is None else self._session.slots

    @property
    def market(self) -> Market | None:
        """The primary instrument's market rules, once connected."""
        return None if self._session is None else self._session.slots[0].market

    @property
    def portfolio(self) -> Portfolio | None:
        """The primary instrument's position, fills and balances, once connected."""
        return None if self._session is None else self._session.slots[0].portfolio

    @property
    def context(self) -> BotStrategyContext | None:
        """The first strategy's read-only view, once connected."""
        return None if self._session is None else self.units[0].context

    @property
    def orders(self) -> OrderManager | None:
        """The primary instrument's order manager, once connected."""
        return None if self._session is None else self._session.slots[0].orders

    @property
    def book(self) -> Book | None:
        """The account's value over every instrument (equity), once connected."""
        return None if self._session is None else self._session.book

    @property
    def venues(self) -> tuple[Venue, ...]:
        """The bot's venues (exchange accounts), in configured order."""
        return tuple(self._venues.values())

    def _live(self) -> _Session:
        """Return the session; every caller runs after the start connected (a bug otherwise)."""
        session = self._session
        if session is None:
            raise RuntimeError("the bot is not connected: the start has not built its session")
        return session

    # -- public control ----------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the bot to stop in order (safe to call from a signal handler, more than once)."""
        if not self._stop.is_set():
            if self.exit_code == 0:  # a failure's reason is kept: it is why the run failed
                self.stop_reason = reason
            _log.info("stop_requested", reason=reason)
            self._stop_requested_at = time.monotonic()
            self._stop.set()

    async def run(self) -> RunResult:
        """Connect, trade until stopped (or the replay ends), shut down in order; return the result.

        Raises:
            ConfigError, DataError: the configuration or the data is unusable (found while starting); the
                shutdown has run and the run row records exit code 2.
        """
        self._started_wall = time.perf_counter()
        for venue in self._venues.values():
            venue.client.attach(self._sink(venue))
        try:
            if await self._start_unless_stopped():
                self.notify("READY=1")
                names = ", ".join(sorted({u.name for u in self.units}))
                self.notify(f"STATUS=trading {', '.join(map(str, self.instruments))} with {names}")
                await self._trade()
        except (ConfigError, DataError) as exc:
            self.exit_code = 2
            self.stop_reason = str(exc)
            raise
        except (OperationalError, ExchangeError) as exc:
            self._fail(f"could not start: {exc}")
        except Exception as exc:  # a bug while starting: stop in order, say what it was, exit 1
            _log.error("internal_error", error=repr(exc), exc_info=exc)
            self._fail(f"internal error: {exc!r}")
        finally:
            self.notify("STOPPING=1")
            await self._shutdown()
        return RunResult(exit_code=self.exit_code, reason=self.stop_reason, summary=self._summary())

    async def _trade(self) -> None:
        """Run the long-lived tasks until a stop request or a failure; set the exit code and reason."""
        try:
            async with asyncio.TaskGroup() as tg:
                for i, service in enumerate(self._services):  # first: a service taps the first market event too
                    tg.create_task(self._service(service), name=f"service_{i}")
                if self.journal is not None:
                    tg.create_task(self.journal.run_writer(), name="journal_writer")
                tg.create_task(self._market_loop(), name="market_data")
                for venue in self._venues.values():
                    tg.create_task(self._user_stream(venue), name=f"user_stream_{venue.name}")
                tg.create_task(self._heartbeat(), name="heartbeat")
                tg.create_task(self._watch_stop(), name="stop_watcher")
        except* _StopRequested:
            pass
        except* ConfigError as group:
            self.exit_code = 2
            self.stop_reason = str(group.exceptions[0])
            _log.error("config_error", reason=self.stop_reason)
        except* EmergencyStop as group:
            self._fail(f"emergency stop: {group.exceptions[0]}")
        except* (OperationalError, AuthenticationError) as group:
            self._fail(f"halted: {group.exceptions[0]}")
        except* DataError as group:
            self.exit_code = 2
            self.stop_reason = str(group.exceptions[0])
            _log.error("data_error", reason=self.stop_reason)
        except* Exception as group:  # a bug: stop in order, say what it was, exit 1
            _log.error("internal_error", error=repr(group.exceptions[0]), exc_info=group.exceptions[0])
            self._fail(f"internal error: {group.exceptions[0]!r}")

    async def _service(self, service: Callable[[TradingBot], Awaitable[None]]) -> None:
        """Run one side service; its failure is logged and ends it alone (trading goes on)."""
        try:
            await service(self)
        except Exception as exc:
            _log.error("service_failed", service=getattr(service, "__name__", repr(service)), error=repr(exc),
                       exc_info=exc)  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Return the run's figures now, as the end-of-run summary gives them, without the trade fingerprint
        (it hashes every fill: the end-of-run summary has it). JSON-safe; no secrets."""
        return self._summary(fingerprint=False)

    def _fail(self, reason: str) -> None:
        self.exit_code = 1
        self.stop_reason = reason
        self.risk.set_trading_state(TradingState.HALTED, reason)
        _log.error("bot_halted", reason=reason)

    # -- start ------------------------------------------------------------------------------
    async def _start_unless_stopped(self) -> bool:
        """Run the start phase raced against a stop request; return False when the stop came first."""
        if self._stop.is_set():
            _log.info("stopped_before_start", reason=self.stop_reason)
            return False
        start = asyncio.create_task(self._start(), name="start")
        stopped = asyncio.create_task(self._stop.wait(), name="stop_during_start")
        try:
            await asyncio.wait((start, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            interrupted = not start.done()
            if interrupted:
                start.cancel()
            await asyncio.wait((start, stopped), timeout=self.shutdown_timeout_s)
        if not interrupted:
            start.result()  # the start's own error, if it failed
            return True
        if not start.done():
            _log.error("start_interrupted", reason=self.stop_reason, problem="the start did not stop in time")
        elif not start.cancelled() and start.exception() is not None:
            _log.warning("start_interrupted", reason=self.stop_reason, error=repr(start.exception()))
        else:
            _log.info("start_interrupted", reason=self.stop_reason)
        return False

    async def _start(self) -> None:
        self._started_ms = self.clock.now_ms()
        if self.journal is not None:
            # Shielded: a stop during the open must not leave a run row behind that nobody closes.
            self._journal_opening = asyncio.create_task(self.journal.open(self.clock), name="journal_open")
            await asyncio.shield(self._journal_opening)
        balances = {}
        for venue in self._venues.values():
            await venue.client.connect()
            balances[venue.name] = await venue.client.fetch_balance()
            venue.balances_dirty = False
        self._session = self._build_session(balances)
        await self._configure_swaps(self._session.slots)
        if self._after_connect is not None:
            await self._after_connect(self)
        session = self._session
        if self.journal is not None:
            await self._reconcile(session, self.journal)
        if self.risk.daily_loss_enabled:
            self._daily = DailyLossKeeper(self.risk, session.book, self.journal, self._refresh_dirty_balances)
            await self._daily.restore(self.clock.now_ms())
        for slot in session.slots:
            try:
                slot.view.last = await slot.venue.client.fetch_bbo(slot.market.symbol)
            except TransientExchangeError as exc:
                _log.warning("initial_quote_unavailable", instrument=str(slot.instrument), error=str(exc))
        for unit in self.units:
            try:
                unit.strategy.initialize(unit.context)
            except ConfigError:
                raise
            except Exception as exc:
                raise ConfigError(f"strategy {unit.name!r} failed to start: {exc}") from exc
            unit.started = True
            if self.journal is not None:
                await self._restore(unit, self.journal)
            await warm_up(unit, self.clock.now_ms())  # history (warmup_bars), declared indicators precomputed
        _log.info(
            "bot_started",
            bot_id=self.bot_id,
            instruments=[str(i) for i in self.instruments],
            strategies=[u.label for u in self.units],
        )

    @staticmethod
    async def _configure_swaps(slots: Sequence[InstrumentSlot]) -> None:
        """Have each swap's venue hold it at our leverage and margin mode (``configure_perp``, idempotent)."""
        for slot in slots:
            if slot.market.contract:
                client = slot.venue.client
                await client.configure_perp(slot.market.symbol, *client.perp_terms(slot.market.symbol))

    async def _reconcile(self, session: _Session, journal: JournalLink) -> None:
        """Reconcile every instrument with its venue and the journal (``reconcile``), one after the other."""
        from trading_bot.runtime.reconcile import reconcile

        counts: dict[str, int] = {}
        for slot in session.slots:
            report = await reconcile(
                exchange=slot.venue.client,
                journal=journal.journal,
                tracker=slot.tracker,
                portfolio=slot.portfolio,
                symbol=slot.market.symbol,
                bot_id=self.bot_id,
                now_ms=self.clock.now_ms(),
                adopt=journal.adopt,
                venue=slot.venue.name,
                run_id=journal.run_id,
            )
            for key, value in report.counts().items():
                counts[key] = counts.get(key, 0) + value
        self.notify("STATUS=reconciled: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        await self._check_positions(session, "start")
        self._next_position_check_ms = self.clock.now_ms() + _POSITION_CHECK_MS

    async def _position_check_due(self, session: _Session, now: int) -> None:
        """The heartbeat's periodic position cross-check, every ``_POSITION_CHECK_MS`` of clock time."""
        if self.journal is not None and now >= self._next_position_check_ms:
            self._next_position_check_ms = now + _POSITION_CHECK_MS
            await self._check_positions(session, "periodic")

    async def _final_funding(self) -> None:
        """At shutdown, ask each swap's venue once more: every payment made before the stop is journaled by this run."""
        if self._session is not None:
            await self._poll_funding(self._session, self.clock.now_ms(), final=True)

    async def _poll_funding(self, session: _Session, now: int, *, final: bool = False) -> None:
        """Ask each swap's venue for the funding payments it made since the last ask (``funding_poll``)."""
        asked = [s for s in session.slots if s.market.contract and not s.venue.client.pushes_funding]
        if not asked:
            return  # no swap, or every swap's client pushes its payments as they are settled (the simulators)
        poller = self._funding_poller
        if poller is None:
            poller = self._funding_poller = FundingPoller(self._started_ms)
        for slot in asked:
            if slot.venue.state is TradingState.HALTED:
                continue
            last = slot.view.last
            since = poller.due(slot.instrument, last.next_funding_ms if last is not None else None, now, force=final)
            if since is None:
                continue
            try:
                payments = await slot.venue.client.fetch_funding_payments(slot.market.symbol, since_ms=since)
            except ExchangeError as exc:
                _log.warning("funding_poll_failed", instrument=str(slot.instrument), error=str(exc))
                continue
            poller.seen(slot.instrument, payments)
            for payment in payments:
                if payment.symbol == slot.market.symbol:
                    self._on_account_update(slot, payment)  # a payment already counted is skipped there

    async def _check_positions(self, session: _Session, when: Literal["start", "periodic"]) -> None:
        """Cross-check each swap's position from the bot's fills with its venue's (``position_check``).

        Runs with a journal only (live and paper runs: the bot's position there outlives the process; a replay
        or backtest starts from nothing on its own simulated account). At the start a mismatch sets REDUCING
        at once (reconciliation has just taken in every fill) and an exchange error stops the start; a periodic
        mismatch is checked again at the next heartbeat first (a fill the venue counts may still be on its way
        to the bot), and an exchange error is logged and the check tried at the next interval.
        """
        from trading_bot.runtime.position_check import check_position

        for slot in session.slots:
            if not slot.market.contract or slot.venue.state is TradingState.HALTED:
                continue
            instrument = slot.instrument
            confirm = when == "start" or instrument in self._position_suspects
            try:
                check = await check_position(
                    client=slot.venue.client, portfolio=slot.portfolio, risk=self.risk,
                    instrument=str(instrument), when=when, restrict=confirm,
                )  # fmt: skip
            except ExchangeError as exc:
                if when == "start":
                    raise
                _log.warning("position_check_failed", instrument=str(instrument), error=str(exc))
                continue
            if check is None or check.agrees or confirm:
                self._position_suspects.discard(instrument)
            else:
                self._position_suspects.add(instrument)
                self._next_position_check_ms = 0  # again at the next heartbeat

    def _build_session(self, balances: Mapping[str, Mapping[str, Any]]) -> _Session:
        """Build every instrument's slot (``session.build_slots``) and the account guard, once connected."""
        slots, book = build_slots(
            units=self.units, venues=self._venues, trackers=self.trackers, balances=balances, clock=self.clock,
            risk=self.risk, order_manager=self._order_manager,
        )  # fmt: skip
        guard = AccountGuard(risk=self.risk, slots=slots, book=book, guarded=self._guarded)
        return _Session(slots=slots, book=book, guard=guard)

    def _order_manager(self, slot: InstrumentSlot) -> OrderManager:
        return OrderManager(
            bot_id=self.bot_id,
            symbol=slot.market.symbol,
            exchange=slot.venue.client,
            tracker=slot.tracker,
            risk=self.risk,
            clock=self.clock,
            sequence=self._sequence,
            journal=self.journal,
            risk_context=lambda: self._risk_context(slot),
            publish=lambda event: self._publish(slot, event),
            sizing=self._sizing,
            venue=slot.venue.name,
        )

    async def _restore(self, unit: StrategyUnit, journal: JournalLink) -> None:
        """Give ``unit``'s strategy its last journaled snapshot (its ``restore`` hook is wrapped)."""
        instrument = str(unit.instruments[0])
        state = await journal.load_state(unit.name, instrument)
        if state is None:
            _log.info("strategy_state_none", strategy=unit.name, instrument=instrument)
            return
        unit.call("restore", unit.strategy.restore, state)
        if not unit.failed:
            _log.info("strategy_state_restored", strategy=unit.name, instrument=instrument, keys=sorted(state))

    # -- long-lived tasks ----------------------------------------------------------------------
    async def _watch_stop(self) -> None:
        await self._stop.wait()
        raise _StopRequested

    async def _user_stream(self, venue: Venue) -> None:
        """Run ``venue``'s user stream; its permanent failure is the venue's (``_venue_failed``)."""
        try:
            await venue.client.run_user_stream()
        except (OperationalError, AuthenticationError) as exc:
            self._venue_failed(venue, f"its user stream failed: {exc}", exc)

    def _venue_failed(self, venue: Venue, reason: str, cause: Exception) -> None:
        """Halt ``venue`` alone and go on with the others, or raise when the bot cannot go on without it.

        Raises:
            OperationalError: the bot has one venue, every venue has failed, or a multi-instrument strategy
                holds a leg on this one.
        """
        text = f"venue {venue.name}: {reason}"
        legs = [u.label for u in self.units if len(u.instruments) > 1 and any(s.venue is venue for s in u.slots)]
        others = [v for v in self._venues.values() if v is not venue and v.state is not TradingState.HALTED]
        if not others or legs:
            raise OperationalError(text if not legs else f"{text} (strategy {legs[0]} holds a leg there)") from cause
        venue.state, venue.failure = TradingState.HALTED, reason
        self.exit_code = 1
        if not self.stop_reason:
            self.stop_reason = text
        _log.error("venue_halted", venue=venue.name, reason=reason, venues_trading=[v.name for v in others], alert=True)

    def _market_stream(self) -> AsyncIterator[tuple[InstrumentSlot, MarketData]] | None:
        """Return the merged stream of several venues, or ``None`` for one venue (the loop reads it directly)."""
        venues = list(self._venues.values())
        if len(venues) == 1:
            return None

        async def tagged(venue: Venue) -> AsyncIterator[tuple[InstrumentSlot, MarketData]]:
            slots = venue.slots
            async for md in venue.client.stream_markets(venue.symbols):
                slot = slots.get(md.symbol)
                if slot is not None:
                    yield slot, md

        return merge_by_arrival([tagged(v) for v in venues])

    async def _market_loop(self) -> None:
        """Feed every market event through the pipeline; an event that needs no await costs no coroutine.

        A replay at full speed never waits for anything, so once every 1024 events the loop yields to the
        event loop: a signal is handled, and the stop seen, within about 3000 events (~0.05 s). The
        heartbeat defers to the market loop during that yield, so a replay stays deterministic.
        """
        stop = self._stop
        countdown = _YIELD_EVERY
        merged = self._market_stream()
        if merged is None:
            venue = next(iter(self._venues.values()))
            slots = venue.slots
            only = next(iter(slots.values())) if len(slots) == 1 else None
            async for md in venue.client.stream_markets(venue.symbols):
                slot = only or slots.get(md.symbol)
                if slot is not None:
                    await self._on_market_data(slot, md)
                countdown -= 1
                if not countdown:
                    countdown = _YIELD_EVERY
                    await self._yield_mid_stream()
                if stop.is_set():
                    return
        else:
            async for slot, md in merged:
                await self._on_market_data(slot, md)
                if stop.is_set():
                    return
        self.request_stop("end of market data")

    async def _on_market_data(self, slot: InstrumentSlot, md: MarketData) -> None:
        """One market event: mark, daily and account checks, then the owning strategy's passes."""
        self.events += 1
        now = md.ts_ms
        slot.view.last = md
        slot.portfolio.update_mark((md.bid + md.ask) / 2)
        unit = slot.unit
        unit.last_slot, unit.last_event_ms = slot, now
        daily = self._daily
        if daily is not None and daily.due(now):
            await daily.begin_day(now)  # the first event on or after 00:00 UTC
        if now >= self._next_account_check_ms and (self._protection_on or daily is not None):
            self._next_account_check_ms = now + _ACCOUNT_CHECK_MS
            if self._protection_on:
                self.risk.record_exchange_ok(now)
                await self._live().guard.check(now)
            if daily is not None:
                daily.check(now)
        bars = slot.bars
        if bars is not None:
            bars.update(md)
            if bars.pending and not self._in_pass and not unit.failed:
                await self._bar_pass(unit, slot)
        wanted = self._wants_pass(unit, slot, md, now)
        if wanted is not None:
            await self._strategy_passes(unit, slot, md, now, checked=wanted)

    async def _yield_mid_stream(self) -> None:
        self._market_yield = True
        try:
            await asyncio.sleep(0)
        finally:
            self._market_yield = False
        if self.operator.pending and self._session is not None:  # a full-speed replay: the heartbeat defers
            await self._operator_commands(self._session)

    async def _heartbeat(self) -> None:
        """Wake the strategies without market data, resolve unknown outcomes, ping the watchdog."""
        heartbeat_ms = int(self.heartbeat_s * 1000)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await self._wake.wait()
            self._wake.clear()
            self.notify("WATCHDOG=1")
            if self._in_pass or self._market_yield or self._session is None:
                continue
            session = self._session
            await self._operator_commands(session)
            for slot in session.slots:
                if slot.orders.unknown_outcomes:
                    await slot.orders.resolve_unknown()
            now = self.clock.now_ms()
            if self._protection_on:
                await session.guard.check(now)  # the stall rule needs no market data
            await self._position_check_due(session, now)
            await self._poll_funding(session, now)
            daily = self._daily
            if daily is not None:
                if daily.due(now):
                    await daily.begin_day(now)  # midnight passed without market data
                daily.check(now)
            await self._save_states_due(now)
            for unit in self.units:
                slot = unit.last_slot or unit.slots[0]
                md = slot.view.last
                if md is None:
                    continue
                now = self.clock.now_ms()
                if unit.pending_pass or now - unit.last_event_ms >= heartbeat_ms:
                    await self._strategy_passes(unit, slot, md, now)

    async def _operator_commands(self, session: _Session) -> None:
        """Execute the operator commands waiting (between passes) and answer each caller."""
        for command, done in self.operator.take():
            outcome = await execute_command(command, risk=self.risk, slots=session.slots, guard=session.guard,
                                            guarded=self._guarded, now_ms=self.clock.now_ms())  # fmt: skip
            self.operator.executed += 1
            if self.journal is not None:
                self.journal.record_operator_action(command, outcome)
            if not done.done():
                done.set_result(outcome)

    # -- the pipeline ---------------------------------------------------------------------------
    def _wants_pass(self, unit: StrategyUnit, slot: InstrumentSlot, md: MarketData, now: int) -> bool | None:
        """Return whether a strategy pass is due for ``md``: None = no; True/False = ``should_execute``'s answer.

        False with a pending pass (an order event asked for one) still runs the pass.
        """
        if self._in_pass or unit.failed or now < unit.wait_until_ms:
            return None
        if unit.multi:
            unit.context.event_instrument = slot.instrument
        try:  # inline on the hot path; the same policy as ``StrategyUnit.call(..., config_errors=True)``
            wanted = unit.strategy.should_execute(md)
        except ConfigError:
            raise
        except Exception as exc:
            unit.crash("should_execute", exc)
            return None
        return wanted if wanted or unit.pending_pass else None

    async def _strategy_passes(
        self, unit: StrategyUnit, slot: InstrumentSlot, md: MarketData, now: int, *, checked: bool = False
    ) -> None:
        """Run ``unit``'s strategy passes until no order event asks for another (bounded per event).

        ``checked`` means ``should_execute`` already said yes for this event (the first pass skips it).
        """
        self._in_pass = unit.in_pass = True
        try:
            await self._refresh_unit_balances(unit)
            for _ in range(_MAX_PASSES_PER_EVENT):
                unit.pending_pass = False
                await self._strategy_pass(unit, slot, md, now, checked=checked)
                checked = False
                if not unit.pending_pass or self._stop.is_set():
                    break
        finally:
            self._in_pass = unit.in_pass = False

    async def _refresh_unit_balances(self, unit: StrategyUnit) -> None:
        slots = unit.slots
        if len(slots) == 1:
            if slots[0].venue.balances_dirty:
                await self._refresh_balances(slots[0].venue)
        else:
            for venue in {s.venue for s in slots}:
                if venue.balances_dirty:
                    await self._refresh_balances(venue)

    async def _bar_pass(self, unit: StrategyUnit, slot: InstrumentSlot) -> None:
        """Hand ``unit``'s strategy the bars ``slot``'s event closed (``on_bar``), before ``should_execute``.

        Bars reach the strategy during a wait (``wait_time``) too, so its indicators miss none; their
        results are handled as ``execute_strategy``'s are.
        """
        assert slot.bars is not None
        strategy = unit.strategy
        self._in_pass = unit.in_pass = True
        try:
            await self._refresh_unit_balances(unit)
            if unit.multi:
                unit.context.event_instrument = slot.instrument
            for bar, timeframe in slot.bars.take():
                result = unit.call("on_bar", strategy.bar_closed, bar, timeframe, config_errors=True)
                if result is not None and (
                    result.action is not StrategyAction.NONE or result.cancel or result.state_request is not None
                ):
                    await self._handle_result(unit, result)
                if unit.failed or self._stop.is_set():
                    break
            reason = unit.call("stop_reason", strategy.stop_reason)
            if reason is not None:
                self.request_stop(f"strategy stopped: {reason}")
        finally:
            self._in_pass = unit.in_pass = False

    async def _strategy_pass(
        self, unit: StrategyUnit, slot: InstrumentSlot, md: MarketData, now: int, *, checked: bool = False
    ) -> None:
        strategy = unit.strategy
        if unit.failed or now < unit.wait_until_ms:
            return
        if unit.multi:
            unit.context.event_instrument = slot.instrument
        if not checked and not unit.call("should_execute", strategy.should_execute, md, config_errors=True):
            return
        result = unit.call("execute_strategy", strategy.execute_strategy, md, config_errors=True)
        if result is None:
            return
        if result.action is not StrategyAction.NONE or result.cancel or result.state_request is not None:
            await self._handle_result(unit, result)
        reason = unit.call("stop_reason", strategy.stop_reason)
        if reason is not None:
            self.request_stop(f"strategy stopped: {reason}")

    async def _handle_result(self, unit: StrategyUnit, result: StrategyResult) -> None:
        if result.message:
            _log.info("strategy_note", strategy=unit.label, message=result.message)
        if result.state_request is not None:
            self._restrict(unit, result.state_request)
        for coid in result.cancel:
            owner = next((s for s in unit.slots if s.tracker.get(coid) is not None), unit.slots[0])
            await self._guarded(owner, owner.orders.cancel(coid))
        action = result.action
        if self.journal is not None and unit.call("state_changed", unit.strategy.state_changed):
            await self._save_state(unit)  # e.g. the exit plan of an entry: journaled before the entry goes out
        if action is StrategyAction.PLACE_ORDER:
            for params in result.orders:
                target = unit.slot_for(params.instrument)
                if target is None:
                    mine = ", ".join(map(str, unit.instruments))
                    unit.crash("execute_strategy", StrategyError(f"order for {params.instrument}: not one of {mine}"))
                    return
                await self._guarded(target, target.orders.submit(params, target.view.last))
        elif action is StrategyAction.CLOSE_POSITION:
            guard = self._live().guard
            for target in unit.slots:
                await guard.close_position(target, "strategy asked to close the position")
        elif action is StrategyAction.WAIT:
            unit.wait_until_ms = self.clock.now_ms() + int(result.wait_time * 1000)

    def _restrict(self, unit: StrategyUnit, request: StateRequest) -> None:
        """Apply a strategy's request for a more restrictive trading state (never back towards ACTIVE)."""
        previous = self.risk.trading_state
        applied = request.restricts(previous)
        if applied:
            self.risk.set_trading_state(request.state, f"strategy {unit.label}: {request.reason}")
        _log.error(
            "strategy_requested_state", strategy=unit.label, state=request.state.value,
            previous=previous.value, applied=applied, reason=request.reason, alert=applied,
        )  # fmt: skip

    async def _guarded(self, slot: InstrumentSlot, call: Awaitable[Any]) -> None:
        """Run one exchange request of ``slot`` with the error policy: transient errors never stop the bot."""
        try:
            await call
        except AuthenticationError as exc:
            failures = slot.orders.auth_failures
            venue = slot.venue.name
            _log.error("authentication_failed", venue=venue, error=str(exc), failures=failures)
            if failures >= _MAX_AUTH_FAILURES and slot.venue.state is not TradingState.HALTED:
                self._venue_failed(
                    slot.venue,
                    f"the exchange refused our API keys {failures} times in a row; check "
                    f"TRADING_BOT__EXCHANGE__API_KEY and TRADING_BOT__EXCHANGE__SECRET (with venues: "
                    f"TRADING_BOT__VENUES__{venue.upper()}__API_KEY / __SECRET)",
                    exc,
                )
        except TransientExchangeError as exc:
            self.risk.record_order_failure(self.clock.now_ms())
            _log.warning("exchange_transient_error", venue=slot.venue.name, error=str(exc))
        except ExchangeError as exc:
            self.risk.record_order_failure(self.clock.now_ms())
            _log.error("exchange_error", venue=slot.venue.name, error=str(exc))

    def _risk_context(self, slot: InstrumentSlot) -> RiskContext:
        session = self._live()
        portfolio, open_count = slot.portfolio, slot.tracker.open_count
        total_open = open_count if len(session.slots) == 1 else sum(s.tracker.open_count for s in session.slots)
        market = slot.market
        terms = slot.venue.client.perp_terms(market.symbol) if market.contract else (1, MarginMode.CROSS)
        leverage, margin_mode = terms
        return RiskContext(
            market=slot.market,
            market_data=slot.view.last,
            now_ms=self.clock.now_ms(),
            position=portfolio.position,
            open_order_count=open_count,
            balances=portfolio.balances,
            equity=session.book.equity(),
            spot=not market.contract,
            leverage=Decimal(leverage),
            margin_mode=margin_mode,
            portfolio=session.book.totals(total_open),
            venue_state=slot.venue.state,
            atr=None if slot.bars is None else slot.bars.atr_value(),
        )

    async def _refresh_dirty_balances(self) -> None:
        for venue in self._venues.values():
            if venue.balances_dirty:
                await self._refresh_balances(venue)

    async def _refresh_balances(self, venue: Venue) -> None:
        try:
            balances = await venue.client.fetch_balance()
        except TransientExchangeError as exc:
            _log.warning("balance_refresh_failed", venue=venue.name, error=str(exc))
            return
        for slot in venue.slots.values():
            slot.portfolio.set_balances(balances)
        venue.balances_dirty = False

    # -- order updates (each venue's sink) ------------------------------------------------------
    def _sink(self, venue: Venue) -> Callable[[OrderUpdate | AccountUpdate], None]:
        def on_update(update: OrderUpdate | AccountUpdate) -> None:
            slot = venue.slots.get(Symbol(update.symbol))
            if slot is None:
                _log.debug("update_not_ours", venue=venue.name, symbol=update.symbol)
                return  # another market of the account, or before the start built the slots
            if isinstance(update, FundingPayment | Liquidation):
                self._on_account_update(slot, update)
            else:
                self._on_update(slot, update)

        return on_update

    def _on_update(self, slot: InstrumentSlot, update: OrderUpdate) -> None:
        if isinstance(update, Fill):
            event = slot.tracker.apply_fill(update)
            if event is None:
                return
            slot.portfolio.apply_fill(update)
            if self.journal is not None:
                self.journal.record_fill(update, venue=slot.venue.name)
            slot.venue.balances_dirty = True
            self.risk.record_order_success(update.ts_ms)
        else:
            event = slot.tracker.apply_report(update)
            if event is None:
                return
        self._publish(slot, event)

    def _on_account_update(self, slot: InstrumentSlot, update: AccountUpdate) -> None:
        """A funding payment or a liquidation of one of our perpetual positions."""
        if isinstance(update, FundingPayment):
            if not slot.portfolio.apply_funding(update):
                return  # already counted (and journaled): delivered twice
            if self.journal is not None:
                market = slot.market
                self.journal.record_funding(update, asset=market.settle_currency, venue=slot.venue.name)
            _log.info("funding_payment", symbol=update.symbol, amount=str(update.amount), rate=str(update.rate),
                      id=update.id)  # fmt: skip
        else:
            fill = slot.portfolio.apply_liquidation(update)
            if self.journal is not None:
                self.journal.record_fill(fill, venue=slot.venue.name)
            _log.error("position_liquidated", symbol=update.symbol, quantity=str(update.quantity),
                       price=str(update.price), fee=str(update.fee))  # fmt: skip
        slot.venue.balances_dirty = True

    def _publish(self, slot: InstrumentSlot, event: OrderEvent) -> None:
        """Log an order event, show it to the owning strategy, and schedule a strategy pass."""
        if self.on_order_event is not None:
            self.on_order_event(event)
        for observer in self.order_observers:
            observer(event)
        if isinstance(event, OrderDenied):
            if event.rule == DAILY_LOSS_RULE and self._daily is not None:  # alerted once a day, not per order
                self._daily.check(event.ts_ms)
                _log.debug("order_denied", client_order_id=event.client_order_id, rule=event.rule, reason=event.reason)
            else:
                _log.warning(
                    "order_denied", client_order_id=event.client_order_id, rule=event.rule, reason=event.reason
                )
        else:
            if isinstance(event, OrderRejected):  # a post-only crossing is the strategy's retry cue: info
                log = _log.info if event.post_only else _log.warning
                log("order_rejected", client_order_id=event.client_order_id, reason=event.reason)
            elif _log.enabled(logging.DEBUG):
                _log.debug(event.name, client_order_id=event.client_order_id, tag=event.client_tag)
            if self.journal is not None:
                order = slot.tracker.get(event.client_order_id)
                if order is not None:
                    self.journal.record_order(order, venue=slot.venue.name)
        unit = slot.unit
        if unit.failed:
            return
        unit.call("on_order_update", unit.strategy.on_order_update, event)
        unit.pending_pass = True
        if not self._in_pass:
            self._wake.set()

    def _crashed(self, unit: StrategyUnit, hook: str, exc: Exception) -> None:
        error = StrategyError(f"strategy {unit.label!r} raised in {hook}: {exc!r}")
        self.strategy_failed = True
        self.exit_code = 1
        self.stop_reason = str(error)
        self.risk.set_trading_state(TradingState.HALTED, str(error))

    # -- shutdown ----------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Stop in order within one deadline (the module docstring has the steps); never raises."""
        began = time.monotonic()
        budget = self.shutdown_timeout_s
        requested = self._stop_requested_at
        deadline = (began if requested is None else min(requested, began)) + budget
        journal_end = deadline - min(_VENUE_RESERVE_S, budget * 0.1)
        local_reserve = min(_LOCAL_RESERVE_S, budget * 0.25)
        network_end = journal_end - local_reserve
        self.operator.fail_waiting("the bot is stopping", self.risk.trading_state.value, self.clock.now_ms())
        for unit in self.units:
            unit.call("shutdown", unit.strategy.shutdown)
        await run_step("orders", self._settle_orders, time_left(network_end))
        await run_step("drain_fills", self._drain_fills, time_left(network_end))
        await run_step("funding", self._final_funding, time_left(network_end))
        await run_step("balances", self._final_balances, time_left(network_end))
        left = [o.client_order_id for t in self.trackers.values() for o in t.open_orders()]
        if self.on_shutdown == "cancel" and left:
            _log.error("shutdown_orders_left_open", open_orders=len(left), client_order_ids=left[:20])
        state_s = time_left(journal_end - local_reserve / 2, floor=_STATE_FLOOR_S)
        problem = await run_step("save_state", self._save_strategy_states, state_s)
        if problem is not None:
            self._shutdown_failed("save_state", problem)
        journal_s = time_left(journal_end, floor=_JOURNAL_FLOOR_S)
        problem = await run_step("journal_close", lambda: self._close_journal(journal_s * 0.6), journal_s)
        if problem is not None:
            self._shutdown_failed("journal_close", problem)
        venue_s = time_left(deadline, floor=_VENUE_FLOOR_S)
        await run_step("venue_close", self._close_venues, venue_s)
        _log.info(
            "bot_stopped",
            reason=self.stop_reason,
            exit_code=self.exit_code,
            shutdown_s=round(time.monotonic() - began, 3),
        )

    def _shutdown_failed(self, step: str, problem: str) -> None:
        """A local shutdown step failed: the run ends with exit code 1 (2 stays 2) and says why."""
        if self.exit_code == 0:
            self.exit_code = 1
        self.stop_reason = f"{self.stop_reason}; {step} failed during shutdown: {problem}"

    async def _settle_orders(self) -> None:
        await settle_orders(self.slots, self.on_shutdown)

    async def _drain_fills(self) -> None:
        """Cross-check the run's fills: since the start (less a clock-skew margin), at most 10 minutes back.

        Older ones were already cross-checked by the user stream's periodic REST check, and the next
        start's reconciliation looks again.
        """
        since = max(0, self._started_ms - _DRAIN_MARGIN_MS, self.clock.now_ms() - _DRAIN_LOOKBACK_MS)
        await drain_fills(self.slots, since, self._on_update)

    async def _final_balances(self) -> None:
        if self._session is not None:
            for venue in self._venues.values():
                await self._refresh_balances(venue)

    async def _close_venues(self) -> None:
        for venue in self._venues.values():
            await venue.client.close()

    async def _save_states_due(self, now: int) -> None:
        """Journal every changed snapshot each ``_STATE_SAVE_MS``, and in between those that say they changed."""
        if self.journal is None:
            return
        if now >= self._next_state_save_ms:
            self._next_state_save_ms = now + _STATE_SAVE_MS
            await self._save_strategy_states()
        else:
            await self._save_changed_states()

    async def _save_strategy_states(self) -> None:
        """Store each strategy's snapshot in the journal when it changed since the last save."""
        for unit in self.units:
            await self._save_state(unit)

    async def _save_changed_states(self) -> None:
        """Store the snapshots of the strategies whose ``state_changed()`` says so (between periodic saves)."""
        for unit in self.units:
            if unit.started and unit.call("state_changed", unit.strategy.state_changed):
                await self._save_state(unit)

    async def _save_state(self, unit: StrategyUnit) -> None:
        journal = self.journal
        if journal is None or journal.run_id is None or not unit.started:
            return  # a start refused before the strategy ran must not overwrite its journaled state
        try:
            state = unit.strategy.snapshot()
        except Exception as exc:
            _log.error("strategy_snapshot_failed", strategy=unit.label, error=repr(exc))
            return
        if state != unit.saved_state:
            await journal.save_state(unit.name, self.clock.now_ms(), state, str(unit.instruments[0]))
            unit.saved_state = state

    async def _close_journal(self, flush_timeout_s: float) -> None:
        journal = self.journal
        if journal is None:
            return
        opening = self._journal_opening
        if opening is not None and not opening.done():
            await asyncio.wait((opening,))  # stopped during the open: let it finish, then close its run row
        await journal.close(self.clock.now_ms(), self.stop_reason, self.exit_code, flush_timeout_s=flush_timeout_s)

    def _summary(self, *, fingerprint: bool = True) -> dict[str, Any]:
        facts = RunFacts(
            bot_id=self.bot_id,
            exit_code=self.exit_code,
            stop_reason=self.stop_reason,
            market_events=self.events,
            elapsed_s=time.perf_counter() - self._started_wall,
            trading_state=self.risk.trading_state.value,
        )
        session = self._session
        return build_summary(facts, self.units, session.slots if session else (), session.book if session else None,
                             fingerprint=fingerprint)  # fmt: skip
