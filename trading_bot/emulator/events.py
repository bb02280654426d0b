"""Builders of market-stream events (Binance raw stream payloads)."""

from __future__ import annotations

from trading_bot.emulator.market import DepthChange
from trading_bot.emulator.market import MarketState
from trading_bot.emulator.market import PublicTrade
from trading_bot.emulator.market import fmt

__all__ = ["book_ticker_event", "depth_event", "mini_ticker_event", "ticker_event", "trade_events"]


def depth_event(market: MarketState, change: DepthChange, now_ms: int) -> dict[str, object]:
    """Return the ``depthUpdate`` diff event."""
    return {
        "e": "depthUpdate",
        "E": now_ms,
        "s": market.market_id,
        "U": change.first_id,
        "u": change.last_id,
        "b": change.bids,
        "a": change.asks,
    }


def book_ticker_event(market: MarketState) -> dict[str, object]:
    """Return the ``bookTicker`` event (no ``e`` field, as on Binance spot)."""
    bid, bid_qty, ask, ask_qty = market.top()
    return {
        "u": market.update_id,
        "s": market.market_id,
        "b": fmt(bid),
        "B": fmt(bid_qty),
        "a": fmt(ask),
        "A": fmt(ask_qty),
    }


def trade_events(market: MarketState, trade: PublicTrade, now_ms: int) -> tuple[dict[str, object], dict[str, object]]:
    """Return the ``trade`` and ``aggTrade`` events of one print."""
    common = {
        "E": now_ms,
        "s": market.market_id,
        "p": fmt(trade.price),
        "q": fmt(trade.qty),
        "T": trade.time_ms,
        "m": trade.buyer_maker,
        "M": True,
    }
    return {"e": "trade", "t": trade.trade_id, **common}, {
        "e": "aggTrade",
        "a": trade.trade_id,
        "f": trade.trade_id,
        "l": trade.trade_id,
        **common,
    }


def ticker_event(market: MarketState, now_ms: int) -> dict[str, object]:
    """Return the ``24hrTicker`` event (with best bid/ask)."""
    t = market.ticker(now_ms)
    return {
        "e": "24hrTicker",
        "E": now_ms,
        "s": market.market_id,
        "p": t["priceChange"],
        "P": t["priceChangePercent"],
        "w": t["weightedAvgPrice"],
        "x": t["prevClosePrice"],
        "c": t["lastPrice"],
        "Q": t["lastQty"],
        "b": t["bidPrice"],
        "B": t["bidQty"],
        "a": t["askPrice"],
        "A": t["askQty"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
        "O": t["openTime"],
        "C": t["closeTime"],
        "F": t["firstId"],
        "L": t["lastId"],
        "n": t["count"],
    }


def mini_ticker_event(market: MarketState, now_ms: int) -> dict[str, object]:
    """Return the ``24hrMiniTicker`` event (no bid/ask)."""
    t = market.ticker(now_ms)
    return {
        "e": "24hrMiniTicker",
        "E": now_ms,
        "s": market.market_id,
        "c": t["lastPrice"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
    }
