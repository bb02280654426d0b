"""The bot as the chaos test starts it: ``runbot.py`` plus a SIGKILL right after a journaled intent.

``python tests/stress/chaos_bot.py PROBABILITY SEED [runbot arguments...]`` installs an ``after_intent``
hook on every ``OrderManager`` that kills this process with SIGKILL, with the given probability (0..1)
drawn from a ``random.Random(SEED)``, between the journal write of an intent and its request, and then
runs the normal CLI. Test-only: production code has no way to kill itself.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["install_kill_after_intent", "main"]


def install_kill_after_intent(probability: float, seed: int) -> None:
    """Make every ``OrderManager`` built from now on SIGKILL this process after an intent, with ``probability``."""
    from trading_bot.log import get_logger
    from trading_bot.runtime.orders.manager import OrderManager

    rng = random.Random(seed)
    log = get_logger("tests.stress.chaos_bot")

    def maybe_die() -> None:
        if rng.random() < probability:
            log.warning("chaos_kill_after_intent")
            os.kill(os.getpid(), signal.SIGKILL)

    original: Callable[..., None] = OrderManager.__init__

    @functools.wraps(original)
    def init(self: OrderManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "after_intent": maybe_die})

    OrderManager.__init__ = init  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    """Install the hook from ``argv[0:2]`` (probability, seed), then run the CLI on the rest of ``argv``."""
    from trading_bot.stop_signals import exit_before_start

    exit_before_start()  # as runbot.py does: a signal now exits 0 at once
    install_kill_after_intent(float(argv[0]), int(argv[1]))
    from trading_bot.cli import main as cli_main

    sys.argv = [sys.argv[0], *argv[2:]]
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
