"""Reading the config's files without surprises: the JSON file, ``.env`` lines, credential files, JSON values.

Files are read only when regular and at most ``MAX_CONFIG_BYTES`` (a FIFO or a device is refused without
waiting for a writer); JSON from a file or a variable may nest at most ``MAX_CONFIG_DEPTH`` levels. Every
failure is one ``ConfigError`` line that names the file (or variable) and never echoes a line's content,
which may hold a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trading_bot.errors import ConfigError
from trading_bot.files import NotARegularFileError
from trading_bot.files import read_regular_text

__all__ = ["MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "parse_json_or_text", "read_dotenv", "read_json_file", "read_text"]

MAX_CONFIG_BYTES = 1 << 20
"""Largest config, ``.env`` or credential file read, bytes (1 MiB); FIFOs and devices are refused."""
MAX_CONFIG_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in a config file or a JSON variable value."""
_TOO_DEEP = f"JSON nested deeper than {MAX_CONFIG_DEPTH} levels; flatten it"


def read_text(path: Path) -> str:
    """Read a config, .env or credential file: regular files up to 1 MiB only, so nothing can hang.

    Raises:
        FileNotFoundError: the file does not exist (each caller decides whether that is an error).
        ConfigError: anything else that stops the read, in one line.
    """
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


def read_json_file(path: Path) -> dict[str, Any]:
    """Return the JSON object of the ``--config`` file (duplicate keys and deep nesting refused)."""
    try:
        text = read_text(path)
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


def read_dotenv(path: Path) -> dict[str, str]:
    """Return the ``KEY=VALUE`` lines of a ``.env`` file, or ``{}`` when it is missing.

    ``#`` comment lines, blank lines and an ``export`` prefix are skipped; a value in matching quotes is
    taken verbatim (no escapes, no ``${VAR}`` expansion), an unquoted one up to a `` #`` comment.
    """
    try:
        text = read_text(path)
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


def parse_json_or_text(raw: str, origin: str) -> Any:
    """Return ``raw`` parsed as JSON when it parses (``5`` -> 5, ``null`` -> None), else the text itself."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    except RecursionError:
        raise ConfigError(f"config: {origin}: {_TOO_DEEP}") from None
    if _too_deep(value):
        raise ConfigError(f"config: {origin}: {_TOO_DEEP}")
    return value


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
