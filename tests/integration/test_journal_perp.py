"""A perpetual swap across restarts: funding journaled once, restored and caught up; positions cross-checked.

The real supervisor on a real ``PaperExchange`` swap account (funding at a constant rate every 8 h, the
Binance USD-M snapshot's BTC/USDT:USDT) and a real SQLite journal. The exchange outlives the bot: between
two runs it goes on settling funding (or someone else trades the account) while nobody listens.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from exchanges.sim.model import PerpSettings
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.integration.conftest import run_cli
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from trading_bot.domain import ClientOrderId
from trading_bot.domain import FundingPayment
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import Journal
from trading_bot.runtime.portfolio import Portfolio
from trading_bot.runtime.supervisor import TradingBot

pytestmark = pytest.mark.asyncio

D = Decimal
SWAP = Symbol("BTC/USDT:USDT")
F1 = 1_723_104_000_000  # a funding time (a multiple of 8 h since the epoch)
F2 = F1 + 28_800_000
RATE = D("0.0001")


def quote(ts: int, bid: str = "60000", ask: str = "60001") -> MarketData:
    return MarketData(symbol=SWAP, ts_ms=ts, bid=D(bid), ask=D(ask), bid_size=D(5), ask_size=D(5))


class World:
    """The venue and the journal that outlive the bot."""

    def __init__(self, tmp_path: Path, leverage: int = 1) -> None:
        self.clock = SimulatedClock(F1 - 120_000)
        self.source = ListSource([], self.clock)
        self.exchange = PaperExchange(
            PaperConfig(balances={"USDT": D(10_000)}), self.clock, self.source, markets=self.source.markets,
            perp=PerpSettings(funding_rate=RATE, leverage=leverage, margin_mode=MarginMode.ISOLATED),
        )  # fmt: skip
        self.db_url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"

    def bot(self, events: list[MarketData], script: Any = None) -> TradingBot:
        self.source.events = events
        return TradingBot(
            bot_id="perp1", symbol=SWAP, exchange=self.exchange, strategy=ScriptedStrategy(script or (lambda *a: None)),
            risk=RiskManager(RiskConfig(price_band_pct=None, max_data_age_s=None)), clock=self.clock,
            on_shutdown="keep", journal=JournalLink(self.db_url, "perp1", "hash", venue="paper"),
        )  # fmt: skip

    async def while_down(self, events: list[MarketData]) -> None:
        """The venue goes on (funding settles) while no bot is attached."""
        self.exchange.attach(lambda update: None)
        self.source.events = events
        async for _ in self.exchange.stream_market_data(SWAP):
            pass

    async def funding_rows(self) -> list[FundingPayment]:
        journal = await Journal.open(self.db_url, read_only=True)
        try:
            return [r.payment for r in await journal.funding_payments()]
        finally:
            await journal.close()


def buy(quantity: str) -> Any:
    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        if i == 0:
            return StrategyResult.place(
                OrderParams(side=OrderSide.BUY, quantity=D(quantity), order_type=OrderType.MARKET, client_tag="open")
            )
        return None

    return script


def _portfolio(bot: TradingBot) -> Portfolio:
    portfolio = bot.portfolio
    assert portfolio is not None
    return portfolio


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_funding_is_journaled_once_restored_at_restart_and_the_payments_made_while_down_are_caught_up(
    tmp_path: Path,
) -> None:
    """Rules: a funding payment is journaled once by id; a restart restores the funding total and count from
    the journal; the payments the venue made while the bot was down are recorded and added, and only those."""
    world = World(tmp_path)
    first = world.bot([quote(F1 - 60_000), quote(F1 - 30_000), quote(F1 + 1_000), quote(F1 + 2_000)], buy("0.01"))
    assert (await first.run()).exit_code == 0
    (paid,) = await world.funding_rows()
    assert paid.quantity == D("0.01")
    assert paid.amount < 0
    assert (_portfolio(first).funding, _portfolio(first).funding_payments) == (paid.amount, 1)

    await world.while_down([quote(F2 - 1_000), quote(F2 + 1_000)])  # the second payment: nobody listening
    (_, down) = await world.exchange.fetch_funding_payments(SWAP)
    second = world.bot([quote(F2 + 5_000), quote(F2 + 6_000)])
    with capture_logs() as logs:
        assert (await second.run()).exit_code == 0
    (caught,) = _events(logs, "funding_caught_up")
    assert (caught["count"], caught["restored"], caught["ids"]) == (1, 1, [down.id])
    assert caught["since_ms"] == paid.ts_ms  # asked from the latest journaled payment on
    portfolio = _portfolio(second)
    assert (portfolio.funding, portfolio.funding_payments) == (paid.amount + down.amount, 2)
    assert [p.id for p in await world.funding_rows()] == [paid.id, down.id]
    assert second.risk.trading_state is TradingState.ACTIVE  # the fills and the venue agree: 0.01 long
    assert not _events(logs, "position_mismatch")

    third = world.bot([quote(F2 + 7_000)])
    with capture_logs() as logs:
        assert (await third.run()).exit_code == 0
    assert _events(logs, "funding_caught_up")[0]["count"] == 0  # asking again records nothing
    assert (_portfolio(third).funding, _portfolio(third).funding_payments) == (paid.amount + down.amount, 2)
    assert len(await world.funding_rows()) == 2


async def test_a_payment_delivered_twice_while_running_is_counted_and_journaled_once(tmp_path: Path) -> None:
    """Rule: the supervisor's funding path is idempotent by payment id (a user stream may repeat itself)."""
    world = World(tmp_path)
    bot = world.bot([quote(F1 - 60_000), quote(F1 + 1_000), quote(F1 + 2_000)], buy("0.01"))
    sink = world.exchange.emit
    repeated: list[FundingPayment] = []

    def emit_twice(update: Any) -> None:
        sink(update)
        if isinstance(update, FundingPayment):
            repeated.append(update)
            sink(update)

    world.exchange.emit = emit_twice  # type: ignore[method-assign]
    assert (await bot.run()).exit_code == 0
    assert len(repeated) == 1
    assert _portfolio(bot).funding_payments == 1
    assert [p.id for p in await world.funding_rows()] == [repeated[0].id]


async def test_a_position_the_venue_no_longer_holds_sets_reducing_at_start_and_keeps_the_bots_position(
    tmp_path: Path,
) -> None:
    """Rule: at start a swap's position from the bot's fills is checked against the venue's report; a
    mismatch beyond one lot logs ``position_mismatch`` with both figures and sets REDUCING; the bot's
    position is not overwritten."""
    world = World(tmp_path)
    first = world.bot([quote(F1 - 60_000), quote(F1 - 30_000)], buy("0.01"))
    assert (await first.run()).exit_code == 0
    world.exchange.attach(lambda update: None)  # someone else closes the position on the account
    closing = OrderParams(side=OrderSide.SELL, quantity=D("0.01"), order_type=OrderType.MARKET)
    await world.exchange.place_order(SWAP, closing, D("0.01"), ClientOrderId("someone-1"))
    assert await world.exchange.fetch_positions([SWAP]) == []  # flat on the venue: no report

    second = world.bot([quote(F1 - 20_000), quote(F1 - 10_000)])
    with capture_logs() as logs:
        assert (await second.run()).exit_code == 0
    (mismatch,) = _events(logs, "position_mismatch")
    assert (mismatch["bot_position"], mismatch["venue_position"], mismatch["when"]) == ("0.01", "0", "start")
    assert mismatch["log_level"] == "error"
    assert mismatch["alert"] is True
    assert second.risk.trading_state is TradingState.REDUCING
    assert "position_mismatch on paper:BTC/USDT:USDT" in second.risk.trading_state_reason
    assert _portfolio(second).position.quantity == D("0.01")  # never overwritten from the venue


async def test_equal_positions_keep_trading_active_and_a_periodic_mismatch_is_confirmed_before_reducing(
    tmp_path: Path,
) -> None:
    """Rules: equal positions leave the state ACTIVE; the periodic check (heartbeat) sets REDUCING only when
    a mismatch is still there at the next check (a fill the venue counts may be on its way)."""
    world = World(tmp_path)
    bot = world.bot([quote(F1 - 60_000), quote(F1 - 30_000)], buy("0.01"))
    with capture_logs() as logs:
        assert (await bot.run()).exit_code == 0
    assert bot.risk.trading_state is TradingState.ACTIVE
    assert not _events(logs, "position_mismatch")
    session = bot._live()
    with capture_logs() as logs:
        await bot._check_positions(session, "periodic")
    assert bot.risk.trading_state is TradingState.ACTIVE
    assert not _events(logs, "position_mismatch_unconfirmed")

    world.exchange.attach(lambda update: None)
    extra = OrderParams(side=OrderSide.BUY, quantity=D("0.002"), order_type=OrderType.MARKET)
    await world.exchange.place_order(SWAP, extra, D("0.002"), ClientOrderId("someone-2"))
    with capture_logs() as logs:
        await bot._check_positions(session, "periodic")
    assert _events(logs, "position_mismatch_unconfirmed")
    assert not _events(logs, "position_mismatch")
    assert bot.risk.trading_state is TradingState.ACTIVE
    with capture_logs() as logs:
        await bot._check_positions(session, "periodic")
    (mismatch,) = _events(logs, "position_mismatch")
    assert (mismatch["bot_position"], mismatch["venue_position"], mismatch["when"]) == ("0.01", "0.012", "periodic")
    assert bot.risk.trading_state is TradingState.REDUCING


async def test_a_difference_of_one_lot_step_is_not_a_mismatch(tmp_path: Path) -> None:
    """Rule: the positions must agree to within one lot step (``amount_increment``, 0.001 here)."""
    world = World(tmp_path)
    bot = world.bot([quote(F1 - 60_000), quote(F1 - 30_000)], buy("0.01"))
    assert (await bot.run()).exit_code == 0
    world.exchange.attach(lambda update: None)
    extra = OrderParams(side=OrderSide.BUY, quantity=D("0.001"), order_type=OrderType.MARKET)
    await world.exchange.place_order(SWAP, extra, D("0.001"), ClientOrderId("someone-3"))
    for _ in range(2):
        await bot._check_positions(bot._live(), "periodic")
    assert bot.risk.trading_state is TradingState.ACTIVE


async def test_a_journaled_liquidation_is_part_of_the_position_rebuilt_at_restart(tmp_path: Path) -> None:
    """Rule: the liquidation fill (the venue's fill of the bot's position) counts at restart like the bot's own
    fills: the rebuilt position is flat, as on the venue, so the cross-check agrees."""
    world = World(tmp_path, leverage=20)
    first = world.bot([quote(F1 - 60_000), quote(F1 - 30_000, "50000", "50001")], buy("0.01"))
    with capture_logs() as logs:
        assert (await first.run()).exit_code == 0
    assert _events(logs, "position_liquidated")
    assert _portfolio(first).position.quantity == 0
    second = world.bot([quote(F1 - 20_000, "50000", "50001")])
    with capture_logs() as logs:
        assert (await second.run()).exit_code == 0
    assert _portfolio(second).position.quantity == 0
    assert [f.client_order_id for f in _portfolio(second).fills] == ["perp1-1", "liquidation"]
    assert second.risk.trading_state is TradingState.ACTIVE
    assert not _events(logs, "position_mismatch")


async def test_the_journal_cli_lists_funding_payments_and_status_adds_them_to_the_instruments_pnl(
    tmp_path: Path,
) -> None:
    """Rule: ``funding`` lists the payments where ``trades`` lists the fills; ``status`` shows the funding total
    per instrument, inside its net PnL."""
    world = World(tmp_path)
    bot = world.bot([quote(F1 - 60_000), quote(F1 + 1_000), quote(F1 + 2_000)], buy("0.01"))
    assert (await bot.run()).exit_code == 0
    (paid,) = await world.funding_rows()
    db = str(tmp_path / "journal.db")
    listed = run_cli("funding", "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["instrument"], row["payment_id"], row["asset"]) == ("paper:BTC/USDT:USDT", paid.id, "USDT")
    assert (D(row["amount"]), D(row["rate"]), row["ts_ms"]) == (paid.amount, RATE, F1)
    text = run_cli("funding", "--db", db, "--symbol", "paper:BTC/USDT:USDT")
    assert text.returncode == 0, text.stderr
    assert f"paper:BTC/USDT:USDT: 1 payments, {paid.amount} USDT" in text.stdout
    assert run_cli("funding", "--db", db, "--venue", "other").stdout.strip() == "no funding payments"
    status = run_cli("status", "--db", db, "--json")
    assert status.returncode == 0, status.stderr
    (position,) = json.loads(status.stdout)["positions"]
    assert (D(position["funding"]), position["funding_payments"]) == (paid.amount, 1)
    assert D(position["net_pnl"]) == D(position["realized_pnl"]) - D(position["fees"]) + paid.amount
    assert "funding" in run_cli("status", "--db", db).stdout


async def test_with_no_funding_journaled_the_catch_up_asks_from_the_bots_first_fill(tmp_path: Path) -> None:
    """Rule: the catch-up's lower bound is the latest journaled payment, else the bot's first fill of the swap
    (no position, no funding); a bot that never traded the swap asks nothing."""
    world = World(tmp_path)
    idle = world.bot([quote(F1 - 90_000)])
    with capture_logs() as logs:
        assert (await idle.run()).exit_code == 0
    assert not _events(logs, "funding_caught_up")  # never held the swap: the venue is not asked
    first = world.bot([quote(F1 - 60_000), quote(F1 - 30_000)], buy("0.01"))  # stopped before the funding time
    assert (await first.run()).exit_code == 0
    assert await world.funding_rows() == []
    (fill,) = _portfolio(first).fills
    await world.while_down([quote(F1 - 1_000), quote(F1 + 1_000)])
    second = world.bot([quote(F1 + 5_000)])
    with capture_logs() as logs:
        assert (await second.run()).exit_code == 0
    (caught,) = _events(logs, "funding_caught_up")
    assert (caught["count"], caught["restored"], caught["since_ms"]) == (1, 0, fill.ts_ms)
    assert _portfolio(second).funding_payments == 1
    assert len(await world.funding_rows()) == 1
