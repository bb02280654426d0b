"""Market metadata and market data: ``Market``, ``MarketData`` (top of book), ``Bar``, ``TradeTick``.

Times are epoch **milliseconds, UTC** (``int``) everywhere in the domain, as in the recorded data and in
exchange APIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from trading_bot.domain.book import BookView
from trading_bot.domain.enums import OrderSide
from trading_bot.domain.ids import Symbol
from trading_bot.domain.values import ZERO
from trading_bot.domain.values import decimal_text
from trading_bot.domain.values import round_to_increment

__all__ = ["Balance", "Bar", "FilterBreach", "MarginTier", "Market", "MarketData", "MarketFilter", "TradeTick"]


class MarketFilter(StrEnum):
    """Which of a market's exchange filters an order breaks (``Market.order_problem``)."""

    TICK = "tick"
    LOT_STEP = "lot_step"
    MIN_AMOUNT = "min_amount"
    MAX_AMOUNT = "max_amount"
    MIN_NOTIONAL = "min_notional"


@dataclass(frozen=True, slots=True)
class FilterBreach:
    """An order's breach of one exchange filter: which filter, and a reason naming the figures."""

    filter: MarketFilter
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginTier:
    """One maintenance-margin bracket of a swap market (ccxt ``fetch_leverage_tiers`` entry).

    ``floor`` / ``cap`` are position notional bounds in the quote (settle) currency, the tier applies
    to ``floor <= notional < cap``; ``maintenance_rate`` is the maintenance margin rate (fraction);
    ``maintenance_amount`` is Binance's ``cum`` (quote), so maintenance = notional x rate - cum.
    """

    floor: Decimal
    cap: Decimal
    max_leverage: Decimal
    maintenance_rate: Decimal
    maintenance_amount: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """Trading rules of one market: precision, limits and fees.

    Attributes:
        symbol: unified symbol, e.g. ``BTC/USDT``.
        base: base currency (what the quantity counts).
        quote: quote currency (what the price is in).
        price_increment: tick size, in quote currency.
        amount_increment: lot step, in base currency.
        min_amount: smallest order quantity, in base currency.
        min_notional: smallest ``price × quantity``, in quote currency.
        max_amount: largest order quantity, or ``None`` when unlimited.
        maker_fee: maker fee rate (0.001 = 0.1 %).
        taker_fee: taker fee rate.
        contract: True for derivatives (swap), False for spot.
        settle: swaps: the settle (collateral) currency, e.g. ``USDT``; ``None`` for spot.
        contract_size: swaps: base units per contract (1 for Binance USDⓈ-M linear).
        max_leverage: swaps: the highest leverage the venue allows, ``None`` if unknown.
        margin_tiers: swaps: maintenance-margin brackets, ascending (``margin_tier``).
        funding_interval_ms: swaps: milliseconds between funding times (8 h = 28,800,000).
    """

    symbol: Symbol
    base: str
    quote: str
    price_increment: Decimal
    amount_increment: Decimal
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_amount: Decimal | None = None
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    contract: bool = False
    settle: str | None = None
    contract_size: Decimal = Decimal(1)
    max_leverage: Decimal | None = None
    margin_tiers: tuple[MarginTier, ...] = ()
    funding_interval_ms: int | None = None

    @property
    def settle_currency(self) -> str:
        """The currency a swap's margin, PnL, fees and funding are in: ``settle``, else (spot) the quote."""
        return self.settle or self.quote

    def margin_tier(self, notional: Decimal) -> MarginTier:
        """The tier with ``floor <= |notional| < cap``; beyond the last cap, the last tier.

        A market without tiers raises ValueError (no silent default: a swap market must carry
        its ccxt ``fetch_leverage_tiers`` brackets before maintenance margin is computed).
        """
        if not self.margin_tiers:
            raise ValueError(f"market {self.symbol}: margin_tiers is empty; load fetch_leverage_tiers first")
        size = abs(notional)
        for tier in self.margin_tiers:
            if size < tier.cap:
                return tier
        return self.margin_tiers[-1]

    @property
    def kind(self) -> str:
        """The market's kind: ``spot``, or ``swap`` for a derivative (the perpetuals work adds its fields)."""
        return "swap" if self.contract else "spot"

    def round_price(self, price: Decimal, mode: str = "nearest") -> Decimal:
        """Round a price to the tick (``mode``: ``down``, ``up`` or ``nearest``)."""
        return round_to_increment(price, self.price_increment, mode)

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round a quantity down to the lot step (never buy more than asked)."""
        return round_to_increment(amount, self.amount_increment, "down")

    def quantity_for_quote(self, amount: Decimal, price: Decimal, fee: Decimal | None = None) -> Decimal:
        """Return the base quantity ``amount`` quote buys at ``price`` (quote per base) paying ``fee`` (a fraction;
        default the taker fee) on top: ``amount / (price × (1 + fee))``, rounded down to the lot step."""
        rate = self.taker_fee if fee is None else fee
        return self.round_amount(amount / (price * (1 + rate)))

    def passive_price(self, side: OrderSide, price: Decimal) -> Decimal:
        """Round a limit price away from the touch: down for a buy, up for a sell."""
        return self.round_price(price, "down" if side is OrderSide.BUY else "up")

    def order_problem(
        self,
        quantity: Decimal,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        reference: Decimal | None = None,
    ) -> FilterBreach | None:
        """Return the first exchange filter an order breaks, or ``None`` when it passes them all.

        The one copy of the filter rule, used by the risk gate, the simulators and the emulator. In order:
        the tick grid of ``price`` and ``trigger_price`` (each when given), the lot step (a positive
        multiple of it), the minimum and maximum amount, and the minimum notional ``p × quantity`` where
        ``p`` is ``price``, else ``trigger_price``, else ``reference`` (the caller's price for a market
        order); with none of them the notional is not checked. A zero tick or lot step checks no grid.

        Args:
            quantity: order quantity, base currency.
            price: limit price, quote currency (``None`` for a market or stop-market order).
            trigger_price: stop trigger price, quote currency.
            reference: the price a market order is valued at, quote currency.
        """
        tick, step = self.price_increment, self.amount_increment
        # The passing path is the simulators' per-order hot path: Decimal truthiness, no allocation.
        if (
            (price is not None and tick and price % tick)
            or (trigger_price is not None and tick and trigger_price % tick)
            or quantity <= 0
            or (step and quantity % step)
            or quantity < self.min_amount
            or (self.max_amount is not None and quantity > self.max_amount)
        ):
            return self._breach(quantity, price, trigger_price)
        value = price if price is not None else trigger_price if trigger_price is not None else reference
        if value is not None and value * quantity < self.min_notional:
            reason = (
                f"notional {decimal_text(value * quantity)} {self.quote} is below the minimum "
                f"{decimal_text(self.min_notional)} {self.quote}"
            )
            return FilterBreach(MarketFilter.MIN_NOTIONAL, reason)
        return None

    def _breach(self, quantity: Decimal, price: Decimal | None, trigger_price: Decimal | None) -> FilterBreach:
        """Name the first grid or amount filter ``order_problem`` found broken (the rejection path only)."""
        tick, step, qty = self.price_increment, self.amount_increment, decimal_text(quantity)
        for label, value in (("price", price), ("trigger price", trigger_price)):
            if value is not None and tick and value % tick:
                reason = f"{label} {decimal_text(value)} is not on the tick grid of {decimal_text(tick)}"
                return FilterBreach(MarketFilter.TICK, reason)
        if quantity <= 0:
            return FilterBreach(MarketFilter.LOT_STEP, f"quantity {qty} is not positive")
        if step and quantity % step:
            return FilterBreach(
                MarketFilter.LOT_STEP, f"quantity {qty} is not a multiple of the lot step {decimal_text(step)}"
            )
        if quantity < self.min_amount:
            return FilterBreach(
                MarketFilter.MIN_AMOUNT, f"quantity {qty} is below the minimum amount {decimal_text(self.min_amount)}"
            )
        assert self.max_amount is not None
        return FilterBreach(
            MarketFilter.MAX_AMOUNT, f"quantity {qty} is above the maximum amount {decimal_text(self.max_amount)}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One OHLCV bar. ``ts_ms`` is the bar's **open** time; ``volume`` is in base currency."""

    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeTick:
    """One public trade. ``side`` is the aggressor (taker) side."""

    ts_ms: int
    symbol: Symbol
    price: Decimal
    quantity: Decimal
    side: OrderSide
    trade_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData:
    """A snapshot of one market, handed to the strategy on every market event.

    ``bid``/``ask`` are the best prices (``bid < ask`` on a sane book); sizes are in base currency.
    ``last`` is the last trade price (or the bar close for bar data). ``trade`` is set when this event
    is a public trade, ``bar`` when it is the close of a bar; both are ``None`` for a plain quote.
    ``book`` is the top levels of the order book when the data has them (an L2 book file), else ``None``;
    on a book event its best levels are ``bid``/``bid_size`` and ``ask``/``ask_size``.
    """

    symbol: Symbol
    ts_ms: int
    bid: Decimal
    ask: Decimal
    bid_size: Decimal = ZERO
    ask_size: Decimal = ZERO
    last: Decimal | None = None
    trade: TradeTick | None = None
    bar: Bar | None = None
    book: BookView | None = None
    mark_price: Decimal | None = None
    funding_rate: Decimal | None = None
    next_funding_ms: int | None = None

    @property
    def mid(self) -> Decimal:
        """Return the mid price ``(bid + ask) / 2``."""
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal:
        """Return ``ask - bid`` in quote currency."""
        return self.ask - self.bid

    def touch(self, side: OrderSide) -> Decimal:
        """Return the price a marketable order of ``side`` would pay: the ask for a buy, the bid for a sell."""
        return self.ask if side is OrderSide.BUY else self.bid


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """Balance of one currency: ``free`` can be spent, ``locked`` backs open orders."""

    currency: str
    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """Return ``free + locked``."""
        return self.free + self.locked
