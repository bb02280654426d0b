"""Stop signals in the first moments of the process, before any command runs.

``runbot.py`` calls ``exit_before_start`` first thing, before typer, pydantic or the runtime are imported:
until a command takes the signals over, SIGINT, SIGTERM or SIGHUP end the process at once with exit 0
(nothing has started, so there is nothing to stop), never killed by the signal (exit 143 in a shell).
The run command then takes them over for an orderly stop (``trading_bot.cli.run``); every other command
gets the default handlers back (``restore_defaults``). Imports nothing but the standard library.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

__all__ = ["STOP_SIGNALS", "exit_before_start", "restore_defaults"]

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop the bot in order: SIGINT (Ctrl-C), SIGTERM (systemd, docker), SIGHUP (a closed terminal)."""


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(0)  # nothing started yet: no file, order or journal row to take care of


def exit_before_start() -> None:
    """Make every stop signal end the process at once with exit 0 (until a command installs its own)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _exit_now)


def restore_defaults() -> None:
    """Give the stop signals their default handling back (SIGINT raises ``KeyboardInterrupt``)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler if sig is signal.SIGINT else signal.SIG_DFL)
