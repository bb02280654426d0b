"""A take-profit that hedges a real fill is never lost to a transient error, nor to a restart.

* How refusals are classified, through the real order manager and real ccxt against the emulator.
* The supervisor honours a strategy's request to restrict trading, never to relax it.
* Restarts of the real supervisor with the real grid, a paper exchange and the journal on a SQLite file:
  a take-profit queued when the bot stopped goes out after the restart, exactly once.
* End to end: the CLI trades the grid against the emulator through storms of 429s and 5xx answers;
  every filled open gets its take-profit at its target, checked from the emulator's own order log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_CEILING
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskContext
from risk.manager import RiskManager
from strategies.grid import GridParams
from strategies.grid import GridStrategy
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.test_ccxt_faults import emulated
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.domain import Fill
from trading_bot.domain import LiveClock
from trading_bot.domain import MarketData
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StateRequest
from trading_bot.domain import StrategyResult
from trading_bot.domain import TradeId
from trading_bot.domain import TradingState
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.orders.manager import OrderManager
from trading_bot.runtime.orders.manager import TimeSeededSequence
from trading_bot.runtime.orders.tracker import OrderTracker
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.supervisor import TradingBot

pytestmark = pytest.mark.asyncio

D = Decimal
QTY = D("0.001")


# -- classification: the order manager decides once, by exception class ----------------------------------


async def _manager(client: CcxtExchange) -> tuple[OrderManager, list[OrderEvent]]:
    """The real order manager over ``client``, with risk rules that do not get in the way."""
    market = client.market(SYMBOL)
    portfolio = Portfolio(market)
    portfolio.set_balances(await client.fetch_balance())
    risk = RiskManager(
        RiskConfig(price_band_pct=None, max_data_age_s=None, max_orders_per_minute=None, max_order_notional=None,
                   max_position_notional=None, balance_check_enabled=False)
    )  # fmt: skip
    events: list[OrderEvent] = []

    def context() -> RiskContext:
        return RiskContext(
            market=market, market_data=None, now_ms=int(time.time() * 1000), position=portfolio.position,
            open_order_count=0, balances=portfolio.balances, equity=D(0),
        )  # fmt: skip

    manager = OrderManager(
        bot_id="cls", symbol=SYMBOL, exchange=client, tracker=OrderTracker("cls-"), risk=risk, clock=LiveClock(),
        sequence=TimeSeededSequence(1), journal=None, risk_context=context, publish=events.append,
    )  # fmt: skip
    return manager, events


def _sell(price: str) -> OrderParams:
    """A post-only take-profit sell of 0.001 BTC (the emulator quotes 60000 / 60010)."""
    return OrderParams(side=OrderSide.SELL, quantity=QTY, price=D(price), post_only=True, client_tag="tp:1")


def _refusal(events: list[OrderEvent]) -> tuple[str, bool, bool]:
    (refusal,) = [e for e in events if isinstance(e, OrderRejected | OrderDenied)]
    post_only = isinstance(refusal, OrderRejected) and refusal.post_only
    return type(refusal).__name__, refusal.transient, post_only


async def test_take_profit_refused_with_429_is_classified_transient() -> None:
    async with emulated() as (emulator, client, _):
        manager, events = await _manager(client)
        emulator.set_faults(next_n_429=1, retry_after_s=1)

        await manager.submit(_sell("60100"), None)

        assert _refusal(events) == ("OrderRejected", True, False)


async def test_order_sent_during_the_429_back_off_is_denied_transient_without_a_request() -> None:
    async with emulated() as (emulator, client, _):
        manager, events = await _manager(client)
        emulator.set_faults(next_n_429=1, retry_after_s=5)
        await manager.submit(_sell("60100"), None)
        events.clear()
        posts = len([r for r in emulator.request_log() if r["method"] == "POST"])

        await manager.submit(_sell("60100"), None)

        assert _refusal(events) == ("OrderDenied", True, False)
        assert len([r for r in emulator.request_log() if r["method"] == "POST"]) == posts


async def test_post_only_take_profit_answered_5xx_and_never_booked_is_transient_not_a_crossing() -> None:
    # The adapter concludes "not received by the exchange" with a REJECTED report. It used to reach the
    # strategy as a post-only crossing, and the grid then re-placed the take-profit at the best ask:
    # below its target, possibly below the fill price.
    async with emulated(recvWindow=1000) as (emulator, client, _):
        manager, events = await _manager(client)
        emulator.set_faults(next_n_5xx=1)

        await manager.submit(_sell("60100"), None)

        assert _refusal(events) == ("OrderRejected", True, False)


async def test_take_profit_whose_5xx_outcome_stays_unknown_is_transient_once_looked_up() -> None:
    async with emulated(recvWindow=1000) as (emulator, client, _):
        manager, events = await _manager(client)
        emulator.set_faults(next_n_5xx=1 + len(client.lookup_delays_s))
        await manager.submit(_sell("60100"), None)
        assert manager.unknown_outcomes  # nothing is concluded while the lookups fail

        await manager.resolve_unknown()

        assert _refusal(events) == ("OrderRejected", True, False)
        assert not manager.unknown_outcomes


@pytest.mark.parametrize(
    ("price", "btc", "expected"),
    [
        ("59990", "10", ("OrderRejected", False, True)),  # crosses the 60000 bid: post-only
        ("60100", "0", ("OrderRejected", False, False)),  # insufficient funds: permanent
    ],
)
async def test_take_profit_refused_for_its_own_sake_is_not_transient(
    price: str, btc: str, expected: tuple[str, bool, bool]
) -> None:
    async with emulated() as (emulator, client, _):
        emulator.set_balance("BTC", D(btc))
        manager, events = await _manager(client)

        await manager.submit(_sell(price), None)

        assert _refusal(events) == expected


async def test_cancel_answered_429_after_the_order_filled_meanwhile_leaves_it_filled_without_an_error() -> None:
    # Found by the fault-storm soak: the fill reached the tracker while the cancel request was out; the cancel's
    # 429 answer then moved the FILLED order back to ACCEPTED, an InvalidOrderTransition, and the bot exited 1.
    async with emulated() as (emulator, client, _):
        manager, _events = await _manager(client)
        buy = OrderParams(side=OrderSide.BUY, quantity=QTY, price=D("60005"), post_only=True, client_tag="open:1")
        await manager.submit(buy, None)
        (order,) = manager.tracker.open_orders()
        emulator.set_faults(latency_ms=400, next_n_429=1, retry_after_s=1)
        cancel = asyncio.create_task(manager.cancel(order.client_order_id))
        await asyncio.sleep(0.1)  # the cancel is out, its answer held by the latency
        await emulator.set_quote(SYMBOL, D("59990"), D("60004"))  # the buy fills on the exchange...
        (fill,) = [f for f in emulator.fills() if f["clientOrderId"] == order.client_order_id]
        manager.tracker.apply_fill(  # ...and the user stream delivers it before the cancel's answer
            Fill(trade_id=TradeId(str(fill["id"])), client_order_id=order.client_order_id, symbol=SYMBOL,
                 side=OrderSide.BUY, quantity=QTY, price=D(str(fill["price"])), fee=D(0), fee_currency="USDT",
                 ts_ms=int(str(fill["time"])))
        )  # fmt: skip

        await cancel

        assert order.status is OrderStatus.FILLED
        assert manager.rate_limited_until_ms > 0  # the 429 still slows the next requests down


@pytest.mark.parametrize("by_operator", [True, False])
async def test_cancel_all_marks_its_cancels_by_operator_only_when_the_operator_asked(by_operator: bool) -> None:
    # The grid releases an exit the operator pulled, but treats any other cancel it did not ask for as lost; a
    # cancel of the operator's that did not happen (429: the order rests) leaves no mark on a later cancel.
    async with emulated() as (emulator, client, _):
        manager, events = await _manager(client)
        await manager.submit(_sell("60100"), None)
        await manager.submit(OrderParams(side=OrderSide.SELL, quantity=QTY, price=D("60200"), post_only=True,
                                         client_tag="tp:2"), None)  # fmt: skip

        def canceled() -> dict[str, bool]:
            found = {e.client_tag: e.by_operator for e in events if isinstance(e, OrderCanceled)}
            events.clear()
            return found

        emulator.set_faults(next_n_429=1, retry_after_s=0)  # tp:1's cancel is refused: it rests on
        await manager.cancel_all(by_operator=by_operator)
        assert canceled() == {"tp:2": by_operator}
        await manager.cancel_all()
        assert canceled() == {"tp:1": False}


# -- the supervisor: a strategy may restrict trading, never relax it -----------------------------------------


@pytest.mark.parametrize(
    ("before", "requested", "after"),
    [
        (TradingState.ACTIVE, TradingState.REDUCING, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.HALTED, TradingState.HALTED),
        (TradingState.HALTED, TradingState.REDUCING, TradingState.HALTED),  # never back towards ACTIVE
    ],
)
async def test_strategy_state_request_is_applied_only_towards_reducing_or_halted(
    before: TradingState, requested: TradingState, after: TradingState
) -> None:
    def ask_then_buy(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult(state_request=StateRequest(state=requested, reason="exit lost"))
        if i == 1:
            return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=QTY, price=D("59000")))
        return None

    strategy = ScriptedStrategy(ask_then_buy)
    events = [quote(1000, "60000", "60001"), quote(2000, "60000", "60001"), quote(3000, "60000", "60001")]
    bot, _ = make_bot(events, strategy, risk=RiskConfig(price_band_pct=None, max_data_age_s=None))
    bot.risk.set_trading_state(before, "test")

    with capture_logs() as logs:
        result = await bot.run()

    assert result.exit_code == 0
    assert bot.risk.trading_state is after
    (log,) = [e for e in logs if e["event"] == "strategy_requested_state"]
    assert (log["state"], log["applied"]) == (requested.value, before is not after)
    assert [type(e).__name__ for e in strategy.events] == ["OrderDenied"]  # the buy does not reduce anything


# -- restarts: a take-profit queued at the stop goes out after the restart, exactly once -------------------


class _StopsBeforeTakeProfit(GridStrategy):
    """The grid, but the pass that would send a take-profit stops the bot instead: a stop (or a crash)
    landing between a fill and the pass that hedges it."""

    request_stop: Callable[[str], None] = staticmethod(lambda reason: None)

    def execute_strategy(self, market_data: MarketData) -> StrategyResult:
        unhedged = self.ctx.position.quantity > 0 and not any(o.side is OrderSide.SELL for o in self.ctx.open_orders())
        if unhedged:
            self.request_stop("signal SIGTERM")
            return StrategyResult.nothing()
        return super().execute_strategy(market_data)


INSTRUMENT = f"paper:{SYMBOL}"  # the bot's one instrument: the paper venue's symbol (its snapshot's key)


class _World:
    """The journal file and the paper exchange that outlive each run of the bot."""

    def __init__(self, tmp_path: Path) -> None:
        self.db_url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
        self.clock = SimulatedClock()
        self.source = ListSource([], self.clock)
        self.exchange = PaperExchange(
            PaperConfig(balances={"USDT": D(10_000)}), self.clock, self.source, markets=self.source.markets
        )
        self.params = GridParams(quantity=QTY, take_profit=D("0.02"))

    async def run(self, strategy: GridStrategy, *events: MarketData, on_shutdown: str = "keep") -> dict[str, Any]:
        self.source.events = list(events)
        bot = TradingBot(
            bot_id="r1", symbol=SYMBOL, exchange=self.exchange, strategy=strategy,
            risk=RiskManager(RiskConfig(price_band_pct=None, max_data_age_s=None)), clock=self.clock,
            on_shutdown=on_shutdown, journal=JournalLink(self.db_url, "r1", "hash"),
        )  # fmt: skip
        if isinstance(strategy, _StopsBeforeTakeProfit):
            strategy.request_stop = bot.request_stop
        result = await bot.run()
        assert result.exit_code == 0, result.reason
        return strategy.summary()

    def sells(self) -> list[tuple[Decimal, Decimal | None]]:
        return [(o.quantity, o.price) for o in self.exchange.engine(SYMBOL).open_orders() if o.side is OrderSide.SELL]

    async def journaled_sells(self) -> list[str]:
        journal = await Journal.open(self.db_url)
        try:
            return [o.client_order_id for o in await journal.orders() if o.side is OrderSide.SELL]
        finally:
            await journal.close()

    async def grid_state(self, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the journaled snapshot; with ``state``, first put that older one back (a crash lost the newer)."""
        journal = await Journal.open(self.db_url)
        try:
            if state is not None:
                await journal.save_strategy_state("grid", self.clock.now_ms(), state, INSTRUMENT)
            saved = await journal.load_strategy_state("grid", INSTRUMENT)
            assert saved is not None
            return saved
        finally:
            await journal.close()


async def _stopped_between_fill_and_take_profit(world: _World) -> dict[str, Any]:
    """Run 1: an open buy fills on the second quote, and the bot stops before the take-profit goes out."""
    stopping = _StopsBeforeTakeProfit(world.params)
    summary = await world.run(stopping, quote(1000, "60000.00", "60000.10"), quote(2000, "59990.00", "59990.05"))
    assert summary["opens_filled"] == 1
    assert world.sells() == []
    state = await world.grid_state()
    assert [e["kind"] for e in state["exits"]] == ["tp"]
    return state


TARGET = D("60012.10")  # 60000.09 × (1 + 0.02 %) = 60012.09..., rounded up to the tick


async def test_restart_after_a_stop_between_fill_and_take_profit_sends_the_take_profit_once(tmp_path: Path) -> None:
    world = _World(tmp_path)
    await _stopped_between_fill_and_take_profit(world)

    summary = await world.run(
        GridStrategy(world.params), quote(3000, "60000.00", "60000.10"), quote(4000, "60000.00", "60000.10")
    )

    assert world.sells() == [(QTY, TARGET)]
    assert len(await world.journaled_sells()) == 1
    assert summary["orders_lost"] == 0
    assert summary["resting_take_profits"] == 1


async def test_restart_from_a_snapshot_older_than_the_take_profit_does_not_send_it_twice(tmp_path: Path) -> None:
    world = _World(tmp_path)
    stale = await _stopped_between_fill_and_take_profit(world)
    await world.run(GridStrategy(world.params), quote(3000, "60000.00", "60000.10"))  # the take-profit goes out
    await world.grid_state(stale)  # ...then a crash loses the snapshot that knew it

    summary = await world.run(
        GridStrategy(world.params), quote(5000, "60000.00", "60000.10"), quote(6000, "60000.00", "60000.10")
    )

    assert world.sells() == [(QTY, TARGET)]  # adopted by its tag, not sent again
    assert len(await world.journaled_sells()) == 1
    assert summary["resting_take_profits"] == 1


async def test_restart_from_a_stale_snapshot_after_the_take_profit_filled_completes_the_cycle(tmp_path: Path) -> None:
    world = _World(tmp_path)
    stale = await _stopped_between_fill_and_take_profit(world)
    await world.run(GridStrategy(world.params), quote(3000, "60000.00", "60000.10"))
    await world.grid_state(stale)
    world.exchange.engine(SYMBOL).on_market_data(quote(4000, "60013.00", "60013.10"))  # fills while down
    assert world.exchange.engine(SYMBOL).open_orders() == []

    summary = await world.run(GridStrategy(world.params), quote(5000, "60000.00", "60000.10"))

    assert world.sells() == []
    assert len(await world.journaled_sells()) == 1
    assert summary["cycles_completed"] == 1
    assert summary["orders_lost"] == 0


# -- kill -9: the snapshot is older than what happened; the journal and the position decide -------------


async def _open_resting(world: _World) -> dict[str, Any]:
    """Run 1: the grid places its open buy, which rests; return the snapshot that knows it (covered 0)."""
    summary = await world.run(GridStrategy(world.params), quote(1000, "60000.00", "60000.10"))
    assert summary["open_attempts"] == 1
    return await world.grid_state()


async def test_kill9_after_a_fill_with_a_snapshot_from_before_the_open_order_hedges_it_at_its_target(
    tmp_path: Path,
) -> None:
    # The open buy is sent and fills, and the process dies before any snapshot knew the order.
    world = _World(tmp_path)
    fresh = GridStrategy(world.params).snapshot()
    await _stopped_between_fill_and_take_profit(world)
    await world.grid_state(fresh)

    summary = await world.run(GridStrategy(world.params), quote(3000, "60000.00", "60000.10"))

    assert world.sells() == [(QTY, TARGET)]
    assert len(await world.journaled_sells()) == 1
    assert summary["exits_rebuilt"] == 1


async def test_kill9_after_a_fill_with_a_snapshot_of_the_unfilled_open_order_hedges_it_once(tmp_path: Path) -> None:
    # The snapshot knew the open buy with nothing filled; it filled (and ended) before the process died.
    world = _World(tmp_path)
    stale = await _open_resting(world)
    await world.run(_StopsBeforeTakeProfit(world.params), quote(2000, "59990.00", "59990.05"))
    assert world.sells() == []
    await world.grid_state(stale)

    summary = await world.run(GridStrategy(world.params), quote(3000, "60000.00", "60000.10"))

    assert world.sells() == [(QTY, TARGET)]
    assert len(await world.journaled_sells()) == 1
    assert summary["orders_lost"] == 0


async def test_kill9_after_the_take_profit_filled_with_a_snapshot_that_queued_it_sends_no_second_one(
    tmp_path: Path,
) -> None:
    # The snapshot still had the take-profit queued; it went out and filled while the bot ran, then kill -9.
    world = _World(tmp_path)
    stale = await _stopped_between_fill_and_take_profit(world)
    await world.run(
        GridStrategy(world.params), quote(3000, "60000.00", "60000.10"), quote(4000, "60013.00", "60013.10")
    )
    assert len(await world.journaled_sells()) == 1
    await world.grid_state(stale)

    summary = await world.run(GridStrategy(world.params), quote(5000, "60013.00", "60013.10"))

    assert len(await world.journaled_sells()) == 1  # the cycle is complete: nothing more to sell...
    assert summary["exit_transient_retries"] == 0  # ...nor tried (a second sell was denied only for want of BTC)
    state = await world.grid_state()
    assert state["exits"] == []
    assert [leg["kind"] for leg in state["legs"]] == ["open"]


async def test_restart_after_a_stop_that_cancelled_the_take_profits_hedges_the_position_again(tmp_path: Path) -> None:
    # on_shutdown=cancel takes the resting take-profit off the book; the position it hedged stays.
    world = _World(tmp_path)
    await world.run(
        GridStrategy(world.params), quote(1000, "60000.00", "60000.10"), quote(2000, "59990.00", "59990.05"),
        quote(3000, "60000.00", "60000.10"), on_shutdown="cancel",
    )  # fmt: skip
    assert world.sells() == []
    assert len(await world.journaled_sells()) == 1

    summary = await world.run(GridStrategy(world.params), quote(4000, "60000.00", "60000.10"))

    assert world.sells() == [(QTY, TARGET)]
    assert summary["exits_rebuilt"] == 1


# -- end to end: storms of 429 and 5xx on the order POSTs, take-profits == filled opens --------------------

KEY, SECRET = "exits-key", "exits-secret"
TAKE_PROFIT = D("0.05")  # percent


def _own(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if str(r.get("clientOrderId", "")).startswith("ex1-")]


def _resting(emu: BinanceEmulator, side: str) -> list[dict[str, Any]]:
    return [o for o in _own(emu.orders()) if o["side"] == side and o["status"] == "NEW"]


def _refused_sells(emu: BinanceEmulator, status: int) -> list[str]:
    return [
        str(r["params"].get("newClientOrderId"))
        for r in emu.request_log()
        if r["method"] == "POST" and r["path"] == "/api/v3/order" and r["status"] == status
        and r["params"].get("side") == "SELL"
    ]  # fmt: skip


def _failed_lookups(emu: BinanceEmulator, coids: list[str]) -> int:
    return sum(
        1
        for r in emu.request_log()
        if r["method"] == "GET" and r["path"] == "/api/v3/order" and r["status"] == 503
        and r["params"].get("origClientOrderId") in coids
    )  # fmt: skip


async def _until(check: Callable[[], Any], what: str, log: Path, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise AssertionError(f"timed out waiting for {what}; bot log tail:\n{tail}")
        await asyncio.sleep(0.05)
    return found


async def _fill(emu: BinanceEmulator, order: dict[str, Any]) -> None:
    """Move the book through a resting order of ours so that it fills (as maker, at its price)."""
    price = D(str(order["price"]))
    if order["side"] == "BUY":
        await emu.set_quote("BTC/USDT", price - D("1.05"), price - D("1.00"))
    else:
        await emu.set_quote("BTC/USDT", price + D("1.00"), price + D("1.05"))


def _target(buy_price: Decimal) -> Decimal:
    return (buy_price * (1 + TAKE_PROFIT / 100)).quantize(D("0.01"), rounding=ROUND_CEILING)


async def test_grid_under_429_and_5xx_storms_on_order_posts_hedges_every_fill_at_its_target(tmp_path: Path) -> None:
    emu_config = EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=None, seed=3, history_bars=5)
    async with BinanceEmulator(emu_config) as emu:
        await emu.set_quote("BTC/USDT", D("60000.00"), D("60000.10"))
        ccxt_options = emu.ccxt_options()
        ccxt_options.setdefault("options", {})["recvWindow"] = 1000  # a "not received" verdict after 1 s
        config = {
            "bot": {"bot_id": "ex1", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "exchange": {"name": "binance", "ccxt_options": ccxt_options, "request_timeout_s": 3},
            "strategy": {"name": "grid", "params": {
                "quantity": str(QTY), "take_profit": str(TAKE_PROFIT), "max_orders": 5, "wait_time": 3600,
                "fill_timeout": 3600, "recheck_interval": 0.5, "exit_retry_max": 2}},
            "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
        }  # fmt: skip
        (tmp_path / "config.json").write_text(json.dumps(config))
        log = tmp_path / "bot.log"
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "runbot.py"), "--config", str(tmp_path / "config.json"),
                "--log-format", "json", "--json", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env=cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET),
            )  # fmt: skip
            try:
                # Storm 1: every REST call answers 429 (Retry-After 1 s) while the first open buy fills.
                buy = await _until(lambda: _resting(emu, "BUY"), "the first open buy", log, timeout_s=30)
                emu.set_faults(next_n_429=1_000_000, retry_after_s=1)
                await _fill(emu, buy[0])
                await _until(lambda: len(_refused_sells(emu, 429)) >= 2, "two take-profit POSTs answered 429", log)
                emu.set_faults(next_n_429=0)
                tp = await _until(lambda: _resting(emu, "SELL"), "the first take-profit on the book", log)
                await _fill(emu, tp[0])  # the take-profit fills: the grid opens again at once

                # Storm 2: every REST call answers 503 while the second open buy fills: the take-profit's
                # outcome is unknown and every lookup fails, until the storm ends.
                buy = await _until(lambda: _resting(emu, "BUY"), "the second open buy", log)
                emu.set_faults(error_5xx_rate=1.0)
                await _fill(emu, buy[0])
                await _until(lambda: _failed_lookups(emu, _refused_sells(emu, 503)) >= 6, "failed lookups", log)
                emu.set_faults(error_5xx_rate=0.0)
                await _until(lambda: _resting(emu, "SELL"), "the second take-profit on the book", log)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)

        logs = log.read_text()
        assert proc.returncode == 0, logs[-3000:]
        summary = json.loads(out.decode())["strategy_summary"]
        orders = _own(emu.orders())
        buys = [o for o in orders if o["side"] == "BUY" and D(str(o["executedQty"])) > 0]
        sells = [o for o in orders if o["side"] == "SELL"]
        filled_open = sum((D(str(o["executedQty"])) for o in buys), D(0))
        assert filled_open == 2 * QTY
        assert sum((D(str(o["origQty"])) for o in sells), D(0)) == filled_open  # every fill hedged, once
        # Never below its target (a crossing one goes to the best ask of the book the bot had: higher).
        assert len(sells) == len(buys)
        assert all(D(str(s["price"])) >= _target(D(str(b["price"]))) for b, s in zip(buys, sells, strict=True))
        posts = Counter(r["params"].get("newClientOrderId") for r in emu.request_log() if r["method"] == "POST")
        assert all(n == 1 for n in posts.values())  # no client order id sent twice
        assert "grid_exit_order_lost" not in logs
        assert '"reason": "not received by the exchange"' in logs  # storm 2 went the unknown-outcome way
        assert summary["orders_lost"] == 0
        assert summary["exit_transient_retries"] >= 3  # two 429s (and a back-off denial), one "not received"
