"""The typer application, the exit codes and the entry point shared by every command module.

Without a command (or with ``run``) it runs the bot. Exit codes (stable, documented in the README):

* 0 — finished normally (end of a replay, SIGINT/SIGTERM handled in order, a strategy stop price);
* 1 — runtime failure (halted by a protection rule, repeated authentication failures, a strategy crash);
* 2 — usage or configuration error (one line naming the field and the fix; nothing was traded).

Heavy modules (pydantic models, the runtime, ccxt) are imported inside the commands, so ``--help``
answers fast and never imports ccxt.
"""

from __future__ import annotations

import sys

import typer

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "app", "fail", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="runbot",
    help="An asyncio trading daemon: pluggable strategies and exchanges, a risk gate before every order.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the ``typer.Exit`` to raise (default exit 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: dispatch to a command, defaulting to ``run`` when the first word is not one."""
    from trading_bot.cli import commands

    known = commands.names()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in known and args[0] not in ("--help", "-h")):
        args.insert(0, "run")
    app(args=args, prog_name="runbot.py")
