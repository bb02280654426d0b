"""The simulated margin account of linear perpetual swaps (one-way mode), beside the spot ``SimAccount``.

Units: quantities in base units, prices in quote per base, money in the settle currency (USDT on
Binance USDⓈ-M). The figures follow Binance USDⓈ-M (``trading_bot.domain.derivatives``):

- **wallet balance** = deposits + realized PnL − fees + funding (``SimAccount``'s free + locked);
- **order margin** (locked while an order is open) = opening quantity × price × (1 / leverage + fee
  rate); the part of an order that closes the opposite position needs none; reduce-only orders none;
- **position margin**: cross = |quantity| × mark / leverage; isolated = the margin moved out of the
  wallet when the position opened (entry notional / leverage), released in proportion as it closes;
- **available** (``free``) = wallet + cross unrealized PnL − cross position margin − isolated margins −
  order margin: what a new order's margin is checked against ("Margin is insufficient" otherwise), plus
  what the part of the order that closes the opposite position releases when it fills at the order's
  price (``released_by``: its position margin and its PnL from the mark, less its fee), so a reversal
  needs margin only for what it opens beyond that;
- **liquidation**: a cross account whose wallet + Σ cross unrealized PnL falls below Σ cross maintenance
  margin loses every cross position; an isolated position whose margin + unrealized PnL falls below its
  maintenance margin loses that position. Each is closed at the mark (the simulator's liquidation price,
  see ``check_liquidations``) and charged ``liquidation_fee`` × the closed notional, at most what is
  left of the margin (the wallet never goes negative from the fee);
- **funding**: at a funding time each open position pays ``quantity × mark × rate`` (longs pay shorts
  when the rate is positive), added to the wallet.

Limits, stated: one position per symbol (no hedge mode); margin is checked when an order arrives, not
again at its fill; the liquidation closes the whole position at once (no partial liquidation, no ADL).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal

from exchanges.sim.account import SimAccount
from exchanges.sim.orders import simulated_fill
from trading_bot.domain import Balance
from trading_bot.domain import Fill
from trading_bot.domain import FundingPayment
from trading_bot.domain import Liquidation
from trading_bot.domain import LiquiditySide
from trading_bot.domain import MarginMode
from trading_bot.domain import Market
from trading_bot.domain import Order
from trading_bot.domain import OrderSide
from trading_bot.domain import PerpPosition
from trading_bot.domain import closing_release
from trading_bot.domain import opening_quantity
from trading_bot.errors import OrderRejected

__all__ = ["MarginAccount"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


class MarginAccount(SimAccount):
    """Collateral, positions, marks and margin of one simulated perpetual-swap account.

    Shares ``SimAccount``'s balances (the settle currency's free + locked is the wallet balance) and id
    sequences; a ``MatchingCore`` over a contract market calls ``reserve`` and ``fill`` as it does on spot.

    Args:
        balances: starting wallet balances by currency (the settle currency's is the collateral).
        leverage: leverage of every symbol until ``set_leverage`` changes one (≥ 1).
        margin_mode: margin mode of every symbol until ``set_margin_mode`` changes one.
        liquidation_fee: fee rate on a liquidated notional (0.0125 = 1.25 %).
    """

    def __init__(
        self,
        balances: Mapping[str, Decimal],
        *,
        leverage: int = 1,
        margin_mode: MarginMode = MarginMode.CROSS,
        liquidation_fee: Decimal = Decimal("0.0125"),
    ) -> None:
        super().__init__(balances)
        if leverage < 1:
            raise ValueError(f"leverage must be >= 1, got {leverage}")
        self._default_leverage = leverage
        self._default_mode = margin_mode
        self.liquidation_fee = liquidation_fee
        self._leverage: dict[str, int] = {}
        self._mode: dict[str, MarginMode] = {}
        self._positions: dict[str, PerpPosition] = {}
        self._markets: dict[str, Market] = {}
        self._marks: dict[str, Decimal] = {}
        self._isolated: dict[str, Decimal] = {}
        self._has_orders: dict[str, Callable[[], bool]] = {}

    # ----------------------------------------------------------------- settings

    def leverage(self, symbol: str) -> int:
        """Return the leverage of ``symbol``."""
        return self._leverage.get(symbol, self._default_leverage)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the leverage of ``symbol`` (≥ 1; the market's ``max_leverage`` caps it when known).

        Raises:
            OrderRejected: out of range.
        """
        market = self._markets.get(symbol)
        cap = None if market is None else market.max_leverage
        if leverage < 1 or (cap is not None and leverage > cap):
            raise OrderRejected(f"{symbol}: leverage {leverage} is not valid (1..{cap if cap is not None else 125})")
        self._leverage[symbol] = leverage

    def margin_mode(self, symbol: str) -> MarginMode:
        """Return the margin mode of ``symbol``."""
        return self._mode.get(symbol, self._default_mode)

    def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Set the margin mode of ``symbol``; unchanged is a no-op.

        Raises:
            OrderRejected: the symbol has a position or open orders (as Binance refuses the change then).
        """
        if mode is self.margin_mode(symbol):
            return
        has_orders = self._has_orders.get(symbol)
        if self.position(symbol).quantity != 0 or (has_orders is not None and has_orders()):
            raise OrderRejected(f"{symbol}: margin type cannot be changed with an open position or open orders")
        self._mode[symbol] = mode

    # ----------------------------------------------------------------- queries

    def register(self, market: Market, has_open_orders: Callable[[], bool] | None = None) -> None:
        """Know ``market`` (its settle currency and tiers); the matching core calls it with its open-order test."""
        if not market.contract or market.settle is None:
            raise ValueError(f"{market.symbol}: a margin account trades linear swap markets only (settle currency)")
        self._markets[market.symbol] = market
        if has_open_orders is not None:
            self._has_orders[market.symbol] = has_open_orders

    def position(self, symbol: str) -> PerpPosition:
        """Return the one-way position in ``symbol`` (flat when none)."""
        position = self._positions.get(symbol)
        if position is None:
            leverage = Decimal(self.leverage(symbol))
            return PerpPosition(symbol=symbol, leverage=leverage, margin_mode=self.margin_mode(symbol))
        return position

    def positions(self) -> dict[str, PerpPosition]:
        """Return every non-flat position by symbol."""
        return {s: p for s, p in self._positions.items() if p.quantity != 0}

    def set_mark(self, symbol: str, price: Decimal) -> None:
        """Record the mark price of ``symbol`` (quote per base): unrealized PnL and margins use it."""
        self._marks[symbol] = price

    def mark(self, symbol: str) -> Decimal | None:
        """Return the last mark of ``symbol``, or ``None`` before any."""
        return self._marks.get(symbol)

    def _mark_or_entry(self, position: PerpPosition) -> Decimal:
        return self._marks.get(position.symbol, position.entry_price)

    def unrealized_pnl(self, symbol: str) -> Decimal:
        """Return the position's unrealized PnL at the mark (settle currency)."""
        position = self.position(symbol)
        if position.quantity == 0:
            return _ZERO
        return position.unrealized_pnl(self._mark_or_entry(position))

    def position_margin(self, symbol: str) -> Decimal:
        """Return the margin the position holds: cross |q| × mark / leverage, isolated its own margin."""
        position = self.position(symbol)
        if position.quantity == 0:
            return _ZERO
        if self.margin_mode(symbol) is MarginMode.ISOLATED:
            return self._isolated.get(symbol, _ZERO)
        return abs(position.quantity) * self._mark_or_entry(position) / self.leverage(symbol)

    def maintenance_margin(self, symbol: str) -> Decimal:
        """Return the position's maintenance margin at the mark (tier of its notional), settle currency."""
        position = self.position(symbol)
        if position.quantity == 0:
            return _ZERO
        return position.maintenance_margin(self._mark_or_entry(position), self._markets[symbol])

    def wallet_balance(self, currency: str) -> Decimal:
        """Return the wallet balance of ``currency``: deposits + realized PnL − fees + funding."""
        return super().free(currency) + self.locked(currency)

    def _cross(self, currency: str) -> Iterable[str]:
        for symbol, position in self._positions.items():
            if position.quantity != 0 and self._settle(symbol) == currency:
                yield symbol

    def _settle(self, symbol: str) -> str:
        settle = self._markets[symbol].settle
        assert settle is not None  # register() refuses markets without one
        return settle

    def free(self, currency: str) -> Decimal:
        """Return the available balance of ``currency`` (module docstring); may be negative."""
        free = super().free(currency)
        for symbol in self._cross(currency):
            if self.margin_mode(symbol) is MarginMode.CROSS:
                free += self.unrealized_pnl(symbol)
            free -= self.position_margin(symbol)
        return free

    def balances(self) -> dict[str, Balance]:
        """Return every balance: for a settle currency ``total`` is the wallet balance (no unrealized PnL),
        ``free`` what is available (floored at 0) and ``locked`` the rest."""
        out = super().balances()
        for currency in {self._settle(s) for s in self._markets}:
            wallet = self.wallet_balance(currency)
            free = min(wallet, max(_ZERO, self.free(currency)))
            out[currency] = Balance(currency=currency, free=free, locked=wallet - free)
        return out

    # ----------------------------------------------------------------- the matching core's calls

    def reserve(
        self, market: Market, order_side: OrderSide, quantity: Decimal, reference: Decimal, fee_rate: Decimal,
        *, reduce_only: bool,
    ) -> tuple[str, Decimal]:  # fmt: skip
        """Return (currency, amount) an arriving order must lock: its opening part's initial margin plus fee.

        Raises:
            OrderRejected: a reduce-only order that would not reduce the position.
        """
        symbol = market.symbol
        held = self.position(symbol).quantity
        if reduce_only:
            if held == 0 or (held > 0) == (order_side is OrderSide.BUY):
                raise OrderRejected(f"{symbol} {order_side.value} {quantity}: ReduceOnly order is rejected (it would "
                                    f"not reduce the position {held})")  # fmt: skip
            return self._settle(symbol), _ZERO
        opening = opening_quantity(held, order_side, quantity)
        return self._settle(symbol), opening * reference * (_ONE / self.leverage(symbol) + fee_rate)

    def released_by(
        self, market: Market, order_side: OrderSide, quantity: Decimal, price: Decimal, fee_rate: Decimal
    ) -> Decimal:
        """Return how much the available balance rises when the closing part of an order fills at ``price``.

        The closing part is ``min(quantity, |position|)`` of an order against the position (none otherwise).
        Cross: its position margin at the mark, plus its PnL from the mark to ``price``, less its fee;
        isolated: its share of the position's margin plus its PnL from the entry, less its fee (settle
        currency; may be negative when the move from the mark costs more than the margin it frees).
        """
        symbol = market.symbol
        position = self.position(symbol)
        held = position.quantity
        closing = quantity - opening_quantity(held, order_side, quantity)
        if closing <= 0:
            return _ZERO
        fee = closing * price * fee_rate
        if self.margin_mode(symbol) is MarginMode.ISOLATED:
            share = self._isolated.get(symbol, _ZERO) * closing / abs(held)
            return closing_release(held, closing, price, position.entry_price, share) - fee
        mark = self._mark_or_entry(position)
        return closing_release(held, closing, price, mark, closing * mark / self.leverage(symbol)) - fee

    def closing_change(self, market: Market, order_side: OrderSide, price: Decimal, fee_rate: Decimal) -> tuple[
        Decimal, Decimal
    ]:  # fmt: skip
        """Return (the whole position an order of ``order_side`` closes, the equity change of closing it at ``price``).

        Nothing (0, 0) when the position is flat or on the order's side. The change is the position's PnL
        from the mark to ``price`` less the closing fee (settle currency): what sizing at the fill by a
        quote amount valued at the mark adds to it (``MatchingCore``).
        """
        position = self.position(market.symbol)
        held = position.quantity
        if held == 0 or (held > 0) == (order_side is OrderSide.BUY):
            return _ZERO, _ZERO
        closing = abs(held)
        change = held * (price - self._mark_or_entry(position)) - closing * price * fee_rate
        return closing, change

    def fill_quantity(self, order: Order, quantity: Decimal) -> Decimal:
        """Cap a reduce-only fill at the position it reduces (0 when the position is gone)."""
        if not order.reduce_only:
            return quantity
        held = self.position(order.symbol).quantity
        if held == 0 or (held > 0) == (order.side is OrderSide.BUY):
            return _ZERO
        return min(quantity, abs(held))

    def fill(
        self, order: Order, market: Market, *, unlock: Decimal, quantity: Decimal, price: Decimal, fee: Decimal,
        ts_ms: int, liquidity: LiquiditySide, fee_in_base: bool = False,
    ) -> Fill:  # fmt: skip
        """Settle a swap fill: release its order margin, move the position, book realized PnL and the fee.

        A spot market's fill (one account may trade both) settles as ``SimAccount`` settles it.
        """
        symbol = market.symbol
        if symbol not in self._markets:
            return super().fill(order, market, unlock=unlock, quantity=quantity, price=price, fee=fee, ts_ms=ts_ms,
                                liquidity=liquidity, fee_in_base=fee_in_base)  # fmt: skip
        settle = self._settle(symbol)
        self.settle(settle, unlock, _ZERO)
        before = self.position(symbol)
        after = before.apply_fill(order.side, quantity, price, fee)
        self._move_isolated(symbol, before, after, price)
        self.credit(settle, after.realized_pnl - before.realized_pnl)
        self._positions[symbol] = after
        self._marks.setdefault(symbol, price)
        fill = simulated_fill(order, trade_id=self.next_trade_id(), quantity=quantity, price=price, fee=fee,
                              fee_currency=settle, ts_ms=ts_ms, liquidity=liquidity)  # fmt: skip
        order.apply_fill(fill)
        return fill

    def _move_isolated(self, symbol: str, before: PerpPosition, after: PerpPosition, price: Decimal) -> None:
        """Isolated mode: move the opened part's margin out of the wallet, return the closed part's."""
        if self.margin_mode(symbol) is not MarginMode.ISOLATED:
            return
        settle = self._settle(symbol)
        margin = self._isolated.get(symbol, _ZERO)
        old, new = before.quantity, after.quantity
        if old != 0 and (new == 0 or (new > 0) != (old > 0) or abs(new) < abs(old)):
            kept = _ZERO if new == 0 or (new > 0) != (old > 0) else margin * abs(new) / abs(old)
            self.credit(settle, margin - kept)
            margin = kept
        opened = abs(new) - abs(old) if (old == 0 or (new > 0) == (old > 0)) else abs(new)
        if opened > 0:
            add = opened * price / self.leverage(symbol)
            self.credit(settle, -add)
            margin += add
        self._isolated[symbol] = margin

    # ----------------------------------------------------------------- funding and liquidation

    def apply_funding(self, market: Market, rate: Decimal, ts_ms: int, payment_id: str) -> FundingPayment | None:
        """Settle one funding time on ``market``'s position at its mark; ``None`` when flat (or no mark)."""
        symbol = market.symbol
        position = self.position(symbol)
        mark = self._marks.get(symbol)
        if position.quantity == 0 or mark is None:
            return None
        payment = FundingPayment.for_position(position.quantity, mark, rate, id=payment_id, symbol=symbol,
                                              ts_ms=ts_ms)  # fmt: skip
        self.credit(self._settle(symbol), payment.amount)
        self._positions[symbol] = position.apply_funding(payment)
        return payment

    def liquidation_price(self, market: Market) -> Decimal | None:
        """Return the mark at which the position would be liquidated (Binance's one-way formula), or ``None``.

        Isolated: the position's own margin. Cross: the wallet plus the other cross positions' unrealized
        PnL minus their maintenance margin (each at its mark).
        """
        symbol = market.symbol
        position = self.position(symbol)
        if position.quantity == 0:
            return None
        if self.margin_mode(symbol) is MarginMode.ISOLATED:
            balance = self._isolated.get(symbol, _ZERO)
        else:
            settle = self._settle(symbol)
            balance = self.wallet_balance(settle)
            for other in self._cross(settle):
                if other != symbol and self.margin_mode(other) is MarginMode.CROSS:
                    balance += self.unrealized_pnl(other) - self.maintenance_margin(other)
                elif other != symbol:
                    balance -= self._isolated.get(other, _ZERO)
        return position.liquidation_price(market, balance)

    def check_liquidations(self, ts_ms: int, prices: Mapping[str, Decimal] | None = None) -> list[Liquidation]:
        """Liquidate what is below maintenance margin at the marks; return the liquidations, in symbol order.

        ``prices`` (optional) overrides the marks the check uses and the price each liquidated position
        is closed at (a bar venue passes each position's liquidation price where its bar reached it).
        The caller cancels the liquidated symbols' open orders first, as the venue does.
        """
        if prices:
            for symbol, price in prices.items():
                self._marks[symbol] = price
        out: list[Liquidation] = []
        for currency in sorted({self._settle(s) for s in self.positions()}):
            cross = [s for s in sorted(self._cross(currency)) if self.margin_mode(s) is MarginMode.CROSS]
            equity = self.wallet_balance(currency) + sum((self.unrealized_pnl(s) for s in cross), _ZERO)
            for s in self._cross(currency):
                if self.margin_mode(s) is MarginMode.ISOLATED:
                    equity -= self._isolated.get(s, _ZERO)  # held apart from the cross wallet
            if cross and equity < sum((self.maintenance_margin(s) for s in cross), _ZERO):
                out += [self._liquidate(s, ts_ms) for s in cross]
            for s in sorted(self._cross(currency)):
                if self.margin_mode(s) is MarginMode.ISOLATED and (
                    self._isolated.get(s, _ZERO) + self.unrealized_pnl(s) < self.maintenance_margin(s)
                ):
                    out.append(self._liquidate(s, ts_ms))
        return out

    def _liquidate(self, symbol: str, ts_ms: int) -> Liquidation:
        position = self.position(symbol)
        settle = self._settle(symbol)
        price = self._mark_or_entry(position)
        realized = position.unrealized_pnl(price)
        isolated = self._isolated.pop(symbol, _ZERO)
        self.credit(settle, realized + isolated)
        left = self.wallet_balance(settle) if self.margin_mode(symbol) is MarginMode.CROSS else realized + isolated
        fee = min(abs(position.quantity) * price * self.liquidation_fee, max(_ZERO, left))
        self.credit(settle, -fee)
        self._positions[symbol] = PerpPosition(
            symbol=symbol, realized_pnl=position.realized_pnl + realized - fee, leverage=position.leverage,
            margin_mode=position.margin_mode,
        )  # fmt: skip
        return Liquidation(symbol=symbol, ts_ms=ts_ms, quantity=position.quantity, price=price, fee=fee,
                           realized_pnl=realized)  # fmt: skip
