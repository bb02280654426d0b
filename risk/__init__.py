"""The risk gate: every order is checked here before it can reach an exchange.

``RiskManager.check`` runs the per-order rules (``risk.rules``), the portfolio rules over all the bot's
instruments (``risk.portfolio``: gross and net exposure; the total open-order cap is part of
``max_open_orders``) and the daily loss limit (``risk.daily``, reset at 00:00 UTC); ``size_order`` fills in
quantities a strategy left open (``risk.sizing``), the swap rules (margin of the opening part, leverage caps,
liquidation distance) live in ``risk.margin``, and ``RiskManager.check_account`` runs account
protection (``risk.protection``). The shared context and base class are in ``risk.base``; settings live
in ``risk.config``.
"""

from risk.base import PortfolioTotals
from risk.config import ProtectionConfig
from risk.config import RiskConfig
from risk.config import SizingConfig
from risk.config import SizingMode
from risk.daily import DAILY_LOSS_RULE
from risk.daily import DayStart
from risk.manager import APPROVED
from risk.manager import DENIAL_RULES
from risk.manager import Approved
from risk.manager import Rejected
from risk.manager import RiskDecision
from risk.manager import RiskManager
from risk.protection import AccountDecision
from risk.protection import AccountProtection
from risk.protection import AccountSnapshot
from risk.protection import PositionView
from risk.protection import ProtectionAction
from risk.rules import RULE_NAMES
from risk.rules import RiskContext
from risk.rules import RiskRule
from risk.sizing import SIZING_RULE
from risk.sizing import size_order

__all__ = [
    "APPROVED",
    "DAILY_LOSS_RULE",
    "DENIAL_RULES",
    "RULE_NAMES",
    "SIZING_RULE",
    "AccountDecision",
    "AccountProtection",
    "AccountSnapshot",
    "Approved",
    "DayStart",
    "PortfolioTotals",
    "PositionView",
    "ProtectionAction",
    "ProtectionConfig",
    "Rejected",
    "RiskConfig",
    "RiskContext",
    "RiskDecision",
    "RiskManager",
    "RiskRule",
    "SizingConfig",
    "SizingMode",
    "size_order",
]
