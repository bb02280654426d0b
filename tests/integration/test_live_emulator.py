"""End to end: the real CLI with real ccxt trading against the in-process Binance emulator.

The emulator's prices follow a seeded random walk; the bot runs as a subprocess with
``exchange.ccxt_options`` pointing at it, trades, receives fills over the WS-API user stream, and
exits 0 on SIGTERM. Assertions come from the emulator's own order, fill and request logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from tests.integration.restart_live import write_config
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

KEY, SECRET = "live-test-key", "live-test-secret"


@pytest_asyncio.fixture
async def walking_emulator() -> AsyncIterator[BinanceEmulator]:
    config = EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=0.02, seed=11, history_bars=30)
    async with BinanceEmulator(config) as emu:
        yield emu


def _write_config(tmp_path: Path, emu: BinanceEmulator, strategy: str, params: dict[str, Any]) -> Path:
    return write_config(tmp_path, emu, "e2e", strategy, params)


async def _run_bot_until(
    tmp_path: Path, config: Path, done: Any, timeout_s: float = 45, *extra_args: str, keys: bool = True
) -> tuple[int, dict[str, Any], str]:
    """Start the bot, wait until ``done()`` is true (or the timeout), SIGTERM it; return code, summary, logs."""
    env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET) if keys else cli_env()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--log-format", "json", "--json",
        *extra_args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and proc.returncode is None and not done():
        await asyncio.sleep(0.2)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    logs = err.decode()
    assert proc.returncode is not None
    summary = json.loads(out.decode()) if out.strip() else {}
    return proc.returncode, summary, logs


def _own(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [i for i in items if str(i.get(key, "")).startswith("e2e-")]


@pytest.mark.asyncio
async def test_sma_cross_trades_live_on_the_emulator_gets_fills_over_the_user_stream_and_exits_0_on_sigterm(
    tmp_path: Path, walking_emulator: BinanceEmulator
) -> None:
    emu = walking_emulator
    params = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": False}
    config = _write_config(tmp_path, emu, "sma_cross", params)

    code, summary, logs = await _run_bot_until(tmp_path, config, lambda: len(_own(emu.fills(), "clientOrderId")) >= 3)

    assert code == 0, logs[-3000:]
    assert summary["stop_reason"] == "signal SIGTERM"
    exchange_fills = _own(emu.fills(), "clientOrderId")
    assert len(exchange_fills) >= 3
    assert summary["fills"] == len(exchange_fills)  # every exchange fill reached the bot exactly once
    posts = [r["params"].get("newClientOrderId") for r in emu.request_log() if r["method"] == "POST"]
    assert all(n == 1 for n in Counter(posts).values())  # no client order id sent twice
    assert SECRET not in logs
    assert KEY not in logs


@pytest.mark.asyncio
async def test_grid_cycles_open_and_take_profit_live_on_the_emulator(
    tmp_path: Path, walking_emulator: BinanceEmulator
) -> None:
    emu = walking_emulator
    params = {"quantity": "0.001", "take_profit": "0.005", "max_orders": 5, "wait_time": 1, "fill_timeout": 2,
              "recheck_interval": 1}
    config = _write_config(tmp_path, emu, "grid", params)

    def unhedged() -> Decimal:
        """Filled buy quantity minus the quantity of every take-profit placed (resting, filled or cancelled)."""
        own = _own(emu.orders(), "clientOrderId")
        filled = sum((Decimal(str(o["executedQty"])) for o in own if o["side"] == "BUY"), Decimal(0))
        return filled - sum((Decimal(str(o["origQty"])) for o in own if o["side"] == "SELL"), Decimal(0))

    def cycles_done_and_hedged() -> bool:
        sells = [f for f in _own(emu.fills(), "clientOrderId") if f.get("side") in ("SELL", "sell")]
        return len(sells) >= 2 and unhedged() == 0

    code, summary, logs = await _run_bot_until(tmp_path, config, cycles_done_and_hedged, timeout_s=60)

    assert code == 0, logs[-3000:]
    own_orders = _own(emu.orders(), "clientOrderId")
    buys = [o for o in own_orders if o["side"] == "BUY"]
    assert buys
    assert all(o["type"] == "LIMIT_MAKER" for o in buys)  # grid opens are post-only
    assert summary["strategy_summary"]["cycles_completed"] >= 2
    posts = [r["params"].get("newClientOrderId") for r in emu.request_log() if r["method"] == "POST"]
    assert all(n == 1 for n in Counter(posts).values())
    problems = [line for line in logs.splitlines() if '"grid_' in line and '"info"' not in line]
    # A take-profit for exactly what filled: the run reached a hedged state after two cycles (the stop
    # condition), and after the stop only the one open buy that may fill while SIGTERM lands can lack its
    # take-profit (never more, never a take-profit too many).
    assert unhedged() in (Decimal(0), Decimal("0.001")), (summary["strategy_summary"], problems)


@pytest.mark.asyncio
async def test_grid_take_profits_sell_what_the_buys_received_when_the_fee_is_charged_in_the_base_asset(
    tmp_path: Path,
) -> None:
    """Rule: with Binance spot's default (a buy's fee in the coin bought), every take-profit sells what its
    fills delivered, on the lot step; none asks for coins the buys did not bring (no denial, no retry), and
    the journal's position is what the account received."""
    config_ = EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=0.02, seed=11, history_bars=30,
                             buy_fee_in_base=True)  # fmt: skip
    async with BinanceEmulator(config_) as emu:
        start_btc = Decimal(str(emu.state()["balances"]["BTC"]["free"]))  # type: ignore[index]
        params = {"quantity": "0.00166", "take_profit": "0.005", "max_orders": 5, "wait_time": 1, "fill_timeout": 2,
                  "recheck_interval": 1}  # fmt: skip
        config = _write_config(tmp_path, emu, "grid", params)

        def two_cycles() -> bool:
            return len([f for f in _own(emu.fills(), "clientOrderId") if f.get("side") in ("SELL", "sell")]) >= 2

        code, summary, logs = await _run_bot_until(tmp_path, config, two_cycles, timeout_s=60)
        held = Decimal(str(emu.state()["balances"]["BTC"]["free"])) - start_btc  # type: ignore[index]
        own = _own(emu.orders(), "clientOrderId")
        fills = _own(emu.fills(), "clientOrderId")

    assert code == 0, logs[-3000:]
    buy_fees = {f["commissionAsset"] for f in fills if f["side"] in ("BUY", "buy")}
    assert buy_fees == {"BTC"}  # the emulator charged the buys' fees in BTC
    received = sum((Decimal(str(f["qty"])) - Decimal(str(f["commission"])) for f in fills
                    if f["side"] in ("BUY", "buy")), Decimal(0))  # fmt: skip
    offered = sum((Decimal(str(o["origQty"])) for o in own if o["side"] == "SELL"), Decimal(0))
    assert offered <= received  # never a take-profit for coins the buys did not deliver
    assert summary["strategy_summary"]["cycles_completed"] >= 2
    assert not [line for line in logs.splitlines() if '"order_denied"' in line or '"grid_exit_retry"' in line]
    assert Decimal(summary["position"]) == held  # the journal's position is what the account holds


@pytest.mark.asyncio
async def test_faults_during_a_live_run_do_not_stop_the_bot_lose_fills_or_send_an_order_twice(
    tmp_path: Path, walking_emulator: BinanceEmulator
) -> None:
    emu = walking_emulator
    params = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001", "long_only": False}
    config = _write_config(tmp_path, emu, "sma_cross", params)
    # 5xx bursts, 429 with Retry-After, dropped sockets, then an accepted order whose answer outlasts the
    # client's 5 s timeout: each fault is injected once the bot has made progress past the previous one.
    faults: list[dict[str, Any]] = [
        {"next_n_5xx": 3},
        {"next_n_429": 2, "retry_after_s": 1},
        {"drop_ws": True},
        {"accept_then_timeout": True, "accept_timeout_delay_s": 7},
        {},
    ]
    progress = {"stage": 0, "mark": 2}

    def inject_and_check() -> bool:
        fills = len(_own(emu.fills(), "clientOrderId"))
        if fills < progress["mark"]:
            return False
        if progress["stage"] == len(faults) - 1:
            return True
        emu.set_faults(**faults[progress["stage"]])
        progress["stage"] += 1
        progress["mark"] = fills + 1
        return False

    code, summary, logs = await _run_bot_until(tmp_path, config, inject_and_check, timeout_s=120)

    assert code == 0, logs[-3000:]
    assert progress["stage"] == len(faults) - 1, f"the bot stopped trading after fault {progress['stage']}"
    exchange_fills = _own(emu.fills(), "clientOrderId")
    assert summary["fills"] == len(exchange_fills)  # nothing lost, nothing counted twice
    posts = [r["params"].get("newClientOrderId") for r in emu.request_log() if r["method"] == "POST"]
    assert all(n == 1 for n in Counter(posts).values())  # no order re-sent


_PUBLIC_REST = {"/api/v3/exchangeInfo", "/api/v3/time", "/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker",
                "/api/v3/depth", "/api/v3/klines", "/api/v3/trades", "/api/v3/ping"}


@pytest.mark.asyncio
async def test_paper_on_binance_trades_on_the_live_public_data_with_simulated_fills_and_no_keys(
    tmp_path: Path, walking_emulator: BinanceEmulator
) -> None:
    emu = walking_emulator
    params = {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001"}
    config = _write_config(tmp_path, emu, "sma_cross", params)
    journal_fills: list[int] = []

    def two_simulated_fills() -> bool:
        # The bot's own fills are simulated: nothing reaches the exchange, so watch its journal instead.
        journal = tmp_path / "var" / "journal.db"
        if not journal.exists():
            return False
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(journal) as raw:
            journal_fills[:] = [raw.execute("SELECT count(*) FROM fills").fetchone()[0]]
        return bool(journal_fills) and journal_fills[0] >= 2

    code, summary, logs = await _run_bot_until(tmp_path, config, two_simulated_fills, 60, "--paper", keys=False)

    assert code == 0, logs[-3000:]
    assert summary["stop_reason"] == "signal SIGTERM"
    assert summary["fills"] >= 2  # sma_cross traded on the emulator's moving prices
    assert emu.orders() == []  # every fill was simulated: no order reached the exchange
    requests = emu.request_log()
    assert requests  # the market data came from the exchange
    assert {r["path"] for r in requests} <= _PUBLIC_REST  # public endpoints only: no account, no user stream
    assert all(r["method"] == "GET" for r in requests)
