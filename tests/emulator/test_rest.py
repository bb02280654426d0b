"""REST behaviour of the emulator as seen through real ccxt."""

from __future__ import annotations

import time
from decimal import Decimal

import ccxt.pro as ccxtpro
import pytest

from trading_bot.emulator import BinanceEmulator

SYMBOL = "BTC/USDT"


@pytest.mark.asyncio
async def test_load_markets_with_recommended_options_makes_exactly_one_request(emulator: BinanceEmulator) -> None:
    ex = ccxtpro.binance(emulator.ccxt_config())
    try:
        markets = await ex.load_markets()
    finally:
        await ex.close()
    assert [(r["method"], r["path"]) for r in emulator.request_log()] == [("GET", "/api/v3/exchangeInfo")]
    market = markets[SYMBOL]
    assert market["spot"] is True
    assert market["precision"]["price"] == pytest.approx(0.01)
    assert market["precision"]["amount"] == pytest.approx(0.00001)
    assert market["limits"]["cost"]["min"] == pytest.approx(5)


@pytest.mark.asyncio
async def test_fetch_ticker_and_order_book_show_the_quote_set_by_control(exchange: ccxtpro.binance) -> None:
    ticker = await exchange.fetch_ticker(SYMBOL)
    book = await exchange.fetch_order_book(SYMBOL, 5)
    assert (ticker["bid"], ticker["ask"]) == (60000.0, 60000.1)
    assert book["bids"][0] == [60000.0, 2.0]
    assert book["asks"][0] == [60000.1, 3.0]
    assert len(book["bids"]) == 5
    assert isinstance(book["nonce"], int)


@pytest.mark.asyncio
async def test_fetch_ohlcv_returns_seeded_history_bars(exchange: ccxtpro.binance) -> None:
    bars = await exchange.fetch_ohlcv(SYMBOL, "1m", limit=20)
    assert len(bars) == 20
    assert all(b[0] % 60_000 == 0 for b in bars)
    assert [b[0] for b in bars] == sorted(b[0] for b in bars)
    assert all(b[3] <= min(b[1], b[4]) and b[2] >= max(b[1], b[4]) for b in bars)


@pytest.mark.asyncio
async def test_limit_order_rests_is_listed_open_and_cancel_releases_the_locked_quote(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    order = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "rest-1"})
    balance = await exchange.fetch_balance()
    open_orders = await exchange.fetch_open_orders(SYMBOL)
    canceled = await exchange.cancel_order(order["id"], SYMBOL)
    after = await exchange.fetch_balance()
    fetched = await exchange.fetch_order(None, SYMBOL, {"clientOrderId": "rest-1"})

    assert order["status"] == "open"
    assert order["clientOrderId"] == "rest-1"
    assert [o["id"] for o in open_orders] == [order["id"]]
    assert balance["USDT"]["used"] == pytest.approx(59000 * 0.01 * 1.001)
    assert canceled["status"] == "canceled"
    assert after["USDT"]["used"] == 0
    assert after["USDT"]["free"] == 100000
    assert fetched["status"] == "canceled"
    post = next(r for r in emulator.request_log() if r["method"] == "POST")
    params = post["params"]
    assert isinstance(params, dict)
    assert params["newClientOrderId"] == "rest-1"
    assert "signature" not in params


@pytest.mark.asyncio
async def test_crossing_limit_buy_fills_at_once_as_taker_at_the_ask_with_quote_fee(exchange: ccxtpro.binance) -> None:
    order = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 60100)
    balance = await exchange.fetch_balance()
    trades = await exchange.fetch_my_trades(SYMBOL)

    assert order["status"] == "closed"
    assert order["average"] == pytest.approx(60000.1)
    assert order["fee"]["currency"] == "USDT"
    assert order["fee"]["cost"] == pytest.approx(600.001 * 0.001)
    assert balance["BTC"]["free"] == pytest.approx(10.01)
    assert balance["USDT"]["free"] == pytest.approx(100000 - 600.001 * 1.001)
    assert trades[0]["takerOrMaker"] == "taker"


@pytest.mark.asyncio
async def test_market_buy_by_quote_order_qty_fills_at_the_ask(exchange: ccxtpro.binance) -> None:
    order = await exchange.create_order(SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 700})
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(0.01166)  # 700 / 60000.1 rounded down to the 0.00001 step
    assert order["average"] == pytest.approx(60000.1)
    assert order["cost"] <= 700


@pytest.mark.asyncio
async def test_post_only_order_that_would_cross_raises_order_immediately_fillable(exchange: ccxtpro.binance) -> None:
    with pytest.raises(ccxtpro.OrderImmediatelyFillable):
        await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 60100, {"postOnly": True})


@pytest.mark.asyncio
async def test_order_beyond_free_balance_raises_insufficient_funds(exchange: ccxtpro.binance) -> None:
    with pytest.raises(ccxtpro.InsufficientFunds):
        await exchange.create_order(SYMBOL, "limit", "buy", 5, 59000)


@pytest.mark.asyncio
async def test_duplicate_client_id_is_rejected_while_open_and_accepted_after_close(exchange: ccxtpro.binance) -> None:
    first = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxtpro.InvalidOrder, match="Duplicate order sent"):
        await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "dup-1"})
    await exchange.cancel_order(first["id"], SYMBOL)
    again = await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 59000, {"clientOrderId": "dup-1"})
    assert again["id"] != first["id"]


@pytest.mark.asyncio
async def test_unknown_order_raises_order_not_found_on_fetch_and_cancel(exchange: ccxtpro.binance) -> None:
    with pytest.raises(ccxtpro.OrderNotFound):
        await exchange.fetch_order("424242", SYMBOL)
    with pytest.raises(ccxtpro.OrderNotFound):
        await exchange.cancel_order("424242", SYMBOL)


@pytest.mark.asyncio
async def test_order_below_min_notional_raises_bad_request_filter_failure(exchange: ccxtpro.binance) -> None:
    with pytest.raises(ccxtpro.BadRequest, match="NOTIONAL"):
        await exchange.create_order(SYMBOL, "limit", "buy", 0.00001, 59000)


@pytest.mark.asyncio
async def test_off_tick_price_sent_raw_raises_invalid_order_price_filter(exchange: ccxtpro.binance) -> None:
    exchange.markets[SYMBOL]["precision"]["price"] = 0.001  # let ccxt send a sub-tick price
    with pytest.raises(ccxtpro.InvalidOrder, match="PRICE_FILTER"):
        await exchange.create_order(SYMBOL, "limit", "buy", 0.01, 59000.005)


@pytest.mark.asyncio
async def test_off_step_quantity_sent_raw_raises_invalid_order_lot_size(exchange: ccxtpro.binance) -> None:
    """The emulator's lot check is ``Market.order_problem``'s, answered with Binance's LOT_SIZE failure."""
    exchange.markets[SYMBOL]["precision"]["amount"] = 0.000001  # let ccxt send a sub-step quantity
    with pytest.raises(ccxtpro.InvalidOrder, match="LOT_SIZE"):
        await exchange.create_order(SYMBOL, "limit", "buy", 0.010005, 59000)


@pytest.mark.asyncio
async def test_market_buy_by_quote_amount_below_min_notional_raises_notional_filter(exchange: ccxtpro.binance) -> None:
    """A ``quoteOrderQty`` market order is valued at that quote amount (Binance's NOTIONAL for it)."""
    with pytest.raises(ccxtpro.BadRequest, match="NOTIONAL"):
        await exchange.create_order(SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 4})


@pytest.mark.asyncio
async def test_trade_print_through_a_resting_sell_fills_it_partially_then_fully(
    emulator: BinanceEmulator, exchange: ccxtpro.binance
) -> None:
    order = await exchange.create_order(SYMBOL, "limit", "sell", 0.02, 60100)
    await emulator.trade(SYMBOL, Decimal("60100"), Decimal("0.005"), "buy")
    partial = await exchange.fetch_order(order["id"], SYMBOL)
    await emulator.trade(SYMBOL, Decimal("60150"), Decimal("1"), "buy")
    full = await exchange.fetch_order(order["id"], SYMBOL)

    assert (partial["status"], partial["filled"]) == ("open", pytest.approx(0.005))
    assert (full["status"], full["filled"]) == ("closed", pytest.approx(0.02))
    assert full["average"] == pytest.approx(60100)
    assert [f["isMaker"] for f in emulator.fills()] == [True, True]


@pytest.mark.asyncio
async def test_request_log_numbers_requests_and_stamps_their_arrival_on_the_monotonic_clock(
    emulator: BinanceEmulator,
) -> None:
    before_ns = time.monotonic_ns()
    ex = ccxtpro.binance(emulator.ccxt_config())
    try:
        await ex.load_markets()
        await ex.fetch_order_book(SYMBOL)
        await ex.fetch_ticker(SYMBOL)
    finally:
        await ex.close()
    after_ns = time.monotonic_ns()

    log = emulator.request_log()
    assert [r["seq"] for r in log] == [1, 2, 3]
    stamps = [r["received_ns"] for r in log]
    assert before_ns <= stamps[0] <= stamps[1] <= stamps[2] <= after_ns  # shared clock, arrival order
    assert [r["path"] for r in emulator.requests_after(1)] == ["/api/v3/depth", "/api/v3/ticker/24hr"]
    assert emulator.requests_after(3) == []
