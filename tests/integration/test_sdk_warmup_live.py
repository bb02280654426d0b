"""Warm-up live: a strategy declaring ``warmup_bars`` gets them from the venue at start, through real ccxt
against the loopback emulator (its klines: 30 one-minute bars of seeded history), before any market event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_instruments_live import RISK
from tests.integration.test_instruments_live import _emulator
from tests.integration.test_instruments_live import _run_until
from tests.integration.test_instruments_live import _venue


@pytest.mark.asyncio
async def test_a_live_start_hands_the_strategy_its_declared_closed_bars_from_the_venue(tmp_path: Path) -> None:
    async with _emulator("wu-key", 51) as emu:
        config = {
            "bot": {"bot_id": "wu", "data_dir": str(tmp_path / "var"), "heartbeat_s": 0.2, "shutdown_timeout_s": 10},
            "exchange": _venue(emu),
            "strategy": {"name": "momentum", "params": {"lookback": 5, "threshold": "0.5", "fraction": "0.01"}},
            "risk": RISK,
        }
        env = {"TRADING_BOT__EXCHANGE__API_KEY": "wu-key", "TRADING_BOT__EXCHANGE__SECRET": "wu-key-secret"}

        def warmed() -> bool:
            log = tmp_path / "bot.log"
            return log.exists() and "bot_started" in log.read_text()

        code, _summary, log = await _run_until(tmp_path, config, env, warmed, "--symbol", "BTC/USDT")

    assert code == 0, log[-3000:]
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    warm = [e for e in events if e.get("event") == "bar_warmup_done"]
    assert len(warm) == 1, log[-3000:]
    assert warm[0]["bars"] == 6  # lookback + 1, all closed
    assert warm[0]["timeframe"] == "1m"
    assert warm[0]["instrument"] == "binance:BTC/USDT"
    names = [e.get("event") for e in events]
    assert names.index("bar_warmup_done") < names.index("bot_started")
    klines = [r for r in emu.request_log() if r["method"] == "GET" and "klines" in str(r.get("path", ""))]
    assert klines, "the bot never asked the venue for klines"
