"""Perpetual swaps live: the real CLI with real ccxt ``binanceusdm`` against the emulator's USDⓈ-M venue.

Issue 13's live done-when: a grid with ``--direction sell`` on ``BTC/USDT:USDT`` opens with post-only
sells (GTX) and takes profit with reduce-only buys for exactly what filled; after SIGTERM the journal's
position equals the venue's fills up to the shutdown's cross-check (``positionRisk`` is that plus what the
kept orders filled since); every funding payment the venue settled — also those settled while the bot was
down — is journaled once; a hedge-mode account is refused in one line. The emulator's marks follow a seeded
random walk and funding settles every 2 s.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import cast

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
from trading_bot.emulator.futures.orders import FutFill

KEY, SECRET = "perp-key", "perp-secret"
BTC = "BTC/USDT:USDT"
BTC_ID = "BTCUSDT"  # the venue's id of BTC
USER_TRADES = "/fapi/v1/userTrades"  # what ccxt's fetch_my_trades asks (the shutdown's fill cross-check)
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


async def _venue_with_fills(emu: BinanceEmulator) -> tuple[Decimal, set[str], list[FutFill]]:
    """``_venue``, with the account's BTC fills of that moment (asked again while a fill lands in between)."""
    for _ in range(10):
        before = len(emu.futures.engine.fills)
        net, funding = await _venue(emu)
        fills = [f for f in emu.futures.engine.fills if f.symbol == BTC_ID]
        if len(emu.futures.engine.fills) == before:
            return net, funding, fills
    raise AssertionError("the venue filled during every one of 10 positionRisk requests")


def _signed(fills: Iterable[tuple[str, Decimal]]) -> Decimal:
    """The net position of ``(side, quantity)`` fills: buys add, sells subtract (either case of side)."""
    return sum((q if s.lower() == "buy" else -q for s, q in fills), Decimal(0))


def _events(err: str, name: str) -> list[dict[str, Any]]:
    """The bot's JSON log events named ``name``, oldest first."""
    found = []
    for line in err.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            found.append(event)
    return found


def _epoch_ms(event: dict[str, Any]) -> int:
    """The epoch ms (floored, as the emulator's clock) of a log event's ISO-8601 UTC ``timestamp``."""
    return round(datetime.fromisoformat(event["timestamp"]).timestamp() * 1_000_000) // 1000


def _tail(out: str, err: str, lines: int = 40) -> str:
    """The end of the bot's log (stderr: its JSON events) and of its stdout, for an assertion's message."""
    log = "\n".join(err.splitlines()[-lines:])[-8000:]
    return f"\n--- bot log, last {lines} lines ---\n{log}\n--- bot stdout ---\n{out[-2000:]}"


@pytest.mark.asyncio
async def test_a_sell_grid_shorts_post_only_takes_profit_reduce_only_and_the_journal_matches_the_venue(
    tmp_path: Path, usdm_emulator: BinanceEmulator
) -> None:
    config = _write_config(tmp_path, usdm_emulator)
    code, out, err = await _run(tmp_path, config, 14, usdm_emulator)
    log = _tail(out, err)

    assert code == 0, log
    assert "Traceback" not in err, log
    assert '"event": "perp_configured"' in err, log  # leverage and margin mode set at connect
    orders = _journal(tmp_path, "SELECT client_order_id, side, post_only, reduce_only, client_tag, quantity, "
                                "filled_quantity, status FROM orders")  # fmt: skip
    opens = [o for o in orders if o[4].startswith("open")]
    take_profits = [o for o in orders if o[4].startswith("tp")]
    assert opens, f"{orders}{log}"
    assert all(o[1] == "sell" and o[2] and not o[3] for o in opens), f"{orders}{log}"  # short opens: post-only sells
    assert take_profits, f"{orders}{log}"  # at least one open filled (the test prints a trade through the first)
    assert all(o[1] == "buy" and o[3] for o in take_profits), f"{orders}{log}"  # exits: reduce-only buys
    # One take-profit per filled quantity: sent, or — for a fill the bot learned of only after the stop request
    # (the shutdown's cross-check applies it; no strategy pass runs any more) — queued in the strategy's saved
    # state, which the next start sends.
    (state,) = _journal(tmp_path, "SELECT state FROM strategy_state")[0]
    sent = {o[4] for o in take_profits}
    queued = [e for e in json.loads(state)["exits"] if e["kind"] == "tp" and e["tag"] not in sent]
    filled_opens = sum(Decimal(o[6]) for o in opens)
    # A take-profit the venue refused as post-only crossing (-5022) is re-placed, so only the refused ones drop out.
    placed = [o for o in take_profits if o[7] not in ("rejected", "denied")]
    covered = sum(Decimal(o[5]) for o in placed) + sum(Decimal(e["quantity"]) for e in queued)
    assert covered == filled_opens, f"{orders}\nqueued exits: {queued}{log}"

    # The venue at the bot's last look. The shutdown cross-checks the run's fills with the venue's userTrades
    # (fills_cross_checked; fills_recovered_at_shutdown when it applied some the user stream had not delivered)
    # after the user stream stopped; the bot has exited and this test asks no userTrades, so the last such
    # request is that look. The emulator logs a request's server time and answers it in the same event-loop
    # step, so every fill stamped before that millisecond was in the answer and none stamped after it.
    stops = _events(err, "stop_requested")
    assert stops, log
    assert _events(err, "fills_cross_checked") or _events(err, "fills_recovered_at_shutdown"), log
    looks = [r for r in usdm_emulator.request_log() if r["path"] == USER_TRADES and r["status"] == 200]
    assert looks, log
    look_ms = cast(int, looks[-1]["ts"])
    assert look_ms >= _epoch_ms(stops[-1]), f"the last userTrades request is not the shutdown's: {looks[-1]}{log}"
    venue_position, venue_funding, venue_fills = await _venue_with_fills(usdm_emulator)
    by_id = {str(f.trade_id): f for f in venue_fills}
    before = {i for i, f in by_id.items() if f.time_ms < look_ms}
    same_ms = {i for i, f in by_id.items() if f.time_ms == look_ms}  # before or after the answer: either is right
    rows = _journal(tmp_path, "SELECT trade_id, side, quantity FROM fills")
    journaled = {r[0] for r in rows}
    trail = f"\nlook at {look_ms}; venue fills: {venue_fills}\njournal fills: {rows}{log}"
    # The rule: the bot journals every fill the venue had when the cross-check asked — delivered by the user
    # stream or recovered by the cross-check, a fill it had time to see is never lost — and none the venue did
    # not have then (none invented, none twice: the journal's position is the venue's at the look). A kept
    # order may fill while the bot stops (on_shutdown keep): the next start reconciles it, so it is not
    # journaled now, and positionRisk is the journal's position plus those later fills.
    assert before <= journaled <= before | same_ms, trail
    journal_position = _signed((s, Decimal(q)) for _i, s, q in rows)
    at_look = _signed((f.side, f.qty) for i, f in by_id.items() if i in journaled)
    assert journal_position == at_look, trail  # the journal's sides and quantities are the venue's
    since_look = _signed((f.side, f.qty) for i, f in by_id.items() if i not in journaled)
    assert venue_position == journal_position + since_look, trail  # the venue's positionRisk agrees
    summary = json.loads(out)
    assert Decimal(summary["position"]) == journal_position, log  # the bot's own figure is its journal's
    assert summary["leverage"] == 5, log

    funding = {r[0] for r in _journal(tmp_path, "SELECT payment_id FROM funding_payments")}
    assert funding <= venue_funding, log  # every journaled payment is the venue's own, by its id
    assert len(funding) == len(_journal(tmp_path, "SELECT payment_id FROM funding_payments")), log  # once each


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
