"""Orders, positions and refusals of the futures venue through real ccxt binanceusdm.

On 127.0.0.1 ccxt applies only its top-level error tables (its USDⓈ-M table is keyed by the
``https://fapi.binance.com/`` prefix), so -2019, -2022 and -4164 arrive as plain ExchangeError there;
the tests pin that, and the Binance code is always in the message.
"""

from __future__ import annotations

import asyncio

import aiohttp
import ccxt.pro as ccxtpro
import pytest
from ccxt.base.errors import ExchangeError
from ccxt.base.errors import InsufficientFunds
from ccxt.base.errors import InvalidOrder

from trading_bot.emulator import BinanceEmulator

BTC = "BTC/USDT:USDT"


async def _control(emu: BinanceEmulator, path: str, body: dict[str, object]) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.post(f"{emu.base_http}/_control/futures/{path}", json=body) as r:
        answer: dict[str, object] = await r.json()
        return answer


@pytest.mark.asyncio
async def test_reduce_only_when_flat_is_rejected_with_2022(usdm: ccxtpro.binanceusdm) -> None:
    with pytest.raises(ExchangeError, match="-2022") as caught:
        await usdm.create_order(BTC, "limit", "sell", 0.001, 61000, {"reduceOnly": True})
    assert not isinstance(caught.value, InvalidOrder)  # loopback: the fapi-only table does not apply
    assert await usdm.fetch_open_orders(BTC) == []


@pytest.mark.asyncio
async def test_post_only_that_would_take_is_rejected_with_5022(usdm: ccxtpro.binanceusdm) -> None:
    with pytest.raises(InvalidOrder, match="-5022"):
        await usdm.create_order(BTC, "limit", "buy", 0.001, 60000.1, {"postOnly": True})
    resting = await usdm.create_order(BTC, "limit", "buy", 0.001, 59000, {"timeInForce": "GTX"})
    assert (resting["status"], resting["postOnly"], resting["timeInForce"]) == ("open", True, "PO")


@pytest.mark.asyncio
async def test_market_buy_opens_a_long_the_position_shows_it_and_a_sell_of_the_same_size_flattens(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.set_leverage(10, BTC)
    bought = await usdm.create_order(BTC, "market", "buy", 0.3)  # 18,000 USDT: beyond the wallet, so a liq price
    v3 = await usdm.fetch_positions([BTC])
    v2 = await usdm.fetch_positions([BTC], {"useV2": True})
    sold = await usdm.create_order(BTC, "market", "sell", 0.3, None, {"reduceOnly": True})
    after = await usdm.fetch_positions([BTC])
    balance = await usdm.fetch_balance()

    assert (bought["status"], bought["filled"], bought["average"]) == ("closed", 0.3, 60000.1)
    position = v3[0]
    assert (position["contracts"], position["entryPrice"], position["side"]) == (0.3, 60000.1, "long")
    assert position["marginMode"] == "cross"
    assert position["leverage"] is None  # Binance's v3 positionRisk carries no leverage: ccxt leaves it None
    # Binance one-way cross: LP = (wallet - q·E) / (q·MMR - q), with the wallet after the opening fee
    wallet = 10000 - 18000.03 * 0.0005
    assert position["liquidationPrice"] == pytest.approx((wallet - 0.3 * 60000.1) / (0.3 * 0.004 - 0.3))
    assert (v2[0]["leverage"], v2[0]["marginMode"]) == (10, "cross")
    assert sold["average"] == 59999.9
    assert after == []
    fees = 18000.03 * 0.0005 + 17999.97 * 0.0005
    assert balance["USDT"]["total"] == pytest.approx(10000 - 0.06 - fees)
    assert balance["USDT"]["used"] == 0


@pytest.mark.asyncio
async def test_isolated_position_reports_its_margin_and_a_nearer_liquidation_price(usdm: ccxtpro.binanceusdm) -> None:
    await usdm.set_margin_mode("isolated", BTC)
    await usdm.set_leverage(20, BTC)
    await usdm.create_order(BTC, "market", "sell", 0.01)
    position = (await usdm.fetch_positions([BTC]))[0]
    assert (position["side"], position["marginMode"]) == ("short", "isolated")
    # isolatedMargin = the margin moved in at the entry (notional / 20) + unrealized PnL at the mark
    assert position["collateral"] == pytest.approx(599.999 / 20 - 0.001, abs=1e-6)
    assert 60000 < position["liquidationPrice"] < 60000 * 1.05


@pytest.mark.asyncio
async def test_an_order_beyond_the_available_margin_is_rejected_with_2019(usdm: ccxtpro.binanceusdm) -> None:
    await usdm.set_leverage(2, BTC)
    with pytest.raises(ExchangeError, match="-2019") as caught:
        await usdm.create_order(BTC, "market", "buy", 0.5)  # 30,000 USDT at 2x needs 15,000 of margin
    assert not isinstance(caught.value, InsufficientFunds)  # loopback: ccxt's -2019 mapping is fapi-URL only


@pytest.mark.asyncio
async def test_an_order_below_the_min_notional_is_rejected_with_4164(usdm: ccxtpro.binanceusdm) -> None:
    with pytest.raises(ExchangeError, match="-4164"):
        await usdm.create_order("XRP/USDT:USDT", "limit", "buy", 1, 0.4)


@pytest.mark.asyncio
async def test_fetch_my_trades_lists_each_fill_with_its_realized_pnl_and_fee(usdm: ccxtpro.binanceusdm) -> None:
    await usdm.create_order(BTC, "market", "buy", 0.002)
    await usdm.create_order(BTC, "market", "sell", 0.002)
    trades = await usdm.fetch_my_trades(BTC)
    assert [(t["side"], t["price"], t["amount"]) for t in trades] == [("buy", 60000.1, 0.002), ("sell", 59999.9, 0.002)]
    assert trades[0]["fee"] == {"currency": "USDT", "cost": pytest.approx(0.0600001)}
    assert trades[1]["info"]["realizedPnl"] == "-0.0004"


@pytest.mark.asyncio
async def test_resting_limit_is_open_until_canceled_and_cancel_all_clears_the_rest(usdm: ccxtpro.binanceusdm) -> None:
    first = await usdm.create_order(BTC, "limit", "buy", 0.001, 59000, {"clientOrderId": "fut-1"})
    await usdm.create_order(BTC, "limit", "sell", 0.001, 61000)
    open_before = await usdm.fetch_open_orders(BTC)
    balance = await usdm.fetch_balance()
    canceled = await usdm.cancel_order(first["id"], BTC)
    fetched = await usdm.fetch_order(first["id"], BTC)
    await usdm.cancel_all_orders(BTC)
    open_after = await usdm.fetch_open_orders(BTC)

    assert first["clientOrderId"] == "fut-1"
    assert len(open_before) == 2
    assert balance["USDT"]["used"] > 0  # order margin of the opening orders
    assert (canceled["status"], fetched["status"]) == ("canceled", "canceled")
    assert open_after == []


@pytest.mark.asyncio
async def test_a_resting_limit_fills_as_maker_when_the_mark_moves_the_book_onto_it(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    order = await usdm.create_order(BTC, "limit", "buy", 0.001, 59000)
    await _control(futures_emulator, "mark", {"symbol": BTC, "price": "58900"})
    fetched = await usdm.fetch_order(order["id"], BTC)
    trades = await usdm.fetch_my_trades(BTC)
    assert (fetched["status"], fetched["average"]) == ("closed", 59000)
    assert trades[0]["takerOrMaker"] == "maker"


@pytest.mark.asyncio
async def test_stop_market_goes_through_the_algo_order_api_and_triggers_on_the_touch(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.create_order(BTC, "market", "buy", 0.01)
    stop = await usdm.create_order(BTC, "market", "sell", 0.01, None, {"triggerPrice": 59000, "reduceOnly": True})
    pending = await usdm.fetch_open_orders(BTC, params={"trigger": True})
    await _control(futures_emulator, "mark", {"symbol": BTC, "price": "58990"})
    positions = await usdm.fetch_positions([BTC])
    paths = [r["path"] for r in futures_emulator.request_log() if r["method"] == "POST"]

    assert (stop["type"], stop["triggerPrice"], stop["status"]) == ("market", 59000, "open")
    assert [o["id"] for o in pending] == [stop["id"]]
    assert "/fapi/v1/algoOrder" in paths
    assert positions == []


@pytest.mark.asyncio
async def test_a_triggered_stop_places_a_new_order_whose_fills_name_it_as_binances_algo_service(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    await usdm.create_order(BTC, "market", "buy", 0.01)
    stop = await usdm.create_order(BTC, "market", "sell", 0.01, None,
                                   {"triggerPrice": 59000, "reduceOnly": True, "clientOrderId": "sl-1"})  # fmt: skip
    seen: list[tuple[str, str]] = []  # (ALGO_UPDATE or ORDER_TRADE_UPDATE, status) from the user stream

    async def watch() -> None:
        while ("algo", "FINISHED") not in seen:
            for o in await usdm.watch_orders(BTC):
                seen.append(("algo" if "aid" in o["info"] else "order", o["info"]["X"]))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.3)  # the listen-key stream subscribes
    await _control(futures_emulator, "mark", {"symbol": BTC, "price": "58990"})
    await asyncio.wait_for(watcher, 5)
    algo = await usdm.fetch_order(stop["id"], BTC, {"trigger": True})
    placed_id = algo["info"]["actualOrderId"]
    placed = await usdm.fetch_order(placed_id, BTC)
    trades = [t for t in await usdm.fetch_my_trades(BTC) if t["side"] == "sell"]

    assert (algo["info"]["algoStatus"], algo["filled"]) == ("FINISHED", 0)  # Binance's answer has no filled qty
    assert placed_id not in ("", stop["id"])
    assert (placed["clientOrderId"], placed["status"], placed["filled"]) == ("sl-1", "closed", 0.01)
    assert [t["order"] for t in trades] == [placed_id]
    # ccxt's order cache may merge the placed order's NEW into its FILLED: the algo order brackets it
    assert (seen[0], seen[-1]) == (("algo", "TRIGGERED"), ("algo", "FINISHED"))
    assert [s for s in seen[1:-1] if s[0] == "order"][-1] == ("order", "FILLED")


@pytest.mark.asyncio
async def test_fill_or_kill_that_cannot_fill_whole_is_rejected_with_5021(usdm: ccxtpro.binanceusdm) -> None:
    with pytest.raises(InvalidOrder, match="-5021"):  # the touch shows 1 BTC
        await usdm.create_order(BTC, "limit", "buy", 2, 60000.1, {"timeInForce": "FOK"})


@pytest.mark.asyncio
async def test_a_stop_market_posted_to_the_order_endpoint_is_refused_with_4120_as_since_2025_12_09(
    usdm: ccxtpro.binanceusdm,
) -> None:
    with pytest.raises(ExchangeError, match="-4120"):
        await usdm.fapiPrivatePostOrder(
            {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.001", "stopPrice": "59000"}
        )


@pytest.mark.asyncio
async def test_accept_then_timeout_books_the_futures_order_but_holds_its_answer(
    futures_emulator: BinanceEmulator, usdm: ccxtpro.binanceusdm
) -> None:
    futures_emulator.set_faults(accept_then_timeout=True, accept_timeout_delay_s=0.5)
    usdm.timeout = 200  # ms: the client gives up before the answer comes
    with pytest.raises(ccxtpro.RequestTimeout):
        await usdm.create_order(BTC, "limit", "buy", 0.001, 59000, {"clientOrderId": "held-1"})
    usdm.timeout = 10_000
    found = await usdm.fetch_order(None, BTC, {"clientOrderId": "held-1"})
    assert found["status"] == "open"
