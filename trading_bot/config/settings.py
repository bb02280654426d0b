"""``BotSettings``: the pydantic-settings class that gathers the configuration from its sources.

``load_config`` (``trading_bot.config.loader``) is the way in: it names the inputs of one load (the
file, the environment mapping, the ``.env`` path) in a :class:`LoadRequest`, builds ``BotSettings`` with
the CLI overrides as its init values, and hands back a plain ``BotConfig``. ``settings_customise_sources``
puts the sources in their priority order (see ``loader``); pydantic-settings deep-merges them and
validates the result against BotConfig's fields and rules.

pydantic-settings' own debug log (``PYDANTIC_SETTINGS_DEBUG``) would print every source's values,
secrets included: it is switched off here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import PydanticBaseSettingsSource
from pydantic_settings import SettingsConfigDict

from trading_bot.config.models import ENV_PREFIX
from trading_bot.config.models import BotConfig
from trading_bot.config.reading import read_dotenv
from trading_bot.config.refusals import drop_empty_secrets
from trading_bot.config.refusals import reject_secrets
from trading_bot.config.sources import ConfigFileSource
from trading_bot.config.sources import CredentialsSource
from trading_bot.config.sources import Entry
from trading_bot.config.sources import VariablesSource

__all__ = ["BotSettings", "LoadRequest", "loading"]


@dataclass
class LoadRequest:
    """The inputs of one ``load_config`` call, and the entries its sources read (lowest priority first)."""

    path: Path | None
    environ: Mapping[str, str]
    dotenv: Path | None
    entries: list[Entry] = field(default_factory=list)


_REQUEST: ContextVar[LoadRequest | None] = ContextVar("trading_bot_config_load", default=None)
"""The load in progress: ``settings_customise_sources`` is a classmethod, so the inputs travel here."""


@contextmanager
def loading(request: LoadRequest) -> Iterator[LoadRequest]:
    """Make ``request`` the load in progress: ``BotSettings(...)`` reads its inputs while the block runs."""
    token = _REQUEST.set(request)
    try:
        yield request
    finally:
        _REQUEST.reset(token)


class BotSettings(BaseSettings, BotConfig):
    """BotConfig's fields, read from the sources of a :class:`LoadRequest` (without one: the process
    environment and ``./.env``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=True,  # of the file's and the overrides' keys; VariablesSource lower-cases variable names
        env_file=None,  # read by VariablesSource: the stock DotEnvSettingsSource opens it when built (a FIFO hangs)
        extra="forbid",
        frozen=True,
        validate_default=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_secrets_are_unset(cls, data: Any) -> Any:
        return drop_empty_secrets(data) if isinstance(data, dict) else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Return the sources, highest priority first; each is built (read and checked) lowest priority first."""
        request = _REQUEST.get() or LoadRequest(None, os.environ, Path(".env"))
        built: list[PydanticBaseSettingsSource] = []
        if request.path is not None:
            built.append(file_source := ConfigFileSource(settings_cls, request.path))
            request.entries += file_source.entries
        if request.dotenv is not None:
            variables = read_dotenv(request.dotenv)
            built.append(dotenv_source := VariablesSource(settings_cls, variables, f"in {request.dotenv}"))
            request.entries += dotenv_source.entries
        directory = request.environ.get("CREDENTIALS_DIRECTORY")
        built.append(credentials := CredentialsSource(settings_cls, Path(directory) if directory else None))
        request.entries += credentials.entries
        built.append(environment := VariablesSource(settings_cls, request.environ))
        request.entries += environment.entries
        overrides = init_settings()
        if overrides:
            reject_secrets(overrides, "the command line")
            request.entries.append(((), overrides, "the command line"))
        built.append(init_settings)
        return tuple(reversed(built))

    @classmethod
    def _settings_log_debug(cls, states: dict[str, dict[str, Any]]) -> None:
        """Log nothing: pydantic-settings would log every source's values, secrets included."""

    def to_config(self) -> BotConfig:
        """Return these settings as a plain, frozen ``BotConfig`` (the same values and set fields)."""
        values = {name: getattr(self, name) for name in BotConfig.model_fields}
        return BotConfig.model_construct(_fields_set=set(self.model_fields_set), **values)
