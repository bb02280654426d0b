"""The pydantic-settings sources of the bot's configuration, one per place a value can come from.

Each source reads and checks its input when it is built (so the first bad source, lowest priority
first, is the one reported) and keeps its values as *entries* ``(key path, value, origin)``; called by
pydantic-settings it returns them merged into one nested dict. The entries of all sources, replayed
lowest priority first (:func:`origins_of`), tell an error message where each key came from.

Why not the stock sources: ``EnvSettingsSource`` JSON-decodes only "complex" fields (so
``TRADING_BOT__STRATEGY__PARAMS__FAST=5`` would be the text ``"5"``) and silently skips a variable for an
unknown section; ``DotEnvSettingsSource`` reads ``.env`` with python-dotenv (``${VAR}`` expansion and
escapes inside values, no error for a malformed line, a FIFO read blocks); ``SecretsSettingsSource``
reads one file per top-level field (``exchange``, holding JSON), not systemd's ``exchange_api_key``. The
stock ``JsonConfigSettingsSource`` is used, with its file reader replaced by the bounded one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from pydantic_settings import JsonConfigSettingsSource
from pydantic_settings import PydanticBaseSettingsSource
from pydantic_settings.sources.types import ConfigFileSourceType

from trading_bot.config.alerts import ALERT_SECRET_FIELDS
from trading_bot.config.models import SECRET_FIELDS
from trading_bot.config.models import SECTION_SECRETS
from trading_bot.config.reading import parse_json_or_text
from trading_bot.config.reading import read_json_file
from trading_bot.config.reading import read_text
from trading_bot.config.refusals import reject_secrets
from trading_bot.config.tree import is_text_field
from trading_bot.errors import ConfigError

__all__ = ["ConfigFileSource", "CredentialsSource", "Entry", "VariablesSource", "origins_of"]

Entry = tuple[tuple[str, ...], Any, str]
"""``(key path, value, origin)``: one value a source read, at a path of the config, and where it came from."""


def origins_of(entries: list[Entry]) -> dict[tuple[str, ...], str]:
    """Return where each key path was last set, replaying ``entries`` in order (lowest priority first)."""
    origins: dict[tuple[str, ...], str] = {}
    scratch: dict[str, Any] = {}
    for at, value, origin in entries:
        _merge(scratch, at, value, origin, origins)
    return origins


def _merge(node: dict[str, Any], at: tuple[str, ...], value: Any, origin: str, origins: dict[Any, str]) -> None:
    """Deep-merge ``value`` at path ``at`` of ``node`` (as pydantic-settings merges sources), noting its origin."""
    target = node
    for key in at[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    if at:
        origins.setdefault(at, origin)
    if isinstance(value, dict) and (not at or isinstance(target.get(at[-1]), dict)):
        for key, item in value.items():
            _merge(node, (*at, str(key)), item, origin, origins)
        return
    target[at[-1]] = value
    origins[at] = origin


class _EntriesSource(PydanticBaseSettingsSource):
    """A source holding its values as entries; a later entry wins over an earlier one."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.entries: list[Entry] = []

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns every entry, known field or not

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for at, value, origin in self.entries:
            _merge(data, at, value, origin, {})
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.entries)} values)"  # never the values: they may be secrets


class ConfigFileSource(JsonConfigSettingsSource):
    """The ``--config`` JSON file: regular, at most 1 MiB, no duplicate key, no secret (see ``refusals``)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.entries: list[Entry] = []
        super().__init__(settings_cls, json_file=path)

    def _read_files(self, files: ConfigFileSourceType | None, deep_merge: bool = False) -> dict[str, Any]:
        return self._read_file(Path(str(files)))  # a missing file is an error, not skipped as by the stock reader

    def _read_file(self, path: Any) -> dict[str, Any]:
        data = read_json_file(path)
        reject_secrets(data, "the config file")
        self.entries = [((), data, str(path))]
        return data


class VariablesSource(_EntriesSource):
    """``TRADING_BOT__SECTION__KEY[__SUBKEY...]`` variables of one mapping: the environment or a ``.env`` file.

    The prefix, section and key names are case-insensitive (keys are lower-cased). A value is parsed as
    JSON when it parses, except for a text field (``tree.is_text_field``), which takes it verbatim.
    """

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str], suffix: str = "") -> None:
        super().__init__(settings_cls)
        prefix = str(self.config.get("env_prefix"))
        delimiter = str(self.config.get("env_nested_delimiter"))
        for name, raw in variables.items():
            if not name.upper().startswith(prefix):
                continue
            parts = name[len(prefix) :].split(delimiter)
            origin = f"{name} {suffix}".rstrip()
            if not all(parts):
                raise ConfigError(f"config: malformed variable {origin}: use {prefix}SECTION{delimiter}KEY")
            at = tuple(part.lower() for part in parts)
            self.entries.append((at, raw if is_text_field(at) else parse_json_or_text(raw, origin), origin))


class CredentialsSource(_EntriesSource):
    """The systemd credentials directory (``LoadCredential=``): secrets only, one file each.

    ``exchange_api_key``, ``exchange_secret``, ``exchange_password``, ``venues_<name>_api_key`` ...
    for each venue, ``monitor_token`` (``models.SECTION_SECRETS``), and ``alerts_<channel>_token`` /
    ``_webhook_url`` / ``_password`` for each alert channel. A file that is there must hold the secret (an
    empty one is an error).
    """

    def __init__(self, settings_cls: type[BaseSettings], directory: Path | None) -> None:
        super().__init__(settings_cls)
        if directory is None:
            return
        files = [(directory / f"exchange_{name}", ("exchange", name)) for name in SECRET_FIELDS]
        files += [(directory / f"{part}_{name}", (part, name)) for part, name in SECTION_SECRETS]
        for file, at in files + _venue_credential_files(directory) + _alert_credential_files(directory):
            dotted = ".".join(at)
            try:
                value = read_text(file).strip()
            except FileNotFoundError:
                continue
            except ConfigError as exc:
                raise ConfigError(f"{dotted}: credential file: {str(exc).removeprefix('config: ')}") from None
            if not value:
                raise ConfigError(f"{dotted}: credential file {file} is empty; put the {at[-1]} in it")
            self.entries.append((at, value, str(file)))


def _venue_credential_files(directory: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Return the ``venues_<name>_<api_key|secret|password>`` files of the credentials directory."""
    try:
        names = sorted(entry.name for entry in directory.iterdir())
    except OSError:
        return []
    found: list[tuple[Path, tuple[str, ...]]] = []
    for file_name in names:
        stem = file_name.removeprefix("venues_")
        for field in SECRET_FIELDS:
            venue = stem.removesuffix(f"_{field}")
            if file_name.startswith("venues_") and venue != stem and venue:
                found.append((directory / file_name, ("venues", venue, field)))
    return found


def _alert_credential_files(directory: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Return the ``alerts_<channel>_<token|webhook_url|password>`` files of the credentials directory."""
    try:
        names = sorted(entry.name for entry in directory.iterdir() if entry.name.startswith("alerts_"))
    except OSError:
        return []
    found: list[tuple[Path, tuple[str, ...]]] = []
    for file_name in names:
        stem = file_name.removeprefix("alerts_")
        for field in ALERT_SECRET_FIELDS:
            channel = stem.removesuffix(f"_{field}")
            if channel != stem and channel:
                found.append((directory / file_name, ("alerts", "channels", channel, field)))
    return found
