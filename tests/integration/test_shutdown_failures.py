"""Every shutdown step is guarded: a failing one is logged, the next ones still run, the run row is closed.

The supervisor runs on the paper exchange with a real SQLite journal; the failures are injected into the
journal link (a full disk while saving the strategy state or flushing the last rows) and the strategy
(a ``shutdown`` hook that raises), as the brief allows where a real condition cannot be arranged in-process.
"""

from __future__ import annotations

import errno
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from risk.config import RiskConfig
from risk.manager import RiskManager
from tests.kit.pipeline import SYMBOL
from tests.kit.pipeline import ListSource
from tests.kit.pipeline import ScriptedStrategy
from tests.kit.pipeline import quote
from trading_bot.domain import Clock
from trading_bot.domain import MarketData
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import SimulatedClock
from trading_bot.domain import StrategyResult
from trading_bot.runtime.journal.link import JournalLink
from trading_bot.runtime.journal.store import JournalWriter
from trading_bot.runtime.supervisor import TradingBot

D = Decimal


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class _StateSaveFails(JournalLink):
    async def save_state(self, strategy: str, ts_ms: int, state: dict[str, Any]) -> None:
        raise _disk_full()


class _FailingFlushWriter(JournalWriter):
    async def flush(self) -> None:
        raise _disk_full()


class _FlushFails(JournalLink):
    async def open(self, clock: Clock) -> None:
        await super().open(clock)
        self._writer = _FailingFlushWriter(self.journal, clock)


class _ShutdownRaises(ScriptedStrategy):
    def shutdown(self) -> None:
        raise RuntimeError("boom in shutdown")


def _rest_one(i: int, md: MarketData, s: ScriptedStrategy) -> StrategyResult | None:
    if i == 0:
        return StrategyResult.place(OrderParams(side=OrderSide.BUY, quantity=D("0.001"), price=D("59000")))
    return None


def _bot(tmp_path: Path, journal: JournalLink, strategy: ScriptedStrategy) -> tuple[TradingBot, PaperExchange]:
    clock = SimulatedClock()
    source = ListSource([quote(1000, "60000", "60001"), quote(2000, "60000", "60001")], clock)
    exchange = PaperExchange(PaperConfig(), clock, source, markets=source.markets)
    bot = TradingBot(
        bot_id="j1", symbol=SYMBOL, exchange=exchange, strategy=strategy,
        risk=RiskManager(RiskConfig(price_band_pct=None, max_data_age_s=None)), clock=clock,
        on_shutdown="cancel", shutdown_timeout_s=5, journal=journal,
    )  # fmt: skip
    return bot, exchange


def _db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"


def _last_run(tmp_path: Path) -> tuple[Any, ...]:
    with sqlite3.connect(tmp_path / "journal.db") as raw:
        row = raw.execute("SELECT stopped_ms, exit_code, exit_reason FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    return tuple(row)


def _failed_steps(logs: list[dict[str, Any]]) -> list[str]:
    return [e["step"] for e in logs if e["event"] == "shutdown_step_failed"]


@pytest.mark.asyncio
async def test_disk_full_while_saving_the_strategy_state_is_logged_and_the_run_row_still_closed(
    tmp_path: Path,
) -> None:
    bot, exchange = _bot(tmp_path, _StateSaveFails(_db(tmp_path), "j1", "hash"), ScriptedStrategy(_rest_one))

    with capture_logs() as logs:
        result = await bot.run()  # returns: nothing escapes the shutdown

    assert _failed_steps(logs) == ["save_state"]
    assert result.exit_code == 1  # documented: the strategy state was not persisted
    assert "save_state failed during shutdown" in result.reason
    assert result.summary["exit_code"] == 1
    assert exchange.engine(SYMBOL).open_orders() == []  # the order step before it ran
    stopped_ms, exit_code, reason = _last_run(tmp_path)  # and the journal step after it
    assert stopped_ms is not None
    assert exit_code == 1
    assert "save_state" in reason


@pytest.mark.asyncio
async def test_disk_full_while_flushing_the_journal_still_records_the_end_of_the_run(tmp_path: Path) -> None:
    bot, _ = _bot(tmp_path, _FlushFails(_db(tmp_path), "j1", "hash"), ScriptedStrategy(_rest_one))

    with capture_logs() as logs:
        result = await bot.run()

    assert _failed_steps(logs) == ["journal_close"]
    assert result.exit_code == 1
    stopped_ms, _, _ = _last_run(tmp_path)
    assert stopped_ms is not None  # the run row is closed although the queued rows could not be written
    assert any(e["event"] == "exchange_closed" or e["event"] == "bot_stopped" for e in logs)


@pytest.mark.asyncio
async def test_a_strategy_shutdown_hook_that_raises_does_not_stop_the_rest_of_the_shutdown(tmp_path: Path) -> None:
    bot, exchange = _bot(tmp_path, JournalLink(_db(tmp_path), "j1", "hash"), _ShutdownRaises(_rest_one))

    with capture_logs() as logs:
        result = await bot.run()

    assert any(e["event"] == "strategy_failed" and e["hook"] == "shutdown" for e in logs)
    assert result.exit_code == 1  # a strategy crash, as in any other hook
    assert exchange.engine(SYMBOL).open_orders() == []
    stopped_ms, exit_code, _ = _last_run(tmp_path)
    assert stopped_ms is not None
    assert exit_code == 1
