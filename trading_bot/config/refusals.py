"""Secrets are read from the environment, ``.env`` and the credentials directory only.

The alert channels' ``token``, ``webhook_url`` and ``password`` (``trading_bot.config.alerts``) too.

A non-null secret field (``exchange.api_key`` ... and the same fields of every ``venues`` entry) in the
config file or the CLI overrides is a ``ConfigError`` naming the variable to set, so keys do not end up
in version control or in ``ps`` output. So is a secret-looking key (``trading_bot.log.is_secret_key``) at
any depth of ``ccxt_options`` or ``strategy.params``; as variable names are lower-cased, the variable
named for a key that needs its case is a JSON value at its parent
(``TRADING_BOT__EXCHANGE__CCXT_OPTIONS__HEADERS='{"X-MBX-APIKEY": "..."}'``). An empty secret counts as unset.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from trading_bot.config.alerts import alert_secret_variable
from trading_bot.config.alerts import channel_secrets_in
from trading_bot.config.models import ENV_PREFIX
from trading_bot.config.models import SECRET_FIELDS
from trading_bot.config.models import SECTION_SECRETS
from trading_bot.config.models import secret_paths
from trading_bot.errors import ConfigError

__all__ = ["drop_empty_secrets", "reject_secrets"]

_CCXT_CREDENTIALS = {"apikey": "api_key", "secret": "secret", "password": "password"}
"""ccxt constructor keys that are the ``exchange`` secret fields under another name (compared lower-case)."""
_ENV_SAFE_KEY = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def reject_secrets(data: dict[str, Any], where: str) -> None:
    """Refuse a secret-looking key at any depth of ``exchange`` or ``strategy.params``, naming the variable to set.

    The secrets that ``ccxt_options`` or strategy params may need (a header, a token) come from the
    environment or ``.env`` like the API keys, never from the file or the command line.
    """
    for section_name, name in SECTION_SECRETS:
        section = data.get(section_name)
        if isinstance(section, dict) and section.get(name) is not None:
            raise ConfigError(
                f"{section_name}.{name}: secrets are not read from {where}; set {ENV_PREFIX}"
                f"{section_name.upper()}__{name.upper()} (or the credential file {section_name}_{name})"
            )
    trees: list[tuple[tuple[str, ...], Any]] = []
    for at, venue, account in _accounts(data):
        for name in SECRET_FIELDS:
            if account.get(name) is not None:
                dotted = ".".join((*at, name))
                raise ConfigError(f"{dotted}: secrets are not read from {where}; set {_env_name(name, venue)}")
        trees.append(((*at, "ccxt_options"), account.get("ccxt_options")))
    for channel, name in channel_secrets_in(data.get("alerts")):
        raise ConfigError(
            f"alerts.channels.{channel}.{name}: secrets are not read from {where}; "
            f"set {alert_secret_variable(channel, name)} (or the credential alerts_{channel}_{name})"
        )
    strategy = data.get("strategy")
    if isinstance(strategy, dict):
        trees.append((("strategy", "params"), strategy.get("params")))
    for at, tree in trees:
        found = next(secret_paths(tree), None)
        if found is not None:
            path = (*at, *found[0])
            dotted = ".".join(str(part) for part in path)
            raise ConfigError(f"{dotted}: secrets are not read from {where}; {_secret_fix(path)}")


def drop_empty_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` with every empty secret set to None (a copy when one is found; ``data`` is not changed)."""
    empty = [(at, name) for at, _, account in _accounts(data) for name in SECRET_FIELDS if account.get(name) == ""]
    for section_name, name in SECTION_SECRETS:
        section = data.get(section_name)
        if isinstance(section, dict) and section.get(name) == "":
            empty.append(((section_name,), name))
    if not empty:
        return data
    data = copy.deepcopy(data)
    for at, name in empty:
        account = data
        for key in at:
            account = account[key]
        account[name] = None
    return data


def _env_name(name: str, venue: str | None = None) -> str:
    section = "EXCHANGE" if venue is None else f"VENUES__{venue.upper()}"
    return f"{ENV_PREFIX}{section}__{name.upper()}"


def _accounts(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str | None, dict[str, Any]]]:
    """Return ``(path, venue name, section)`` of the ``exchange`` section and of every ``venues`` entry."""
    found: list[tuple[tuple[str, ...], str | None, dict[str, Any]]] = []
    exchange = data.get("exchange")
    if isinstance(exchange, dict):
        found.append((("exchange",), None, exchange))
    venues = data.get("venues")
    if isinstance(venues, dict):
        found += [(("venues", str(name)), str(name), v) for name, v in venues.items() if isinstance(v, dict)]
    return found


def _secret_fix(path: tuple[str | int, ...]) -> str:
    """Say which variable carries the secret at ``path`` (the environment loader lower-cases key names)."""
    venue = str(path[1]) if path[0] == "venues" and len(path) > 1 else None
    options = path[2:] if venue is not None else path[1:]
    if path[0] in ("exchange", "venues") and len(options) == 2 and options[0] == "ccxt_options":
        field = _CCXT_CREDENTIALS.get(str(options[1]).lower())
        if field is not None:
            return f"set {_env_name(field, venue)}"
    parts = [str(part) for part in path]
    safe = 0
    while safe < len(parts) - 1 and isinstance(path[safe], str) and _ENV_SAFE_KEY.fullmatch(parts[safe]):
        safe += 1
    if safe == len(parts) - 1 and _ENV_SAFE_KEY.fullmatch(parts[-1]):
        return f"set {ENV_PREFIX}{'__'.join(parts).upper()} in the environment or .env"
    safe = max(safe, 3 if venue is not None else 2)  # the variable names at least the section and the field
    value: Any = "..."
    for part in reversed(path[safe:]):
        value = [value] if isinstance(part, int) else {part: value}
    variable = ENV_PREFIX + "__".join(parts[:safe]).upper()
    return f"set {variable}='{json.dumps(value)}' in the environment or .env (JSON keeps the key's case)"
