"""The emulator's ``/_control`` endpoints refuse bad input with a 400 and a message, never a 500 or a wrong fault.

Raw JSON bodies are sent (``NaN`` and ``Infinity`` are what Python's ``json`` writes for float specials).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import FaultConfig
from trading_bot.emulator.config import FAULT_RANGES
from trading_bot.emulator.config import EmulatorConfig


async def _post(emulator: BinanceEmulator, path: str, body: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/json"}
        async with session.post(f"{emulator.base_http}/_control/{path}", data=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ['"false"', '"true"', "0", "1", "null", '"no"'])
async def test_accept_then_timeout_given_anything_but_a_json_boolean_is_refused_and_not_armed(
    emulator: BinanceEmulator, value: str
) -> None:
    status, body = await _post(emulator, "faults", f'{{"accept_then_timeout": {value}}}')
    assert status == 400
    assert "accept_then_timeout: expected true or false" in body["error"]
    assert emulator.faults()["accept_then_timeout"] is False


@pytest.mark.asyncio
async def test_drop_ws_given_the_string_false_drops_nothing(emulator: BinanceEmulator) -> None:
    status, body = await _post(emulator, "faults", '{"drop_ws": "false"}')
    assert (status, body["error"].split(":")[0]) == (400, "drop_ws")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        '{"latency_ms": NaN}',
        '{"latency_ms": -1}',
        '{"latency_ms": 1e308}',
        '{"latency_ms": "100"}',
        '{"error_5xx_rate": NaN}',
        '{"error_5xx_rate": Infinity}',
        '{"error_5xx_rate": 1.5}',
        '{"next_n_5xx": -3}',
        '{"next_n_5xx": 2.5}',
        '{"error_5xx_status": 200}',
        '{"retry_after_s": -1}',
        '{"clock_skew_ms": 1e300}',
        '{"accept_timeout_delay_s": Infinity}',
        '{"accept_timeout_delay_s": -1}',
        '{"next_n_429": true}',
    ],
)
async def test_bad_fault_value_is_a_400_naming_the_fault_and_changes_nothing(
    emulator: BinanceEmulator, body: str
) -> None:
    before = emulator.faults()
    status, answer = await _post(emulator, "faults", body)
    assert status == 400
    assert answer["error"].split(":")[0] in FAULT_RANGES
    assert emulator.faults() == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("quote", '{"symbol": "BTC/USDT", "bid": NaN, "ask": 60001}'),
        ("quote", '{"symbol": "BTC/USDT", "bid": 60000, "ask": Infinity}'),
        ("quote", '{"symbol": "BTC/USDT", "bid": -2, "ask": -1}'),
        ("quote", '{"symbol": "BTC/USDT", "bid": 60000, "ask": 60001, "bid_qty": NaN}'),
        ("quote", '{"symbol": "BTC/USDT", "bid": 60000, "ask": 1e400}'),
        ("quote", '{"symbol": "BTC/USDT", "bid": true, "ask": 60001}'),
        ("trade", '{"symbol": "BTC/USDT", "price": NaN, "qty": 1, "taker_side": "buy"}'),
        ("trade", '{"symbol": "BTC/USDT", "price": 60000, "qty": -1, "taker_side": "buy"}'),
        ("trade", '{"symbol": "BTC/USDT", "price": 60000, "qty": "inf", "taker_side": "buy"}'),
        ("balance", '{"asset": "USDT", "free": NaN}'),
        ("balance", '{"asset": "USDT", "free": -5}'),
        ("balance", '{"asset": {"x": 1}, "free": 5}'),
        ("balance", '{"free": 5}'),
    ],
)
async def test_nan_infinite_or_negative_market_input_is_a_400_not_a_500(
    emulator: BinanceEmulator, path: str, body: str
) -> None:
    state = emulator.state()
    status, answer = await _post(emulator, path, body)
    assert status == 400
    assert answer["error"]
    assert emulator.state() == state


@pytest.mark.asyncio
async def test_good_control_input_still_works(emulator: BinanceEmulator) -> None:
    assert (await _post(emulator, "faults", '{"accept_then_timeout": true, "error_5xx_rate": 0}'))[0] == 200
    assert emulator.faults()["accept_then_timeout"] is True
    assert (await _post(emulator, "balance", '{"asset": "usdt", "free": 0}'))[0] == 200
    assert (await _post(emulator, "quote", '{"symbol": "BTC/USDT", "bid": "60000", "ask": 60000.5}'))[0] == 200


def test_fault_ranges_cover_every_fault_setting() -> None:
    assert set(FAULT_RANGES) == {f.name for f in dataclasses.fields(FaultConfig)} | {"drop_ws"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"walk_interval_s": 0.0},
        {"walk_interval_s": float("nan")},
        {"replay_speed": -1.0},
        {"replay_speed": float("inf")},
        {"port": -1},
        {"port": 65536},
    ],
)
def test_emulator_config_refuses_values_that_would_spin_or_crash(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EmulatorConfig(**kwargs)
