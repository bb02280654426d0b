"""The futures venue's markets and account settings as real ccxt binanceusdm sees them over loopback."""

from __future__ import annotations

import aiohttp
import ccxt.pro as ccxtpro
import pytest
from ccxt.base.errors import BadSymbol
from ccxt.base.errors import MarginModeAlreadySet
from ccxt.base.errors import OperationRejected

from trading_bot.emulator import BinanceEmulator

BTC = "BTC/USDT:USDT"


async def _control(emu: BinanceEmulator, path: str, body: dict[str, object]) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.post(f"{emu.base_http}/_control/futures/{path}", json=body) as r:
        answer: dict[str, object] = await r.json()
        return answer


@pytest.mark.asyncio
async def test_load_markets_with_the_usdm_options_makes_one_request_and_reads_the_bundled_swap(
    futures_emulator: BinanceEmulator,
) -> None:
    ex = ccxtpro.binanceusdm(futures_emulator.ccxt_usdm_config())
    try:
        markets = await ex.load_markets()
    finally:
        await ex.close()
    assert [(r["method"], r["path"]) for r in futures_emulator.request_log()] == [("GET", "/fapi/v1/exchangeInfo")]
    market = markets[BTC]
    assert (market["type"], market["linear"], market["settle"], market["contractSize"]) == ("swap", True, "USDT", 1)
    assert market["precision"] == {"amount": 0.001, "price": 0.1, "base": 1e-08, "quote": 1e-08}
    assert market["limits"]["amount"] == {"min": 0.001, "max": 1000.0}
    assert market["limits"]["cost"]["min"] == 5
    assert set(markets) == {BTC, "XRP/USDT:USDT"}


@pytest.mark.asyncio
async def test_leverage_tiers_come_from_the_snapshot_brackets_and_set_leverage_is_capped_by_them(
    usdm: ccxtpro.binanceusdm,
) -> None:
    tiers = await usdm.fetch_leverage_tiers([BTC])
    answer = await usdm.set_leverage(10, BTC)
    with pytest.raises(Exception, match="-4028"):  # 126x is refused by ccxt itself (BadRequest); 125 is the cap
        await usdm.set_leverage(125, "XRP/USDT:USDT")
    leverages = await usdm.fetch_leverages([BTC])

    first = tiers[BTC][0]
    assert (first["minNotional"], first["maxNotional"], first["maxLeverage"]) == (0, 50000, 125)
    assert first["maintenanceMarginRate"] == pytest.approx(0.004)
    assert answer["leverage"] == 10
    assert leverages[BTC]["longLeverage"] == 10


@pytest.mark.asyncio
async def test_set_margin_mode_twice_raises_margin_mode_already_set_from_code_4046(usdm: ccxtpro.binanceusdm) -> None:
    first = await usdm.set_margin_mode("isolated", BTC)
    with pytest.raises(MarginModeAlreadySet, match="-4046"):
        await usdm.set_margin_mode("isolated", BTC)
    modes = await usdm.fetch_margin_modes([BTC])
    assert first == {"code": 200, "msg": "success"}
    assert modes[BTC]["marginMode"] == "isolated"


@pytest.mark.asyncio
async def test_hedge_mode_set_by_control_is_reported_and_orders_are_refused_until_one_way_again(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    before = await usdm.fetch_position_mode(BTC)
    await _control(futures_emulator, "position_mode", {"hedge": True})
    hedged = await usdm.fetch_position_mode(BTC)
    with pytest.raises(OperationRejected, match="-4061"):
        await usdm.create_order(BTC, "market", "buy", 0.001)
    await usdm.set_position_mode(False)
    after = await usdm.fetch_position_mode(BTC)
    assert (before["hedged"], hedged["hedged"], after["hedged"]) == (False, True, False)


@pytest.mark.asyncio
async def test_an_unknown_symbol_is_binance_code_1121(usdm: ccxtpro.binanceusdm) -> None:
    with pytest.raises(BadSymbol, match="-1121"):
        await usdm.fapiPublicGetDepth({"symbol": "NOPEUSDT"})


@pytest.mark.asyncio
async def test_public_market_data_shows_the_mark_and_the_book_one_tick_around_it(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await _control(futures_emulator, "mark", {"symbol": BTC, "price": "61000"})
    await _control(futures_emulator, "funding_rate", {"symbol": BTC, "rate": "-0.0002"})
    book = await usdm.fetch_order_book(BTC, 5)
    rate = await usdm.fetch_funding_rate(BTC)
    bids_asks = await usdm.fetch_bids_asks([BTC])
    assert (book["bids"][0][0], book["asks"][0][0]) == (60999.9, 61000.1)
    assert (rate["markPrice"], rate["fundingRate"]) == (61000, -0.0002)
    assert rate["fundingTimestamp"] % 28_800_000 == 0
    assert (bids_asks[BTC]["bid"], bids_asks[BTC]["ask"]) == (60999.9, 61000.1)


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("funding_rate", {"symbol": BTC, "rate": "0.5"}, "at most ±0.03"),
        ("funding_rate", {"symbol": BTC, "rate": "nan"}, "bad number rate"),
        ("mark", {"symbol": "ETH/USDT:USDT", "price": "1"}, "unknown futures symbol"),
        ("mark", {"symbol": BTC, "price": "-1"}, "bad number price"),
        ("position_mode", {"hedge": "true"}, "a JSON boolean"),
        ("balance", {"asset": "USDT", "wallet": "-5"}, "at least 0"),
    ],
)
@pytest.mark.asyncio
async def test_bad_control_inputs_are_400_with_one_error_line(
    futures_emulator: BinanceEmulator, path: str, body: dict[str, object], error: str
) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"{futures_emulator.base_http}/_control/futures/{path}", json=body
    ) as response:
        answer = await response.json()
    assert response.status == 400
    assert error in answer["error"]
