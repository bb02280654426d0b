"""The daily loss limit through the real supervisor, on the simulated clock (no sleeps).

The account: 10,000 USDT. A market buy of 0.1 BTC at 60,001 (taker fee 0.1 %), then BTC falls to 54,000:
equity ≈ 3,993.89 USDT + 0.1 × 54,000.5 ≈ 9,393.94, about 6.06 % below the 10,000 the day began with
(limit 5 %). Opens are refused (rule ``daily_loss``) from then until 00:00 UTC; exits still go out; the
first event of the next UTC day begins a new day and opens go out again. The day's start survives a
restart through the journal.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.daily import DAY_MS
from risk.manager import RiskManager
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import make_bot
from tests.kit.pipeline import quote
from trading_bot.domain import MarketData
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderSubmitted
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.supervisor import TradingBot

D = Decimal
RISK = RiskConfig(
    max_daily_loss_pct=D("5"), max_order_notional=None, max_position_notional=None, price_band_pct=None,
    max_data_age_s=None,
)  # fmt: skip
NEXT_DAY = DAY_MS + 1000  # 1970-01-02T00:00:01Z on the simulated clock


def _open(tag: str) -> OrderParams:
    return OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("54000"), client_tag=tag)


def _script(plan: dict[int, list[OrderParams]]):  # type: ignore[no-untyped-def]
    """Place ``plan[ts]`` on the first pass of the event at ``ts`` ms (later passes of that event do nothing)."""
    done: set[int] = set()

    def script(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
        orders = plan.get(md.ts_ms)
        if orders is None or md.ts_ms in done:
            return None
        done.add(md.ts_ms)
        return StrategyResult.place(*orders)

    return script


def _outcome(strategy: ScriptedStrategy) -> dict[str, str]:
    """Return ``client_tag → "denied:<rule>" | "submitted"``."""
    seen: dict[str, str] = {}
    for event in strategy.events:
        if isinstance(event, OrderDenied):
            seen[event.client_tag or ""] = f"denied:{event.rule}"
        elif isinstance(event, OrderSubmitted):
            seen[event.client_tag or ""] = "submitted"
    return seen


BUY = OrderParams(side=OrderSide.BUY, quantity=D("0.1"), order_type=OrderType.MARKET, client_tag="buy")


@pytest.mark.asyncio
async def test_daily_loss_refuses_opens_after_the_loss_allows_exits_and_resumes_after_midnight_utc() -> None:
    plan = {
        1000: [BUY],
        2000: [_open("open_after_loss"), OrderParams(side=OrderSide.SELL, quantity=D("0.05"), price=D("54001"),
                                                     client_tag="exit")],
        3000: [_open("open_again")],
        DAY_MS - 1: [_open("open_at_23_59_59")],
        NEXT_DAY: [_open("open_next_day")],
    }  # fmt: skip
    events = [quote(ts, "60000", "60001") if ts == 1000 else quote(ts, "54000", "54001") for ts in sorted(plan)]
    strategy = ScriptedStrategy(_script(plan))
    bot, _ = make_bot(events, strategy, risk=RISK)

    with capture_logs() as logs:
        result = await bot.run()

    assert result.exit_code == 0, result.reason
    assert _outcome(strategy) == {
        "buy": "submitted",
        "open_after_loss": "denied:daily_loss",
        "exit": "submitted",
        "open_again": "denied:daily_loss",
        "open_at_23_59_59": "denied:daily_loss",
        "open_next_day": "submitted",
    }
    denial = next(e for e in strategy.events if isinstance(e, OrderDenied))
    assert denial.transient
    assert "below 10,000.00 at the start of 1970-01-01 UTC; limit 5 %" in denial.reason
    alerts = [entry for entry in logs if entry["event"] == "daily_loss_limit"]
    assert len(alerts) == 1  # three refused opens that day, one alert
    assert alerts[0]["alert"] is True
    starts = [entry for entry in logs if entry["event"] == "trading_day_started"]
    assert [s["day_start_ms"] for s in starts] == [1000, NEXT_DAY]
    day_start = bot.risk.day_start
    assert day_start is not None
    assert (day_start.day, day_start.ts_ms) == (1, NEXT_DAY)
    assert D("9390") < day_start.equity < D("9400")  # day 2 starts from day 1's close, not from 10,000


def _journal_bot(exchange: PaperExchange, clock: SimulatedClock, db_url: str, strategy: ScriptedStrategy) -> TradingBot:
    return TradingBot(
        bot_id="d1", symbol=SYMBOL, exchange=exchange, strategy=strategy, risk=RiskManager(RISK), clock=clock,
        on_shutdown="keep", journal=JournalLink(db_url, "d1", "hash"),
    )  # fmt: skip


@pytest.mark.asyncio
async def test_the_day_start_survives_a_restart_the_same_day_and_is_dropped_the_next_day(tmp_path: Path) -> None:
    """Restarted at 9,394 the same day, the bot still measures from the 10,000 the day began with."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    clock = SimulatedClock()
    source = ListSource([quote(1000, "60000", "60001"), quote(2000, "54000", "54001")], clock)
    exchange = PaperExchange(PaperConfig(balances={"USDT": D(10000)}), clock, source, markets=source.markets)
    first = ScriptedStrategy(_script({1000: [BUY]}))
    assert (await _journal_bot(exchange, clock, db_url, first).run()).exit_code == 0

    source.events = [quote(3000, "54000", "54001"), quote(NEXT_DAY, "54000", "54001")]
    second = ScriptedStrategy(_script({3000: [_open("after_restart")], NEXT_DAY: [_open("next_day")]}))
    bot = _journal_bot(exchange, clock, db_url, second)
    result = await bot.run()

    assert result.exit_code == 0, result.reason
    assert _outcome(second) == {"after_restart": "denied:daily_loss", "next_day": "submitted"}

    source.events = [quote(NEXT_DAY + 5000, "54000", "54001")]  # a third run, on the next day: its start is kept
    third = ScriptedStrategy(_script({NEXT_DAY + 5000: [_open("third_run")]}))
    bot = _journal_bot(exchange, clock, db_url, third)
    assert (await bot.run()).exit_code == 0
    assert _outcome(third) == {"third_run": "submitted"}
    restored = bot.risk.day_start
    assert restored is not None
    assert restored.ts_ms == NEXT_DAY  # restored from the second run, not begun again
