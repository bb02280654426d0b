"""Rules of the paper exchange (``exchanges.paper``) over a replay feed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.base import OrderUpdate
from exchanges.config import PaperConfig
from exchanges.paper import PaperExchange
from exchanges.replay import ReplayFeed
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import SimulatedClock
from trading_bot.domain import Symbol
from trading_bot.errors import ConfigError

SYMBOL = Symbol("BTC/USDT")
D = Decimal
QUOTES = "timestamp,bid_price,bid_size,ask_price,ask_size\n1000,100.00,1,100.10,1\n2000,99.00,1,99.50,1\n"


def make(tmp_path: Path, config: PaperConfig | None = None) -> tuple[PaperExchange, list[OrderUpdate]]:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES)
    clock = SimulatedClock()
    client = PaperExchange(config or PaperConfig(), clock, ReplayFeed([path], SYMBOL, clock))
    updates: list[OrderUpdate] = []
    client.attach(updates.append)
    return client, updates


@pytest.mark.asyncio
async def test_fill_caused_by_an_event_reaches_the_sink_before_the_event_is_yielded(tmp_path: Path) -> None:
    client, _ = make(tmp_path)
    await client.connect()
    seen: list[str] = []
    client.attach(lambda u: seen.append(f"fill {u.quantity}" if isinstance(u, Fill) else "report"))
    stream = client.stream_market_data(SYMBOL)
    first = await anext(stream)
    await client.place_order(SYMBOL, OrderParams(side=OrderSide.BUY, price=D("99.90")), D("0.1"), ClientOrderId("a"))

    async for md in stream:
        seen.append(f"event {md.ts_ms}")

    assert first.ts_ms == 1000
    assert seen == ["fill 0.1", "event 2000"]


@pytest.mark.asyncio
async def test_fees_default_to_the_market_and_the_config_overrides_them(tmp_path: Path) -> None:
    client, updates = make(tmp_path, PaperConfig(taker_fee=D("0.0005")))
    await client.connect()

    await client.place_order(
        SYMBOL, OrderParams(side=OrderSide.BUY, order_type=OrderType.MARKET), D("0.1"), ClientOrderId("m")
    )

    fill = updates[0]
    assert isinstance(fill, Fill)
    assert fill.price == D("100.10")  # quote taken from the source before any streaming
    assert fill.fee == D("100.10") * D("0.1") * D("0.0005")
    assert client.engine(SYMBOL).model.maker_fee == client.market(SYMBOL).maker_fee


@pytest.mark.asyncio
async def test_balances_and_history_come_from_the_simulated_account(tmp_path: Path) -> None:
    client, _ = make(tmp_path, PaperConfig(balances={"USDT": D(1000)}))
    await client.connect()

    report = await client.place_order(
        SYMBOL, OrderParams(side=OrderSide.BUY, price=D("90.00")), D("1"), ClientOrderId("r")
    )
    balances = await client.fetch_balance()

    assert report.status is OrderStatus.ACCEPTED
    assert balances["USDT"].locked == D("90.00") * D("1.001")
    assert await client.fetch_my_trades(SYMBOL) == []
    await client.run_user_stream()


@pytest.mark.asyncio
async def test_unknown_symbol_raises_config_error_with_a_suggestion(tmp_path: Path) -> None:
    client, _ = make(tmp_path)
    await client.connect()

    with pytest.raises(ConfigError, match="did you mean 'BTC/USDT'"):
        client.market(Symbol("BTC/USDTT"))
