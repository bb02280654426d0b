"""The risk gate: every order is checked here before it can reach an exchange.

``RiskManager.check`` runs the per-order rules (``risk.rules``), ``size_order`` fills in quantities a
strategy left open (``risk.sizing``), and ``RiskManager.check_account`` runs account protection
(``risk.protection``). Settings live in ``risk.config``.
"""

from risk.config import ProtectionConfig
from risk.config import RiskConfig
from risk.config import SizingConfig
from risk.config import SizingMode
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
    "DENIAL_RULES",
    "RULE_NAMES",
    "SIZING_RULE",
    "AccountDecision",
    "AccountProtection",
    "AccountSnapshot",
    "Approved",
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
