"""The command line: ``python runbot.py [COMMAND] ...``; without a command it runs the bot.

One module per command group (``run``, ``backtest``, ``journal``, ``emulator``), each registering its
commands on the shared typer ``app`` with decorators. Exit codes (stable, documented in the README):

* 0 — finished normally (end of a replay, SIGINT/SIGTERM handled in order, a strategy stop price);
* 1 — runtime failure (halted by a protection rule, repeated authentication failures, a strategy crash);
* 2 — usage or configuration error (one line naming the field and the fix; nothing was traded).
"""

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import EXIT_OK
from trading_bot.cli.app import EXIT_USAGE
from trading_bot.cli.app import app
from trading_bot.cli.app import main

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "app", "main"]
