"""The doctor's monitor check: a token is set whenever the monitor server is enabled.

Read from the loaded config when it has a ``monitor`` section (``enabled``, ``token``, ``read_only``: a
read-only monitor may run without a token); otherwise from the raw sources: the config file's ``monitor``
keys, ``TRADING_BOT__MONITOR__ENABLED`` / ``__READ_ONLY``, and the token in ``TRADING_BOT__MONITOR__TOKEN``
or ``$CREDENTIALS_DIRECTORY/monitor_token``. The token's value is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from trading_bot.config.reading import read_json_file
from trading_bot.config.reading import read_text
from trading_bot.errors import ConfigError
from trading_bot.runtime.doctor.report import Check
from trading_bot.runtime.doctor.report import failed
from trading_bot.runtime.doctor.report import passed
from trading_bot.runtime.doctor.report import skipped

__all__ = ["TOKEN_CREDENTIAL", "TOKEN_VARIABLE", "check_monitor_token", "monitor_token"]

TOKEN_VARIABLE = "TRADING_BOT__MONITOR__TOKEN"  # noqa: S105 - a variable name
"""The environment variable of the monitor's bearer token."""
TOKEN_CREDENTIAL = "monitor_token"  # noqa: S105 - a file name
"""The token's file in the systemd credentials directory (``LoadCredential=monitor_token:...``)."""

_NAME = "monitor token"


def check_monitor_token(config: Any, config_file: Path | None, environ: Mapping[str, str]) -> Check:
    """Return the monitor check.

    Args:
        config: the loaded ``BotConfig``, or ``None`` when it did not load.
        config_file: the ``--config`` file (read raw when the config has no monitor section).
        environ: the process environment.
    """
    section = getattr(config, "monitor", None)
    enabled = (
        bool(getattr(section, "enabled", False)) if section is not None else _raw_flag(config_file, environ, "enabled")
    )
    if not enabled:
        return skipped(_NAME, "monitor.enabled is false: no server, no token needed")
    if monitor_token(section, environ) is not None:
        return passed(_NAME, "monitor enabled, token set")
    read_only = (
        getattr(section, "read_only", False) if section is not None else _raw_flag(config_file, environ, "read_only")
    )
    if read_only:
        return passed(_NAME, "monitor enabled read-only without a token: GET endpoints open, every control refused")
    return failed(
        _NAME,
        "monitor enabled, token missing: the monitor refuses to start without one",
        f"set {TOKEN_VARIABLE} (e.g. to `openssl rand -hex 32`) or the credential file {TOKEN_CREDENTIAL}; "
        "or monitor.read_only=true",
    )


def monitor_token(section: Any, environ: Mapping[str, str]) -> str | None:
    """Return the monitor token from the config section, the environment or the credentials directory, or None."""
    value = getattr(section, "token", None) if section is not None else None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str) and value.strip():
        return value
    from_env = _variable(environ, TOKEN_VARIABLE)
    if from_env is not None and from_env.strip():
        return from_env
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        try:
            text = read_text(Path(directory) / TOKEN_CREDENTIAL).strip()
        except (OSError, ConfigError):
            return None
        return text or None
    return None


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    """Return a ``TRADING_BOT__`` variable, its name matched without case as the config loader does."""
    for key, value in environ.items():
        if key.upper() == name:
            return value
    return None


def _raw_flag(config_file: Path | None, environ: Mapping[str, str], key: str) -> bool:
    """Return ``monitor.<key>`` (a boolean) from ``TRADING_BOT__MONITOR__<KEY>`` or else the raw config file."""
    variable = _variable(environ, f"TRADING_BOT__MONITOR__{key.upper()}")
    if variable is not None:
        return variable.strip().lower() in ("1", "true", "yes", "on")
    if config_file is None:
        return False
    try:
        data = read_json_file(config_file)
    except ConfigError:
        return False  # the config check reports it
    section = data.get("monitor")
    return isinstance(section, dict) and section.get(key) is True
