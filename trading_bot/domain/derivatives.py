"""Perpetual-swap (linear, one-way mode) position and funding values.

Units: quantities in base units (contracts x contract_size), prices and money in the quote/settle
currency. Formulas follow Binance USDⓈ-M futures, one-way mode:

- maintenance margin = notional x MMR - cum (tier from ``Market.margin_tier``);
- liquidation price: solve  WB + s·q·(P - E) = q·P·MMR - cum  for P, giving
  ``LP = (WB - s·q·E + cum) / (q·MMR - s·q)`` with s = +1 long, -1 short, q = |qty|, E = entry;
  WB is the isolated margin (isolated) or the account wallet balance (cross, single position).
- funding: amount = -qty x mark x rate (longs pay shorts when the rate is positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from decimal import Decimal
from enum import StrEnum

from trading_bot.domain.enums import OrderSide
from trading_bot.domain.market import Market

__all__ = [
    "FundingPayment",
    "Liquidation",
    "MarginMode",
    "PerpPosition",
    "PositionReport",
    "closing_release",
    "liquidation_price",
    "opening_quantity",
]

ZERO = Decimal(0)
_ONE = Decimal(1)


class MarginMode(StrEnum):
    """How a position's collateral is held: its own margin, or the whole account wallet."""

    ISOLATED = "isolated"
    CROSS = "cross"


def _check(name: str, value: Decimal, *, positive: bool = False) -> None:
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def opening_quantity(position: Decimal, side: OrderSide, quantity: Decimal) -> Decimal:
    """Return the part of an order of ``side``/``quantity`` that opens or adds exposure (base units, ≥ 0).

    ``position`` is the signed quantity held (+ long, − short). A buy against a short first closes it; only
    what goes beyond ``|position|`` opens a long (and the reverse for a sell). The rest of the order (its
    reducing part) needs no initial margin. The one copy of this rule: the simulator's margin account and
    the risk gate's margin rules both call it.
    """
    if position == 0 or (position > 0) == (side is OrderSide.BUY):
        return quantity
    return max(ZERO, quantity - abs(position))


def closing_release(position: Decimal, closing: Decimal, price: Decimal, basis: Decimal, margin: Decimal) -> Decimal:
    """Return what closing ``closing`` of ``position`` at ``price`` adds to the available balance, before fees.

    The closed part's margin comes back and its PnL from ``basis`` is realized: ``margin + sign × closing ×
    (price − basis)`` (settle currency; negative when the move costs more than the margin freed). Cross:
    ``basis`` is the mark and ``margin`` = closing × mark / leverage; isolated: ``basis`` is the entry and
    ``margin`` the closed part's share of the position's isolated margin. The one copy of this rule: the
    simulator's reversal check and the risk gate's margin rule both call it.
    """
    if closing <= 0 or position == 0:
        return ZERO
    sign = _ONE if position > 0 else -_ONE
    return margin + sign * closing * (price - basis)


def liquidation_price(
    quantity: Decimal, entry_price: Decimal, wallet_balance: Decimal, market: Market
) -> Decimal | None:
    """Return the mark at which a one-way position is liquidated, quote per base; ``None`` when there is none.

    ``LP = (WB - s·q·E + cum) / (q·MMR - s·q)`` (Binance USDⓈ-M one-way; the module docstring), with
    ``s`` = +1 long / -1 short, ``q = |quantity|`` (base units), ``E = entry_price``, and the maintenance
    tier (MMR, cum) taken at the entry notional ``q·E``. ``wallet_balance`` (settle currency) is the
    isolated margin (isolated) or the wallet balance backing the position (cross). ``None`` when flat or
    when no positive price liquidates it (a long covered down to 0). The one copy of the formula: the
    simulator (``PerpPosition.liquidation_price``) and the risk gate's estimates call it.

    Raises:
        ValueError: a figure is not finite, or the market has no margin tiers.
    """
    _check("wallet_balance", wallet_balance)
    _check("quantity", quantity)
    _check("entry_price", entry_price)
    if quantity == 0:
        return None
    q = abs(quantity)
    s = _ONE if quantity > 0 else -_ONE
    tier = market.margin_tier(q * entry_price)
    denom = q * tier.maintenance_rate - s * q
    if denom == 0:
        return None
    lp = (wallet_balance - s * q * entry_price + tier.maintenance_amount) / denom
    return lp if lp > 0 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPayment:
    """One funding settlement on a position; ``amount`` in quote, negative = paid by us."""

    id: str
    symbol: str
    ts_ms: int
    rate: Decimal
    mark_price: Decimal
    quantity: Decimal
    amount: Decimal

    @classmethod
    def for_position(
        cls, qty: Decimal, mark: Decimal, rate: Decimal, *, id: str, symbol: str, ts_ms: int
    ) -> FundingPayment:
        """amount = -qty x mark x rate: a long (qty > 0) pays when rate > 0, a short receives."""
        for name, v in (("qty", qty), ("mark", mark), ("rate", rate)):
            _check(name, v)
        return cls(
            id=id, symbol=symbol, ts_ms=ts_ms, rate=rate, mark_price=mark, quantity=qty, amount=-qty * mark * rate
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Liquidation:
    """The venue (or the simulator) closed a position because its equity fell below maintenance margin.

    ``quantity`` is the signed position that was closed (+ long, - short), ``price`` the price it was
    closed at (the mark in the simulator), ``fee`` the liquidation fee charged (settle currency, >= 0)
    and ``realized_pnl`` the closing PnL before that fee (settle currency).
    """

    symbol: str
    ts_ms: int
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReport:
    """The venue's view of one one-way perpetual position (``fetch_positions``), for cross-checks.

    ``quantity`` signed base units (+ long, - short; 0 = flat), prices in quote, ``unrealized_pnl`` in
    the settle currency; ``liquidation_price`` ``None`` when flat or unknown.
    """

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    ts_ms: int
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal = ZERO
    leverage: Decimal | None = None
    margin_mode: MarginMode | None = None
    liquidation_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PerpPosition:
    """Net one-way position: ``quantity`` signed (+ long, - short), ``entry_price`` its average entry."""

    symbol: str
    quantity: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    leverage: Decimal = Decimal(1)
    margin_mode: MarginMode = MarginMode.CROSS

    def __post_init__(self) -> None:
        _check("leverage", self.leverage, positive=True)
        _check("quantity", self.quantity)
        _check("entry_price", self.entry_price)

    def apply_fill(self, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal) -> PerpPosition:
        """Apply one fill. Closed part realizes (price - entry) x closed x sign; the fee (quote) is
        subtracted from realized PnL; adding averages the entry; a flip's new entry is the fill price."""
        _check("quantity", quantity, positive=True)
        _check("price", price, positive=True)
        _check("fee", fee)
        delta = quantity if side == OrderSide.BUY else -quantity
        old = self.quantity
        realized = self.realized_pnl - fee
        if old == 0 or (old > 0) == (delta > 0):
            new = old + delta
            entry = (abs(old) * self.entry_price + quantity * price) / abs(new)
            return replace(self, quantity=new, entry_price=entry, realized_pnl=realized)
        closed = min(abs(old), quantity)
        sign = 1 if old > 0 else -1
        realized += (price - self.entry_price) * closed * sign
        new = old + delta
        if new == 0:
            entry = ZERO
        elif (new > 0) == (old > 0):
            entry = self.entry_price
        else:
            entry = price
        return replace(self, quantity=new, entry_price=entry, realized_pnl=realized)

    def apply_funding(self, payment: FundingPayment) -> PerpPosition:
        """Add the payment's amount (quote, signed) to realized PnL."""
        return replace(self, realized_pnl=self.realized_pnl + payment.amount)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """(mark - entry) x quantity (signed), quote."""
        return (mark - self.entry_price) * self.quantity

    def notional(self, mark: Decimal) -> Decimal:
        """|quantity| x mark, quote."""
        return abs(self.quantity) * mark

    def initial_margin(self, mark: Decimal) -> Decimal:
        """notional / leverage, quote."""
        return self.notional(mark) / self.leverage

    def maintenance_margin(self, mark: Decimal, market: Market) -> Decimal:
        """notional x maintenance_rate - cum of the tier the notional falls in (Binance USDⓈ-M)."""
        n = self.notional(mark)
        tier = market.margin_tier(n)
        return n * tier.maintenance_rate - tier.maintenance_amount

    def liquidation_price(self, market: Market, wallet_balance: Decimal) -> Decimal | None:
        """Return the liquidation price of this position (``liquidation_price``, the module's one formula).

        ``wallet_balance`` is the isolated margin or the cross wallet (settle currency). None when flat or
        when there is no positive liquidation price (e.g. a long fully covered at 0).
        """
        return liquidation_price(self.quantity, self.entry_price, wallet_balance, market)
