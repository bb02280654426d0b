"""``load_config()``: the bot's configuration from its file, ``.env``, credentials, environment and CLI.

The sources are pydantic-settings sources (``trading_bot.config.sources``) of ``BotSettings``
(``trading_bot.config.settings``), deep-merged key by key by pydantic-settings: a value of a higher
source replaces the lower ones at its key, except that two objects merge (an object of a higher source
merges into the objects of all lower sources at that key, even when a source in between set it to a
non-object). Lowest priority first:

1. the JSON file (``--config``); every key optional, unknown keys rejected;
2. ``TRADING_BOT__SECTION__KEY[__SUBKEY...]`` variables of the ``.env`` file;
3. the systemd credentials directory (``$CREDENTIALS_DIRECTORY/exchange_api_key``, ``exchange_secret``,
   ``exchange_password``, ``venues_<name>_api_key`` ... for each venue, and ``monitor_token``, written by
   ``LoadCredential=``): secrets only;
4. ``TRADING_BOT__*`` variables of the process environment;
5. ``overrides``: the nested dict the CLI builds from its flags.

So a secret in the process environment wins over a credential file, which wins over ``.env``. Section
and key names of variables are case-insensitive (``trading_bot__Risk__max_open_orders``). Variable
values are parsed as JSON when they parse (``5`` -> 5, ``{"x": 1}`` -> a dict, ``null`` -> None), except
for text fields (``bot.bot_id``, ``bot.symbol``, secrets, ...), which take the value verbatim.

Secrets (``exchange.api_key``, ``exchange.secret``, ``exchange.password``, the same fields of every
``venues`` entry, ``monitor.token``, and secret-looking keys of ``ccxt_options`` and ``strategy.params``) are never read
from the config file or the CLI overrides (``trading_bot.config.refusals``). An empty secret counts as
unset. Files are read bounded and never block (``trading_bot.config.reading``).

Every failure is one ``ConfigError`` line naming the field, what was expected, the bad value and
where it came from, e.g. ``risk.max_open_orders: expected an integer, got 'abc' (from
TRADING_BOT__RISK__MAX_OPEN_ORDERS)`` (``trading_bot.config.messages``). Only ``BotConfig.redacted()``
is ever printed or logged.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trading_bot.config.messages import describe_errors
from trading_bot.config.models import BotConfig
from trading_bot.config.reading import MAX_CONFIG_BYTES
from trading_bot.config.reading import MAX_CONFIG_DEPTH
from trading_bot.config.settings import BotSettings
from trading_bot.config.settings import LoadRequest
from trading_bot.config.settings import loading
from trading_bot.config.sources import origins_of
from trading_bot.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "load_config"]


def load_config(
    path: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    dotenv: Path | None = Path(".env"),
) -> BotConfig:
    """Load, merge and validate the configuration (see the module docstring for the sources).

    Args:
        path: the JSON config file; ``None`` means defaults plus environment and overrides.
        env: the environment to read; default ``os.environ``.
        overrides: nested dict of CLI values, e.g. ``{"strategy": {"name": "grid"}}``; wins over all
            but secrets.
        dotenv: a ``.env`` file of ``KEY=VALUE`` lines (``#`` comments, optional quotes, optional
            ``export``); ignored when missing or ``None``.

    Returns:
        The validated, frozen configuration.

    Raises:
        ConfigError: one line naming the field, the problem, the fix and the value's source.
    """
    request = LoadRequest(path, os.environ if env is None else env, dotenv)
    with loading(request):
        try:
            settings = BotSettings(**copy.deepcopy(dict(overrides or {})))
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, origins_of(request.entries))) from None
    return settings.to_config()
