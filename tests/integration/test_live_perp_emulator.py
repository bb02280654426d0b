"""Perpetual swaps live: the real CLI with real ccxt ``binanceusdm`` against the emulator's USDⓈ-M venue.

Issue 13's live done-when: a grid with ``--direction sell`` on ``BTC/USDT:USDT`` opens with post-only
sells (GTX) and takes profit with reduce-only buys for exactly what filled; after SIGTERM the journal's
position equals the venue's ``positionRisk``; every funding payment the venue settled — also those settled
while the bot was down — is journaled once; a hedge-mode account is refused in one line. The emulator's
marks follow a seeded random walk and funding settles every 2 s.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.pro as ccxtpro
import pytest
import pytest_asyncio
from pydantic import SecretStr

from exchanges.ccxt.adapter import CcxtExchange
from exchanges.config import ExchangeConfig
from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.domain import LiveClock
from trading_bot.domain import MarginMode
from trading_bot.domain import MarketData
from trading_bot.domain import Symbol
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.futures.config import FuturesConfig

KEY, SECRET = "perp-key", "perp-secret"
BTC = "BTC/USDT:USDT"
GRID = {"quantity": "0.01", "direction": "sell", "take_profit": "0.05", "max_orders": "3", "wait_time": "5",
        "post_only_retries": "3"}  # fmt: skip


def _emulator_config(*, hedge_mode: bool = False) -> EmulatorConfig:
    futures = FuturesConfig(funding_interval_ms=2000, hedge_mode=hedge_mode)
    return EmulatorConfig(api_key=KEY, api_secret=SECRET, walk_interval_s=0.05, seed=13, history_bars=0,
                          futures=futures)  # fmt: skip


@pytest_asyncio.fixture
async def usdm_emulator() -> AsyncIterator[BinanceEmulator]:
    async with BinanceEmulator(_emulator_config()) as emu:
        yield emu


def _write_config(tmp_path: Path, emu: BinanceEmulator, **params: str) -> Path:
    config = {
        "bot": {"bot_id": "pp", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10,
                "on_shutdown": "keep", "symbol": BTC},
        "exchange": {"name": "binanceusdm", "market_type": "swap", "leverage": 5,
                     "ccxt_options": emu.ccxt_usdm_options(), "request_timeout_s": 5},
        "strategy": {"name": "grid", "params": {**GRID, **params}},
        "risk": {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None},
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


async def _run(
    tmp_path: Path, config: Path, seconds: float, emu: BinanceEmulator | None = None
) -> tuple[int | None, str, str]:
    """Run the bot ``seconds`` past its start (``bot_started``; a slow start waits up to 60 s more), then
    SIGTERM it; return its exit code, stdout and stderr.

    With ``emu``, a public buy is printed through the bot's first resting short as soon as it rests (so
    the walk's randomness never decides whether anything fills).
    """
    env = cli_env(TRADING_BOT__EXCHANGE__API_KEY=KEY, TRADING_BOT__EXCHANGE__SECRET=SECRET)
    log = tmp_path / f"bot-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(config), "--log-format", "json", "--json",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=sink,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds + 60
        started = False
        filled = emu is None
        while loop.time() < deadline and proc.returncode is None:
            if not started and b'"event": "bot_started"' in log.read_bytes():
                started, deadline = True, loop.time() + seconds
            if not filled and emu is not None:
                resting = [o for o in emu.futures.engine.open_orders() if o.side == "SELL"]
                if resting:
                    emu.futures.trade(BTC, resting[0].price, resting[0].orig_qty, "buy")
                    filled = True
            await asyncio.sleep(0.2)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode, out.decode(), log.read_text()


def _journal(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "var" / "journal.db") as db:
        return db.execute(sql).fetchall()


async def _venue(emu: BinanceEmulator) -> tuple[Decimal, set[str]]:
    """The venue's net position (positionRisk, base units) and its funding payment ids (income history)."""
    ex = ccxtpro.binanceusdm({**emu.ccxt_usdm_config(), "enableRateLimit": False})
    try:
        positions = await ex.fetch_positions([BTC])
        history = await ex.fetch_funding_history(BTC, None, 1000)
    finally:
        await ex.close()
    net = sum((Decimal(str(p["contracts"])) * (-1 if p["side"] == "short" else 1) for p in positions), Decimal(0))
    return net, {str(h["id"]) for h in history}


@pytest.mark.asyncio
async def test_a_sell_grid_shorts_post_only_takes_profit_reduce_only_and_the_journal_matches_the_venue(
    tmp_path: Path, usdm_emulator: BinanceEmulator
) -> None:
    config = _write_config(tmp_path, usdm_emulator)
    code, out, err = await _run(tmp_path, config, 14, usdm_emulator)

    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    assert '"event": "perp_configured"' in err  # leverage and margin mode set at connect
    orders = _journal(tmp_path, "SELECT client_order_id, side, post_only, reduce_only, client_tag, quantity, "
                                "filled_quantity FROM orders")  # fmt: skip
    opens = [o for o in orders if o[4].startswith("open")]
    take_profits = [o for o in orders if o[4].startswith("tp")]
    assert opens, orders
    assert all(o[1] == "sell" and o[2] and not o[3] for o in opens)  # short opens: post-only sells
    assert take_profits, orders  # at least one open filled (the test prints a trade through the first)
    assert all(o[1] == "buy" and o[3] for o in take_profits)  # exits: reduce-only buys
    filled_opens = sum(Decimal(o[6]) for o in opens)
    assert sum(Decimal(o[5]) for o in take_profits) == filled_opens  # one take-profit per filled quantity

    fills = _journal(tmp_path, "SELECT side, quantity FROM fills")
    journal_position = sum((Decimal(q) * (1 if s == "buy" else -1) for s, q in fills), Decimal(0))
    venue_position, venue_funding = await _venue(usdm_emulator)
    assert journal_position == venue_position  # after SIGTERM, fills journaled = the venue's positionRisk
    summary = json.loads(out)
    assert Decimal(summary["position"]) == venue_position
    assert summary["leverage"] == 5

    journaled = {r[0] for r in _journal(tmp_path, "SELECT payment_id FROM funding_payments")}
    assert journaled <= venue_funding  # every journaled payment is the venue's own, by its id
    assert len(journaled) == len(_journal(tmp_path, "SELECT payment_id FROM funding_payments"))  # once each


@pytest.mark.asyncio
async def test_funding_settled_while_the_bot_was_down_is_journaled_once_at_the_next_start(
    tmp_path: Path, usdm_emulator: BinanceEmulator
) -> None:
    config = _write_config(tmp_path, usdm_emulator, take_profit="3")  # the walk never reaches a 3 % take-profit
    code, _out, err = await _run(tmp_path, config, 10, usdm_emulator)
    assert code == 0, err[-3000:]
    held, _ids = await _venue(usdm_emulator)
    assert held != 0  # the first short filled; on_shutdown keep leaves a position to be funded
    await asyncio.sleep(4.5)  # two funding settlements while the bot is down
    _held, paid_while_down = await _venue(usdm_emulator)
    code, _out, err = await _run(tmp_path, config, 4)

    assert code == 0, err[-3000:]
    rows = _journal(tmp_path, "SELECT payment_id FROM funding_payments")
    journaled = [r[0] for r in rows]
    assert len(journaled) == len(set(journaled))  # no payment twice
    assert paid_while_down <= set(journaled)  # the catch-up recorded what the venue paid meanwhile
    assert '"event": "funding_caught_up"' in err


@pytest.mark.asyncio
async def test_a_hedge_mode_account_is_refused_in_one_line_before_any_order(tmp_path: Path) -> None:
    async with BinanceEmulator(_emulator_config(hedge_mode=True)) as emu:
        config = _write_config(tmp_path, emu)
        code, _out, err = await _run(tmp_path, config, 20)
        orders = _journal(tmp_path, "SELECT client_order_id FROM orders")

    assert code == 2, err[-2000:]
    assert "hedge (dual-side) position mode" in err
    assert "Traceback" not in err
    assert orders == []


@pytest.mark.asyncio
async def test_a_swaps_quotes_carry_the_streamed_mark_price_and_funding_and_the_client_reads_the_venue(
    usdm_emulator: BinanceEmulator,
) -> None:
    config = ExchangeConfig(name="binanceusdm", market_type="swap", leverage=3, margin_mode="isolated",
                            ccxt_options=usdm_emulator.ccxt_usdm_options(), api_key=SecretStr(KEY),
                            secret=SecretStr(SECRET), request_timeout_s=5)  # fmt: skip
    client = CcxtExchange(config, LiveClock())
    await client.connect()
    try:
        await client.configure_perp(Symbol(BTC), 3, MarginMode.ISOLATED)
        await client.configure_perp(Symbol(BTC), 3, MarginMode.ISOLATED)  # again: "no need to change" is success
        market = client.market(Symbol(BTC))
        marked: MarketData | None = None
        async with asyncio.timeout(15):
            async for md in client.stream_market_data(Symbol(BTC)):
                if md.mark_price is not None:
                    marked = md
                    break
        positions = await client.fetch_positions([Symbol(BTC)])
    finally:
        await client.close()

    assert client.perp_terms(Symbol(BTC)) == (3, MarginMode.ISOLATED)
    assert market.margin_tiers  # the venue's brackets (fetch_leverage_tiers) loaded at configure time
    assert marked is not None
    assert marked.mark_price is not None
    assert marked.mark_price > 0
    assert marked.funding_rate == Decimal("0.0001")
    assert marked.next_funding_ms is not None
    assert positions == []  # flat on the venue
