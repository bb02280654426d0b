"""TradingBot: the single asyncio supervisor.

(About 790 lines, over the ~500 guide: the start, the long-lived tasks, the strategy pipeline and the
bounded shutdown share the run's state and its one deadline; what stands alone lives beside it —
``account_guard``, ``daily``, ``shutdown``, ``summary``, ``reconcile``, ``orders/``, ``journal/``. The
multi-instrument runtime of issue 11 is the point to split it by instrument and venue.)

One ``asyncio.TaskGroup`` owns every long-lived task: the market-data loop, the user stream, the
heartbeat/reactor, the journal writer and the stop watcher. On every market event the loop does
(DESIGN.md §2): account check → ``should_execute`` → ``execute_strategy`` → sizer → RiskManager → order
manager → exchange. Order updates arrive through the exchange's sink, are applied to the tracker and
portfolio, and are shown to the strategy at once; a strategy pass follows so that, for example, a
take-profit goes out on the same event as the fill that caused it.

Error policy, by class:

* ``TransientExchangeError`` (incl. ``RateLimited``): logged, requests paused for the back-off, the bot
  goes on; an order whose outcome is unknown is looked up by client id on the next heartbeat.
* ``OrderRejected``: becomes an ``OrderRejected`` event for the strategy.
* any exception from a strategy hook (``StrategyError``): that strategy is stopped, trading is halted,
  ``strategy_failed`` is logged, the bot keeps managing its orders until stopped; exit code 1.
* ``AuthenticationError`` three times in a row, ``OperationalError``: halt, orderly shutdown, exit 1.
* ``EmergencyStop`` (an account-protection rule): cancel, flatten at market, halt, exit 1.

Start and stop (a stop request, SIGINT/SIGTERM/SIGHUP, or the end of a replay):

* The start (journal open, connect, reconcile, initial quote) is raced against the stop request: a stop
  during the start cancels it and goes straight to the shutdown, exit 0.
* The shutdown has ONE deadline, ``shutdown_timeout_s`` counted from the stop request: strategy
  ``shutdown()`` → open orders cancelled or kept per ``on_shutdown`` → fills cross-checked with the
  exchange (what the user stream did not deliver is applied and journaled) → balances → strategy state
  saved → journal closed (flush, run row) → exchange closed → summary. Each step is guarded: a failure
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
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from risk.base import PortfolioTotals
from risk.daily import DAILY_LOSS_RULE
from risk.manager import RiskContext
from risk.manager import RiskManager
from strategies.base import BaseStrategy
from trading_bot.domain import Clock
from trading_bot.domain import Fill
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import StateRequest
from trading_bot.domain import StrategyAction
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
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
from trading_bot.runtime.context import BotStrategyContext
from trading_bot.runtime.daily import DailyLossKeeper
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.manager import SequenceSource
from trading_bot.runtime.orders.manager import TimeSeededSequence
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.shutdown import run_step
from trading_bot.runtime.shutdown import time_left
from trading_bot.runtime.summary import build_summary

if TYPE_CHECKING:  # the journal pulls in SQLAlchemy: imported only when a run has one
    from trading_bot.runtime.journal.link import JournalLink

__all__ = ["RunResult", "TradingBot"]

_log = get_logger(__name__)

_MAX_AUTH_FAILURES = 3
_MAX_PASSES_PER_EVENT = 4
_ACCOUNT_CHECK_MS = 1_000
_STATE_SAVE_MS = 10_000
_YIELD_EVERY = 1024  # market events between the market loop's yields to the event loop (signals, stop watcher)
_LOCAL_RESERVE_S = 2.0  # of the shutdown budget, kept for saving the state and closing the journal (at most)
_VENUE_RESERVE_S = 1.0  # of the shutdown budget, kept for closing the exchange (at most)
_STATE_FLOOR_S = 0.5  # saving the strategy state gets at least this long, even past the deadline
_JOURNAL_FLOOR_S = 1.0  # closing the journal gets at least this long, even past the deadline
_VENUE_FLOOR_S = 0.5  # closing the exchange gets at least this long, even past the deadline
_DRAIN_MARGIN_MS = 60_000  # the fill cross-check starts this long before the run started (clock skew)
_DRAIN_LOOKBACK_MS = 600_000  # ... but looks back at most this far (the user stream's own REST check runs every 30 s)


async def _restore(strategy: BaseStrategy[Any], journal: JournalLink) -> bool:
    from trading_bot.runtime.reconcile import restore_strategy

    return await restore_strategy(strategy, journal.journal)


class _StopRequested(Exception):
    """Raised inside the TaskGroup to unwind every task on a stop request."""


@dataclass(slots=True, kw_only=True)
class _Session:
    """What the start builds once connected, and every later phase uses: no half-built state."""

    market: Market
    portfolio: Portfolio
    context: BotStrategyContext
    orders: OrderManager
    guard: AccountGuard


@dataclass(slots=True)
class RunResult:
    """How a run ended: exit code (0 ok, 1 failure), reason, and the summary figures."""

    exit_code: int
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)


class TradingBot:
    """Runs one strategy on one market of one exchange client.

    Args:
        bot_id: prefix of client order ids.
        symbol: the traded market.
        exchange: the exchange client (live ccxt or paper); the only path to an exchange.
        strategy: the strategy instance (already built with validated params).
        risk: the RiskManager asked before every order.
        clock: live or simulated clock.
        sizing: sizer used when a strategy leaves the quantity open.
        on_shutdown: ``cancel`` or ``keep`` the bot's open orders when it stops.
        heartbeat_s: wall seconds between heartbeats (strategy re-check without market data, lookups of
            unknown outcomes, stall detection).
        shutdown_timeout_s: bound on the orderly shutdown, in seconds.
        journal: the run's journal link (write-ahead intents, updates, fills, strategy state), or
            ``None`` (replays); when set it also supplies the client-order-id sequence.
        sequence: client-order-id sequence source when there is no journal.
        notify: called with systemd-style status words (``READY=1``, ``WATCHDOG=1``...).
    """

    def __init__(
        self,
        *,
        bot_id: str,
        symbol: Symbol,
        exchange: BaseExchangeClient,
        strategy: BaseStrategy[Any],
        risk: RiskManager,
        clock: Clock,
        sizing: Callable[[OrderParams, RiskContext], Decimal | None] | None = None,
        on_shutdown: Literal["cancel", "keep"] = "cancel",
        heartbeat_s: float = 1.0,
        shutdown_timeout_s: float = 15.0,
        journal: JournalLink | None = None,
        sequence: SequenceSource | None = None,
        notify: Callable[[str], None] | None = None,
        after_connect: Callable[[TradingBot], Awaitable[None]] | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.symbol = symbol
        self.exchange = exchange
        self.strategy = strategy
        self.risk = risk
        self.clock = clock
        self.on_shutdown = on_shutdown
        self.heartbeat_s = heartbeat_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.journal = journal
        self.notify = notify or (lambda _msg: None)
        self._after_connect = after_connect
        self._sizing = sizing
        self._sequence: SequenceSource = journal or sequence or TimeSeededSequence(int(time.time() * 1000))
        self._saved_state: dict[str, Any] | None = None
        self._strategy_started = False
        self._next_state_save_ms = 0
        self.tracker = OrderTracker(f"{bot_id}-")
        self._stop = asyncio.Event()
        self._stop_requested_at: float | None = None  # time.monotonic() of the first stop request
        self._wake = asyncio.Event()
        self._journal_opening: asyncio.Task[None] | None = None
        self._market_yield = False  # True while the market loop yields mid-stream (the heartbeat defers)
        self._started_ms = 0
        self.stop_reason = ""
        self.exit_code = 0
        self.strategy_failed = False
        self.events = 0
        self._pending_pass = False
        self._in_pass = False
        self._wait_until_ms = 0
        self._next_account_check_ms = 0
        protection = risk.config.protection
        self._protection_on = (
            protection.emergency_enabled or protection.account_loss_enabled or protection.stall_enabled
        )
        self._daily: DailyLossKeeper | None = None  # set at start when max_daily_loss_pct is
        self._balances_dirty = True
        self._last_event_ms = 0
        self._started_wall = 0.0
        self._session: _Session | None = None

    # -- what the start built (None before it connected) -------------------------------------------
    @property
    def market(self) -> Market | None:
        """The traded market's rules, once connected."""
        return None if self._session is None else self._session.market

    @property
    def portfolio(self) -> Portfolio | None:
        """The bot's position, fills and balances, once connected."""
        return None if self._session is None else self._session.portfolio

    @property
    def context(self) -> BotStrategyContext | None:
        """The strategy's read-only view, once connected."""
        return None if self._session is None else self._session.context

    @property
    def orders(self) -> OrderManager | None:
        """The order manager, once connected."""
        return None if self._session is None else self._session.orders

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
        self.exchange.attach(self._on_update)
        try:
            if await self._start_unless_stopped():
                self.notify("READY=1")
                self.notify(f"STATUS=trading {self.symbol} with {self.strategy.name}")
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
        summary = self._summary()
        return RunResult(exit_code=self.exit_code, reason=self.stop_reason, summary=summary)

    async def _trade(self) -> None:
        """Run the long-lived tasks until a stop request or a failure; set the exit code and reason."""
        try:
            async with asyncio.TaskGroup() as tg:
                if self.journal is not None:
                    tg.create_task(self.journal.run_writer(), name="journal_writer")
                tg.create_task(self._market_loop(), name="market_data")
                tg.create_task(self._user_stream(), name="user_stream")
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
        await self.exchange.connect()
        market = self.exchange.market(self.symbol)
        portfolio = Portfolio(market)
        portfolio.set_balances(await self.exchange.fetch_balance())
        self._balances_dirty = False
        context = BotStrategyContext(
            market=market, clock=self.clock, tracker=self.tracker, portfolio=portfolio, risk=self.risk
        )
        orders = OrderManager(
            bot_id=self.bot_id,
            symbol=self.symbol,
            exchange=self.exchange,
            tracker=self.tracker,
            risk=self.risk,
            clock=self.clock,
            sequence=self._sequence,
            journal=self.journal,
            risk_context=self._risk_context,
            publish=self._publish,
            sizing=self._sizing,
        )
        guard = AccountGuard(
            risk=self.risk, symbol=self.symbol, market=market, portfolio=portfolio, context=context,
            orders=orders, guarded=self._guarded,
        )  # fmt: skip
        self._session = _Session(
            market=market, portfolio=portfolio, context=context, orders=orders, guard=guard
        )
        if self._after_connect is not None:
            await self._after_connect(self)
        if self.journal is not None:
            from trading_bot.runtime.reconcile import reconcile

            report = await reconcile(
                exchange=self.exchange,
                journal=self.journal.journal,
                tracker=self.tracker,
                portfolio=portfolio,
                symbol=self.symbol,
                bot_id=self.bot_id,
                now_ms=self.clock.now_ms(),
                adopt=self.journal.adopt,
            )
            self.notify("STATUS=reconciled: " + ", ".join(f"{k} {v}" for k, v in report.counts().items()))
        if self.risk.daily_loss_enabled:
            self._daily = DailyLossKeeper(self.risk, portfolio, self.journal, self._refresh_balances_if_dirty)
            await self._daily.restore(self.clock.now_ms())
        try:
            context.last = await self.exchange.fetch_bbo(self.symbol)
        except TransientExchangeError as exc:
            _log.warning("initial_quote_unavailable", error=str(exc))
        try:
            self.strategy.initialize(context)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"strategy {self.strategy.name!r} failed to start: {exc}") from exc
        self._strategy_started = True
        if self.journal is not None and await _restore(self.strategy, self.journal):
            _log.info("strategy_state_restored", strategy=self.strategy.name)
        _log.info("bot_started", bot_id=self.bot_id, symbol=self.symbol, strategy=self.strategy.name)

    # -- long-lived tasks ----------------------------------------------------------------------
    async def _watch_stop(self) -> None:
        await self._stop.wait()
        raise _StopRequested

    async def _user_stream(self) -> None:
        await self.exchange.run_user_stream()

    async def _market_loop(self) -> None:
        """Feed every market event through the pipeline; an event that needs no await costs no coroutine.

        A replay at full speed never waits for anything, so once every 1024 events the loop yields to the
        event loop: a signal is handled, and the stop seen, within about 3000 events (~0.05 s). The
        heartbeat defers to the market loop during that yield, so a replay stays deterministic.
        """
        stop = self._stop
        countdown = _YIELD_EVERY
        async for md in self.exchange.stream_market_data(self.symbol):
            self.events += 1
            now = md.ts_ms
            self._observe(md)
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
            wanted = self._wants_pass(md, now)
            if wanted is not None:
                await self._strategy_passes(md, now, checked=wanted)
            countdown -= 1
            if not countdown:
                countdown = _YIELD_EVERY
                await self._yield_mid_stream()
            if stop.is_set():
                return
        self.request_stop("end of market data")

    async def _yield_mid_stream(self) -> None:
        self._market_yield = True
        try:
            await asyncio.sleep(0)
        finally:
            self._market_yield = False

    async def _heartbeat(self) -> None:
        """Wake the strategy without market data, resolve unknown outcomes, ping the watchdog."""
        heartbeat_ms = int(self.heartbeat_s * 1000)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await self._wake.wait()
            self._wake.clear()
            self.notify("WATCHDOG=1")
            if self._in_pass or self._market_yield:
                continue
            orders = self.orders
            if orders is not None and orders.unknown_outcomes:
                await orders.resolve_unknown()
            if self._protection_on and self._session is not None:
                await self._session.guard.check(self.clock.now_ms())  # the stall rule needs no market data
            daily = self._daily
            if daily is not None:
                if daily.due(self.clock.now_ms()):
                    await daily.begin_day(self.clock.now_ms())  # midnight passed without market data
                daily.check(self.clock.now_ms())
            if self.journal is not None and self.clock.now_ms() >= self._next_state_save_ms:
                self._next_state_save_ms = self.clock.now_ms() + _STATE_SAVE_MS
                await self._save_strategy_state()
            md = self.context.last if self.context is not None else None
            if md is None:
                continue
            stale = self.clock.now_ms() - self._last_event_ms >= heartbeat_ms
            if self._pending_pass or stale:
                await self._strategy_passes(md, self.clock.now_ms())

    # -- the pipeline ---------------------------------------------------------------------------
    def _observe(self, md: MarketData) -> None:
        """Record ``md`` as the latest event and mark the portfolio at its mid."""
        session = self._live()
        session.context.last = md
        self._last_event_ms = md.ts_ms
        session.portfolio.update_mark((md.bid + md.ask) / 2)

    def _wants_pass(self, md: MarketData, now: int) -> bool | None:
        """Return whether a strategy pass is due for ``md``: None = no; True/False = ``should_execute``'s answer.

        False with a pending pass (an order event asked for one) still runs the pass.
        """
        if self._in_pass or self.strategy_failed or now < self._wait_until_ms:
            return None
        try:
            wanted = self.strategy.should_execute(md)
        except ConfigError:
            raise
        except Exception as exc:
            self._strategy_crashed("should_execute", exc)
            return None
        return wanted if wanted or self._pending_pass else None

    async def _strategy_passes(self, md: MarketData, now: int, *, checked: bool = False) -> None:
        """Run strategy passes until no order event asks for another (bounded per event).

        ``checked`` means ``should_execute`` already said yes for this event (the first pass skips it).
        """
        self._in_pass = True
        try:
            if self._balances_dirty:
                await self._refresh_balances()
            for _ in range(_MAX_PASSES_PER_EVENT):
                self._pending_pass = False
                await self._strategy_pass(md, now, checked=checked)
                checked = False
                if not self._pending_pass or self._stop.is_set():
                    break
        finally:
            self._in_pass = False

    async def _strategy_pass(self, md: MarketData, now: int, *, checked: bool = False) -> None:
        strategy = self.strategy
        if self.strategy_failed or now < self._wait_until_ms:
            return
        try:
            if not checked and not strategy.should_execute(md):
                return
            result = strategy.execute_strategy(md)
        except ConfigError:
            raise  # e.g. a quantity below the market minimum, found at the first price: exit 2
        except Exception as exc:  # every hook is wrapped: a strategy bug stops only the strategy
            self._strategy_crashed("execute_strategy", exc)
            return
        if result.action is not StrategyAction.NONE or result.cancel or result.state_request is not None:
            await self._handle_result(result, md)
        self._check_strategy_stop()

    async def _handle_result(self, result: StrategyResult, md: MarketData) -> None:
        session = self._live()
        orders = session.orders
        if result.message:
            _log.info("strategy_note", strategy=self.strategy.name, message=result.message)
        if result.state_request is not None:
            self._restrict(result.state_request)
        for coid in result.cancel:
            await self._guarded(orders.cancel(coid))
        action = result.action
        if action is StrategyAction.PLACE_ORDER:
            for params in result.orders:
                await self._guarded(orders.submit(params, md))
        elif action is StrategyAction.CLOSE_POSITION:
            await session.guard.close_position("strategy asked to close the position")
        elif action is StrategyAction.WAIT:
            self._wait_until_ms = self.clock.now_ms() + int(result.wait_time * 1000)

    def _restrict(self, request: StateRequest) -> None:
        """Apply a strategy's request for a more restrictive trading state (never back towards ACTIVE)."""
        previous = self.risk.trading_state
        applied = request.restricts(previous)
        if applied:
            self.risk.set_trading_state(request.state, f"strategy {self.strategy.name}: {request.reason}")
        _log.error(
            "strategy_requested_state", strategy=self.strategy.name, state=request.state.value,
            previous=previous.value, applied=applied, reason=request.reason, alert=applied,
        )  # fmt: skip

    async def _guarded(self, call: Awaitable[Any]) -> None:
        """Run one exchange request with the error policy: transient errors never stop the bot."""
        try:
            await call
        except AuthenticationError as exc:
            failures = self._live().orders.auth_failures
            _log.error("authentication_failed", error=str(exc), failures=failures)
            if failures >= _MAX_AUTH_FAILURES:
                raise OperationalError(
                    f"the exchange refused our API keys {failures} times in a row; check "
                    "TRADING_BOT__EXCHANGE__API_KEY and TRADING_BOT__EXCHANGE__SECRET"
                ) from exc
        except TransientExchangeError as exc:
            self.risk.record_order_failure(self.clock.now_ms())
            _log.warning("exchange_transient_error", error=str(exc))
        except ExchangeError as exc:
            self.risk.record_order_failure(self.clock.now_ms())
            _log.error("exchange_error", error=str(exc))

    def _risk_context(self) -> RiskContext:
        session = self._live()
        portfolio, open_count = session.portfolio, self.tracker.open_count
        mark = portfolio.mark
        totals = None if mark is None else PortfolioTotals.of(((portfolio.position.quantity, mark),), open_count)
        return RiskContext(
            market=session.market,
            market_data=session.context.last,
            now_ms=self.clock.now_ms(),
            position=portfolio.position,
            open_order_count=open_count,
            balances=portfolio.balances,
            equity=portfolio.equity(),
            spot=not session.market.contract,
            portfolio=totals,  # one instrument today: the book is this market's position at its mark
        )

    async def _refresh_balances_if_dirty(self) -> None:
        if self._balances_dirty:
            await self._refresh_balances()

    async def _refresh_balances(self) -> None:
        portfolio = self._live().portfolio
        try:
            portfolio.set_balances(await self.exchange.fetch_balance())
            self._balances_dirty = False
        except TransientExchangeError as exc:
            _log.warning("balance_refresh_failed", error=str(exc))

    # -- order updates (the exchange's sink) ---------------------------------------------------
    def _on_update(self, update: OrderUpdate) -> None:
        if isinstance(update, Fill):
            event = self.tracker.apply_fill(update)
            if event is None:
                return
            self._live().portfolio.apply_fill(update)
            if self.journal is not None:
                self.journal.record_fill(update)
            self._balances_dirty = True
            self.risk.record_order_success(update.ts_ms)
        else:
            event = self.tracker.apply_report(update)
            if event is None:
                return
        self._publish(event)

    def _publish(self, event: OrderEvent) -> None:
        """Log an order event, show it to the strategy, and schedule a strategy pass."""
        if isinstance(event, OrderDenied):
            if event.rule == DAILY_LOSS_RULE and self._daily is not None:  # alerted once a day, not per order
                self._daily.check(event.ts_ms)
                _log.debug("order_denied", client_order_id=event.client_order_id, rule=event.rule, reason=event.reason)
            else:
                _log.warning(
                    "order_denied", client_order_id=event.client_order_id, rule=event.rule, reason=event.reason
                )
        else:
            _log.debug(event.name, client_order_id=event.client_order_id, tag=event.client_tag)
            if self.journal is not None:
                order = self.tracker.get(event.client_order_id)
                if order is not None:
                    self.journal.record_order(order)
        if not self.strategy_failed:
            try:
                self.strategy.on_order_update(event)
            except Exception as exc:
                self._strategy_crashed("on_order_update", exc)
                return
        self._pending_pass = True
        if not self._in_pass:
            self._wake.set()

    def _strategy_crashed(self, hook: str, exc: Exception) -> None:
        error = StrategyError(f"strategy {self.strategy.name!r} raised in {hook}: {exc!r}")
        _log.error("strategy_failed", strategy=self.strategy.name, hook=hook, error=repr(exc), exc_info=exc)
        self.strategy_failed = True
        self.exit_code = 1
        self.stop_reason = str(error)
        self.risk.set_trading_state(TradingState.HALTED, str(error))

    def _check_strategy_stop(self) -> None:
        reason = self.strategy.stop_reason()
        if reason is not None:
            self.request_stop(f"strategy stopped: {reason}")

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
        self._stop_strategy()
        await run_step("orders", self._settle_orders, time_left(network_end))
        await run_step("drain_fills", self._drain_fills, time_left(network_end))
        await run_step("balances", self._final_balances, time_left(network_end))
        if self.on_shutdown == "cancel" and self.tracker.open_count:
            left = [o.client_order_id for o in self.tracker.open_orders()]
            _log.error("shutdown_orders_left_open", open_orders=len(left), client_order_ids=left[:20])
        state_s = time_left(journal_end - local_reserve / 2, floor=_STATE_FLOOR_S)
        problem = await run_step("save_state", self._save_strategy_state, state_s)
        if problem is not None:
            self._shutdown_failed("save_state", problem)
        journal_s = time_left(journal_end, floor=_JOURNAL_FLOOR_S)
        problem = await run_step("journal_close", lambda: self._close_journal(journal_s * 0.6), journal_s)
        if problem is not None:
            self._shutdown_failed("journal_close", problem)
        await run_step("venue_close", self.exchange.close, time_left(deadline, floor=_VENUE_FLOOR_S))
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

    def _stop_strategy(self) -> None:
        try:
            self.strategy.shutdown()
        except Exception as exc:  # every hook is wrapped
            self._strategy_crashed("shutdown", exc)

    async def _settle_orders(self) -> None:
        session = self._session
        if session is None or not self.tracker.open_count:
            return
        if self.on_shutdown == "cancel":
            await session.orders.cancel_all()
        else:
            _log.info("orders_kept", open_orders=self.tracker.open_count)

    async def _drain_fills(self) -> None:
        """Apply (and so journal) the run's fills the exchange has but the user stream did not deliver.

        Asks for the fills since the run started (less a clock-skew margin), or of the last 10 minutes
        in a longer run: older ones were already cross-checked by the user stream's periodic REST check,
        and the next start's reconciliation looks again.
        """
        if self._session is None:
            return
        since = max(0, self._started_ms - _DRAIN_MARGIN_MS, self.clock.now_ms() - _DRAIN_LOOKBACK_MS)
        fills = await self.exchange.fetch_my_trades(self.symbol, since)
        tracker, recovered = self.tracker, []
        for fill in fills:
            if tracker.is_ours(fill.client_order_id) and not tracker.seen_trade(fill.symbol, fill.trade_id):
                self._on_update(fill)
                if tracker.seen_trade(fill.symbol, fill.trade_id):
                    recovered.append(fill.trade_id)
        if recovered:
            _log.warning("fills_recovered_at_shutdown", count=len(recovered), trade_ids=recovered[:20])
        else:
            _log.info("fills_cross_checked", exchange_fills=len(fills))

    async def _final_balances(self) -> None:
        if self._session is not None:
            await self._refresh_balances()

    async def _save_strategy_state(self) -> None:
        """Store the strategy's snapshot in the journal when it changed since the last save."""
        journal = self.journal
        if journal is None or journal.run_id is None or not self._strategy_started:
            return  # a start refused before the strategy ran must not overwrite its journaled state
        try:
            state = self.strategy.snapshot()
        except Exception as exc:
            _log.error("strategy_snapshot_failed", error=repr(exc))
            return
        if state != self._saved_state:
            await journal.save_state(self.strategy.name, self.clock.now_ms(), state)
            self._saved_state = state

    async def _close_journal(self, flush_timeout_s: float) -> None:
        journal = self.journal
        if journal is None:
            return
        opening = self._journal_opening
        if opening is not None and not opening.done():
            await asyncio.wait((opening,))  # stopped during the open: let it finish, then close its run row
        await journal.close(self.clock.now_ms(), self.stop_reason, self.exit_code, flush_timeout_s=flush_timeout_s)

    def _summary(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self._started_wall
        return build_summary(self, elapsed)
