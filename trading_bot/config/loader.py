"""The bot's configuration: frozen pydantic models and ``load_config()``.

Sources, lowest priority first, deep-merged key by key:

1. the JSON file (``--config``); every key optional, unknown keys rejected;
2. ``TRADING_BOT__SECTION__KEY[__SUBKEY...]`` variables, first from the ``.env`` file, then from the
   process environment (which wins). Section and key names are case-insensitive. Values are parsed
   as JSON when they parse (``5`` -> 5, ``{"x": 1}`` -> a dict, ``null`` -> None), except for
   text fields (``bot.bot_id``, ``bot.symbol``, secrets, ...), which take the value verbatim;
3. the systemd credentials directory (``$CREDENTIALS_DIRECTORY/exchange_api_key``,
   ``exchange_secret``, ``exchange_password``, and ``venues_<name>_api_key`` ... for each venue,
   written by ``LoadCredential=``): secrets only. A
   secret in the process environment still wins over a credential file, which wins over ``.env``;
4. ``overrides``: the nested dict the CLI builds from its flags.

Secrets (``exchange.api_key``, ``exchange.secret``, ``exchange.password``, the same fields of every
``venues`` entry) are never read from the
config file or CLI overrides: a non-null one there is a ``ConfigError`` naming the variable to set,
so keys do not end up in version control or in ``ps`` output. The same goes for a secret-looking key
(``trading_bot.log.is_secret_key``) at any depth of ``exchange.ccxt_options`` or ``strategy.params``;
as variable names are lower-cased, the variable named for a key that needs its case is a JSON value at
its parent (``TRADING_BOT__EXCHANGE__CCXT_OPTIONS__HEADERS='{"X-MBX-APIKEY": "..."}'``). An empty
secret counts as unset.

Files are read only when regular and at most ``MAX_CONFIG_BYTES`` (a FIFO or a device is refused without
waiting for a writer); JSON from a file or a variable may nest at most ``MAX_CONFIG_DEPTH`` levels.

Every failure is one ``ConfigError`` line naming the field, what was expected, the bad value and
where it came from, e.g. ``risk.max_open_orders: expected an integer, got 'abc' (from
TRADING_BOT__RISK__MAX_OPEN_ORDERS)``. Only ``BotConfig.redacted()`` is ever printed or logged.
"""

from __future__ import annotations

import copy
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import SecretStr
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from trading_bot.config.models import ENV_PREFIX
from trading_bot.config.models import SECRET_FIELDS
from trading_bot.config.models import BotConfig
from trading_bot.config.models import secret_paths
from trading_bot.domain.bounds import describe_range
from trading_bot.errors import ConfigError
from trading_bot.files import NotARegularFileError
from trading_bot.files import read_regular_text
from trading_bot.log import is_secret_key
from trading_bot.registry import did_you_mean

__all__ = ["MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "load_config"]

MAX_CONFIG_BYTES = 1 << 20
"""Largest config, ``.env`` or credential file read, bytes (1 MiB); FIFOs and devices are refused."""
MAX_CONFIG_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in a config file or a JSON variable value."""
_TOO_DEEP = f"JSON nested deeper than {MAX_CONFIG_DEPTH} levels; flatten it"

_TEXT_TYPES: tuple[type, ...] = (str, SecretStr, Path)

_Path = tuple[str, ...]
_Sources = dict[_Path, str]


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
    environ: Mapping[str, str] = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: _Sources = {}
    if path is not None:
        file_data = _read_json(path)
        _reject_secrets(file_data, "the config file")
        _apply(data, (), file_data, str(path), sources)
    if dotenv is not None:
        for var_path, value, origin in _env_entries(_read_dotenv(dotenv), f"in {dotenv}"):
            _apply(data, var_path, value, origin, sources)
    for var_path, value, origin in _credential_entries(environ):
        _apply(data, var_path, value, origin, sources)
    for var_path, value, origin in _env_entries(environ, ""):
        _apply(data, var_path, value, origin, sources)
    if overrides is not None:
        override_data = copy.deepcopy(dict(overrides))
        _reject_secrets(override_data, "the command line")
        _apply(data, (), override_data, "the command line", sources)
    _drop_empty_secrets(data)
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc, sources)) from None


def _read_text(path: Path) -> str:
    """Read a config, .env or credential file: regular files up to 1 MiB only, so nothing can hang."""
    try:
        return read_regular_text(path, max_bytes=MAX_CONFIG_BYTES)
    except NotARegularFileError as exc:
        raise ConfigError(f"config: {exc}; give a regular file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config: cannot read {path}: not UTF-8 text") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL byte in the path
        raise ConfigError(f"config: cannot read {str(path)!r}: {exc}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError(
            f"config: file {path} not found; pass an existing --config file (start from config.example.json)"
        ) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config: {path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except ValueError as exc:  # duplicate key
        raise ConfigError(f"config: {path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config: {path}: {_TOO_DEEP}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path}: the top level must be a JSON object {{...}}, got {_json_kind(data)}")
    if _too_deep(data):
        raise ConfigError(f"config: {path}: {_TOO_DEEP}")
    return data


def _too_deep(value: Any) -> bool:
    """Return True when ``value`` nests dicts and lists deeper than ``MAX_CONFIG_DEPTH`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_CONFIG_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}; keep one")
        result[key] = value
    return result


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


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


_CCXT_CREDENTIALS = {"apikey": "api_key", "secret": "secret", "password": "password"}
"""ccxt constructor keys that are the ``exchange`` secret fields under another name (compared lower-case)."""
_ENV_SAFE_KEY = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def _reject_secrets(data: dict[str, Any], where: str) -> None:
    """Refuse a secret-looking key at any depth of ``exchange`` or ``strategy.params``, naming the variable to set.

    The secrets that ``ccxt_options`` or strategy params may need (a header, a token) come from the
    environment or ``.env`` like the API keys, never from the file or the command line.
    """
    trees: list[tuple[tuple[str, ...], Any]] = []
    for at, venue, account in _accounts(data):
        for name in SECRET_FIELDS:
            if account.get(name) is not None:
                dotted = ".".join((*at, name))
                raise ConfigError(f"{dotted}: secrets are not read from {where}; set {_env_name(name, venue)}")
        trees.append(((*at, "ccxt_options"), account.get("ccxt_options")))
    strategy = data.get("strategy")
    if isinstance(strategy, dict):
        trees.append((("strategy", "params"), strategy.get("params")))
    for at, tree in trees:
        found = next(secret_paths(tree), None)
        if found is not None:
            path = (*at, *found[0])
            dotted = ".".join(str(part) for part in path)
            raise ConfigError(f"{dotted}: secrets are not read from {where}; {_secret_fix(path)}")


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


def _drop_empty_secrets(data: dict[str, Any]) -> None:
    for _, _, account in _accounts(data):
        for name in SECRET_FIELDS:
            if account.get(name) == "":
                account[name] = None


def _apply(node: dict[str, Any], at: _Path, value: Any, origin: str, sources: _Sources) -> None:
    """Deep-merge ``value`` at path ``at`` of ``node``, recording where each key came from."""
    target = node
    for key in at[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    if at:
        sources.setdefault(at, origin)
    if isinstance(value, dict) and (not at or isinstance(target.get(at[-1]), dict)):
        for key, item in value.items():
            _apply(node, (*at, str(key)), item, origin, sources)
        return
    target[at[-1]] = value
    sources[at] = origin


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        text = _read_text(path)
    except FileNotFoundError:
        return {}
    result: dict[str, str] = {}
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"config: {path}:{lineno}: expected KEY=VALUE")  # never echo: may hold a secret
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        result[key.strip()] = value
    return result


def _env_entries(variables: Mapping[str, str], suffix: str) -> list[tuple[_Path, Any, str]]:
    entries = []
    for name, raw in variables.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        origin = f"{name} {suffix}".rstrip()
        if not all(parts):
            raise ConfigError(f"config: malformed variable {origin}: use {ENV_PREFIX}SECTION__KEY")
        var_path = tuple(part.lower() for part in parts)
        value = raw if _is_text_field(var_path) else _parse_json_or_text(raw, origin)
        entries.append((var_path, value, origin))
    return entries


def _credential_entries(environ: Mapping[str, str]) -> list[tuple[_Path, Any, str]]:
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return []
    files: list[tuple[Path, _Path]] = [(Path(directory) / f"exchange_{n}", ("exchange", n)) for n in SECRET_FIELDS]
    files += _venue_credential_files(Path(directory))
    entries: list[tuple[_Path, Any, str]] = []
    for file, at in files:
        dotted = ".".join(at)
        try:
            value = _read_text(file).strip()
        except FileNotFoundError:
            continue
        except ConfigError as exc:
            raise ConfigError(f"{dotted}: credential file: {str(exc).removeprefix('config: ')}") from None
        if not value:
            raise ConfigError(f"{dotted}: credential file {file} is empty; put the {at[-1]} in it")
        entries.append((at, value, str(file)))
    return entries


def _venue_credential_files(directory: Path) -> list[tuple[Path, _Path]]:
    """Return the ``venues_<name>_<api_key|secret|password>`` files of the credentials directory."""
    try:
        names = sorted(entry.name for entry in directory.iterdir())
    except OSError:
        return []
    found: list[tuple[Path, _Path]] = []
    for file_name in names:
        stem = file_name.removeprefix("venues_")
        for field in SECRET_FIELDS:
            venue = stem.removesuffix(f"_{field}")
            if file_name.startswith("venues_") and venue != stem and venue:
                found.append((directory / file_name, ("venues", venue, field)))
    return found


def _parse_json_or_text(raw: str, origin: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    except RecursionError:
        raise ConfigError(f"config: {origin}: {_TOO_DEEP}") from None
    if _too_deep(value):
        raise ConfigError(f"config: {origin}: {_TOO_DEEP}")
    return value


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None


def _model_at(at: tuple[str, ...]) -> type[BaseModel] | None:
    """Return the model class whose fields live at path ``at`` (``()`` is BotConfig), or None.

    A mapping of models (``venues``) takes any key: ``("venues", "spot")`` is an ``ExchangeConfig``.
    """
    model: type[BaseModel] | None = BotConfig
    keys = iter(at)
    for key in keys:
        if model is None or key not in model.model_fields:
            return None
        annotation = model.model_fields[key].annotation
        if typing.get_origin(annotation) is dict:
            if next(keys, None) is None:
                return None
            annotation = typing.get_args(annotation)[1]
        model = _model_of(annotation)
    return model


def _is_text_field(at: _Path) -> bool:
    model = _model_at(at[:-1])
    if model is None or at[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[at[-1]].annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return all(isinstance(arg, str) for arg in args)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(isinstance(arg, type) and issubclass(arg, _TEXT_TYPES) for arg in args)
    return isinstance(annotation, type) and issubclass(annotation, _TEXT_TYPES)


_EXPECTED = {
    "int": "expected an integer",
    "float": "expected a number",
    "decimal": "expected a decimal number",
    "bool": "expected true or false",
    "string": "expected a string",
    "model": "expected an object {...}",
    "dict": "expected an object {...}",
    "list": "expected a list",
}


def _describe_errors(exc: ValidationError, sources: _Sources) -> str:
    errors = exc.errors(include_url=False)
    message = _describe(errors[0], sources)
    return message if len(errors) == 1 else f"{message} (+{len(errors) - 1} more)"


def _describe(error: ErrorDetails, sources: _Sources) -> str:
    loc = tuple(str(part) for part in error["loc"])
    origin = _origin(loc, sources)
    where = f" (from {origin})" if origin else ""
    dotted = ".".join(loc) or "config"
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        hint = did_you_mean(loc[-1], model.model_fields if model is not None else ())
        return f"config: unknown key {dotted!r}{hint}{where}"
    kind = error["type"]
    problem = _EXPECTED.get(kind.partition("_")[0], "") if kind.endswith(("_type", "_parsing", "_float")) else ""
    if kind == "literal_error":
        problem = f"expected {error['ctx']['expected']}"
    elif not problem:
        problem = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problem = problem.replace("Input should be", "must be")
    got = ""
    value = error.get("input")
    if isinstance(value, str | int | float) and not any(is_secret_key(part) for part in loc):
        text = repr(value)
        got = f", got {text if len(text) <= 60 else text[:57] + '...'}"
    return f"{dotted}: {problem}{got}{_range_hint(loc)}{where}"


def _range_hint(loc: tuple[str, ...]) -> str:
    """Return ``"; allowed: [0.01, 60]"`` for a field with a documented range, else ``""``."""
    model = _model_at(loc[:-1]) if loc else None
    info = model.model_fields.get(loc[-1]) if model is not None else None
    text = describe_range(info) if info is not None else None
    return f"; allowed: {text}" if text is not None else ""


def _origin(loc: tuple[str, ...], sources: _Sources) -> str | None:
    for size in range(len(loc), 0, -1):
        found = sources.get(loc[:size])
        if found is not None:
            return found
    for key, found in sources.items():
        if key[: len(loc)] == loc:
            return found
    return None
