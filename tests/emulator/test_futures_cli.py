"""``runbot.py emulator`` as a subprocess: ``--futures`` serves binanceusdm; ``--buy-fee-in-base`` spot fees."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import ccxt.pro as ccxtpro
import pytest

ROOT = Path(__file__).resolve().parents[2]


async def _read_configs(stdout: asyncio.StreamReader) -> list[dict[str, object]]:
    """Read the JSON documents the command prints (log lines around them), up to its '# emulator on' line."""
    docs: list[dict[str, object]] = []
    chunk: list[str] = []
    while True:
        line = (await asyncio.wait_for(stdout.readline(), 30)).decode()
        if not line or line.startswith("# emulator on"):
            return docs
        if line.rstrip() == "{":
            chunk = []
        chunk.append(line)
        if line.rstrip() == "}":
            docs.append(json.loads("".join(chunk)))
            chunk = []


@pytest.mark.asyncio
async def test_emulator_futures_flag_serves_binanceusdm_and_settles_funding_on_the_short_interval() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "emulator", "--port", "0", "--futures", "--funding-interval-ms",
        "300", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        spot, usdm_options = await _read_configs(process.stdout)
        ex = ccxtpro.binanceusdm({**usdm_options, "apiKey": "test-key", "secret": "test-secret"})
        try:
            markets = await ex.load_markets()
            await ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
            await asyncio.sleep(1.0)
            history = await ex.fetch_funding_history("BTC/USDT:USDT")
        finally:
            await ex.close()
    finally:
        process.terminate()
        await process.wait()
    assert spot["options"]["defaultType"] == "spot"  # type: ignore[index]
    assert usdm_options["options"]["defaultType"] == "swap"  # type: ignore[index]
    assert "BTC/USDT:USDT" in markets
    assert history
    assert all(h["amount"] < 0 for h in history)  # a long pays the default +0.01 %


@pytest.mark.asyncio
async def test_emulator_buy_fee_in_base_flag_charges_a_spot_buys_fee_in_the_coin_bought() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "runbot.py"), "emulator", "--port", "0", "--buy-fee-in-base",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        (spot,) = await _read_configs(process.stdout)
        ex = ccxtpro.binance({**spot, "apiKey": "test-key", "secret": "test-secret"})
        try:
            await ex.load_markets()
            await ex.create_order("BTC/USDT", "market", "buy", 0.01)
            (trade,) = await ex.fetch_my_trades("BTC/USDT")
        finally:
            await ex.close()
    finally:
        process.terminate()
        await process.wait()
    assert (trade["fee"]["currency"], trade["fee"]["cost"]) == ("BTC", 0.00001)  # 0.01 × 0.1 %
