"""Funding and liquidation of the futures venue (MarginAccount.apply_funding / check_liquidations) via ccxt."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator
from trading_bot.emulator import EmulatorConfig
from trading_bot.emulator.config import FuturesConfig

BTC = "BTC/USDT:USDT"


async def _control(emu: BinanceEmulator, path: str, body: dict[str, object]) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.post(f"{emu.base_http}/_control/futures/{path}", json=body) as r:
        answer: dict[str, object] = await r.json()
        return answer


async def _wallet(ex: ccxtpro.binanceusdm) -> float:
    balance = await ex.fetch_balance()
    return float(balance["info"]["assets"][0]["walletBalance"])


@pytest.mark.asyncio
async def test_funding_settled_by_control_is_paid_by_a_long_when_the_rate_is_positive(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.create_order(BTC, "market", "buy", 0.1)
    await _control(futures_emulator, "funding_rate", {"symbol": BTC, "rate": "0.0005"})
    before = await _wallet(usdm)
    answer = await _control(futures_emulator, "funding", {"symbol": BTC})
    after = await _wallet(usdm)
    history = await usdm.fetch_funding_history(BTC)
    again = await usdm.fetch_funding_history(BTC)
    rates = await usdm.fetch_funding_rate_history(BTC)

    assert after - before == pytest.approx(-0.1 * 60000 * 0.0005)  # qty × mark × rate, paid
    assert [h["amount"] for h in history] == [pytest.approx(-3.0)]
    assert history[0]["id"] == again[0]["id"] == str(answer["income"][0]["tranId"])  # type: ignore[index]
    assert history[0]["code"] == "USDT"
    assert [(r["fundingRate"], r["symbol"]) for r in rates] == [(0.0005, BTC)]


@pytest.mark.asyncio
async def test_a_short_receives_positive_funding_and_a_flat_account_pays_nothing(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await _control(futures_emulator, "funding", {})  # flat: no income row
    await usdm.create_order(BTC, "market", "sell", 0.1)
    await _control(futures_emulator, "funding", {"symbol": BTC})
    history = await usdm.fetch_funding_history(BTC)
    assert [h["amount"] for h in history] == [pytest.approx(0.1 * 60000 * 0.0001)]


@pytest.mark.asyncio
async def test_funding_settles_on_the_schedule_when_the_interval_is_shortened() -> None:
    config = FuturesConfig(funding_interval_ms=300, funding_rate=Decimal("0.001"))
    async with BinanceEmulator(EmulatorConfig(history_bars=0, futures=config)) as emu:
        ex = ccxtpro.binanceusdm({**emu.ccxt_usdm_config(), "enableRateLimit": False})
        try:
            await ex.create_order(BTC, "market", "buy", 0.01)
            await asyncio.sleep(1.0)
            history = await ex.fetch_funding_history(BTC)
            rate = await ex.fetch_funding_rate(BTC)
        finally:
            await ex.close()
    assert len(history) >= 2
    assert all(h["amount"] == pytest.approx(-0.01 * 60000 * 0.001) for h in history)
    assert all(h["timestamp"] % 300 == 0 for h in history)  # at the multiples of the interval
    assert rate["fundingTimestamp"] % 300 == 0


@pytest.mark.asyncio
async def test_a_mark_move_through_the_liquidation_price_closes_the_position_and_charges_the_fee(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.set_margin_mode("isolated", BTC)
    await usdm.set_leverage(50, BTC)
    await usdm.create_order(BTC, "market", "buy", 0.1)
    liquidation_price = (await usdm.fetch_positions([BTC]))[0]["liquidationPrice"]
    answer = await _control(futures_emulator, "mark", {"symbol": BTC, "price": str(round(liquidation_price - 5))})
    positions = await usdm.fetch_positions([BTC])
    income = await usdm.fapiPrivateGetIncome({"symbol": "BTCUSDT"})
    trades = await usdm.fetch_my_trades(BTC)

    assert 58000 < liquidation_price < 60000
    assert answer["liquidated"] == ["BTCUSDT"]
    assert positions == []
    kinds = [row["incomeType"] for row in income]
    assert "INSURANCE_CLEAR" in kinds
    assert kinds.count("COMMISSION") == 1
    closing = trades[-1]  # the venue's autoclose order, at the mark it was liquidated at
    assert (closing["side"], closing["amount"], closing["price"]) == ("sell", 0.1, round(liquidation_price - 5))
    assert float(closing["info"]["realizedPnl"]) < 0
