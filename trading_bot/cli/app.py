"""The typer application, the exit codes and the entry point shared by every command module.

Without a command (or with ``run``) it runs the bot. Exit codes (stable, documented in the README):

* 0 — finished normally (end of a replay, SIGINT/SIGTERM handled in order, a strategy stop price);
* 1 — runtime failure (halted by a protection rule, repeated authentication failures, a strategy crash);
* 2 — usage or configuration error (one line naming the field and the fix; nothing was traded).

Usage errors found by the parser (a missing option, a bad choice, an option given a value outside its
range, an unknown command) are one ``error:`` line too, exit 2, like every other bad input.

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


def _click_error() -> type[Exception]:
    """Return the parser's base exception class (click's ``ClickException``, vendored by recent typer)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """Entry point: dispatch to a command, defaulting to ``run`` when the first word is not one.

    Exits with the command's code; a usage error of the parser is one line ``error: ...`` on stderr
    naming the command's ``--help``, exit 2.
    """
    from trading_bot.cli import commands

    known = commands.names()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0] not in known and args[0] not in ("--help", "-h")):
        args.insert(0, "run")
    if args[0] != "run":  # the run command takes the stop signals over from runbot.py; the others get the defaults
        from trading_bot.stop_signals import restore_defaults

        restore_defaults()
    try:
        code = app(args=args, prog_name="runbot.py", standalone_mode=False)
    except _click_error() as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        command = args[0] if args[0] in known else None
        hint = f" (see runbot.py {command} --help)" if command is not None else ""
        typer.echo(f"error: {' '.join(message.split())}{hint}", err=True)
        code = getattr(exc, "exit_code", EXIT_USAGE)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        code = EXIT_FAILURE
    sys.exit(code if isinstance(code, int) else EXIT_OK)
