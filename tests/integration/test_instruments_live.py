"""Several instruments in one bot, live through real ccxt against loopback emulators.

* two venues (two emulator instances, two API key pairs): the two-instrument ``leg_pair`` strategy places
  and fills on both, each order going to its own instrument's venue, each venue's fills reaching the bot
  once (its summary block per instrument equals that venue's own log);
* two symbols on one venue (``--symbol`` repeated): one ``sma_cross`` instance per symbol, each with its
  own fills and its own journaled state.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT
from tests.integration.conftest import cli_env
from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig

RISK = {"max_data_age_s": None, "max_orders_per_minute": None, "price_band_pct": None}


def _emulator(key: str, seed: int, symbols: tuple[str, ...] = ("BTC/USDT",)) -> BinanceEmulator:
    return BinanceEmulator(
        EmulatorConfig(api_key=key, api_secret=f"{key}-secret", walk_interval_s=0.02, seed=seed, history_bars=30,
                       symbols=symbols)
    )  # fmt: skip


def _venue(emu: BinanceEmulator) -> dict[str, Any]:
    return {"name": "binance", "ccxt_options": emu.ccxt_options(), "request_timeout_s": 5}


async def _run_until(
    tmp_path: Path, config: dict[str, Any], env: dict[str, str], done: Callable[[], bool], *args: str
) -> tuple[int, dict[str, Any], str]:
    """Run the CLI on ``config`` until ``done()`` (at most 45 s), SIGTERM it; return code, summary, log."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    log = tmp_path / "bot.log"
    with log.open("wb") as err:  # a file, not a pipe: a full pipe would stall the bot's logging
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "runbot.py"), "--config", str(path), "--log-format", "json", "--json", *args,
            cwd=tmp_path, env=cli_env(**env), stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 45
        while loop.time() < deadline and proc.returncode is None and not done():
            await asyncio.sleep(0.2)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else {}, log.read_text()


def _own(rows: list[dict[str, Any]], bot_id: str, symbol: str | None = None) -> list[dict[str, Any]]:
    return [
        r for r in rows
        if str(r.get("clientOrderId", "")).startswith(f"{bot_id}-") and (symbol is None or r.get("symbol") == symbol)
    ]  # fmt: skip


def _posts(emu: BinanceEmulator) -> list[str]:
    return [r["params"].get("newClientOrderId") for r in emu.request_log() if r["method"] == "POST"]


@pytest.mark.asyncio
async def test_leg_pair_trades_on_two_venues_each_order_on_its_own_venue_each_fill_once(tmp_path: Path) -> None:
    async with _emulator("spot-key", 11) as spot, _emulator("alt-key", 12) as alt:
        config = {
            "bot": {"bot_id": "lp", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "venues": {"spot": _venue(spot), "alt": _venue(alt)},
            "strategy": {"name": "leg_pair", "params": {"first": "spot:BTC/USDT", "second": "alt:BTC/USDT",
                                                        "quantity": "0.001", "offset_bps": 15}},
            "risk": RISK,
        }  # fmt: skip
        env = {
            "TRADING_BOT__VENUES__SPOT__API_KEY": "spot-key", "TRADING_BOT__VENUES__SPOT__SECRET": "spot-key-secret",
            "TRADING_BOT__VENUES__ALT__API_KEY": "alt-key", "TRADING_BOT__VENUES__ALT__SECRET": "alt-key-secret",
        }  # fmt: skip

        def both_filled() -> bool:
            return len(_own(spot.fills(), "lp")) >= 2 and len(_own(alt.fills(), "lp")) >= 2

        code, summary, log = await _run_until(tmp_path, config, env, both_filled)

        assert code == 0, log[-3000:]
        blocks = summary["instruments"]
        assert set(blocks) == {"spot:BTC/USDT", "alt:BTC/USDT"}
        # every venue's own fills reached the bot exactly once, and only under that venue's instrument
        assert blocks["spot:BTC/USDT"]["fills"] == len(_own(spot.fills(), "lp")) >= 2
        assert blocks["alt:BTC/USDT"]["fills"] == len(_own(alt.fills(), "lp")) >= 2
        assert summary["fills"] == blocks["spot:BTC/USDT"]["fills"] + blocks["alt:BTC/USDT"]["fills"]
        # one client-id sequence for the bot: no id was sent twice, on either venue or across them
        posts = _posts(spot) + _posts(alt)
        assert posts
        assert all(n == 1 for n in Counter(posts).values())
        for secret in ("spot-key-secret", "alt-key-secret"):
            assert secret not in log


@pytest.mark.asyncio
async def test_two_symbols_on_one_venue_run_one_strategy_instance_each_with_its_own_state(tmp_path: Path) -> None:
    async with _emulator("one-key", 21, ("BTC/USDT", "ETH/USDT")) as emu:
        config = {
            "bot": {"bot_id": "ms", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "exchange": _venue(emu),
            "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001",
                                                         "long_only": False}},
            "risk": RISK,
        }  # fmt: skip
        env = {"TRADING_BOT__EXCHANGE__API_KEY": "one-key", "TRADING_BOT__EXCHANGE__SECRET": "one-key-secret"}

        def both_filled() -> bool:
            return all(len(_own(emu.fills(), "ms", s)) >= 2 for s in ("BTCUSDT", "ETHUSDT"))

        code, summary, log = await _run_until(
            tmp_path, config, env, both_filled, "--symbol", "BTC/USDT", "--symbol", "ETH/USDT"
        )

        assert code == 0, log[-3000:]
        blocks = summary["instruments"]
        assert blocks["binance:BTC/USDT"]["fills"] == len(_own(emu.fills(), "ms", "BTCUSDT")) >= 2
        assert blocks["binance:ETH/USDT"]["fills"] == len(_own(emu.fills(), "ms", "ETHUSDT")) >= 2
        assert all("strategy_summary" in b for b in blocks.values())  # one instance each
        with sqlite3.connect(tmp_path / "var" / "journal.db") as db:
            keys = {(row[0], row[1]) for row in db.execute("SELECT strategy, instrument FROM strategy_state")}
        assert {("sma_cross", "binance:BTC/USDT"), ("sma_cross", "binance:ETH/USDT")} <= keys


# -2014, not -2015: ccxt reads a -2015 after a first successful call as a temporary ban (DDoSProtection)
_REFUSED = b'{"code": -2014, "msg": "API-key format invalid."}'
_TWO_VENUE_ENV = {
    "TRADING_BOT__VENUES__SPOT__API_KEY": "spot-key", "TRADING_BOT__VENUES__SPOT__SECRET": "spot-key-secret",
    "TRADING_BOT__VENUES__ALT__API_KEY": "alt-key", "TRADING_BOT__VENUES__ALT__SECRET": "alt-key-secret",
}  # fmt: skip


def _refuse_orders(emu: BinanceEmulator, count: int = 200) -> None:
    for _ in range(count):
        emu.override_next_response("POST", "/api/v3/order", 401, _REFUSED)


@pytest.mark.asyncio
async def test_a_venue_refusing_our_keys_halts_alone_and_the_other_venue_keeps_trading(tmp_path: Path) -> None:
    """Error policy: three refusals in a row halt that venue only; single-instrument strategies elsewhere go on."""
    async with _emulator("spot-key", 31) as spot, _emulator("alt-key", 32) as alt:
        config = {
            "bot": {"bot_id": "vh", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10,
                    "symbols": ["spot:BTC/USDT", "alt:BTC/USDT"]},
            "venues": {"spot": _venue(spot), "alt": _venue(alt)},
            "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 4, "bar_seconds": 1, "quantity": "0.001",
                                                         "long_only": False}},
            "risk": RISK,
        }  # fmt: skip
        halted_at: list[int] = []

        def spot_traded_after_the_halt() -> bool:
            log = (tmp_path / "bot.log").read_text() if (tmp_path / "bot.log").exists() else ""
            if not halted_at:
                if len(_own(alt.fills(), "vh")) >= 1:
                    _refuse_orders(alt)
                if "venue_halted" in log:
                    halted_at.append(len(_own(spot.fills(), "vh")))
                return False
            return len(_own(spot.fills(), "vh")) >= halted_at[0] + 2

        code, summary, log = await _run_until(tmp_path, config, _TWO_VENUE_ENV, spot_traded_after_the_halt)

        assert halted_at, log[-3000:]
        assert code == 1, log[-3000:]  # the run reports the lost venue...
        assert summary["stop_reason"].startswith("venue alt:"), summary["stop_reason"]
        # ...but spot went on trading after alt halted, and every fill of both venues reached the bot once
        assert len(_own(spot.fills(), "vh")) >= halted_at[0] + 2
        assert summary["instruments"]["spot:BTC/USDT"]["fills"] == len(_own(spot.fills(), "vh"))
        assert summary["instruments"]["alt:BTC/USDT"]["fills"] == len(_own(alt.fills(), "vh"))


@pytest.mark.asyncio
async def test_a_failed_venue_halts_the_whole_bot_when_a_two_leg_strategy_holds_a_leg_there(tmp_path: Path) -> None:
    async with _emulator("spot-key", 41) as spot, _emulator("alt-key", 42) as alt:
        _refuse_orders(alt)
        config = {
            "bot": {"bot_id": "lh", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "venues": {"spot": _venue(spot), "alt": _venue(alt)},
            "strategy": {"name": "leg_pair", "params": {"first": "spot:BTC/USDT", "second": "alt:BTC/USDT",
                                                        "quantity": "0.001", "offset_bps": 15}},
            "risk": RISK,
        }  # fmt: skip

        code, summary, log = await _run_until(tmp_path, config, _TWO_VENUE_ENV, lambda: False)

        assert code == 1, log[-3000:]
        assert "holds a leg there" in summary["stop_reason"], summary["stop_reason"]
        assert summary["trading_state"] == "halted"
