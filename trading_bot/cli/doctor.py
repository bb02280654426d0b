"""The ``doctor`` command: is this machine, this config and its venues ready to trade? One line per check.

Exit codes: 0 every check passed (or was skipped as not applicable), 1 a check failed, 2 a usage error
(a bad flag, a ``--config`` or ``--unit`` file that does not exist). Read-only: it creates no file,
migrates nothing and sends no order; network steps are bounded by ``--timeout``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import EXIT_OK
from trading_bot.cli.app import app
from trading_bot.cli.app import fail

if TYPE_CHECKING:
    from trading_bot.runtime.doctor import Check

__all__ = ["doctor", "format_table"]


@app.command(
    "doctor",
    help="Check the config, credentials (never shown), venue reachability and clock skew, the symbols, the "
    "keys, the journal, the monitor token and the systemd unit: one pass/fail line each; exit 1 on any failure.",
)
def doctor(
    config: Annotated[Path | None, typer.Option(help="JSON config file (config.example.json)")] = None,
    paper: Annotated[bool, typer.Option("--paper", help="check for a --paper run: public data only, no keys")] = False,
    unit: Annotated[
        Path | None,
        typer.Option(help="systemd unit to check [default: /etc/systemd/system/trading-bot.service if installed]"),
    ] = None,
    timeout: Annotated[str, typer.Option(help="bound of each network step, seconds")] = "10",
    max_clock_skew: Annotated[str, typer.Option(help="largest accepted venue clock difference, seconds")] = "1",
    json_output: Annotated[bool, typer.Option("--json", help="print the checks as one JSON object on stdout")] = False,
) -> None:
    """Run every check and print the table (or JSON) on stdout; exit 0 when all pass, 1 when any fails (then one
    ``error:`` line on stderr names the failed checks, as every failing command does)."""
    import asyncio

    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import TimeoutSeconds
    from trading_bot.errors import ConfigError
    from trading_bot.runtime.doctor import INSTALLED_UNIT
    from trading_bot.runtime.doctor import DoctorRequest
    from trading_bot.runtime.doctor import Status
    from trading_bot.runtime.doctor import run_doctor

    try:
        timeout_s: float = check_flag("--timeout", timeout, TimeoutSeconds)
        max_skew_s: float = check_flag("--max-clock-skew", max_clock_skew, TimeoutSeconds)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    for flag, path in (("--config", config), ("--unit", unit)):
        if path is not None and not path.is_file():
            raise fail(f"{flag} {path}: no such file (or not a regular file)")
    if unit is None and INSTALLED_UNIT.is_file():
        unit = INSTALLED_UNIT
    cfg, config_check = _load(config)
    request = DoctorRequest(
        config_check=config_check,
        config=cfg,
        config_file=config,
        paper=paper,
        unit=unit,
        timeout_s=timeout_s,
        max_skew_s=max_skew_s,
        environ=dict(os.environ),
    )
    checks = asyncio.run(run_doctor(request))
    if json_output:
        import json

        ok = all(c.status != Status.FAIL for c in checks)
        sys.stdout.write(json.dumps({"ok": ok, "checks": [c.to_dict() for c in checks]}, sort_keys=True) + "\n")
    else:
        typer.echo(format_table(checks))
    failures = [c.name for c in checks if c.status == Status.FAIL]
    if failures:
        raise fail(f"doctor: {len(failures)} check(s) failed: {', '.join(failures)}", EXIT_FAILURE)
    raise typer.Exit(EXIT_OK)


def _load(path: Path | None) -> tuple[Any, Check]:
    """Load and validate the config as ``check-config`` does; return it (or None) and the config check."""
    from trading_bot.cli.run import check_plugins
    from trading_bot.config import load_config
    from trading_bot.errors import ConfigError
    from trading_bot.runtime.doctor import failed
    from trading_bot.runtime.doctor import passed

    shown = str(path) if path is not None else "defaults + environment"
    try:
        cfg = load_config(path)
        check_plugins(cfg)
    except ConfigError as exc:
        command = "runbot.py check-config" + (f" {path}" if path is not None else "")
        _quiet_logs(None)
        return None, failed("config", str(exc), f"fix that key, then `{command}` shows the effective config")
    _quiet_logs(cfg)
    from trading_bot.runtime.builder import traded_instruments

    instruments = ", ".join(str(i) for i in traded_instruments(cfg))
    return cfg, passed("config", f"{shown}: valid (strategy {cfg.strategy.name}; {instruments})")


def _quiet_logs(cfg: Any) -> None:
    """Log errors only (the table says what failed), with the config's secrets scrubbed."""
    from trading_bot.log import configure_logging
    from trading_bot.log import register_secret

    configure_logging("error", "console")
    for secret in cfg.secret_values() if cfg is not None else []:
        register_secret(secret)


def format_table(checks: list[Check]) -> str:
    """Return the checks as a table: status, check, what was found (and for a failure, ``fix:`` what to do)."""
    from trading_bot.runtime.doctor import Status

    width = max(len(c.name) for c in checks)
    lines = [f"{'STATUS':<6}  {'CHECK':<{width}}  DETAIL"]
    for c in checks:
        text = f"{c.detail} -- fix: {c.fix}" if c.status == Status.FAIL else c.detail
        status = str(c.status).upper() if c.status == Status.FAIL else str(c.status)
        lines.append(f"{status:<6}  {c.name:<{width}}  {text}")
    counts = {s: sum(c.status == s for c in checks) for s in Status}
    lines.append(f"doctor: {counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped")
    return "\n".join(lines)
