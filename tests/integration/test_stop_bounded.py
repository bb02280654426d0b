"""A stop is bounded by ``shutdown_timeout_s`` from any phase and always closes the run (issue 10, items 2, 3, 10).

The real CLI runs as a subprocess trading with real ccxt on the in-process emulator, whose faults (latency,
dropped answers) make the exchange slow or dead at the moment the signal lands. Assertions come from the
process (exit code, time from the signal, stderr), the emulator's own order and fill books and the
journal's SQLite file.
"""

from __future__ import annotations

import resource
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.stopping import KEY
from tests.integration.stopping import SECRET
from tests.integration.stopping import BotProcess
from tests.integration.stopping import journal_trade_ids
from tests.integration.stopping import last_run
from tests.integration.stopping import own
from tests.integration.stopping import own_open_orders
from tests.integration.stopping import write_config
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator import FaultConfig

BID, ASK = "60000.00", "60000.10"
SLACK_S = 3.0  # process exit and the reserved journal/venue slices, on a loaded 2-core CI machine


async def _static_emulator(faults: FaultConfig | None = None) -> BinanceEmulator:
    config = EmulatorConfig(api_key=KEY, api_secret=SECRET, history_bars=30, faults=faults or FaultConfig())
    emu = BinanceEmulator(config)
    await emu.start()
    await emu.set_quote("BTC/USDT", BID, ASK, "2", "3")
    return emu


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[BinanceEmulator]:
    emu = await _static_emulator()
    try:
        yield emu
    finally:
        await emu.stop()


async def _trading(tmp_path: Path, emu: BinanceEmulator, shutdown_timeout_s: float) -> BotProcess:
    """Start the grid bot on ``emu`` and return once its first buy rests at the exchange."""
    config = write_config(tmp_path, emu, shutdown_timeout_s=shutdown_timeout_s, request_timeout_s=5)
    bot = await BotProcess.start(tmp_path, "--config", str(config))
    await bot.wait_until(lambda: bool(own_open_orders(emu)))
    return bot


def _assert_orderly(stopped_code: int, stderr: str) -> None:
    assert stopped_code == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert '"bot_stopped"' in stderr


@pytest.mark.asyncio
async def test_sigterm_while_the_exchange_is_slow_stops_within_shutdown_timeout_and_closes_the_run(
    tmp_path: Path, emu: BinanceEmulator
) -> None:
    bot = await _trading(tmp_path, emu, shutdown_timeout_s=3)
    emu.set_faults(latency_ms=8000)  # every answer now outlasts the 5 s request timeout and the 3 s budget

    stopped = await bot.stop(signal.SIGTERM)

    _assert_orderly(stopped.code, stopped.stderr)
    assert stopped.after_signal_s < 3 + SLACK_S
    assert stopped.summary["stop_reason"] == "signal SIGTERM"  # the summary is printed
    run = last_run(tmp_path)
    assert run["stopped_ms"] is not None
    assert run["exit_code"] == 0
    assert '"shutdown_step_timeout"' in stopped.stderr or '"shutdown_step_skipped"' in stopped.stderr


async def _stop_during_start_up(tmp_path: Path, emu: BinanceEmulator, phase_reached: object) -> None:
    config = write_config(tmp_path, emu, shutdown_timeout_s=3, request_timeout_s=5)
    bot = await BotProcess.start(tmp_path, "--config", str(config))
    await bot.wait_until(phase_reached)  # type: ignore[arg-type]

    stopped = await bot.stop(signal.SIGTERM)

    _assert_orderly(stopped.code, stopped.stderr)
    assert stopped.after_signal_s < 3 + SLACK_S
    assert stopped.summary["stop_reason"] == "signal SIGTERM"
    run = last_run(tmp_path)
    assert run["stopped_ms"] is not None
    assert run["exit_code"] == 0


@pytest.mark.asyncio
async def test_sigterm_while_connecting_to_a_dead_exchange_stops_within_shutdown_timeout(tmp_path: Path) -> None:
    emu = await _static_emulator(FaultConfig(latency_ms=60_000))  # nothing ever answers
    try:
        await _stop_during_start_up(
            tmp_path, emu, lambda: any(r["path"] == "/api/v3/exchangeInfo" for r in emu.request_log())
        )
    finally:
        await emu.stop()


@pytest.mark.asyncio
async def test_sigterm_mid_reconcile_with_a_slow_exchange_stops_within_shutdown_timeout(
    tmp_path: Path, emu: BinanceEmulator
) -> None:

    def reconciling() -> bool:
        paths = {r["path"] for r in emu.request_log()}
        if "/api/v3/account" in paths and not emu.faults()["latency_ms"]:
            emu.set_faults(latency_ms=2_500)  # connected: from now on every answer takes 2.5 s
        return "/api/v3/openOrders" in paths  # the reconciliation's first request is under way

    await _stop_during_start_up(tmp_path, emu, reconciling)


@pytest.mark.asyncio
async def test_sighup_stops_in_order_and_cancels_the_resting_orders(tmp_path: Path, emu: BinanceEmulator) -> None:
    bot = await _trading(tmp_path, emu, shutdown_timeout_s=5)
    buy = own_open_orders(emu)[0]
    await emu.trade("BTC/USDT", str(buy["price"]), str(buy["origQty"]), "sell")  # fills it: a take-profit rests
    await bot.wait_until(lambda: len(own_open_orders(emu)) >= 2)  # the take-profit and the next buy

    stopped = await bot.stop(signal.SIGHUP)

    _assert_orderly(stopped.code, stopped.stderr)
    assert stopped.summary["stop_reason"] == "signal SIGHUP"
    assert own_open_orders(emu) == []  # on_shutdown=cancel: nothing left resting


@pytest.mark.asyncio
async def test_a_fill_the_exchange_made_during_the_shutdown_is_journaled_before_exit(
    tmp_path: Path, emu: BinanceEmulator
) -> None:
    bot = await _trading(tmp_path, emu, shutdown_timeout_s=8)
    buy = own_open_orders(emu)[0]
    emu.set_faults(latency_ms=500)
    seen = len(emu.request_log())

    bot.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    await bot.wait_until(lambda: any(r["method"] == "DELETE" for r in emu.request_log()[seen:]))
    # The cancel is on its way (held by the latency) and the user stream has stopped: the buy fills now.
    await emu.trade("BTC/USDT", str(buy["price"]), str(buy["origQty"]), "sell")
    stopped = await bot.finish(sent)

    _assert_orderly(stopped.code, stopped.stderr)
    exchange_fills = {str(f["id"]) for f in own(emu.fills())}
    assert exchange_fills  # the buy did fill at the exchange
    assert exchange_fills <= journal_trade_ids(tmp_path)  # and the journal has it before the next start
    assert stopped.summary["fills"] == len(exchange_fills)


@pytest.mark.asyncio
async def test_disk_full_during_shutdown_is_logged_bounded_and_exits_1(tmp_path: Path, emu: BinanceEmulator) -> None:
    bot = await _trading(tmp_path, emu, shutdown_timeout_s=4)
    # A real out-of-space condition for this process only: every file write past 1 byte fails (EFBIG,
    # which SQLite reports as "database or disk is full"); Python ignores SIGXFSZ, so writes just fail.
    _, hard = resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (1, hard))

    stopped = await bot.stop(signal.SIGTERM)

    assert stopped.code == 1, stopped.stderr[-3000:]  # documented: state or journal not written → exit 1
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert stopped.after_signal_s < 4 + SLACK_S
    assert '"shutdown_step_failed"' in stopped.stderr
    assert stopped.summary["exit_code"] == 1  # the summary is still printed
    assert own_open_orders(emu) == []  # the exchange side of the shutdown still ran
