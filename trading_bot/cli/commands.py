"""The command modules and the names they register.

Each module adds its commands to ``app`` with ``@app.command(...)`` when imported; the names the
dispatcher knows are read back from the app, so a new command needs only its decorator (and its module
listed here once). Every module keeps its heavy imports inside its commands: importing them all costs
only typer.
"""

from __future__ import annotations

from importlib import import_module

from trading_bot.cli.app import app

__all__ = ["MODULES", "load", "names"]

MODULES = (
    "trading_bot.cli.run",
    "trading_bot.cli.backtest",
    "trading_bot.cli.optimize",
    "trading_bot.cli.journal",
    "trading_bot.cli.emulator",
    "trading_bot.cli.doctor",
    "trading_bot.cli.ctl",
)
"""The modules whose decorators register commands, in ``--help`` order."""


def load() -> None:
    """Import every command module (idempotent)."""
    for module in MODULES:
        import_module(module)


def names() -> frozenset[str]:
    """Return every registered command name (loading the modules first)."""
    load()
    return frozenset(command.name for command in app.registered_commands if command.name is not None)
