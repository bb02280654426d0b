"""The RiskManager: asked before every order, and the keeper of the trading state.

``check`` runs the enabled rules of ``risk.rules`` in order and returns ``APPROVED`` or the first
``Rejected(rule, reason)``; a breach is a decision, never an exception. Approvals are counted for the
order-rate rule. ``check_account`` runs account protection (``risk.protection``) and applies the
trading state it decides. ``begin_day`` / ``restore_day`` / ``daily_loss_alert`` drive the daily loss
limit (``risk.daily``) when it is configured. The rules are built once from the config, so a check allocates nothing on
the approving path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from risk.config import RiskConfig
from risk.daily import DailyLossRule
from risk.daily import DayStart
from risk.protection import AccountDecision
from risk.protection import AccountProtection
from risk.protection import AccountSnapshot
from risk.protection import ProtectionAction
from risk.rules import RULE_NAMES
from risk.rules import OrderRateRule
from risk.rules import RiskContext
from risk.rules import RiskRule
from risk.rules import TradingStateRule
from risk.rules import build_rules
from risk.sizing import SIZING_RULE
from risk.sizing import size_order
from trading_bot.domain import OrderParams
from trading_bot.domain import TradingState

__all__ = [
    "APPROVED",
    "DENIAL_RULES",
    "Approved",
    "Rejected",
    "RiskContext",
    "RiskDecision",
    "RiskManager",
]

DENIAL_RULES: frozenset[str] = frozenset((*RULE_NAMES, SIZING_RULE))
"""Every rule name a ``Rejected`` may carry: the per-order rules plus ``"sizing"``."""


@dataclass(frozen=True, slots=True)
class Approved:
    """The order may go to the exchange. Use the shared ``APPROVED``."""


APPROVED = Approved()


@dataclass(frozen=True, slots=True)
class Rejected:
    """The order may not go out.

    Attributes:
        rule: the name of the rule that refused it (one of ``DENIAL_RULES``).
        reason: a human message with the figures.
        transient: the rule's ``transient`` flag: the same order may pass later unchanged.
    """

    rule: str
    reason: str
    transient: bool = False

    def __post_init__(self) -> None:
        if self.rule not in DENIAL_RULES:
            raise ValueError(f"unknown risk rule {self.rule!r}; known: {', '.join(sorted(DENIAL_RULES))}")


RiskDecision = Approved | Rejected


class RiskManager:
    """Pre-trade checks for every order, account protection, and the ACTIVE/REDUCING/HALTED switch."""

    __slots__ = (
        "_config",
        "_daily_rule",
        "_protection",
        "_rate_rule",
        "_resume_state",
        "_rules",
        "_state_reason",
        "_state_rule",
    )

    def __init__(self, config: RiskConfig) -> None:
        self._config = config
        self._state_rule = TradingStateRule(TradingState.ACTIVE)
        self._state_reason = ""
        self._rules: tuple[RiskRule, ...] = build_rules(config, self._state_rule)
        rate = [rule for rule in self._rules if isinstance(rule, OrderRateRule)]
        self._rate_rule: OrderRateRule | None = rate[0] if rate else None
        daily = [rule for rule in self._rules if isinstance(rule, DailyLossRule)]
        self._daily_rule: DailyLossRule | None = daily[0] if daily else None
        self._protection = AccountProtection(config.protection, config.reduce_at_liquidation_distance_pct)
        self._resume_state: TradingState | None = None

    @property
    def config(self) -> RiskConfig:
        """The settings this manager was built from."""
        return self._config

    @property
    def rules(self) -> tuple[RiskRule, ...]:
        """The enabled per-order rules, in check order."""
        return self._rules

    @property
    def trading_state(self) -> TradingState:
        """The current kill-switch state."""
        return self._state_rule.state

    @property
    def trading_state_reason(self) -> str:
        """Why the state was last changed (empty at start)."""
        return self._state_reason

    def set_trading_state(self, state: TradingState, reason: str) -> None:
        """Set the kill switch explicitly (operator or supervisor); it overrides a stall halt in force.

        Args:
            state: the new state.
            reason: why, for the log and ``trading_state_reason``.
        """
        self._state_rule.state = state
        self._state_reason = reason
        self._resume_state = None
        self._protection.clear_stall()

    def check(self, params: OrderParams, quantity: Decimal, ctx: RiskContext) -> RiskDecision:
        """Return ``APPROVED`` or the first rule's ``Rejected``; approvals count towards the rate limit.

        Args:
            params: the order intent.
            quantity: the final quantity, base currency (the sizer's answer when ``params.quantity`` was open).
            ctx: market, market data, clock time, position, open orders, balances and equity.
        """
        for rule in self._rules:
            reason = rule.check(params, quantity, ctx)
            if reason is not None:
                return Rejected(rule.name, reason, rule.transient)
        if self._rate_rule is not None:
            self._rate_rule.record(ctx.now_ms)
        return APPROVED

    def size(self, params: OrderParams, ctx: RiskContext) -> Decimal | None:
        """Return the configured sizer's quantity for ``params`` (base units), or ``None`` for no order."""
        return size_order(params, ctx, self._config.sizing)

    # -- the daily loss limit (risk.daily) ------------------------------------------------------
    @property
    def daily_loss_enabled(self) -> bool:
        """True when ``max_daily_loss_pct`` is set."""
        return self._daily_rule is not None

    @property
    def day_start(self) -> DayStart | None:
        """The current UTC day's start (equity at its first observation), or ``None``."""
        return None if self._daily_rule is None else self._daily_rule.start

    def day_due(self, now_ms: int) -> bool:
        """Return True when the daily limit is on and the UTC day of ``now_ms`` has not begun yet."""
        rule = self._daily_rule
        return rule is not None and rule.due(now_ms)

    def begin_day(self, now_ms: int, equity: Decimal) -> DayStart | None:
        """Begin the UTC day of ``now_ms`` with ``equity`` (quote currency); ``None`` when the limit is off."""
        rule = self._daily_rule
        return None if rule is None else rule.begin_day(now_ms, equity)

    def restore_day(self, start: DayStart, now_ms: int) -> bool:
        """Take back a journaled day start when it is of the current UTC day; return whether it was used."""
        rule = self._daily_rule
        return rule is not None and rule.restore(start, now_ms)

    def daily_loss_alert(self, now_ms: int, equity: Decimal) -> str | None:
        """Return the daily-loss reason the first time the limit is found in force on a UTC day, else ``None``."""
        rule = self._daily_rule
        return None if rule is None else rule.alert(now_ms, equity)

    def record_exchange_ok(self, now_ms: int) -> None:
        """Note a successful exchange interaction at ``now_ms``; a stall halt ends and the old state returns."""
        if self._protection.record_exchange_ok(now_ms) and self._resume_state is not None:
            self._state_rule.state = self._resume_state
            self._state_reason = "exchange answered again after a stall"
            self._resume_state = None

    def record_order_failure(self, now_ms: int) -> None:
        """Count an order the exchange rejected or that was lost, at ``now_ms``."""
        self._protection.record_order_failure(now_ms)

    def record_order_success(self, now_ms: int) -> None:
        """Note an order the exchange accepted at ``now_ms``; the failure streak restarts."""
        self._protection.record_order_success(now_ms)

    def check_account(self, snapshot: AccountSnapshot) -> AccountDecision:
        """Run account protection on ``snapshot`` and apply the trading state it decides."""
        current = self._state_rule.state
        decision = self._protection.evaluate(snapshot, current)
        action = decision.action
        if action is ProtectionAction.EMERGENCY_FLATTEN:
            self._resume_state = None  # final: a later exchange answer does not lift it
        elif action is ProtectionAction.STALL_HALT:
            self._resume_state = current
        if decision.state is not current and action is not ProtectionAction.NONE:
            self._state_rule.state = decision.state
            self._state_reason = decision.reason
        return decision
