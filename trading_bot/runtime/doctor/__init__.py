"""``runbot.py doctor``: read-only checks that a machine, a config and its venues are ready to trade.

One module per subject: ``venue`` (credentials present, reachable through the ccxt adapter's session,
clock skew, the config's symbols listed, an authenticated call), ``journal`` (path writable, schema
readable; nothing created), ``monitor`` (a token when the monitor is enabled), ``unit`` (a systemd unit's
ExecStart, Restart and WorkingDirectory); ``report`` holds a check's outcome and ``run`` runs them all.
The config itself is validated by the CLI, exactly as ``check-config`` does, and handed in.
"""

from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import Status
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import passed
from trading_bot.runtime.doctor.run import DEFAULT_MAX_SKEW_S
from trading_bot.runtime.doctor.run import DEFAULT_TIMEOUT_S
from trading_bot.runtime.doctor.run import DoctorRequest
from trading_bot.runtime.doctor.run import run_doctor
from trading_bot.runtime.doctor.unit import INSTALLED_UNIT

__all__ = [
    "DEFAULT_MAX_SKEW_S",
    "DEFAULT_TIMEOUT_S",
    "INSTALLED_UNIT",
    "Check",
    "DoctorRequest",
    "Status",
    "failed",
    "passed",
    "run_doctor",
]
