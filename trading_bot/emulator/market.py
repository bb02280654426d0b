"""Exchange-side state of one market: the external top of book, synthesized depth, public trades, stats.

The "market" is everyone but the emulator's own account. Its best bid/ask and sizes come from the price
source (control calls, replay, random walk); deeper levels are synthesized below/above them, one tick
apart, and the account's own resting orders are added on top, so depth snapshots and diffs look like a
real book. Every change of the visible levels gets one new update id, which keeps ccxt's
``watch_order_book`` continuity rule (``U == previous u + 1``) intact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN
from decimal import Decimal

from trading_bot.emulator.config import MarketFilters

__all__ = ["DepthChange", "MarketState", "PublicTrade", "fmt", "quantize_down"]

_DAY_MS = 86_400_000
_SYNTH_LEVELS = 20
_EIGHT = Decimal("0.00000001")


def fmt(value: Decimal) -> str:
    """Format a decimal the way Binance does: fixed point, 8 decimals."""
    return f"{value.quantize(_EIGHT):f}"


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` down to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One printed public trade; ``buyer_maker`` is Binance's ``m`` (True when the taker sold)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    buyer_maker: bool


@dataclass(frozen=True, slots=True)
class DepthChange:
    """A change of visible levels: ``first_id``..``last_id`` and the changed ``[price, qty]`` rows."""

    first_id: int
    last_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    top_changed: bool


class MarketState:
    """External quote, visible depth and public-trade statistics of one symbol.

    Args:
        symbol: Unified symbol (``BTC/USDT``).
        base: Base asset.
        quote: Quote asset.
        filters: Exchange filters (tick size sets the synthesized level spacing).
        price: Starting mid price.
    """

    def __init__(self, symbol: str, base: str, quote: str, filters: MarketFilters, price: Decimal) -> None:
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.market_id = base + quote
        self.filters = filters
        self.rules = filters.market(symbol, base, quote)
        tick = filters.tick_size
        mid = quantize_down(price, tick)
        self.bid = mid - tick
        self.ask = mid
        self.bid_qty = Decimal(1)
        self.ask_qty = Decimal(1)
        self.update_id = 1_000
        self.last_price = mid
        self.trades: deque[PublicTrade] = deque(maxlen=10_000)
        self._next_trade_id = 1
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._top: tuple[Decimal, Decimal, Decimal, Decimal] = (Decimal(0),) * 4

    # -- external market -------------------------------------------------------------------------------

    def set_quote(self, bid: Decimal, ask: Decimal, bid_qty: Decimal, ask_qty: Decimal) -> None:
        """Move the external best bid/ask (validated: 0 < bid < ask, sizes > 0).

        Raises:
            ValueError: On a crossed or non-positive quote.
        """
        if not (Decimal(0) < bid < ask) or bid_qty <= 0 or ask_qty <= 0:
            raise ValueError(f"bad quote for {self.symbol}: bid={bid} ask={ask} sizes={bid_qty}/{ask_qty}")
        self.bid, self.ask, self.bid_qty, self.ask_qty = bid, ask, bid_qty, ask_qty

    def print_trade(self, price: Decimal, qty: Decimal, buyer_maker: bool, time_ms: int) -> PublicTrade:
        """Record a public trade and return it (it also sets the last price)."""
        trade = PublicTrade(self._next_trade_id, price, qty, time_ms, buyer_maker)
        self._next_trade_id += 1
        self.trades.append(trade)
        self.last_price = price
        return trade

    # -- depth -----------------------------------------------------------------------------------------

    def _levels(
        self, own_bids: Mapping[Decimal, Decimal], own_asks: Mapping[Decimal, Decimal]
    ) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        tick = self.filters.tick_size
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for i in range(_SYNTH_LEVELS):
            if self.bid - tick * i > 0:
                bids[self.bid - tick * i] = self.bid_qty * (i + 1)
            asks[self.ask + tick * i] = self.ask_qty * (i + 1)
        for price, qty in own_bids.items():
            bids[price] = bids.get(price, Decimal(0)) + qty
        for price, qty in own_asks.items():
            asks[price] = asks.get(price, Decimal(0)) + qty
        return bids, asks

    def refresh(self, own_bids: Mapping[Decimal, Decimal], own_asks: Mapping[Decimal, Decimal]) -> DepthChange | None:
        """Recompute the visible levels; return the diff (with a new update id) if anything changed."""
        bids, asks = self._levels(own_bids, own_asks)
        bid_rows = _diff(self._bids, bids)
        ask_rows = _diff(self._asks, asks)
        if not bid_rows and not ask_rows:
            return None
        self._bids, self._asks = bids, asks
        self.update_id += 1
        top = self.top()
        top_changed = top != self._top
        self._top = top
        return DepthChange(self.update_id, self.update_id, bid_rows, ask_rows, top_changed)

    def top(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Return the visible ``(bid, bid_qty, ask, ask_qty)`` (own orders included)."""
        best_bid = max(self._bids) if self._bids else self.bid
        best_ask = min(self._asks) if self._asks else self.ask
        return best_bid, self._bids.get(best_bid, self.bid_qty), best_ask, self._asks.get(best_ask, self.ask_qty)

    def snapshot(self, limit: int) -> dict[str, object]:
        """Return the REST depth snapshot (``lastUpdateId`` equals the last diff's ``u``)."""
        bids = sorted(self._bids.items(), key=lambda kv: kv[0], reverse=True)[:limit]
        asks = sorted(self._asks.items(), key=lambda kv: kv[0])[:limit]
        return {
            "lastUpdateId": self.update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in bids],
            "asks": [[fmt(p), fmt(q)] for p, q in asks],
        }

    # -- statistics ------------------------------------------------------------------------------------

    def ticker(self, now_ms: int) -> dict[str, object]:
        """Return the 24-hour ticker in the REST ``ticker/24hr`` shape."""
        window = [t for t in self.trades if t.time_ms > now_ms - _DAY_MS]
        open_price = window[0].price if window else self.last_price
        prices = [t.price for t in window] or [self.last_price]
        volume = sum((t.qty for t in window), Decimal(0))
        quote_volume = sum((t.qty * t.price for t in window), Decimal(0))
        change = self.last_price - open_price
        bid, bid_qty, ask, ask_qty = self.top()
        return {
            "symbol": self.market_id,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_price * 100):.3f}" if open_price else "0.000",
            "weightedAvgPrice": fmt(quote_volume / volume if volume else self.last_price),
            "prevClosePrice": fmt(open_price),
            "lastPrice": fmt(self.last_price),
            "lastQty": fmt(window[-1].qty if window else Decimal(0)),
            "bidPrice": fmt(bid),
            "bidQty": fmt(bid_qty),
            "askPrice": fmt(ask),
            "askQty": fmt(ask_qty),
            "openPrice": fmt(open_price),
            "highPrice": fmt(max(prices)),
            "lowPrice": fmt(min(prices)),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume),
            "openTime": now_ms - _DAY_MS,
            "closeTime": now_ms,
            "firstId": window[0].trade_id if window else -1,
            "lastId": window[-1].trade_id if window else -1,
            "count": len(window),
        }


def _diff(old: Mapping[Decimal, Decimal], new: Mapping[Decimal, Decimal]) -> list[list[str]]:
    rows = [[fmt(p), "0.00000000"] for p in old if p not in new]
    rows += [[fmt(p), fmt(q)] for p, q in new.items() if old.get(p) != q]
    return rows
