"""The ``ctl`` command: talk to a running bot through its monitor API (status, halt, resume, flatten...).

``runbot.py ctl ACTION [--url URL] [--token-file FILE] [--instrument I] [--reason TEXT] [--json]``:

* ``status`` reads ``GET /api/v1/status`` and prints the trading state and, per instrument, position, PnL,
  fees and open orders;
* ``halt``, ``resume``, ``reduce-only``, ``cancel-all``, ``flatten`` post the operator command
  (``POST /api/v1/<action>``): the bot executes it between strategy passes and journals it; the answer
  (what was done, the trading state after) is printed.

The token: ``--token-file``, else ``TRADING_BOT__MONITOR__TOKEN``, else ``$CREDENTIALS_DIRECTORY/monitor_token``;
it is sent only as the ``Authorization`` header and never printed. Exit codes: 0 done; 1 the bot could not
be reached, refused the token (401/403) or answered that the command did not apply (``ok: false``, e.g. an
unknown instrument); 2 a usage error (unknown action, a bad URL, a token file that cannot be read).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated
from typing import Any

import typer

from trading_bot.cli.app import EXIT_FAILURE
from trading_bot.cli.app import app
from trading_bot.cli.app import fail

__all__ = ["CTL_ACTIONS", "ctl"]

CTL_ACTIONS = ("status", "halt", "resume", "reduce-only", "cancel-all", "flatten")
"""What ``ctl`` can ask for; all but ``status`` are operator commands."""

_TOKEN_ENV = "TRADING_BOT__MONITOR__TOKEN"  # noqa: S105 - config.monitor.MONITOR_TOKEN_ENV (not imported: --help stays light)
_DEFAULT_URL = "http://127.0.0.1:8787"


@app.command(
    "ctl",
    help="Control a running bot through its monitor API: status | halt | resume | reduce-only | cancel-all | "
    "flatten (token from --token-file, TRADING_BOT__MONITOR__TOKEN or the credentials directory).",
)
def ctl(
    action: Annotated[str, typer.Argument(help="status | halt | resume | reduce-only | cancel-all | flatten")],
    url: Annotated[str, typer.Option(help="the monitor's base URL")] = _DEFAULT_URL,
    token_file: Annotated[Path | None, typer.Option(help="file holding the monitor token")] = None,
    instrument: Annotated[
        str | None, typer.Option(help="cancel-all/flatten: one instrument (venue:symbol or symbol)")
    ] = None,
    reason: Annotated[str, typer.Option(help="why, for the journal's audit log")] = "",
    timeout: Annotated[str, typer.Option(help="seconds to wait for the answer")] = "35",
    json_output: Annotated[bool, typer.Option("--json", help="print the answer as JSON on stdout")] = False,
) -> None:
    """Send one request to the bot's monitor and print the answer; exit 0 when it was done."""
    from trading_bot.cli.values import check_flag
    from trading_bot.domain.bounds import TimeoutSeconds
    from trading_bot.errors import ConfigError

    if action not in CTL_ACTIONS:
        raise fail(f"ctl: unknown action {action!r}; one of {', '.join(CTL_ACTIONS)}")
    if instrument is not None and action not in ("cancel-all", "flatten"):
        raise fail(f"ctl {action}: --instrument applies to cancel-all and flatten only (a state is bot-wide)")
    _check_url(url)
    try:
        timeout_s: float = check_flag("--timeout", timeout, TimeoutSeconds)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    token = _token(token_file)
    if action == "status":
        answer = _request("GET", f"{url.rstrip('/')}/api/v1/status", token, None, timeout_s)
        _print_status(answer, json_output)
        return
    body = {"reason": reason, **({"instrument": instrument} if instrument is not None else {})}
    answer = _request("POST", f"{url.rstrip('/')}/api/v1/{action}", token, body, timeout_s)
    if json_output:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
    else:
        state = answer.get("trading_state")
        typer.echo(f"{action}: {answer.get('detail', '')}" + (f" (trading state {state})" if state else ""))
    if not answer.get("ok"):
        raise fail(f"ctl {action}: not done: {answer.get('detail', 'no detail')}", EXIT_FAILURE)


def _check_url(url: str) -> None:
    """Refuse a ``--url`` that is not ``http(s)://HOST[:PORT]`` with a port in 0..65535 (one line, exit 2)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise fail(f"--url: the port must be 0..65535, got {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in url for c in "\r\n "):
        raise fail(f"--url: expected http://HOST:PORT, got {url!r}")
    del port


def _token(token_file: Path | None) -> str | None:
    """The monitor token: ``--token-file``, the environment, then the credentials directory (``None``: none)."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"--token-file {token_file}: cannot be read ({exc.__class__.__name__})") from None
        if not text:
            raise fail(f"--token-file {token_file}: the file is empty")
        return text
    if os.environ.get(_TOKEN_ENV):
        return os.environ[_TOKEN_ENV].strip()
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / "monitor_token"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
    return None


def _request(method: str, url: str, token: str | None, body: dict[str, Any] | None, timeout_s: float) -> Any:
    """One HTTP request; the JSON answer. Unreachable, 401/403 and a non-JSON answer exit 1 with one line."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - checked above
            raw = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            hint = "no token given" if not token else "the token was refused"
            raise fail(f"ctl: {hint} (HTTP {exc.code}); set {_TOKEN_ENV} or --token-file", EXIT_FAILURE) from None
        raw = exc.read()  # 504/503/400 answer with a JSON detail
        if not raw:
            raise fail(f"ctl: the monitor answered HTTP {exc.code}", EXIT_FAILURE) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise fail(f"ctl: cannot reach the bot's monitor at {url.split('/api/')[0]} ({reason})", EXIT_FAILURE) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise fail("ctl: the monitor's answer is not JSON (is --url the bot's monitor?)", EXIT_FAILURE) from None


def _print_status(answer: dict[str, Any], json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
        return
    summary = answer.get("summary") or {}
    typer.echo(f"bot {answer.get('bot_id')}: trading state {answer.get('trading_state')}"
               + (f" ({answer['trading_state_reason']})" if answer.get("trading_state_reason") else ""))  # fmt: skip
    blocks = summary.get("instruments")
    rows = blocks.items() if isinstance(blocks, dict) else [(summary.get("symbol", "?"), summary)]
    for name, block in rows:
        typer.echo(
            f"  {name}: position {block.get('position')} realized {block.get('realized_pnl')} unrealized "
            f"{block.get('unrealized_pnl')} fees {block.get('fees')} open orders "
            f"{sum((block.get('open_orders') or {}).values())}"
        )
