"""ccxt's dicts become domain values here, and nowhere else: pure functions, no I/O, no state.

Numbers cross the boundary once: ccxt floats/strings become ``Decimal(str(x))`` (``dec``); a value that
is not a number raises ``BadExchangeResponse`` naming the field. Each parser also applies the domain's
plausibility check of its record (``trading_bot.domain.checks`` for market data,
``trading_bot.domain.account_checks`` for markets, order reports, fills and balances) and raises
``BadExchangeResponse`` with the problem, so an impossible record never becomes a domain value. The
callers decide what a refusal means (a dropped quote counted in ``rejections``, a skipped record, an
error). Times are epoch milliseconds; a record without one takes ``now_ms`` (the adapter's clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading_bot.domain import ZERO
from trading_bot.domain import Balance
from trading_bot.domain import Bar
from trading_bot.domain import ClientOrderId
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderStatusReport
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TradeId
from trading_bot.domain import TradeTick
from trading_bot.domain import to_decimal
from trading_bot.domain.account_checks import balance_problem
from trading_bot.domain.account_checks import fill_problem
from trading_bot.domain.account_checks import market_rules_problem
from trading_bot.domain.account_checks import order_report_problem
from trading_bot.domain.checks import bar_problem
from trading_bot.domain.checks import quote_problem
from trading_bot.domain.checks import trade_problem
from trading_bot.errors import BadExchangeResponse

__all__ = [
    "FALLBACK_INCREMENT",
    "MarkUpdate",
    "dec",
    "opt_dec",
    "ticker_from_book",
    "to_balances",
    "to_bar",
    "to_fill",
    "to_mark",
    "to_market",
    "to_quote",
    "to_report",
    "to_trade_event",
    "to_trade_tick",
    "trades_of_order_answer",
    "triggered_order_id",
]

FALLBACK_INCREMENT = Decimal("1e-8")
"""The step of a market whose precision ccxt does not give as a fixed step (significant digits, unset)."""

_STATUS = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {
    "limit": OrderType.LIMIT,
    "limit_maker": OrderType.LIMIT,
    "market": OrderType.MARKET,
    "stop_market": OrderType.STOP_MARKET,
    "stop_loss": OrderType.STOP_MARKET,
    "stop": OrderType.STOP_MARKET,
}


def dec(value: Any, field: str) -> Decimal:
    """Return ``value`` as a Decimal; raise ``BadExchangeResponse`` naming ``field`` when it is not a number."""
    try:
        return to_decimal(value, field)
    except ValueError as e:
        raise BadExchangeResponse(str(e)) from None


def opt_dec(value: Any, field: str) -> Decimal | None:
    """Return ``None`` for ``None``, else ``dec(value, field)``."""
    return None if value is None else dec(value, field)


# -- markets -----------------------------------------------------------------------------------------


def _increment(value: Any, field: str, precision_mode: Any) -> Decimal:
    from ccxt.base.decimal_to_precision import DECIMAL_PLACES
    from ccxt.base.decimal_to_precision import TICK_SIZE

    if value is None:
        return FALLBACK_INCREMENT
    if precision_mode == TICK_SIZE:
        return dec(value, field)
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return FALLBACK_INCREMENT  # SIGNIFICANT_DIGITS: no fixed step; ccxt's *_to_precision rounds


def to_market(m: Mapping[str, Any], precision_mode: Any) -> Market:
    """Return the domain market of one ccxt market dict.

    Args:
        m: one value of ccxt's ``load_markets()``.
        precision_mode: the client's ``precisionMode`` (how ``precision`` is written: a tick size or a
            number of decimal places).

    Raises:
        BadExchangeResponse: a value is not a number, or the rules are impossible (``market_rules_problem``).
        KeyError, TypeError: a required field is missing or of the wrong shape.
    """
    precision = m.get("precision") or {}
    limits = m.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    maker, taker = m.get("maker"), m.get("taker")
    market = Market(
        symbol=Symbol(m["symbol"]),
        base=str(m["base"]),
        quote=str(m["quote"]),
        price_increment=_increment(precision.get("price"), "precision.price", precision_mode),
        amount_increment=_increment(precision.get("amount"), "precision.amount", precision_mode),
        min_amount=opt_dec(amount_limits.get("min"), "limits.amount.min") or ZERO,
        min_notional=opt_dec(cost_limits.get("min"), "limits.cost.min") or ZERO,
        max_amount=opt_dec(amount_limits.get("max"), "limits.amount.max"),
        maker_fee=dec(maker, "maker") if maker is not None else Decimal("0.001"),
        taker_fee=dec(taker, "taker") if taker is not None else Decimal("0.001"),
        contract=bool(m.get("contract")),
        **_contract_terms(m),
    )
    problem = market_rules_problem(
        market.price_increment, market.amount_increment, market.min_amount, market.min_notional, market.max_amount
    )
    if problem is not None:
        raise BadExchangeResponse(f"market {market.symbol}: {problem}")
    return market


def _contract_terms(m: Mapping[str, Any]) -> dict[str, Any]:
    """The swap fields of a ccxt market (settle currency, contract size, leverage cap); spot: none."""
    if not m.get("contract"):
        return {}
    leverage = ((m.get("limits") or {}).get("leverage") or {}).get("max")
    return {
        "settle": str(m.get("settle") or m["quote"]),
        "contract_size": opt_dec(m.get("contractSize"), "contractSize") or Decimal(1),
        "max_leverage": opt_dec(leverage, "limits.leverage.max"),
    }


# -- account -----------------------------------------------------------------------------------------


def to_report(
    o: Mapping[str, Any], known_client_id: str, fallback_symbol: Symbol | None, now_ms: int
) -> OrderStatusReport:
    """Return the report of one ccxt order dict (an ack, a stream update, a lookup answer).

    Args:
        o: the ccxt order.
        known_client_id: our client id of this exchange order id, used when ``o`` has no ``clientOrderId``
            (``""`` when unknown: the report then names no client id, as a foreign order does).
        fallback_symbol: the symbol asked about, used when ``o`` names none.
        now_ms: the time of a report without one, epoch ms.

    Raises:
        BadExchangeResponse: an unknown status, a value that is not a number, or an impossible report
            (``order_report_problem``).
    """
    status = _STATUS.get(str(o.get("status") or "open").lower())
    if status is None:
        raise BadExchangeResponse(f"order {o.get('id')}: unknown status {o.get('status')!r}")
    filled = opt_dec(o.get("filled"), "filled") or ZERO
    if status is OrderStatus.ACCEPTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    exchange_id = o.get("id")
    client_id = o.get("clientOrderId") or known_client_id
    side = o.get("side")
    ts = int(o.get("lastUpdateTimestamp") or o.get("timestamp") or now_ms)
    quantity = opt_dec(o.get("amount"), "amount") or None  # 0: not known (as for price and average)
    price = opt_dec(o.get("price"), "price") or None
    average = opt_dec(o.get("average"), "average") or None
    problem = order_report_problem(ts, quantity, price, filled, average)
    if problem is not None:
        raise BadExchangeResponse(f"order {exchange_id}: {problem}")
    return OrderStatusReport(
        client_order_id=ClientOrderId(str(client_id)),
        symbol=Symbol(o.get("symbol") or fallback_symbol or ""),
        status=status,
        ts_ms=ts,
        exchange_order_id=ExchangeOrderId(str(exchange_id)) if exchange_id is not None else None,
        side=OrderSide(side) if side in ("buy", "sell") else None,
        order_type=_TYPES.get(str(o.get("type") or "").lower()),
        quantity=quantity,
        price=price,
        filled_quantity=filled,
        average_price=average,
    )


def triggered_order_id(o: Mapping[str, Any]) -> str | None:
    """Return the id of the plain order a triggered conditional order placed, ``None`` when it has none.

    Binance USDⓈ-M's Algo Service places a new matching-engine order when a conditional order triggers; its
    fills name that order's id, given as ``actualOrderId`` in the Algo Order API's answers and as ``ai`` in
    ``ALGO_UPDATE`` (both ``""`` before the trigger), in the raw ``info`` of ccxt's order.
    """
    info = o.get("info")
    if not isinstance(info, Mapping):
        return None
    placed = info.get("actualOrderId") or info.get("ai")
    return str(placed) if placed not in (None, "", 0, "0") else None


def trades_of_order_answer(raw: Mapping[str, Any], side: OrderSide, symbol: Symbol) -> list[dict[str, Any]]:
    """Return the fills embedded in a ``create_order`` answer as ccxt trade dicts (order id, side, symbol set).

    A trade's own non-null fields win over the order's.
    """
    return [
        {
            "order": raw.get("id"),
            "side": side.value,
            "symbol": symbol,
            "timestamp": raw.get("timestamp"),
            **{k: v for k, v in t.items() if v is not None},
        }
        for t in raw.get("trades") or ()
        if isinstance(t, Mapping)
    ]


def to_fill(t: Mapping[str, Any], symbol: Symbol, client_id: ClientOrderId, now_ms: int) -> Fill:
    """Return the fill of one ccxt trade of our order ``client_id`` in ``symbol``.

    Fees of every listed currency are summed in ``fee`` (the last currency named is ``fee_currency``).

    Raises:
        BadExchangeResponse: no trade id or side, a value that is not a number, or an impossible fill
            (``fill_problem``).
    """
    if t.get("id") is None or t.get("side") not in ("buy", "sell"):
        raise BadExchangeResponse(f"trade in {symbol}: missing id or side: id={t.get('id')!r}")
    fee, fee_currency = ZERO, ""
    fees = [f for f in ([t.get("fee")] if t.get("fee") else (t.get("fees") or [])) if f]
    for f in fees:
        if f.get("cost") is not None:
            fee += dec(f["cost"], "fee.cost")
            fee_currency = str(f.get("currency") or fee_currency)
    liquidity = LiquiditySide.MAKER if t.get("takerOrMaker") == "maker" else LiquiditySide.TAKER
    order_id = t.get("order")
    ts = int(t.get("timestamp") or now_ms)
    quantity, price = dec(t.get("amount"), "trade.amount"), dec(t.get("price"), "trade.price")
    problem = fill_problem(ts, price, quantity)
    if problem is not None:
        raise BadExchangeResponse(f"trade {t['id']} in {symbol}: {problem}")
    fill = Fill(
        trade_id=TradeId(str(t["id"])),
        client_order_id=client_id,
        symbol=symbol,
        side=OrderSide(t["side"]),
        quantity=quantity,
        price=price,
        fee=fee,
        fee_currency=fee_currency,
        ts_ms=ts,
        liquidity=liquidity,
        exchange_order_id=ExchangeOrderId(str(order_id)) if order_id is not None else None,
    )
    if fill.fee_in_base and abs(fee) >= quantity:  # it would take all the position gained and turn it over
        raise BadExchangeResponse(f"trade {t['id']} in {symbol}: a fee of {fee} {fee_currency} takes all of the "
                                  f"{quantity} traded")  # fmt: skip
    return fill


def to_balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    """Return the balances of a ccxt ``fetch_balance`` answer by currency (``locked`` = ccxt's ``used``).

    Raises:
        BadExchangeResponse: a value is not a number, or a balance is impossible (``balance_problem``).
    """
    free, used = raw.get("free") or {}, raw.get("used") or {}
    balances = {}
    for currency in sorted(set(free) | set(used)):
        balance = Balance(
            currency=str(currency),
            free=opt_dec(free.get(currency), f"{currency}.free") or ZERO,
            locked=opt_dec(used.get(currency), f"{currency}.used") or ZERO,
        )
        problem = balance_problem(balance.currency, balance.free, balance.locked)
        if problem is not None:
            raise BadExchangeResponse(f"fetch_balance: {problem}")
        balances[balance.currency] = balance
    return balances


# -- market data -------------------------------------------------------------------------------------


def to_quote(symbol: Symbol, t: Mapping[str, Any] | None, now_ms: int) -> MarketData:
    """Return the quote of a ccxt ticker (or bid/ask) dict; sizes default to 0, ``last`` to ``None``.

    Raises:
        BadExchangeResponse: no data, a value that is not a number, or an impossible quote (``quote_problem``).
        TypeError, ValueError, AttributeError: the dict is of the wrong shape.
    """
    if t is None:
        raise BadExchangeResponse("no data")
    md = MarketData(
        symbol=symbol,
        ts_ms=int(t.get("timestamp") or now_ms),
        bid=dec(t.get("bid"), "bid"),
        ask=dec(t.get("ask"), "ask"),
        bid_size=opt_dec(t.get("bidVolume"), "bidVolume") or ZERO,
        ask_size=opt_dec(t.get("askVolume"), "askVolume") or ZERO,
        last=opt_dec(t.get("last"), "last"),
    )
    problem = quote_problem(md.ts_ms, md.bid, md.bid_size, md.ask, md.ask_size)
    if problem is not None:
        raise BadExchangeResponse(problem)
    return md


@dataclass(frozen=True, slots=True)
class MarkUpdate:
    """A swap's mark price (quote per base), funding rate (per interval) and next funding time (epoch ms)."""

    mark_price: Decimal
    funding_rate: Decimal | None
    next_funding_ms: int | None


def to_mark(raw: Mapping[str, Any]) -> MarkUpdate:
    """Return the mark and funding of a ccxt ``fetch_funding_rate`` answer (Binance ``premiumIndex``) or of a
    ``watch_mark_price`` ticker (Binance ``@markPrice``: the rate and next funding time are in its ``info``).

    Raises:
        BadExchangeResponse: no mark, a mark that is not a positive finite number, or a bad rate.
    """
    mark = opt_dec(raw.get("markPrice"), "markPrice")
    if mark is None or not mark.is_finite() or mark <= 0:
        raise BadExchangeResponse(f"funding rate answer: mark price {raw.get('markPrice')!r} is not a positive price")
    info_raw = raw.get("info")
    info: Mapping[str, Any] = info_raw if isinstance(info_raw, Mapping) else {}
    rate_raw = raw.get("fundingRate", info.get("r"))  # ccxt pro's watch_mark_price: Binance's r / T in info
    rate = opt_dec(rate_raw, "fundingRate")
    if rate is not None and not rate.is_finite():
        raise BadExchangeResponse(f"funding rate answer: fundingRate {rate_raw!r} is not finite")
    nxt = raw.get("nextFundingTimestamp") or raw.get("fundingTimestamp") or info.get("T")
    return MarkUpdate(mark, rate, int(nxt) if isinstance(nxt, int | float) and nxt > 0 else None)


def ticker_from_book(book: Any) -> dict[str, Any] | None:
    """Return a ticker-shaped dict of the best level of a ccxt order book, or ``None`` when it has none."""
    try:
        (bid, bid_size, *_), (ask, ask_size, *_) = book["bids"][0], book["asks"][0]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return {"bid": bid, "ask": ask, "bidVolume": bid_size, "askVolume": ask_size, "timestamp": book.get("timestamp")}


def to_trade_tick(symbol: Symbol, t: Mapping[str, Any], now_ms: int) -> TradeTick:
    """Return the public trade of one ccxt trade dict.

    Raises:
        BadExchangeResponse: no side, a value that is not a number, or an impossible trade (``trade_problem``).
        TypeError, ValueError, AttributeError: the dict is of the wrong shape.
    """
    side = t.get("side")
    if side not in ("buy", "sell"):
        raise BadExchangeResponse(f"trade side {side!r}")
    tick = TradeTick(
        ts_ms=int(t.get("timestamp") or now_ms),
        symbol=symbol,
        price=dec(t.get("price"), "price"),
        quantity=dec(t.get("amount"), "amount"),
        side=OrderSide(side),
        trade_id=str(t.get("id") or ""),
    )
    problem = trade_problem(tick.ts_ms, tick.price, tick.quantity)
    if problem is not None:
        raise BadExchangeResponse(problem)
    return tick


def to_trade_event(tick: TradeTick, quote: MarketData) -> MarketData:
    """Return the market event of a public trade, carrying the book of ``quote`` (the newest known)."""
    return MarketData(
        symbol=tick.symbol,
        ts_ms=tick.ts_ms,
        bid=quote.bid,
        ask=quote.ask,
        bid_size=quote.bid_size,
        ask_size=quote.ask_size,
        last=tick.price,
        trade=tick,
    )


def to_bar(row: Any) -> Bar:
    """Return the bar of one ccxt OHLCV row ``[open time ms, open, high, low, close, volume]``.

    Raises:
        BadExchangeResponse: a price is not a number, or the bar is impossible (``bar_problem``).
        TypeError, ValueError: the row is of the wrong shape.
    """
    ts, o, h, low, c, v = row[:6]
    bar = Bar(
        ts_ms=int(ts),
        open=dec(o, "open"),
        high=dec(h, "high"),
        low=dec(low, "low"),
        close=dec(c, "close"),
        volume=opt_dec(v, "volume") or ZERO,
    )
    problem = bar_problem(bar.ts_ms, bar.open, bar.high, bar.low, bar.close, bar.volume)
    if problem is not None:
        raise BadExchangeResponse(problem)
    return bar
