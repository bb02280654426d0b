"""The canned-answer seam: the next matching REST request gets exactly the queued bytes, once."""

from __future__ import annotations

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator

pytestmark = pytest.mark.asyncio


async def test_canned_answer_is_served_verbatim_once_then_the_real_handler_answers_again(
    emulator: BinanceEmulator,
) -> None:
    emulator.override_next_response("GET", "/api/v3/time", 502, b"<html>bad gateway", "text/html")
    url = f"{emulator.base_http}/api/v3/time"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as first:
            assert (first.status, first.headers["Content-Type"], await first.read()) == (
                502,
                "text/html",
                b"<html>bad gateway",
            )
        async with session.get(url) as second:
            assert second.status == 200
            assert "serverTime" in await second.json()
    statuses = [r["status"] for r in emulator.request_log() if r["path"] == "/api/v3/time"]
    assert statuses == [502, 200]


async def test_canned_answer_matches_method_and_path_only(emulator: BinanceEmulator) -> None:
    emulator.override_next_response("DELETE", "/api/v3/order", 200, b"{")
    async with aiohttp.ClientSession() as session, session.get(f"{emulator.base_http}/api/v3/ping") as ping:
        assert await ping.json() == {}
    assert emulator.clear_overrides() == 1


async def test_canned_answer_after_handler_books_the_order_and_replaces_only_its_answer(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    emulator.override_next_response("POST", "/api/v3/order", 200, b'{"orderId": 9', after_handler=True)
    answer = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "canned-1"})
    assert answer.get("id") is None  # ccxt could not read the truncated answer
    assert [o["clientOrderId"] for o in emulator.orders()] == ["canned-1"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "PATCH", "path": "/api/v3/order"}, "method"),
        ({"method": "GET", "path": "/_control/state"}, "path"),
        ({"method": "GET", "path": "/api/v3/order?symbol=BTCUSDT"}, "path"),
        ({"method": "GET", "path": "/api/v3/time", "status": 99}, "status"),
        ({"method": "GET", "path": "/api/v3/time", "body": "text"}, "body"),
        ({"method": "GET", "path": "/api/v3/time", "content_type": "a\r\nX-Evil: 1"}, "content_type"),
    ],
)
async def test_bad_canned_answer_is_refused_naming_the_field(
    emulator: BinanceEmulator, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        emulator.override_next_response(**kwargs)  # type: ignore[arg-type]
    assert emulator.clear_overrides() == 0
