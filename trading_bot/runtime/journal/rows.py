"""The journal's records and the conversions between table rows and domain objects.

Rows are plain dicts of column values (``schema`` defines the tables); Decimals stay ``Decimal`` here and
become exact text in the ``DecimalText`` columns. Strategy snapshots are JSON with tagged Decimals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import NotRequired
from typing import TypedDict

from trading_bot.domain import ClientOrderId
from trading_bot.domain import ExchangeOrderId
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import LiquiditySide
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import Symbol
from trading_bot.domain import TimeInForce
from trading_bot.domain import TradeId

__all__ = [
    "AdoptionRecord",
    "FundingRecord",
    "OperatorActionRecord",
    "RiskDecisionFields",
    "RiskDecisionRecord",
    "RunRecord",
    "bot_id_of",
    "decode_state",
    "encode_state",
    "fill_from_row",
    "fill_to_row",
    "funding_from_row",
    "funding_to_row",
    "operator_action_from_row",
    "operator_action_to_row",
    "order_from_row",
    "order_to_row",
    "risk_row",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One run of the bot: ``stopped_ms is None`` means it is running or ended without a clean stop."""

    id: int
    bot_id: str
    config_hash: str
    started_ms: int
    stopped_ms: int | None
    exit_reason: str | None
    exit_code: int | None


class RiskDecisionFields(TypedDict):
    """The fields of one risk decision, passed as keywords to ``record_risk_decision``.

    ``ts_ms`` is epoch ms; ``quantity`` (base currency) and ``price`` (quote) may be unknown (``None``);
    ``venue`` defaults to the journal's venue.
    """

    ts_ms: int
    run_id: int | None
    client_order_id: str | None
    symbol: str
    side: OrderSide
    quantity: Decimal | None
    price: Decimal | None
    rule: str
    reason: str
    venue: NotRequired[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdoptionRecord:
    """One ``--adopt`` start, as journaled.

    The journal had reserved ids up to ``journal_sequence``, the exchange knew ``exchange_sequence``, the
    sequence moved to ``new_sequence``; ``orders`` and ``fills`` are the client order ids and trade ids
    taken in (comma-separated); ``ts_ms`` is epoch ms.
    """

    id: int
    ts_ms: int
    run_id: int | None
    bot_id: str
    venue: str
    symbol: str
    journal_sequence: int
    exchange_sequence: int
    new_sequence: int
    orders: str
    fills: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskDecisionRecord:
    """One risk decision as journaled (usually a denial), on ``venue``."""

    id: int
    ts_ms: int
    run_id: int | None
    venue: str
    client_order_id: str | None
    symbol: str
    side: OrderSide
    quantity: Decimal | None
    price: Decimal | None
    rule: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRecord:
    """One journaled funding payment: on ``venue``, in ``asset`` (the settle currency), recorded by run
    ``run_id`` at ``recorded_ms`` (epoch ms)."""

    venue: str
    asset: str
    run_id: int | None
    recorded_ms: int
    payment: FundingPayment


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorActionRecord:
    """One operator command the bot executed (the audit log, schema 5): who asked for what, when (``ts_ms``,
    epoch ms), on which ``instrument`` (``None``: every one), and what came of it (``ok``, ``detail``)."""

    id: int
    run_id: int | None
    bot_id: str
    ts_ms: int
    who: str
    action: str
    instrument: str | None
    reason: str
    ok: bool
    detail: str


def operator_action_to_row(
    *, run_id: int | None, bot_id: str, ts_ms: int, who: str, action: str, instrument: str | None, reason: str,
    ok: bool, detail: str,
) -> dict[str, Any]:
    """Return the ``operator_actions`` columns of one executed operator command (``ts_ms``: epoch ms)."""
    return {
        "run_id": run_id, "bot_id": bot_id, "ts_ms": ts_ms, "who": who, "action": action, "instrument": instrument,
        "reason": reason, "ok": ok, "detail": detail,
    }  # fmt: skip


def operator_action_from_row(row: Mapping[Any, Any]) -> OperatorActionRecord:
    """Rebuild an ``OperatorActionRecord`` from an ``operator_actions`` row."""
    run_id = row["run_id"]
    return OperatorActionRecord(
        id=int(row["id"]), run_id=None if run_id is None else int(run_id), bot_id=row["bot_id"],
        ts_ms=int(row["ts_ms"]), who=row["who"], action=row["action"], instrument=row["instrument"],
        reason=row["reason"], ok=bool(row["ok"]), detail=row["detail"],
    )  # fmt: skip


def bot_id_of(client_order_id: str) -> str | None:
    """Return the ``<bot-id>`` prefix of a ``<bot-id>-<sequence>`` client order id, or ``None``."""
    prefix, sep, sequence = client_order_id.rpartition("-")
    if not sep or not prefix or not sequence.isdigit():
        return None
    return prefix


def order_to_row(order: Order) -> dict[str, Any]:
    """Return the ``orders`` columns of a snapshot of ``order`` (without ``run_id`` and ``bot_id``)."""
    return {
        "client_order_id": str(order.client_order_id),
        "exchange_order_id": None if order.exchange_order_id is None else str(order.exchange_order_id),
        "symbol": str(order.symbol),
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "time_in_force": order.time_in_force.value,
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "client_tag": order.client_tag,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_price": order.average_price,
        "fees": order.fees,
        "reason": order.reason,
        "created_ms": order.created_ms,
        "updated_ms": order.updated_ms,
    }


def order_from_row(row: Mapping[Any, Any]) -> Order:
    """Rebuild an ``Order`` from an ``orders`` row (enums by value, Decimals exact)."""
    exchange_order_id = row["exchange_order_id"]
    return Order(
        client_order_id=ClientOrderId(row["client_order_id"]),
        symbol=Symbol(row["symbol"]),
        side=OrderSide(row["side"]),
        quantity=row["quantity"],
        order_type=OrderType(row["order_type"]),
        price=row["price"],
        time_in_force=TimeInForce(row["time_in_force"]),
        post_only=bool(row["post_only"]),
        reduce_only=bool(row["reduce_only"]),
        trigger_price=row["trigger_price"],
        client_tag=row["client_tag"],
        status=OrderStatus(row["status"]),
        exchange_order_id=None if exchange_order_id is None else ExchangeOrderId(exchange_order_id),
        filled_quantity=row["filled_quantity"],
        average_price=row["average_price"],
        fees=row["fees"],
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
        reason=row["reason"],
    )


def fill_to_row(fill: Fill, recorded_ms: int, venue: str) -> dict[str, Any]:
    """Return the ``fills`` columns of ``fill`` on ``venue``, recorded at ``recorded_ms``."""
    return {
        "venue": venue,
        "trade_id": str(fill.trade_id),
        "client_order_id": str(fill.client_order_id),
        "exchange_order_id": None if fill.exchange_order_id is None else str(fill.exchange_order_id),
        "symbol": str(fill.symbol),
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "liquidity": fill.liquidity.value,
        "ts_ms": fill.ts_ms,
        "recorded_ms": recorded_ms,
    }


def fill_from_row(row: Mapping[Any, Any]) -> Fill:
    """Rebuild a ``Fill`` from a ``fills`` row."""
    exchange_order_id = row["exchange_order_id"]
    return Fill(
        trade_id=TradeId(row["trade_id"]),
        client_order_id=ClientOrderId(row["client_order_id"]),
        symbol=Symbol(row["symbol"]),
        side=OrderSide(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        fee=row["fee"],
        fee_currency=row["fee_currency"],
        ts_ms=int(row["ts_ms"]),
        liquidity=LiquiditySide(row["liquidity"]),
        exchange_order_id=None if exchange_order_id is None else ExchangeOrderId(exchange_order_id),
    )


def funding_to_row(
    payment: FundingPayment, *, venue: str, asset: str, run_id: int | None, recorded_ms: int
) -> dict[str, Any]:
    """Return the ``funding_payments`` columns of ``payment`` on ``venue`` (``asset``: its settle currency)."""
    return {
        "venue": venue,
        "symbol": str(payment.symbol),
        "payment_id": str(payment.id),
        "run_id": run_id,
        "ts_ms": payment.ts_ms,
        "amount": payment.amount,
        "asset": asset,
        "rate": payment.rate,
        "mark_price": payment.mark_price,
        "quantity": payment.quantity,
        "recorded_ms": recorded_ms,
    }


def funding_from_row(row: Mapping[Any, Any]) -> FundingRecord:
    """Rebuild a ``FundingRecord`` from a ``funding_payments`` row."""
    payment = FundingPayment(
        id=row["payment_id"],
        symbol=row["symbol"],
        ts_ms=int(row["ts_ms"]),
        rate=row["rate"],
        mark_price=row["mark_price"],
        quantity=row["quantity"],
        amount=row["amount"],
    )
    run_id = row["run_id"]
    return FundingRecord(
        venue=row["venue"],
        asset=row["asset"],
        run_id=None if run_id is None else int(run_id),
        recorded_ms=int(row["recorded_ms"]),
        payment=payment,
    )


_DECIMAL_TAG = "__decimal__"


def _encode_default(value: object) -> object:
    if isinstance(value, Decimal):
        return {_DECIMAL_TAG: str(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"strategy state value of type {type(value).__name__} is not JSON-serialisable")


def _decode_object(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and _DECIMAL_TAG in obj:
        return Decimal(obj[_DECIMAL_TAG])
    return obj


def encode_state(state: Mapping[str, Any]) -> str:
    """Serialise a strategy snapshot to JSON; ``Decimal`` values are tagged so they load back exactly.

    Raises:
        TypeError: a value is neither JSON-native, ``Decimal`` nor a set.
        ValueError: a float is NaN or infinite.
    """
    return json.dumps(dict(state), default=_encode_default, allow_nan=False, separators=(",", ":"))


def decode_state(text: str) -> dict[str, Any]:
    """Load a snapshot written by :func:`encode_state` (tagged Decimals come back as ``Decimal``)."""
    loaded = json.loads(text, object_hook=_decode_object)
    if not isinstance(loaded, dict):
        raise ValueError("stored strategy state is not a JSON object")
    return loaded


def risk_row(decision: RiskDecisionFields, venue: str) -> dict[str, Any]:
    """Return the ``risk_decisions`` columns of one decision (on ``venue`` unless it names its own)."""
    return {"venue": venue} | dict(decision) | {"side": OrderSide(decision["side"]).value}
