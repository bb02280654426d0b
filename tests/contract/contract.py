"""The exchange contract: behaviour every ``BaseExchangeClient`` must show, whatever is behind it.

Subclass ``ExchangeContract`` in a ``test_*.py`` module as ``Test<Name>Contract`` and give it a pytest
fixture named ``harness`` (an async fixture, ``pytest_asyncio.fixture``) that yields an object with
this small interface (``ContractHarness``):

``client``
    the client under test, already ``connect()``-ed, with a sink attached that appends every update to
    ``updates``.
``updates``
    list of every ``OrderStatusReport`` / ``Fill`` delivered to the sink, in order.
``symbol``
    the market traded (a spot market quoted in a currency the account holds, e.g. ``BTC/USDT``).
``base_price``
    a realistic price for ``symbol`` (quote currency); tests place orders around it.
``await move_market(bid, ask)``
    make ``bid``/``ask`` the best prices (quote currency). Resting orders the new book crosses
    (ask ≤ a buy's price, bid ≥ a sell's price) fill in full at their own price as maker. For the ccxt
    suite this goes through the Binance emulator's control endpoint.
``await trade(price, quantity, aggressor_side)``
    print one public trade (``quantity`` in base currency; ``aggressor_side`` is the taker's side). A
    trade at a resting order's price by the opposite aggressor fills up to ``quantity`` of it, once the
    size shown ahead of it has traded; the tests only rest orders strictly inside the spread, so
    nothing is ahead of them.
``await settle()``
    give updates in flight a chance to arrive (paper: nothing to do; an emulator: one short poll).
    The tests call it repeatedly, up to 50 times, while waiting for an expected update.

The account must hold at least ``20 × min_notional`` of the quote currency and far less than
``base_price × 1000 × min_amount``-ish amounts the insufficient-funds test asks for (it sizes the order
from the free balance, so any balance works). Client order ids are unique per test run.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import pytest

from exchanges.base import BaseExchangeClient
from exchanges.base import OrderUpdate
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import Symbol
from trading_bot.errors import InsufficientFunds
from trading_bot.errors import OrderNotFound
from trading_bot.errors import PostOnlyWouldCross

__all__ = ["ContractHarness", "ExchangeContract"]

_RUN = uuid.uuid4().hex[:10]
_SEQ = itertools.count(1)


class ContractHarness(Protocol):
    """What a contract subclass's ``harness`` fixture yields; see the module docstring."""

    client: BaseExchangeClient
    updates: list[OrderUpdate]
    symbol: Symbol
    base_price: Decimal

    async def move_market(self, bid: Decimal, ask: Decimal) -> None:
        """Make ``bid``/``ask`` the best prices."""
        ...

    async def trade(self, price: Decimal, quantity: Decimal, aggressor_side: OrderSide) -> None:
        """Print one public trade."""
        ...

    async def settle(self) -> None:
        """Let in-flight updates arrive."""
        ...


def new_client_order_id() -> ClientOrderId:
    """Return a client order id unique across test runs (≤ 36 characters)."""
    return ClientOrderId(f"ct{_RUN}-{next(_SEQ)}")


async def eventually(harness: ContractHarness, predicate: Callable[[], bool], what: str) -> None:
    """Call ``harness.settle()`` until ``predicate()`` holds; fail naming ``what`` after 50 tries."""
    for _ in range(50):
        if predicate():
            return
        await harness.settle()
    raise AssertionError(f"timed out waiting for {what}")


def fills_of(harness: ContractHarness, coid: ClientOrderId) -> list[Fill]:
    """Return the fills of one order delivered to the sink, de-duplicated by trade id."""
    seen: dict[str, Fill] = {}
    for update in harness.updates:
        if isinstance(update, Fill) and update.client_order_id == coid:
            seen.setdefault(update.trade_id, update)
    return list(seen.values())


def filled(harness: ContractHarness, coid: ClientOrderId) -> Decimal:
    """Return the quantity of one order filled according to the sink."""
    return sum((f.quantity for f in fills_of(harness, coid)), Decimal(0))


def order_quantity(market: Market, price: Decimal, multiple: int = 1) -> Decimal:
    """Return a small valid quantity at ``price``: about twice the minimum notional, a multiple of ``multiple`` lots."""
    lots = (market.min_notional * 2 / price / market.amount_increment).to_integral_value() + 1
    lots = max(lots, (market.min_amount / market.amount_increment).to_integral_value())
    lots += (-lots) % multiple
    return lots * market.amount_increment


class ExchangeContract:
    """Tests every exchange client must pass; subclasses provide the ``harness`` fixture."""

    async def _book(self, harness: ContractHarness, spread_ticks: int = 10) -> tuple[Market, Decimal, Decimal]:
        market = harness.client.market(harness.symbol)
        bid = market.round_price(harness.base_price)
        ask = bid + spread_ticks * market.price_increment
        await harness.move_market(bid, ask)
        return market, bid, ask

    @pytest.mark.asyncio
    async def test_load_markets_when_called_returns_decimal_precision_and_limits(
        self, harness: ContractHarness
    ) -> None:
        markets = await harness.client.load_markets()

        market = markets[harness.symbol]
        assert market == harness.client.market(harness.symbol)
        for value in (market.price_increment, market.amount_increment, market.min_amount, market.min_notional):
            assert isinstance(value, Decimal)
        assert market.price_increment > 0
        assert market.amount_increment > 0
        assert isinstance(market.maker_fee, Decimal)
        assert isinstance(market.taker_fee, Decimal)

    @pytest.mark.asyncio
    async def test_limit_buy_below_market_is_accepted_and_listed_as_open(self, harness: ContractHarness) -> None:
        market, bid, _ = await self._book(harness)
        price = bid - 10 * market.price_increment
        coid = new_client_order_id()

        report = await harness.client.place_order(
            harness.symbol, OrderParams(side=OrderSide.BUY, price=price), order_quantity(market, price), coid
        )

        assert report.status is OrderStatus.ACCEPTED
        assert report.client_order_id == coid
        open_ids = [o.client_order_id for o in await harness.client.fetch_open_orders(harness.symbol)]
        assert coid in open_ids
        found = await harness.client.fetch_order(harness.symbol, coid)
        assert found is not None
        assert found.status is OrderStatus.ACCEPTED
        assert found.price == price
        await harness.client.cancel_order(harness.symbol, coid)

    @pytest.mark.asyncio
    async def test_cancel_open_order_returns_canceled_and_a_second_cancel_raises_order_not_found(
        self, harness: ContractHarness
    ) -> None:
        market, bid, _ = await self._book(harness)
        price = bid - 10 * market.price_increment
        coid = new_client_order_id()
        params = OrderParams(side=OrderSide.BUY, price=price)
        await harness.client.place_order(harness.symbol, params, order_quantity(market, price), coid)

        report = await harness.client.cancel_order(harness.symbol, coid)

        assert report.status is OrderStatus.CANCELED
        open_ids = [o.client_order_id for o in await harness.client.fetch_open_orders(harness.symbol)]
        assert coid not in open_ids
        with pytest.raises(OrderNotFound):
            await harness.client.cancel_order(harness.symbol, coid)

    @pytest.mark.asyncio
    async def test_post_only_buy_at_the_ask_raises_post_only_would_cross(self, harness: ContractHarness) -> None:
        market, _, ask = await self._book(harness)
        params = OrderParams(side=OrderSide.BUY, price=ask, post_only=True)

        with pytest.raises(PostOnlyWouldCross):
            await harness.client.place_order(harness.symbol, params, order_quantity(market, ask), new_client_order_id())

        open_orders = await harness.client.fetch_open_orders(harness.symbol)
        assert all(o.price != ask for o in open_orders)

    @pytest.mark.asyncio
    async def test_resting_buy_when_ask_moves_through_fills_as_maker_and_updates_balances(
        self, harness: ContractHarness
    ) -> None:
        market, bid, _ = await self._book(harness)
        price = bid + market.price_increment
        qty = order_quantity(market, price)
        coid = new_client_order_id()
        await harness.client.place_order(harness.symbol, OrderParams(side=OrderSide.BUY, price=price), qty, coid)
        before = await harness.client.fetch_balance()

        await harness.move_market(price - 10 * market.price_increment, price - market.price_increment)
        await eventually(harness, lambda: filled(harness, coid) == qty, "the fill of the resting buy")

        fills = fills_of(harness, coid)
        assert sum(f.quantity for f in fills) == qty
        assert all(f.price == price and f.side is OrderSide.BUY for f in fills)
        assert all(f.liquidity is LiquiditySide.MAKER for f in fills)
        fee_quote = sum((f.fee for f in fills if f.fee_currency == market.quote), Decimal(0))
        fee_base = sum((f.fee for f in fills if f.fee_currency == market.base), Decimal(0))
        assert fee_quote + fee_base > 0
        if fee_quote:
            # Exchanges round commissions (Binance: 8 decimals); the fee is the rate times the notional.
            assert abs(fee_quote - price * qty * market.maker_fee) <= Decimal("1e-8")
        after = await harness.client.fetch_balance()
        quote_before, quote_after = before[market.quote], after[market.quote]
        # Locked funds were released: the total fell by exactly what the fill cost.
        assert quote_after.total == quote_before.total - price * qty - fee_quote
        base_before = before[market.base].total if market.base in before else Decimal(0)
        assert after[market.base].total == base_before + qty - fee_base
        status = await harness.client.fetch_order(harness.symbol, coid)
        assert status is not None
        assert status.status is OrderStatus.FILLED

    @pytest.mark.asyncio
    async def test_two_trades_at_the_price_fill_a_resting_buy_in_two_parts(self, harness: ContractHarness) -> None:
        market, bid, _ = await self._book(harness)
        price = bid + market.price_increment
        qty = order_quantity(market, price, multiple=2)
        half = qty / 2
        coid = new_client_order_id()
        await harness.client.place_order(harness.symbol, OrderParams(side=OrderSide.BUY, price=price), qty, coid)

        await harness.trade(price, half, OrderSide.SELL)
        await eventually(harness, lambda: filled(harness, coid) == half, "the first partial fill")
        partial = await harness.client.fetch_order(harness.symbol, coid)
        await harness.trade(price, half, OrderSide.SELL)
        await eventually(harness, lambda: filled(harness, coid) == qty, "the second partial fill")

        assert partial is not None
        assert partial.status is OrderStatus.PARTIALLY_FILLED
        assert partial.filled_quantity == half
        fills = fills_of(harness, coid)
        assert [f.quantity for f in fills] == [half, half]
        final = await harness.client.fetch_order(harness.symbol, coid)
        assert final is not None
        assert final.status is OrderStatus.FILLED

    @pytest.mark.asyncio
    async def test_limit_buy_costing_more_than_the_free_quote_raises_insufficient_funds(
        self, harness: ContractHarness
    ) -> None:
        market, bid, _ = await self._book(harness)
        price = bid - 10 * market.price_increment
        free = (await harness.client.fetch_balance())[market.quote].free
        qty = market.round_amount(free * 2 / price) + market.amount_increment
        if market.max_amount is not None:
            assert qty <= market.max_amount, "harness balance too large for this test"

        with pytest.raises(InsufficientFunds):
            await harness.client.place_order(
                harness.symbol, OrderParams(side=OrderSide.BUY, price=price), qty, new_client_order_id()
            )

    @pytest.mark.asyncio
    async def test_fetch_my_trades_returns_the_fills_delivered_to_the_sink(self, harness: ContractHarness) -> None:
        market, bid, _ = await self._book(harness)
        price = bid + market.price_increment
        qty = order_quantity(market, price)
        coid = new_client_order_id()
        await harness.client.place_order(harness.symbol, OrderParams(side=OrderSide.BUY, price=price), qty, coid)
        await harness.move_market(price - 10 * market.price_increment, price - market.price_increment)
        await eventually(harness, lambda: filled(harness, coid) == qty, "the fill")
        delivered = fills_of(harness, coid)

        trades = await harness.client.fetch_my_trades(harness.symbol, since_ms=min(f.ts_ms for f in delivered))

        mine = {f.trade_id: f for f in trades if f.client_order_id == coid}
        assert set(mine) == {f.trade_id for f in delivered}
        assert all(mine[f.trade_id].quantity == f.quantity and mine[f.trade_id].price == f.price for f in delivered)
