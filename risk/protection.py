"""Account protection (GRID.md): emergency loss, account loss with a failure streak, and stall.

``AccountProtection`` keeps the failure streak and the time of the last successful exchange
interaction, and turns an ``AccountSnapshot`` into an ``AccountDecision``. The ``RiskManager`` owns one
and applies the decision's trading state. Checks run in this order, first match wins:

1. emergency loss: ``equity ≤ starting × (1 − emergency_loss_pct / 100)`` → EMERGENCY_FLATTEN, HALTED
   (cancel the bot's orders, close its position at market, halt, exit non-zero).
2. stall: no successful exchange interaction for ``stall_timeout_s`` → STALL_HALT, HALTED until the
   next ``record_exchange_ok`` (the manager then restores the state it had before). The action is
   reported once, when the stall begins; later checks while stalled report NONE with HALTED.
3. account loss: ``equity ≤ starting × (1 − account_loss_pct / 100)`` together with at least
   ``max_consecutive_failures`` consecutive order failures whose first and last are at least
   ``failure_window_s`` apart → CLOSE_WORST: close the worst ``close_worst_fraction`` of the losing
   positions (at least one). The trading state is left as it is, and the failure streak restarts so
   the next closing needs a fresh streak.
4. liquidation distance (swaps, ``risk.reduce_at_liquidation_distance_pct``): a position whose mark is
   within that percent of its estimated liquidation price (``PositionView.liquidation_price``, from
   ``risk.margin.estimate_liquidation_price``) → LIQUIDATION_REDUCE, REDUCING: only orders that reduce a
   position pass until the operator resumes. Reported once, when the state becomes REDUCING; a state
   already REDUCING or HALTED is left as it is.

Times are epoch milliseconds UTC from the injected clock; money is quote currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from risk.config import ProtectionConfig
from risk.margin import liquidation_distance_pct
from trading_bot.domain import Symbol
from trading_bot.domain import TradingState
from trading_bot.domain import decimal_text

__all__ = [
    "AccountDecision",
    "AccountProtection",
    "AccountSnapshot",
    "PositionView",
    "ProtectionAction",
]

_HUNDRED = Decimal(100)


class ProtectionAction(StrEnum):
    """What the supervisor must do after an account check."""

    NONE = "none"
    EMERGENCY_FLATTEN = "emergency_flatten"  # cancel the bot's orders, close at market, halt, exit 1
    CLOSE_WORST = "close_worst"  # close the positions in ``symbols_to_close`` at market
    STALL_HALT = "stall_halt"  # halted until the exchange answers again; alert
    LIQUIDATION_REDUCE = "liquidation_reduce"  # a swap's mark nears its liquidation price: REDUCING; alert


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionView:
    """One of the bot's positions as account protection sees it.

    Attributes:
        symbol: the market.
        quantity: signed base currency (+ long, − short).
        unrealized_pnl: quote currency at the current mark.
        mark: swaps: the current mark price (quote per base), ``None`` when unknown.
        liquidation_price: swaps: the position's estimated liquidation price (quote per base), ``None`` on
            spot, when flat or when it has none.
    """

    symbol: Symbol
    quantity: Decimal
    unrealized_pnl: Decimal
    mark: Decimal | None = None
    liquidation_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """The account at one moment.

    Attributes:
        now_ms: clock time, epoch milliseconds UTC.
        equity: current equity, quote currency.
        starting_equity: equity when the run started, quote currency.
        positions: the bot's own open positions.
    """

    now_ms: int
    equity: Decimal
    starting_equity: Decimal
    positions: Sequence[PositionView] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountDecision:
    """The outcome of an account check.

    Attributes:
        state: the trading state after the check.
        action: what the supervisor must do.
        reason: a human message with the figures (empty when all is well).
        symbols_to_close: markets to close at market (CLOSE_WORST and EMERGENCY_FLATTEN).
    """

    state: TradingState
    action: ProtectionAction
    reason: str
    symbols_to_close: tuple[Symbol, ...] = ()


class AccountProtection:
    """The account-protection rules and the little state they need (failure streak, last exchange ok).

    Args:
        config: the thresholds.
        liquidation_distance_pct: go REDUCING when a position's mark is within this percent of its
            liquidation price (``risk.reduce_at_liquidation_distance_pct``); ``None`` is off.
    """

    __slots__ = (
        "_account_limit",
        "_config",
        "_emergency_limit",
        "_failure_count",
        "_failure_first_ms",
        "_failure_last_ms",
        "_failure_window_ms",
        "_last_ok_ms",
        "_liquidation_pct",
        "_stall_timeout_ms",
        "_stalled",
    )

    def __init__(self, config: ProtectionConfig, liquidation_distance_pct: Decimal | None = None) -> None:
        self._config = config
        self._liquidation_pct = liquidation_distance_pct
        self._emergency_limit = config.emergency_loss_pct
        self._account_limit = config.account_loss_pct
        self._failure_window_ms = round(config.failure_window_s * 1000)
        self._stall_timeout_ms = round(config.stall_timeout_s * 1000)
        self._failure_count = 0
        self._failure_first_ms = 0
        self._failure_last_ms = 0
        self._last_ok_ms: int | None = None
        self._stalled = False

    @property
    def stalled(self) -> bool:
        """True while the stall halt is in force."""
        return self._stalled

    @property
    def consecutive_failures(self) -> int:
        """Order failures since the last success (count)."""
        return self._failure_count

    def record_exchange_ok(self, now_ms: int) -> bool:
        """Note a successful exchange interaction at ``now_ms``; return True if it ended a stall."""
        if self._last_ok_ms is None or now_ms > self._last_ok_ms:
            self._last_ok_ms = now_ms
        ended = self._stalled
        self._stalled = False
        return ended

    def clear_stall(self) -> None:
        """Forget a stall in force (an explicit state change overrides it; it re-arms on the next check)."""
        self._stalled = False

    def record_order_failure(self, now_ms: int) -> None:
        """Count one failed order (rejected by the exchange or lost) at ``now_ms``."""
        if self._failure_count == 0:
            self._failure_first_ms = now_ms
        self._failure_count += 1
        self._failure_last_ms = now_ms

    def record_order_success(self, now_ms: int) -> None:
        """Note an order the exchange accepted at ``now_ms``: the failure streak restarts."""
        self._failure_count = 0

    def evaluate(self, snapshot: AccountSnapshot, state: TradingState) -> AccountDecision:
        """Return the decision for ``snapshot`` given the current trading ``state``."""
        config = self._config
        starting = snapshot.starting_equity
        loss_pct = (starting - snapshot.equity) / starting * _HUNDRED if starting > 0 else None
        if config.emergency_enabled and loss_pct is not None and loss_pct >= self._emergency_limit:
            symbols = tuple(p.symbol for p in snapshot.positions if p.quantity != 0)
            reason = (
                f"emergency loss: {_loss_text(snapshot, loss_pct)}; limit {decimal_text(self._emergency_limit)} %"
            )
            return AccountDecision(
                state=TradingState.HALTED,
                action=ProtectionAction.EMERGENCY_FLATTEN,
                reason=reason,
                symbols_to_close=symbols,
            )
        stall = self._check_stall(snapshot.now_ms)
        if stall is not None:
            return stall
        if config.account_loss_enabled and loss_pct is not None and loss_pct >= self._account_limit:
            decision = self._check_failures(snapshot, loss_pct, state)
            if decision is not None:
                return decision
        if self._liquidation_pct is not None and state.restriction < TradingState.REDUCING.restriction:
            decision = self._check_liquidation(snapshot.positions, self._liquidation_pct)
            if decision is not None:
                return decision
        return AccountDecision(state=state, action=ProtectionAction.NONE, reason="")

    def _check_liquidation(self, positions: Sequence[PositionView], limit: Decimal) -> AccountDecision | None:
        near = []
        for view in positions:
            lp, mark = view.liquidation_price, view.mark
            if view.quantity == 0 or lp is None or mark is None or mark <= 0:
                continue
            distance = liquidation_distance_pct(view.quantity, lp, mark)
            if distance < limit:
                near.append(
                    f"{view.symbol} {'long' if view.quantity > 0 else 'short'} {decimal_text(abs(view.quantity))}: "
                    f"mark {decimal_text(mark)} is {distance:.2f} % from the estimated liquidation price {lp:,.2f}"
                )
        if not near:
            return None
        reason = f"liquidation near: {'; '.join(near)}; limit {decimal_text(limit)} %; reducing only"
        return AccountDecision(state=TradingState.REDUCING, action=ProtectionAction.LIQUIDATION_REDUCE, reason=reason)

    def _check_stall(self, now_ms: int) -> AccountDecision | None:
        if not self._config.stall_enabled:
            return None
        if self._last_ok_ms is None:
            self._last_ok_ms = now_ms  # monitoring starts with the first check
            return None
        silent_ms = now_ms - self._last_ok_ms
        if self._stalled:
            reason = f"stall continues: no successful exchange interaction for {silent_ms / 1000:.0f} s"
            return AccountDecision(state=TradingState.HALTED, action=ProtectionAction.NONE, reason=reason)
        if silent_ms < self._stall_timeout_ms:
            return None
        self._stalled = True
        reason = (
            f"stall: no successful exchange interaction for {silent_ms / 1000:.0f} s; "
            f"limit {self._config.stall_timeout_s:g} s"
        )
        return AccountDecision(state=TradingState.HALTED, action=ProtectionAction.STALL_HALT, reason=reason)

    def _check_failures(
        self, snapshot: AccountSnapshot, loss_pct: Decimal, state: TradingState
    ) -> AccountDecision | None:
        config = self._config
        span_ms = self._failure_last_ms - self._failure_first_ms
        if self._failure_count < config.max_consecutive_failures or span_ms < self._failure_window_ms:
            return None
        losing = sorted((p for p in snapshot.positions if p.unrealized_pnl < 0), key=lambda p: p.unrealized_pnl)
        if not losing:
            return None
        count = max(1, int(len(losing) * config.close_worst_fraction))
        chosen = tuple(p.symbol for p in losing[:count])
        reason = (
            f"account loss: {_loss_text(snapshot, loss_pct)}; limit {decimal_text(self._account_limit)} %; "
            f"with {self._failure_count} consecutive order failures over {span_ms / 1000:.0f} s "
            f"(limit {config.max_consecutive_failures} over {config.failure_window_s:g} s); "
            f"closing {count} of {len(losing)} losing positions: {', '.join(chosen)}"
        )
        self._failure_count = 0
        return AccountDecision(
            state=state, action=ProtectionAction.CLOSE_WORST, reason=reason, symbols_to_close=chosen
        )


def _loss_text(snapshot: AccountSnapshot, loss_pct: Decimal) -> str:
    return (
        f"equity {snapshot.equity:,.2f} is {loss_pct:.1f} % below the starting {snapshot.starting_equity:,.2f}"
    )
