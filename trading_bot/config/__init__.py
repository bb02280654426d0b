"""Configuration: frozen pydantic models (``models``) and the layered loader (``loader``).

``load_config`` merges the JSON file, ``.env``, the systemd credentials directory, ``TRADING_BOT__*``
environment variables and CLI overrides, in that order, through pydantic-settings (``settings``: the
``BaseSettings`` class; ``sources``: one source per input). Its helpers: ``reading`` (bounded file and
JSON reads), ``refusals`` (no secret from the file or the command line), ``messages`` (one-line errors
naming the field and its source), ``tree`` (the model tree by key path). ``BotConfig.redacted()`` is
the only form ever printed or logged.
"""

from trading_bot.config.loader import load_config
from trading_bot.config.models import ENV_PREFIX
from trading_bot.config.models import SECRET_FIELDS
from trading_bot.config.models import BotConfig
from trading_bot.config.models import BotSection
from trading_bot.config.models import LoggingSection
from trading_bot.config.models import PersistenceSection
from trading_bot.config.models import StrategySection
from trading_bot.config.models import example_config_json

__all__ = [
    "ENV_PREFIX",
    "SECRET_FIELDS",
    "BotConfig",
    "BotSection",
    "LoggingSection",
    "PersistenceSection",
    "StrategySection",
    "example_config_json",
    "load_config",
]
