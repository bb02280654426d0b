"""Market metadata and market data: ``Market``, ``MarketData`` (top of book), ``Bar``, ``TradeTick``.

Times are epoch **milliseconds, UTC** (``int``) everywhere in the domain, as in the recorded data and in
exchange APIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_bot.domain.enums import OrderSide
from trading_bot.domain.ids import Symbol
from trading_bot.domain.values import ZERO
from trading_bot.domain.values import round_to_increment

__all__ = ["Balance", "Bar", "Market", "MarketData", "TradeTick"]


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

    def passive_price(self, side: OrderSide, price: Decimal) -> Decimal:
        """Round a limit price away from the touch: down for a buy, up for a sell."""
        return self.round_price(price, "down" if side is OrderSide.BUY else "up")


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
