"""The futures venue's markets: swap rules from the bundled snapshot, their books, marks and funding state.

A market's rules are the snapshot's ``Market`` (contract, settle currency, margin tiers), so the matching
core and the margin account see the real swap; its book and public trades are the spot emulator's
``MarketState``. ``exchange_info`` and ``leverage_brackets`` render them in Binance USDⓈ-M shapes
(``GET /fapi/v1/exchangeInfo``, ``GET /fapi/v1/leverageBracket``).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from exchanges.markets import load_market_snapshot
from trading_bot.domain import Market
from trading_bot.domain import Symbol
from trading_bot.emulator.config import MarketFilters
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.market import quantize_down

__all__ = ["PerpMarket", "exchange_info", "leverage_brackets", "load_perp_markets", "num"]

_PERPETUAL_DELIVERY_MS = 4_133_404_800_000
_ONBOARD_MS = 1_569_398_400_000
_ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def num(value: Decimal) -> str:
    """Format a decimal as Binance futures does: plain fixed point, no exponent, no trailing zeros."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


@dataclass(slots=True)
class FundingPrint:
    """One settled funding time of a market (a row of ``GET /fapi/v1/fundingRate``)."""

    time_ms: int
    rate: Decimal
    mark: Decimal


@dataclass(slots=True)
class PerpMarket:
    """One swap market: its rules, its book (``state``), its mark and its funding state.

    Attributes:
        rules: The snapshot's swap ``Market`` (ticks, lots, fees, settle currency, margin tiers).
        state: External book, visible depth and public trades (the spot emulator's market model).
        mark: Mark price, quote per base.
        funding_rate: Rate of the next settlement (fraction of the notional; > 0: longs pay shorts).
        next_funding_ms: Epoch ms of the next scheduled settlement.
        history: Past settlements, oldest first.
    """

    rules: Market
    state: MarketState
    mark: Decimal
    funding_rate: Decimal
    next_funding_ms: int
    history: list[FundingPrint] = field(default_factory=list)

    @property
    def market_id(self) -> str:
        """Return Binance's id (``BTCUSDT``)."""
        return self.state.market_id

    def book_around(self, mark: Decimal) -> tuple[Decimal, Decimal]:
        """Return the (bid, ask) one tick either side of ``mark`` rounded down to the tick."""
        tick = self.rules.price_increment
        centre = max(quantize_down(mark, tick), tick * 2)
        return centre - tick, centre + tick


def load_perp_markets(
    symbols: tuple[str, ...], prices: dict[str, Decimal], funding_rate: Decimal, next_funding_ms: int
) -> dict[str, PerpMarket]:
    """Build the served swap markets by Binance id from the bundled ``binance`` snapshot.

    Raises:
        ValueError: a symbol that is not a swap of the snapshot, or one without a start price.
    """
    snapshot = load_market_snapshot("binance")
    out: dict[str, PerpMarket] = {}
    for symbol in symbols:
        rules = snapshot.get(Symbol(symbol))
        if rules is None or not rules.contract:
            swaps = sorted(s for s, m in snapshot.items() if m.contract)
            raise ValueError(f"futures.symbols: {symbol!r} is not a bundled swap market; known: {swaps}")
        price = prices.get(symbol)
        if price is None:
            raise ValueError(f"futures.start_prices: no start price for {symbol}")
        filters = MarketFilters(
            tick_size=rules.price_increment,
            step_size=rules.amount_increment,
            min_qty=rules.min_amount or rules.amount_increment,
            max_qty=rules.max_amount or Decimal(1_000_000),
            min_price=rules.price_increment,
            max_price=Decimal(10_000_000),
            min_notional=rules.min_notional,
        )
        state = MarketState(symbol, rules.base, rules.quote, filters, price)
        state.rules = rules
        perp = PerpMarket(rules, state, price, funding_rate, next_funding_ms)
        bid, ask = perp.book_around(price)
        state.set_quote(bid, ask, Decimal(1), Decimal(1))
        state.last_price = price
        out[state.market_id] = perp
    return out


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _symbol_info(m: PerpMarket) -> dict[str, object]:
    r, f = m.rules, m.state.filters
    return {
        "symbol": m.market_id,
        "pair": m.market_id,
        "contractType": "PERPETUAL",
        "deliveryDate": _PERPETUAL_DELIVERY_MS,
        "onboardDate": _ONBOARD_MS,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": r.base,
        "quoteAsset": r.quote,
        "marginAsset": r.settle,
        "pricePrecision": _decimals(r.price_increment),
        "quantityPrecision": _decimals(r.amount_increment),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": num(f.min_price), "maxPrice": num(f.max_price),
             "tickSize": num(f.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": num(f.min_qty), "maxQty": num(f.max_qty),
             "stepSize": num(f.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": num(f.min_qty), "maxQty": num(f.max_qty),
             "stepSize": num(f.step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": num(f.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": _ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }  # fmt: skip


def exchange_info(markets: dict[str, PerpMarket], now_ms: int) -> dict[str, object]:
    """Return the ``GET /fapi/v1/exchangeInfo`` answer."""
    settles = sorted({m.rules.settle for m in markets.values() if m.rules.settle})
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS,
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in settles],
        "symbols": [_symbol_info(m) for m in markets.values()],
    }


def leverage_brackets(markets: list[PerpMarket]) -> list[dict[str, object]]:
    """Return the ``GET /fapi/v1/leverageBracket`` rows (notional floors/caps and maintenance rates)."""
    return [
        {
            "symbol": m.market_id,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": i + 1,
                    "initialLeverage": int(t.max_leverage),
                    "notionalCap": int(t.cap),
                    "notionalFloor": int(t.floor),
                    "maintMarginRatio": float(t.maintenance_rate),
                    "cum": float(t.maintenance_amount),
                }
                for i, t in enumerate(m.rules.margin_tiers)
            ],
        }
        for m in markets
    ]
